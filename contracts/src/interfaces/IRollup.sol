// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {
  BlockHeader,
  BlockLog,
  ChainTips,
  EpochProofPublicInputs,
  EpochProofQuote,
  ProofClaim,
  ProposeArgs,
  SignedEpochProofQuote
} from "../libraries/DataStructures.sol";

/// @notice The rollup: L2 slots and epochs over L1 time, the pending chain the sequencer
/// proposes to, epoch proof claims backed by an escrowed bond, and the proven chain that an
/// epoch root proof advances. Every state change emits an event an archiver can follow
/// without reading calldata.
interface IRollup {
  /// @notice A block was appended to the pending chain; the event carries all of it.
  event L2BlockProposed(
    uint256 indexed blockNumber,
    bytes32 indexed archive,
    uint256 indexed slotNumber,
    BlockHeader header,
    bytes32[] txHashes,
    bytes body
  );
  /// @notice The sequencer claimed the right to prove `epoch` on `prover`'s quote.
  event ProofRightClaimed(
    uint256 indexed epoch,
    address indexed prover,
    address indexed proposer,
    uint256 bondAmount,
    uint32 basisPointFee,
    uint256 slot
  );
  /// @notice The proven chain advanced to `endBlockNumber` with the proof of `epoch`.
  event EpochProven(
    uint256 indexed epoch,
    uint256 startBlockNumber,
    uint256 endBlockNumber,
    address indexed prover,
    bytes32 endArchive
  );
  /// @notice The pending chain was cut back to the proven tip: `epoch` (the oldest unproven
  /// one) was not claimed, or not proven, within its window.
  event PrunedPending(uint256 indexed epoch, uint256 provenBlockNumber, uint256 prunedPendingBlockNumber, bool bondSlashed);
  event FeesDistributed(uint256 indexed epoch, address indexed prover, uint256 proverFees, uint256 sequencerFees);
  event FeesClaimed(address indexed account, uint256 amount);

  error Rollup__InvalidSlotDuration();
  error Rollup__InvalidWindows(uint256 epochDuration, uint256 claimWindow, uint256 proofSubmissionWindow);
  error Rollup__ZeroAddress(string what);
  error Rollup__NotSequencer(address caller, address sequencer);
  error Rollup__InvalidBlockNumber(uint256 expected, uint256 got);
  error Rollup__InvalidArchive(bytes32 expected, bytes32 got);
  error Rollup__ZeroArchive(uint256 blockNumber);
  error Rollup__InvalidSlot(uint256 currentSlot, uint256 headerSlot);
  error Rollup__SlotAlreadyInChain(uint256 lastSlot, uint256 proposedSlot);
  error Rollup__InvalidTimestamp(uint256 expected, uint256 got);
  error Rollup__InvalidChainId(uint256 expected, uint256 got);
  error Rollup__InvalidVersion(uint256 expected, uint256 got);
  error Rollup__InvalidTxCount(uint256 numTxs, uint256 txHashes);
  error Rollup__InvalidTxsEffectsHash(bytes32 expected, bytes32 got);
  error Rollup__InvalidInHash(bytes32 expected, bytes32 got);
  error Rollup__QuoteForWrongEpoch(uint256 quoteEpoch, uint256 currentEpoch);
  error Rollup__ClaimWindowClosed(uint256 epoch, uint256 deadlineSlot, uint256 currentSlot);
  error Rollup__ProofRightAlreadyClaimed(uint256 epoch, address prover);
  error Rollup__QuoteExpired(uint256 validUntilSlot, uint256 currentSlot);
  error Rollup__InvalidBasisPointFee(uint32 basisPointFee);
  error Rollup__InsufficientBondAmount(uint256 minimum, uint256 bondAmount);
  error Rollup__NoBlocksToProve(uint256 epoch);
  error Rollup__InvalidQuoteSignature(address prover, address recovered);
  error Rollup__EpochNotClaimed(uint256 epoch);
  error Rollup__ProofWindowClosed(uint256 epoch, uint256 deadlineSlot, uint256 currentSlot);
  error Rollup__InvalidEndBlock(uint256 endBlockNumber, uint256 startBlockNumber, uint256 pendingBlockNumber);
  error Rollup__StartBlockNotInEpoch(uint256 epoch, uint256 startBlockNumber, uint256 blockEpoch);
  error Rollup__EndBlockNotInEpoch(uint256 epoch, uint256 endBlockNumber, uint256 blockEpoch);
  error Rollup__EpochNotComplete(uint256 epoch, uint256 endBlockNumber, uint256 nextBlockInEpoch);
  error Rollup__InvalidPreviousArchive(bytes32 expected, bytes32 got);
  error Rollup__InvalidEndArchive(bytes32 expected, bytes32 got);
  error Rollup__InvalidOutHash(bytes32 expected, bytes32 got);
  error Rollup__InvalidFees(uint256 expected, uint256 got);
  error Rollup__InvalidProverId(bytes32 expected, bytes32 got);
  error Rollup__InvalidProof(uint256 epoch);
  error Rollup__NothingToPrune();
  error Rollup__NoFeesToClaim(address account);
  error Rollup__InsufficientFeeAssetBalance(uint256 available, uint256 owed);
  error Rollup__FeeTransferFailed(address to, uint256 amount);

  function propose(ProposeArgs calldata _args) external;
  function claimEpochProofRight(SignedEpochProofQuote calldata _quote) external;
  function submitEpochRootProof(
    uint256 _epoch,
    uint256 _endBlockNumber,
    EpochProofPublicInputs calldata _args,
    bytes calldata _proof
  ) external;
  function prune() external;
  function claimFees() external returns (uint256);

  function canPrune() external view returns (bool);
  function getTips() external view returns (ChainTips memory);
  function getBlock(uint256 _blockNumber) external view returns (BlockLog memory);
  function archiveAt(uint256 _blockNumber) external view returns (bytes32);
  function getProofClaim() external view returns (ProofClaim memory);
  function getCurrentSlot() external view returns (uint256);
  function getCurrentEpoch() external view returns (uint256);
  function getEpochAtSlot(uint256 _slot) external view returns (uint256);
  function getEpochForBlock(uint256 _blockNumber) external view returns (uint256);
  function getTimestampForSlot(uint256 _slot) external view returns (uint256);
  function getClaimDeadline(uint256 _epoch) external view returns (uint256);
  function getProofSubmissionDeadline(uint256 _epoch) external view returns (uint256);
  function quoteToDigest(EpochProofQuote calldata _quote) external view returns (bytes32);
  function getEpochProofPublicInputs(uint256 _epoch, uint256 _endBlockNumber, EpochProofPublicInputs calldata _args)
    external
    view
    returns (bytes32[] memory);
  function computeEpochOutHash(uint256 _startBlockNumber, uint256 _endBlockNumber) external view returns (bytes32);
}
