// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @notice What the GovernanceProposer reads of the Rollup: who may propose (the Rollup's
/// `SEQUENCER`, zero when anyone may) and the current L2 slot.
interface IGovernanceRollup {
  function SEQUENCER() external view returns (address);
  function getCurrentSlot() external view returns (uint256);
}

/// @title GovernanceProposer
/// @notice The sequencer's governance votes, in Aztec's shape (simplified).
///
/// L2 slots are grouped into rounds of ROUND_SIZE slots (round r = slots
/// [r * ROUND_SIZE, (r + 1) * ROUND_SIZE)). In each slot the Rollup's proposer for that
/// slot — the Rollup's `SEQUENCER`, or anyone when the Rollup has none (as `propose`
/// allows) — may `vote` for one payload, once per slot. Votes are counted per
/// (round, payload); the first payload to reach QUORUM_SIZE votes in a round is that
/// round's selected payload (`PayloadSelected`). Votes do not carry over between rounds.
///
/// Selection is all this contract does: there is no governance here to hand a selected
/// payload to, and nothing is executed (governance itself is out of scope). An off-chain
/// process, or a later Governance contract, reads `PayloadSelected`.
contract GovernanceProposer {
  /// @notice The Rollup whose proposers vote and whose slots the rounds are made of.
  IGovernanceRollup public immutable ROLLUP;
  /// @notice Slots per round.
  uint256 public immutable ROUND_SIZE;
  /// @notice Votes a payload needs in one round to be selected (0 < QUORUM_SIZE <= ROUND_SIZE).
  uint256 public immutable QUORUM_SIZE;

  /// @notice Votes per (round, payload).
  mapping(uint256 round => mapping(address payload => uint256 votes)) public yeaCount;
  /// @notice The payload selected in a round (zero: none yet).
  mapping(uint256 round => address payload) public selectedPayload;
  /// @notice Whether the slot's vote was cast.
  mapping(uint256 slot => bool voted) public votedInSlot;

  event VoteCast(uint256 indexed round, address indexed payload, address voter);
  event PayloadSelected(uint256 indexed round, address indexed payload);

  error GovernanceProposer__ZeroRollup();
  error GovernanceProposer__InvalidQuorum(uint256 quorumSize, uint256 roundSize);
  error GovernanceProposer__ZeroPayload();
  error GovernanceProposer__NotProposer(address caller, address proposer);
  error GovernanceProposer__AlreadyVotedThisSlot(uint256 slot);

  constructor(IGovernanceRollup _rollup, uint256 _roundSize, uint256 _quorumSize) {
    require(address(_rollup) != address(0), GovernanceProposer__ZeroRollup());
    require(
      _quorumSize > 0 && _quorumSize <= _roundSize, GovernanceProposer__InvalidQuorum(_quorumSize, _roundSize)
    );
    ROLLUP = _rollup;
    ROUND_SIZE = _roundSize;
    QUORUM_SIZE = _quorumSize;
  }

  /// @notice Votes for `_payload` in the current slot's round: the slot's proposer only,
  /// once per slot. Returns whether this vote selected the payload.
  function vote(address _payload) external returns (bool) {
    require(_payload != address(0), GovernanceProposer__ZeroPayload());
    address proposer = ROLLUP.SEQUENCER();
    require(proposer == address(0) || msg.sender == proposer, GovernanceProposer__NotProposer(msg.sender, proposer));
    uint256 slot = ROLLUP.getCurrentSlot();
    require(!votedInSlot[slot], GovernanceProposer__AlreadyVotedThisSlot(slot));
    votedInSlot[slot] = true;

    uint256 round = slot / ROUND_SIZE;
    uint256 votes = ++yeaCount[round][_payload];
    emit VoteCast(round, _payload, msg.sender);
    if (votes == QUORUM_SIZE && selectedPayload[round] == address(0)) {
      selectedPayload[round] = _payload;
      emit PayloadSelected(round, _payload);
      return true;
    }
    return false;
  }

  /// @notice The round of a slot.
  function getRoundAtSlot(uint256 _slot) public view returns (uint256) {
    return _slot / ROUND_SIZE;
  }

  /// @notice The round of the Rollup's current slot.
  function getCurrentRound() external view returns (uint256) {
    return getRoundAtSlot(ROLLUP.getCurrentSlot());
  }
}
