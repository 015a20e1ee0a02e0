// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IInbox} from "./interfaces/IInbox.sol";
import {Constants} from "./libraries/Constants.sol";
import {L1Actor, L1ToL2Msg, L2Actor} from "./libraries/DataStructures.sol";
import {Hash} from "./libraries/Hash.sol";

/// @title Inbox
/// @notice L1->L2 messages, committed per L2 block. Messages sent while block N is the next
/// block to be proposed go to bucket N; its commitment is the rolling hash
/// h_0 = 0, h_i = sha256ToField(h_{i-1} ‖ leaf_i) over the bucket's message leaves. Proposing
/// block N makes the rollup consume (close) bucket N and check the header's inHash against
/// it; a block re-proposed after a prune consumes the same, already closed, bucket.
contract Inbox is IInbox {
  address public immutable DEPLOYER;
  address public rollup;

  /// @notice The L2 block number whose bucket new messages go to.
  uint256 public inProgress = 1;
  /// @notice Messages sent so far (the next message's index).
  uint256 public totalMessagesInserted;

  mapping(uint256 l2BlockNumber => bytes32 rollingHash) private rollingHashes;
  mapping(uint256 l2BlockNumber => uint256 count) private counts;

  constructor() {
    DEPLOYER = msg.sender;
  }

  function initialize(address _rollup) external override(IInbox) {
    require(msg.sender == DEPLOYER, Inbox__NotDeployer(msg.sender));
    require(rollup == address(0), Inbox__AlreadyInitialized(rollup));
    require(_rollup != address(0), Inbox__ZeroAddress());
    rollup = _rollup;
    emit RollupSet(_rollup);
  }

  /// @notice Sends a message to an L2 recipient; returns its leaf and global index.
  function sendL2Message(L2Actor calldata _recipient, bytes32 _content, bytes32 _secretHash)
    external
    override(IInbox)
    returns (bytes32 leaf, uint256 index)
  {
    require(
      _recipient.version == Constants.ROLLUP_VERSION,
      Inbox__InvalidRecipientVersion(Constants.ROLLUP_VERSION, _recipient.version)
    );
    require(uint256(_content) < Constants.P, Inbox__ContentTooLarge(_content));
    require(uint256(_secretHash) < Constants.P, Inbox__SecretHashTooLarge(_secretHash));

    index = totalMessagesInserted++;
    leaf = Hash.sha256ToField(
      abi.encode(
        L1ToL2Msg({
          sender: L1Actor({actor: msg.sender, chainId: block.chainid}),
          recipient: _recipient,
          content: _content,
          secretHash: _secretHash,
          index: index
        })
      )
    );
    uint256 bucket = inProgress;
    bytes32 rolling = Hash.sha256ToField(abi.encodePacked(rollingHashes[bucket], leaf));
    rollingHashes[bucket] = rolling;
    counts[bucket] += 1;
    emit MessageSent(bucket, index, leaf, rolling);
  }

  /// @notice Closes the bucket of `_l2BlockNumber` (if still open) and returns its
  /// commitment. Only the rollup, when it accepts that block.
  function consume(uint256 _l2BlockNumber) external override(IInbox) returns (bytes32 rollingHash) {
    require(msg.sender == rollup && rollup != address(0), Inbox__NotRollup(msg.sender, rollup));
    uint256 open = inProgress;
    require(_l2BlockNumber <= open, Inbox__BucketNotOpenYet(_l2BlockNumber, open));
    rollingHash = rollingHashes[_l2BlockNumber];
    if (_l2BlockNumber == open) {
      inProgress = open + 1;
      emit BlockMessagesConsumed(_l2BlockNumber, rollingHash, counts[_l2BlockNumber]);
    }
  }

  function getBucket(uint256 _l2BlockNumber)
    external
    view
    override(IInbox)
    returns (bytes32 rollingHash, uint256 count)
  {
    return (rollingHashes[_l2BlockNumber], counts[_l2BlockNumber]);
  }
}
