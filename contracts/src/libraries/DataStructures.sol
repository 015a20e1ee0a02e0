// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title DataStructures
/// @notice The types the provemesh L1 contracts exchange with the sequencer, the prover node
/// and the archiver. Their ABI is the wire format: the Rust bindings (node/l1) are generated
/// from it, so a field added here is a field every reader learns about at build time.

/// @notice The root of an append-only tree and the next free leaf index (Aztec's
/// AppendOnlyTreeSnapshot).
struct TreeSnapshot {
  bytes32 root;
  uint32 nextAvailableLeafIndex;
}

/// @notice The roots of the L2 state trees after a block.
struct StateReference {
  TreeSnapshot l1ToL2MessageTree;
  TreeSnapshot noteHashTree;
  TreeSnapshot nullifierTree;
  TreeSnapshot publicDataTree;
}

/// @notice What a block contains, by commitment.
/// @param numTxs Number of transactions, equal to the length of the proposal's tx hashes.
/// @param txsEffectsHash sha256ToField of the block body (the tx effects), checked on propose.
/// @param inHash The Inbox commitment of the L1->L2 messages this block consumes, checked
///        on propose against the Inbox.
/// @param outHash Root of the block's L2->L1 messages (sha256ToField Merkle tree, zero-padded
///        to a power of two; zero when there are none).
struct ContentCommitment {
  uint256 numTxs;
  bytes32 txsEffectsHash;
  bytes32 inHash;
  bytes32 outHash;
}

/// @notice The block's global variables; slot and timestamp are checked against L1 time.
struct GlobalVariables {
  uint256 chainId;
  uint256 version;
  uint256 blockNumber;
  uint256 slotNumber;
  uint256 timestamp;
  address coinbase;
  bytes32 feeRecipient;
}

/// @notice An L2 block header as proposed to L1.
struct BlockHeader {
  TreeSnapshot lastArchive;
  ContentCommitment contentCommitment;
  StateReference state;
  GlobalVariables globalVariables;
  uint256 totalFees;
}

/// @notice Everything `propose` takes: the header, the archive root after the block, the
/// hashes of its transactions in order and its body (tx effects).
struct ProposeArgs {
  BlockHeader header;
  bytes32 archive;
  bytes32[] txHashes;
  bytes body;
}

/// @notice What the rollup keeps per block of the pending chain.
struct BlockLog {
  bytes32 archive;
  bytes32 headerHash;
  uint256 slotNumber;
  bytes32 outHash;
  uint256 totalFees;
  address coinbase;
}

/// @notice The last block of the pending chain and of the proven chain.
struct ChainTips {
  uint256 pendingBlockNumber;
  uint256 provenBlockNumber;
}

/// @notice A prover's offer to prove an epoch: it stakes `bondAmount` and takes
/// `basisPointFee` / 10000 of the epoch's fees. EIP-712-signed by `prover`.
struct EpochProofQuote {
  uint256 epochToProve;
  uint256 validUntilSlot;
  uint256 bondAmount;
  uint32 basisPointFee;
  address prover;
}

/// @notice A secp256k1 signature (v is 27 or 28).
struct Signature {
  uint8 v;
  bytes32 r;
  bytes32 s;
}

struct SignedEpochProofQuote {
  EpochProofQuote quote;
  Signature signature;
}

/// @notice The claim on the epoch being proven (at most one at a time: the submission
/// window of an epoch ends before the claim window of the next one opens).
struct ProofClaim {
  uint256 epochToProve;
  uint256 bondAmount;
  uint32 basisPointFee;
  address prover;
  address proposerClaimant;
  uint256 claimSlot;
}

/// @notice The public inputs of an epoch's root rollup proof, as the submitter states them.
/// The rollup checks each against the proposed chain and the claim, then passes the array
/// `[previousArchive, endArchive, outHash, totalFees, proverId, epoch, endBlockNumber]` to
/// the verifier.
struct EpochProofPublicInputs {
  bytes32 previousArchive;
  bytes32 endArchive;
  bytes32 outHash;
  uint256 totalFees;
  bytes32 proverId;
}

/// @notice Deploy-time configuration of the rollup. Times are in L2 slots except
/// `slotDuration` (seconds). The claim window of epoch E is the first `claimWindow` slots of
/// epoch E+1; its proof must land within the first `proofSubmissionWindow` slots of E+1.
struct RollupConfig {
  uint256 slotDuration;
  uint256 epochDuration;
  uint256 claimWindow;
  uint256 proofSubmissionWindow;
  uint256 minBondAmount;
  address sequencer;
  bytes32 genesisArchive;
}

struct L1Actor {
  address actor;
  uint256 chainId;
}

struct L2Actor {
  bytes32 actor;
  uint256 version;
}

/// @notice An L1->L2 message; `index` is its position among all messages sent to the Inbox.
struct L1ToL2Msg {
  L1Actor sender;
  L2Actor recipient;
  bytes32 content;
  bytes32 secretHash;
  uint256 index;
}

/// @notice An L2->L1 message, consumed on L1 by its recipient through the Outbox.
struct L2ToL1Msg {
  L2Actor sender;
  L1Actor recipient;
  bytes32 content;
}
