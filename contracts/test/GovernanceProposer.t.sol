// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {GovernanceProposer, IGovernanceRollup} from "../src/GovernanceProposer.sol";
import {Base} from "./Base.sol";

/// @notice The two things GovernanceProposer reads of the Rollup, settable.
contract FakeRollup is IGovernanceRollup {
  address public SEQUENCER;
  uint256 public slot;

  constructor(address _sequencer) {
    SEQUENCER = _sequencer;
  }

  function setSlot(uint256 _slot) external {
    slot = _slot;
  }

  function getCurrentSlot() external view returns (uint256) {
    return slot;
  }
}

/// @notice Votes once per slot by the proposer only, counted per round; quorum selects.
/// The Rust test (node/l1/tests/contracts/governance.rs) runs it on the real Rollup.
contract GovernanceProposerTest is Base {
  uint256 internal constant ROUND = 10;
  uint256 internal constant QUORUM = 3;
  address internal constant SEQ = address(0x5E0);
  address internal constant PAYLOAD = address(0xB0A7);
  address internal constant OTHER = address(0x0DD);

  FakeRollup internal rollup;
  GovernanceProposer internal gov;

  function setUp() public {
    rollup = new FakeRollup(SEQ);
    gov = new GovernanceProposer(rollup, ROUND, QUORUM);
  }

  function voteAt(uint256 _slot, address _payload) internal returns (bool) {
    rollup.setSlot(_slot);
    vm.prank(SEQ);
    return gov.vote(_payload);
  }

  function test_voteOncePerSlot() public {
    assertTrue(!voteAt(12, PAYLOAD), "first vote does not select");
    assertEq(gov.yeaCount(1, PAYLOAD), 1, "counted in round 1");
    assertTrue(gov.votedInSlot(12), "slot marked");
    vm.prank(SEQ);
    vm.expectRevert(abi.encodeWithSelector(GovernanceProposer.GovernanceProposer__AlreadyVotedThisSlot.selector, 12));
    gov.vote(OTHER);
    // The next slot takes a vote again.
    voteAt(13, OTHER);
    assertEq(gov.yeaCount(1, OTHER), 1, "other payload counted");
  }

  function test_onlyTheProposer() public {
    rollup.setSlot(5);
    vm.prank(OTHER);
    vm.expectRevert(abi.encodeWithSelector(GovernanceProposer.GovernanceProposer__NotProposer.selector, OTHER, SEQ));
    gov.vote(PAYLOAD);
    vm.prank(SEQ);
    vm.expectRevert(abi.encodeWithSelector(GovernanceProposer.GovernanceProposer__ZeroPayload.selector));
    gov.vote(address(0));
    assertTrue(!gov.votedInSlot(5), "refused votes take no slot");
  }

  function test_openRollupLetsAnyoneVoteOncePerSlot() public {
    FakeRollup open = new FakeRollup(address(0));
    GovernanceProposer g = new GovernanceProposer(open, ROUND, QUORUM);
    open.setSlot(1);
    vm.prank(OTHER);
    g.vote(PAYLOAD);
    vm.prank(SEQ);
    vm.expectRevert(abi.encodeWithSelector(GovernanceProposer.GovernanceProposer__AlreadyVotedThisSlot.selector, 1));
    g.vote(PAYLOAD);
  }

  function test_quorumSelectsOncePerRound() public {
    assertTrue(!voteAt(20, PAYLOAD), "1 of 3");
    assertTrue(!voteAt(21, OTHER), "other");
    assertTrue(!voteAt(22, PAYLOAD), "2 of 3");
    assertEq(gov.selectedPayload(2), address(0), "not yet");
    assertTrue(voteAt(25, PAYLOAD), "3 of 3 selects");
    assertEq(gov.selectedPayload(2), PAYLOAD, "selected");
    // More votes count but select nothing new.
    assertTrue(!voteAt(26, PAYLOAD), "past quorum");
    assertTrue(!voteAt(27, OTHER), "other 2");
    assertTrue(!voteAt(28, OTHER), "other 3 reaches quorum after the selection");
    assertEq(gov.selectedPayload(2), PAYLOAD, "still the first");
    assertEq(gov.yeaCount(2, OTHER), 3, "other counted");
  }

  function test_votesDoNotCarryOverRounds() public {
    voteAt(8, PAYLOAD);
    voteAt(9, PAYLOAD);
    assertTrue(!voteAt(10, PAYLOAD), "round 1 starts from zero");
    assertEq(gov.yeaCount(0, PAYLOAD), 2, "round 0");
    assertEq(gov.yeaCount(1, PAYLOAD), 1, "round 1");
    assertEq(gov.getRoundAtSlot(19), 1, "slot 19 in round 1");
    assertEq(gov.getCurrentRound(), 1, "current round");
  }

  function test_constructorChecks() public {
    vm.expectRevert(abi.encodeWithSelector(GovernanceProposer.GovernanceProposer__InvalidQuorum.selector, 11, 10));
    new GovernanceProposer(rollup, 10, 11);
    vm.expectRevert(abi.encodeWithSelector(GovernanceProposer.GovernanceProposer__InvalidQuorum.selector, 0, 10));
    new GovernanceProposer(rollup, 10, 0);
    vm.expectRevert(abi.encodeWithSelector(GovernanceProposer.GovernanceProposer__ZeroRollup.selector));
    new GovernanceProposer(IGovernanceRollup(address(0)), 10, 5);
  }
}
