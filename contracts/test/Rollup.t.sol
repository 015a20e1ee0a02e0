// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Inbox} from "../src/Inbox.sol";
import {IInbox} from "../src/interfaces/IInbox.sol";
import {IOutbox} from "../src/interfaces/IOutbox.sol";
import {IProofCommitmentEscrow} from "../src/interfaces/IProofCommitmentEscrow.sol";
import {IRollup} from "../src/interfaces/IRollup.sol";
import {Hash} from "../src/libraries/Hash.sol";
import {
  BlockHeader,
  EpochProofPublicInputs,
  EpochProofQuote,
  ProposeArgs,
  RollupConfig,
  Signature,
  SignedEpochProofQuote
} from "../src/libraries/DataStructures.sol";
import {Outbox} from "../src/Outbox.sol";
import {ProofCommitmentEscrow} from "../src/ProofCommitmentEscrow.sol";
import {Rollup} from "../src/Rollup.sol";
import {SimulatedVerifier} from "../src/SimulatedVerifier.sol";
import {TestERC20} from "../src/TestERC20.sol";
import {Base} from "./Base.sol";

/// @notice Window boundaries slot by slot, the simulated proof format, and the access
/// rules of the escrow, Inbox and Outbox. The Rust tests (node/l1/tests) cover the same
/// contracts end to end through the bindings; these pin the edges cheaply.
contract RollupTest is Base {
  uint256 internal constant SLOT = 12;
  uint256 internal constant EPOCH = 4;
  uint256 internal constant CLAIM = 2;
  uint256 internal constant PROOF = 3;
  uint256 internal constant BOND = 1000;
  uint256 internal constant PROVER_KEY = 0xB0B;
  bytes32 internal constant GENESIS = bytes32(uint256(1));

  TestERC20 internal token;
  ProofCommitmentEscrow internal escrow;
  Inbox internal inbox;
  Outbox internal outbox;
  Rollup internal rollup;
  address internal prover;

  function setUp() public {
    vm.warp(1_000_000);
    token = new TestERC20("t", "T");
    escrow = new ProofCommitmentEscrow(token);
    inbox = new Inbox();
    outbox = new Outbox();
    rollup = new Rollup(token, escrow, new SimulatedVerifier(), inbox, outbox, config(CLAIM, PROOF));
    escrow.initialize(address(rollup));
    inbox.initialize(address(rollup));
    outbox.initialize(address(rollup));

    prover = vm.addr(PROVER_KEY);
    token.mint(prover, 10 * BOND);
    vm.prank(prover);
    token.approve(address(escrow), type(uint256).max);
    vm.prank(prover);
    escrow.deposit(10 * BOND);
  }

  function config(uint256 _claim, uint256 _proof) internal pure returns (RollupConfig memory) {
    return RollupConfig({
      slotDuration: SLOT,
      epochDuration: EPOCH,
      claimWindow: _claim,
      proofSubmissionWindow: _proof,
      minBondAmount: 1,
      sequencer: address(0),
      genesisArchive: GENESIS
    });
  }

  function toSlot(uint256 _slot) internal {
    vm.warp(rollup.getTimestampForSlot(_slot) + 1);
  }

  function propose(uint256 _number, uint256 _slot) internal {
    toSlot(_slot);
    BlockHeader memory h;
    h.lastArchive.root = rollup.archiveAt(_number - 1);
    h.contentCommitment.txsEffectsHash = Hash.sha256ToField("");
    h.globalVariables.chainId = block.chainid;
    h.globalVariables.version = rollup.VERSION();
    h.globalVariables.blockNumber = _number;
    h.globalVariables.slotNumber = _slot;
    h.globalVariables.timestamp = rollup.getTimestampForSlot(_slot);
    h.totalFees = 10;
    rollup.propose(ProposeArgs({header: h, archive: bytes32(1000 + _number), txHashes: new bytes32[](0), body: ""}));
  }

  function signed(uint256 _epoch, uint256 _validUntil) internal view returns (SignedEpochProofQuote memory q) {
    q.quote = EpochProofQuote({
      epochToProve: _epoch,
      validUntilSlot: _validUntil,
      bondAmount: BOND,
      basisPointFee: 100,
      prover: prover
    });
    (uint8 v, bytes32 r, bytes32 s) = vm.sign(PROVER_KEY, rollup.quoteToDigest(q.quote));
    q.signature = Signature({v: v, r: r, s: s});
  }

  function inputs(uint256 _end) internal view returns (EpochProofPublicInputs memory a) {
    a.previousArchive = GENESIS;
    a.endArchive = bytes32(1000 + _end);
    a.outHash = rollup.computeEpochOutHash(1, _end);
    a.totalFees = 10 * _end;
    a.proverId = bytes32(uint256(uint160(prover)));
  }

  /// @dev A simulated proof as common/src/circuit.rs makes it (header only, no filler).
  function simulatedProof(bytes32[] memory _pis) internal pure returns (bytes memory) {
    bytes32 jobId = keccak256("job");
    bytes32 pih = sha256(abi.encodePacked("provemesh/public-inputs/v1\x00", _pis));
    bytes32 wh = sha256("witness");
    bytes32 tag = sha256(abi.encodePacked("provemesh/sim-proof/v1\x00", jobId, pih, wh));
    return abi.encodePacked(bytes8("PMSIMPF1"), jobId, pih, wh, tag);
  }

  function test_SlotsAndEpochsFollowL1Time(uint32 _seconds) public {
    vm.warp(rollup.GENESIS_TIME() + _seconds);
    assertEq(rollup.getCurrentSlot(), uint256(_seconds) / SLOT, "slot");
    assertEq(rollup.getCurrentEpoch(), uint256(_seconds) / SLOT / EPOCH, "epoch");
  }

  function test_RevertWhen_WindowsDoNotFit() public {
    SimulatedVerifier verifier = new SimulatedVerifier();
    vm.expectRevert(abi.encodeWithSelector(IRollup.Rollup__InvalidWindows.selector, EPOCH, 3, 2));
    new Rollup(token, escrow, verifier, inbox, outbox, config(3, 2));
    vm.expectRevert(abi.encodeWithSelector(IRollup.Rollup__InvalidWindows.selector, EPOCH, 1, EPOCH + 1));
    new Rollup(token, escrow, verifier, inbox, outbox, config(1, EPOCH + 1));
    vm.expectRevert(abi.encodeWithSelector(IRollup.Rollup__InvalidWindows.selector, EPOCH, 0, 1));
    new Rollup(token, escrow, verifier, inbox, outbox, config(0, 1));
  }

  function test_ClaimWindowIsItsFirstSlotsOnly() public {
    propose(1, 1);
    // Last slot of the window: accepted.
    toSlot(EPOCH + CLAIM - 1);
    rollup.claimEpochProofRight(signed(0, EPOCH + CLAIM));
    assertEq(rollup.getProofClaim().prover, prover, "claimed");
  }

  function test_RevertWhen_ClaimAtTheDeadline() public {
    propose(1, 1);
    toSlot(EPOCH + CLAIM);
    SignedEpochProofQuote memory q = signed(0, EPOCH + CLAIM);
    vm.expectRevert(
      abi.encodeWithSelector(IRollup.Rollup__ClaimWindowClosed.selector, 0, EPOCH + CLAIM, EPOCH + CLAIM)
    );
    rollup.claimEpochProofRight(q);
  }

  function test_ProofAcceptedInTheLastSlotOfTheWindow() public {
    propose(1, 1);
    propose(2, 3);
    toSlot(EPOCH);
    rollup.claimEpochProofRight(signed(0, EPOCH));
    toSlot(EPOCH + PROOF - 1);
    bytes32[] memory pis = rollup.getEpochProofPublicInputs(0, 2, inputs(2));
    rollup.submitEpochRootProof(0, 2, inputs(2), simulatedProof(pis));
    assertEq(rollup.getTips().provenBlockNumber, 2, "proven tip");
    assertEq(escrow.deposits(prover), 10 * BOND, "bond back");
    assertEq(rollup.fees(prover), 0, "1% of 20 rounds down to 0");
  }

  function test_RevertWhen_ProofAtTheDeadline() public {
    propose(1, 1);
    toSlot(EPOCH);
    rollup.claimEpochProofRight(signed(0, EPOCH));
    toSlot(EPOCH + PROOF);
    EpochProofPublicInputs memory args = inputs(1);
    bytes memory proof = simulatedProof(rollup.getEpochProofPublicInputs(0, 1, args));
    vm.expectRevert(
      abi.encodeWithSelector(IRollup.Rollup__ProofWindowClosed.selector, 0, EPOCH + PROOF, EPOCH + PROOF)
    );
    rollup.submitEpochRootProof(0, 1, args, proof);
    // Pruning slashes; a second prune has nothing to do.
    rollup.prune();
    assertEq(escrow.bonded(prover), 0, "bond slashed");
    assertEq(escrow.totalSlashed(), BOND, "slashed total");
    vm.expectRevert(abi.encodeWithSelector(IRollup.Rollup__NothingToPrune.selector));
    rollup.prune();
  }

  function test_RevertWhen_ProofTruncated() public {
    propose(1, 1);
    toSlot(EPOCH);
    rollup.claimEpochProofRight(signed(0, EPOCH));
    EpochProofPublicInputs memory args = inputs(1);
    vm.expectRevert(abi.encodeWithSelector(SimulatedVerifier.SimulatedVerifier__Malformed.selector, 100));
    rollup.submitEpochRootProof(0, 1, args, new bytes(100));
  }

  function test_RevertWhen_OthersCallTheRollupOnlyParts() public {
    address mallory = address(0xBAD);
    vm.prank(mallory);
    vm.expectRevert(
      abi.encodeWithSelector(
        IProofCommitmentEscrow.ProofCommitmentEscrow__NotRollup.selector, mallory, address(rollup)
      )
    );
    escrow.slashBond(prover, 1, 0);
    vm.prank(mallory);
    vm.expectRevert(abi.encodeWithSelector(IInbox.Inbox__NotRollup.selector, mallory, address(rollup)));
    inbox.consume(1);
    vm.prank(mallory);
    vm.expectRevert(abi.encodeWithSelector(IOutbox.Outbox__NotRollup.selector, mallory, address(rollup)));
    outbox.insert(0, bytes32(uint256(1)));
    vm.expectRevert(
      abi.encodeWithSelector(IProofCommitmentEscrow.ProofCommitmentEscrow__AlreadyInitialized.selector, address(rollup))
    );
    escrow.initialize(mallory);
  }

  function test_RevertWhen_WithdrawingABondedDeposit() public {
    propose(1, 1);
    toSlot(EPOCH);
    rollup.claimEpochProofRight(signed(0, EPOCH));
    vm.prank(prover);
    vm.expectRevert(
      abi.encodeWithSelector(
        IProofCommitmentEscrow.ProofCommitmentEscrow__InsufficientBalance.selector, prover, 9 * BOND, 10 * BOND
      )
    );
    escrow.withdraw(10 * BOND);
    vm.prank(prover);
    escrow.withdraw(9 * BOND);
    assertEq(token.balanceOf(prover), 9 * BOND, "free part withdrawn");
  }
}
