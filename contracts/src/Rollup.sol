// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC20} from "./interfaces/IERC20.sol";
import {IInbox} from "./interfaces/IInbox.sol";
import {IOutbox} from "./interfaces/IOutbox.sol";
import {IProofCommitmentEscrow} from "./interfaces/IProofCommitmentEscrow.sol";
import {IRollup} from "./interfaces/IRollup.sol";
import {IVerifier} from "./interfaces/IVerifier.sol";
import {Constants} from "./libraries/Constants.sol";
import {
  BlockHeader,
  BlockLog,
  ChainTips,
  EpochProofPublicInputs,
  EpochProofQuote,
  ProofClaim,
  ProposeArgs,
  RollupConfig,
  Signature,
  SignedEpochProofQuote
} from "./libraries/DataStructures.sol";
import {EpochProofQuoteLib} from "./libraries/EpochProofQuoteLib.sol";
import {Hash} from "./libraries/Hash.sol";

/// @title Rollup
/// @notice The L1 side of a provemesh rollup.
///
/// Time: L2 slot s starts at GENESIS_TIME + s * SLOT_DURATION; epoch e holds slots
/// [e * EPOCH_DURATION, (e + 1) * EPOCH_DURATION). At most one block per slot, proposed in
/// its own slot.
///
/// Proving an epoch: in the first CLAIM_WINDOW slots of epoch e + 1 the sequencer claims the
/// right to prove epoch e with a prover's signed quote (the prover's bond is locked in the
/// escrow); the proof must land within the first PROOF_SUBMISSION_WINDOW slots of e + 1.
/// Since CLAIM_WINDOW <= PROOF_SUBMISSION_WINDOW <= EPOCH_DURATION, at most one epoch is
/// being proven at any time, and it is always the one holding the oldest unproven block.
///
/// Pruning: when the oldest unproven epoch misses its claim window (no claim) or its
/// submission window (claimed; the bond is slashed), the pending chain is cut back to the
/// proven tip. Anyone may call `prune`; `propose` and `claimEpochProofRight` prune first.
contract Rollup is IRollup {
  bytes32 private constant EIP712_DOMAIN_TYPEHASH =
    keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
  /// @notice EIP-712 domain name and version of epoch proof quotes.
  string public constant EIP712_NAME = "provemesh Rollup";
  string public constant EIP712_VERSION = "1";
  /// @dev Upper bound of a canonical (low-s) secp256k1 signature's s.
  uint256 private constant SECP256K1_HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

  uint256 public constant VERSION = Constants.ROLLUP_VERSION;
  uint256 public immutable GENESIS_TIME;
  uint256 public immutable SLOT_DURATION;
  uint256 public immutable EPOCH_DURATION;
  uint256 public immutable CLAIM_WINDOW;
  uint256 public immutable PROOF_SUBMISSION_WINDOW;
  uint256 public immutable MIN_BOND_AMOUNT;
  /// @notice The only address allowed to propose and claim; zero lets anyone.
  address public immutable SEQUENCER;

  IERC20 public immutable FEE_ASSET;
  IProofCommitmentEscrow public immutable PROOF_COMMITMENT_ESCROW;
  IVerifier public immutable VERIFIER;
  IInbox public immutable INBOX;
  IOutbox public immutable OUTBOX;

  bytes32 private immutable DOMAIN_SEPARATOR_AT_DEPLOY;
  uint256 private immutable CHAIN_ID_AT_DEPLOY;

  ChainTips private tips;
  mapping(uint256 blockNumber => BlockLog log) private blocks;
  ProofClaim private proofClaim;
  /// @notice Fees earned and not yet claimed, per account (coinbases and provers).
  mapping(address account => uint256 amount) public fees;

  constructor(
    IERC20 _feeAsset,
    IProofCommitmentEscrow _escrow,
    IVerifier _verifier,
    IInbox _inbox,
    IOutbox _outbox,
    RollupConfig memory _config
  ) {
    require(_config.slotDuration > 0, Rollup__InvalidSlotDuration());
    require(
      _config.claimWindow > 0 && _config.claimWindow <= _config.proofSubmissionWindow
        && _config.proofSubmissionWindow <= _config.epochDuration,
      Rollup__InvalidWindows(_config.epochDuration, _config.claimWindow, _config.proofSubmissionWindow)
    );
    require(address(_feeAsset) != address(0), Rollup__ZeroAddress("fee asset"));
    require(address(_escrow) != address(0), Rollup__ZeroAddress("escrow"));
    require(address(_verifier) != address(0), Rollup__ZeroAddress("verifier"));
    require(address(_inbox) != address(0), Rollup__ZeroAddress("inbox"));
    require(address(_outbox) != address(0), Rollup__ZeroAddress("outbox"));

    GENESIS_TIME = block.timestamp;
    SLOT_DURATION = _config.slotDuration;
    EPOCH_DURATION = _config.epochDuration;
    CLAIM_WINDOW = _config.claimWindow;
    PROOF_SUBMISSION_WINDOW = _config.proofSubmissionWindow;
    MIN_BOND_AMOUNT = _config.minBondAmount;
    SEQUENCER = _config.sequencer;
    FEE_ASSET = _feeAsset;
    PROOF_COMMITMENT_ESCROW = _escrow;
    VERIFIER = _verifier;
    INBOX = _inbox;
    OUTBOX = _outbox;
    CHAIN_ID_AT_DEPLOY = block.chainid;
    DOMAIN_SEPARATOR_AT_DEPLOY = _domainSeparator();

    blocks[0].archive = _config.genesisArchive;
  }

  // ---------------------------------------------------------------- sequencer

  /// @notice Appends a block to the pending chain. The block must be the next one, built on
  /// the pending archive, for the current slot, with its timestamp at the slot's start, its
  /// body matching txsEffectsHash and its inHash matching the Inbox.
  function propose(ProposeArgs calldata _args) external override(IRollup) {
    _pruneIfPossible();
    _onlySequencer();

    BlockHeader calldata header = _args.header;
    uint256 blockNumber = tips.pendingBlockNumber + 1;
    uint256 slot = getCurrentSlot();
    BlockLog storage parent = blocks[blockNumber - 1];

    require(
      header.globalVariables.blockNumber == blockNumber,
      Rollup__InvalidBlockNumber(blockNumber, header.globalVariables.blockNumber)
    );
    require(header.lastArchive.root == parent.archive, Rollup__InvalidArchive(parent.archive, header.lastArchive.root));
    require(header.globalVariables.slotNumber == slot, Rollup__InvalidSlot(slot, header.globalVariables.slotNumber));
    require(slot > parent.slotNumber, Rollup__SlotAlreadyInChain(parent.slotNumber, slot));
    require(
      header.globalVariables.timestamp == getTimestampForSlot(slot),
      Rollup__InvalidTimestamp(getTimestampForSlot(slot), header.globalVariables.timestamp)
    );
    require(
      header.globalVariables.chainId == block.chainid,
      Rollup__InvalidChainId(block.chainid, header.globalVariables.chainId)
    );
    require(header.globalVariables.version == VERSION, Rollup__InvalidVersion(VERSION, header.globalVariables.version));
    require(
      header.contentCommitment.numTxs == _args.txHashes.length,
      Rollup__InvalidTxCount(header.contentCommitment.numTxs, _args.txHashes.length)
    );
    bytes32 effectsHash = Hash.sha256ToField(_args.body);
    require(
      header.contentCommitment.txsEffectsHash == effectsHash,
      Rollup__InvalidTxsEffectsHash(effectsHash, header.contentCommitment.txsEffectsHash)
    );
    require(_args.archive != bytes32(0), Rollup__ZeroArchive(blockNumber));
    bytes32 inHash = INBOX.consume(blockNumber);
    require(header.contentCommitment.inHash == inHash, Rollup__InvalidInHash(inHash, header.contentCommitment.inHash));

    blocks[blockNumber] = BlockLog({
      archive: _args.archive,
      headerHash: keccak256(abi.encode(header)),
      slotNumber: slot,
      outHash: header.contentCommitment.outHash,
      totalFees: header.totalFees,
      coinbase: header.globalVariables.coinbase
    });
    tips.pendingBlockNumber = blockNumber;

    emit L2BlockProposed(blockNumber, _args.archive, slot, header, _args.txHashes, _args.body);
  }

  /// @notice Claims the right to prove the previous epoch on a prover's signed quote, during
  /// the claim window, locking the quote's bond in the escrow.
  function claimEpochProofRight(SignedEpochProofQuote calldata _signed) external override(IRollup) {
    _pruneIfPossible();
    _onlySequencer();

    EpochProofQuote calldata quote = _signed.quote;
    uint256 slot = getCurrentSlot();
    uint256 currentEpoch = getEpochAtSlot(slot);

    require(
      currentEpoch > 0 && quote.epochToProve == currentEpoch - 1,
      Rollup__QuoteForWrongEpoch(quote.epochToProve, currentEpoch)
    );
    uint256 deadline = getClaimDeadline(quote.epochToProve);
    require(slot < deadline, Rollup__ClaimWindowClosed(quote.epochToProve, deadline, slot));
    require(
      proofClaim.prover == address(0),
      Rollup__ProofRightAlreadyClaimed(proofClaim.epochToProve, proofClaim.prover)
    );
    require(quote.validUntilSlot >= slot, Rollup__QuoteExpired(quote.validUntilSlot, slot));
    require(quote.basisPointFee <= Constants.MAX_BPS, Rollup__InvalidBasisPointFee(quote.basisPointFee));
    require(quote.bondAmount >= MIN_BOND_AMOUNT, Rollup__InsufficientBondAmount(MIN_BOND_AMOUNT, quote.bondAmount));
    uint256 proven = tips.provenBlockNumber;
    require(
      tips.pendingBlockNumber > proven && getEpochForBlock(proven + 1) == quote.epochToProve,
      Rollup__NoBlocksToProve(quote.epochToProve)
    );
    address signer = _recover(quoteToDigest(quote), _signed.signature);
    require(signer != address(0) && signer == quote.prover, Rollup__InvalidQuoteSignature(quote.prover, signer));

    PROOF_COMMITMENT_ESCROW.stakeBond(quote.prover, quote.bondAmount, quote.epochToProve);
    proofClaim = ProofClaim({
      epochToProve: quote.epochToProve,
      bondAmount: quote.bondAmount,
      basisPointFee: quote.basisPointFee,
      prover: quote.prover,
      proposerClaimant: msg.sender,
      claimSlot: slot
    });

    emit ProofRightClaimed(quote.epochToProve, quote.prover, msg.sender, quote.bondAmount, quote.basisPointFee, slot);
  }

  // ------------------------------------------------------------------- prover

  /// @notice Verifies the root rollup proof of the claimed epoch, covering every block from
  /// the proven tip + 1 to `_endBlockNumber` (the epoch's last block), and advances the
  /// proven chain: the Outbox gets the epoch's out hash, the bond goes back to the prover,
  /// the epoch's fees are credited to the prover (its quote's share) and the coinbases.
  function submitEpochRootProof(
    uint256 _epoch,
    uint256 _endBlockNumber,
    EpochProofPublicInputs calldata _args,
    bytes calldata _proof
  ) external override(IRollup) {
    ProofClaim memory claim = proofClaim;
    uint256 slot = getCurrentSlot();
    uint256 deadline = getProofSubmissionDeadline(_epoch);
    require(slot < deadline, Rollup__ProofWindowClosed(_epoch, deadline, slot));

    bytes32[] memory publicInputs = getEpochProofPublicInputs(_epoch, _endBlockNumber, _args);
    require(VERIFIER.verify(_proof, publicInputs), Rollup__InvalidProof(_epoch));

    uint256 start = tips.provenBlockNumber + 1;
    tips.provenBlockNumber = _endBlockNumber;
    delete proofClaim;

    OUTBOX.insert(_epoch, _args.outHash);
    PROOF_COMMITMENT_ESCROW.unstakeBond(claim.prover, claim.bondAmount, _epoch);
    _distributeFees(_epoch, start, _endBlockNumber, claim);

    emit EpochProven(_epoch, start, _endBlockNumber, claim.prover, _args.endArchive);
  }

  /// @notice Pays out the caller's earned fees from the rollup's fee asset balance.
  function claimFees() external override(IRollup) returns (uint256 amount) {
    amount = fees[msg.sender];
    require(amount > 0, Rollup__NoFeesToClaim(msg.sender));
    uint256 available = FEE_ASSET.balanceOf(address(this));
    require(available >= amount, Rollup__InsufficientFeeAssetBalance(available, amount));
    fees[msg.sender] = 0;
    require(FEE_ASSET.transfer(msg.sender, amount), Rollup__FeeTransferFailed(msg.sender, amount));
    emit FeesClaimed(msg.sender, amount);
  }

  // -------------------------------------------------------------------- prune

  /// @notice Cuts the pending chain back to the proven tip when the oldest unproven epoch
  /// missed its window; reverts when there is nothing to prune.
  function prune() external override(IRollup) {
    require(canPrune(), Rollup__NothingToPrune());
    _prune();
  }

  function canPrune() public view override(IRollup) returns (bool) {
    (bool can,) = _pruneStatus();
    return can;
  }

  // -------------------------------------------------------------------- views

  function getTips() external view override(IRollup) returns (ChainTips memory) {
    return tips;
  }

  function getBlock(uint256 _blockNumber) external view override(IRollup) returns (BlockLog memory) {
    require(
      _blockNumber <= tips.pendingBlockNumber, Rollup__InvalidBlockNumber(tips.pendingBlockNumber, _blockNumber)
    );
    return blocks[_blockNumber];
  }

  function archiveAt(uint256 _blockNumber) external view override(IRollup) returns (bytes32) {
    return _blockNumber <= tips.pendingBlockNumber ? blocks[_blockNumber].archive : bytes32(0);
  }

  function getProofClaim() external view override(IRollup) returns (ProofClaim memory) {
    return proofClaim;
  }

  function getCurrentSlot() public view override(IRollup) returns (uint256) {
    return (block.timestamp - GENESIS_TIME) / SLOT_DURATION;
  }

  function getCurrentEpoch() external view override(IRollup) returns (uint256) {
    return getEpochAtSlot(getCurrentSlot());
  }

  function getEpochAtSlot(uint256 _slot) public view override(IRollup) returns (uint256) {
    return _slot / EPOCH_DURATION;
  }

  function getEpochForBlock(uint256 _blockNumber) public view override(IRollup) returns (uint256) {
    return getEpochAtSlot(blocks[_blockNumber].slotNumber);
  }

  function getTimestampForSlot(uint256 _slot) public view override(IRollup) returns (uint256) {
    return GENESIS_TIME + _slot * SLOT_DURATION;
  }

  /// @notice First slot at which epoch `_epoch` can no longer be claimed.
  function getClaimDeadline(uint256 _epoch) public view override(IRollup) returns (uint256) {
    return (_epoch + 1) * EPOCH_DURATION + CLAIM_WINDOW;
  }

  /// @notice First slot at which a proof of epoch `_epoch` is no longer accepted.
  function getProofSubmissionDeadline(uint256 _epoch) public view override(IRollup) returns (uint256) {
    return (_epoch + 1) * EPOCH_DURATION + PROOF_SUBMISSION_WINDOW;
  }

  /// @notice The EIP-712 digest a prover signs for `_quote`.
  function quoteToDigest(EpochProofQuote calldata _quote) public view override(IRollup) returns (bytes32) {
    return keccak256(abi.encodePacked("\x19\x01", _domainSeparatorNow(), EpochProofQuoteLib.hash(_quote)));
  }

  /// @notice Checks `_args` against the proposed chain and the claim of `_epoch` and returns
  /// the public inputs the verifier is given:
  /// [previousArchive, endArchive, outHash, totalFees, proverId, epoch, endBlockNumber].
  /// A prover can call this to compare them with its own before submitting.
  function getEpochProofPublicInputs(uint256 _epoch, uint256 _endBlockNumber, EpochProofPublicInputs calldata _args)
    public
    view
    override(IRollup)
    returns (bytes32[] memory publicInputs)
  {
    require(proofClaim.prover != address(0) && proofClaim.epochToProve == _epoch, Rollup__EpochNotClaimed(_epoch));
    uint256 start = tips.provenBlockNumber + 1;
    uint256 pending = tips.pendingBlockNumber;
    require(
      start <= _endBlockNumber && _endBlockNumber <= pending, Rollup__InvalidEndBlock(_endBlockNumber, start, pending)
    );
    uint256 startEpoch = getEpochForBlock(start);
    require(startEpoch == _epoch, Rollup__StartBlockNotInEpoch(_epoch, start, startEpoch));
    uint256 endEpoch = getEpochForBlock(_endBlockNumber);
    require(endEpoch == _epoch, Rollup__EndBlockNotInEpoch(_epoch, _endBlockNumber, endEpoch));
    require(
      _endBlockNumber == pending || getEpochForBlock(_endBlockNumber + 1) != _epoch,
      Rollup__EpochNotComplete(_epoch, _endBlockNumber, _endBlockNumber + 1)
    );

    bytes32 previousArchive = blocks[start - 1].archive;
    require(
      _args.previousArchive == previousArchive, Rollup__InvalidPreviousArchive(previousArchive, _args.previousArchive)
    );
    bytes32 endArchive = blocks[_endBlockNumber].archive;
    require(_args.endArchive == endArchive, Rollup__InvalidEndArchive(endArchive, _args.endArchive));
    bytes32 outHash = computeEpochOutHash(start, _endBlockNumber);
    require(_args.outHash == outHash, Rollup__InvalidOutHash(outHash, _args.outHash));
    uint256 totalFees = 0;
    for (uint256 i = start; i <= _endBlockNumber; i++) {
      totalFees += blocks[i].totalFees;
    }
    require(_args.totalFees == totalFees, Rollup__InvalidFees(totalFees, _args.totalFees));
    bytes32 proverId = bytes32(uint256(uint160(proofClaim.prover)));
    require(_args.proverId == proverId, Rollup__InvalidProverId(proverId, _args.proverId));

    publicInputs = new bytes32[](Constants.EPOCH_PROOF_PUBLIC_INPUTS);
    publicInputs[0] = previousArchive;
    publicInputs[1] = endArchive;
    publicInputs[2] = outHash;
    publicInputs[3] = bytes32(totalFees);
    publicInputs[4] = proverId;
    publicInputs[5] = bytes32(_epoch);
    publicInputs[6] = bytes32(_endBlockNumber);
  }

  /// @notice The out hash of blocks `_start..=_end`: the Merkle root (Hash.merkleRoot) of
  /// their headers' out hashes.
  function computeEpochOutHash(uint256 _startBlockNumber, uint256 _endBlockNumber)
    public
    view
    override(IRollup)
    returns (bytes32)
  {
    require(
      _startBlockNumber <= _endBlockNumber && _endBlockNumber <= tips.pendingBlockNumber,
      Rollup__InvalidEndBlock(_endBlockNumber, _startBlockNumber, tips.pendingBlockNumber)
    );
    bytes32[] memory leaves = new bytes32[](_endBlockNumber - _startBlockNumber + 1);
    for (uint256 i = 0; i < leaves.length; i++) {
      leaves[i] = blocks[_startBlockNumber + i].outHash;
    }
    return Hash.merkleRoot(leaves);
  }

  // ----------------------------------------------------------------- internal

  function _onlySequencer() internal view {
    require(SEQUENCER == address(0) || msg.sender == SEQUENCER, Rollup__NotSequencer(msg.sender, SEQUENCER));
  }

  /// @dev (prunable, epoch of the oldest unproven block). A claim, when there is one, is
  /// always for that epoch (see the contract doc).
  function _pruneStatus() internal view returns (bool, uint256) {
    uint256 proven = tips.provenBlockNumber;
    if (tips.pendingBlockNumber == proven) {
      return (false, 0);
    }
    uint256 epoch = getEpochForBlock(proven + 1);
    bool claimed = proofClaim.prover != address(0) && proofClaim.epochToProve == epoch;
    uint256 deadline = claimed ? getProofSubmissionDeadline(epoch) : getClaimDeadline(epoch);
    return (getCurrentSlot() >= deadline, epoch);
  }

  function _pruneIfPossible() internal {
    if (canPrune()) {
      _prune();
    }
  }

  function _prune() internal {
    (, uint256 epoch) = _pruneStatus();
    uint256 pending = tips.pendingBlockNumber;
    tips.pendingBlockNumber = tips.provenBlockNumber;
    ProofClaim memory claim = proofClaim;
    bool slashed = claim.prover != address(0);
    if (slashed) {
      delete proofClaim;
      PROOF_COMMITMENT_ESCROW.slashBond(claim.prover, claim.bondAmount, claim.epochToProve);
    }
    emit PrunedPending(epoch, tips.provenBlockNumber, pending, slashed);
  }

  function _distributeFees(uint256 _epoch, uint256 _start, uint256 _end, ProofClaim memory _claim) internal {
    uint256 proverFees = 0;
    uint256 sequencerFees = 0;
    for (uint256 i = _start; i <= _end; i++) {
      BlockLog storage log = blocks[i];
      uint256 proverShare = log.totalFees * _claim.basisPointFee / Constants.MAX_BPS;
      uint256 sequencerShare = log.totalFees - proverShare;
      fees[log.coinbase] += sequencerShare;
      proverFees += proverShare;
      sequencerFees += sequencerShare;
    }
    fees[_claim.prover] += proverFees;
    emit FeesDistributed(_epoch, _claim.prover, proverFees, sequencerFees);
  }

  function _recover(bytes32 _digest, Signature calldata _sig) internal pure returns (address) {
    if (uint256(_sig.s) > SECP256K1_HALF_N || (_sig.v != 27 && _sig.v != 28)) {
      return address(0);
    }
    return ecrecover(_digest, _sig.v, _sig.r, _sig.s);
  }

  function _domainSeparatorNow() internal view returns (bytes32) {
    return block.chainid == CHAIN_ID_AT_DEPLOY ? DOMAIN_SEPARATOR_AT_DEPLOY : _domainSeparator();
  }

  function _domainSeparator() internal view returns (bytes32) {
    return keccak256(
      abi.encode(
        EIP712_DOMAIN_TYPEHASH,
        keccak256(bytes(EIP712_NAME)),
        keccak256(bytes(EIP712_VERSION)),
        block.chainid,
        address(this)
      )
    );
  }
}
