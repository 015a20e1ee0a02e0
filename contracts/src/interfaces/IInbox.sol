// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {L2Actor} from "../libraries/DataStructures.sol";

/// @notice L1->L2 messages. Messages are collected per L2 block number: the bucket of the
/// next block to be proposed is open; proposing block N closes bucket N and its commitment
/// (the rolling hash of its messages) becomes the block header's inHash.
interface IInbox {
  /// @param l2BlockNumber The L2 block that must insert this message.
  /// @param index The message's position among all messages sent to this Inbox.
  /// @param hash The message leaf (sha256ToField of the ABI-encoded L1ToL2Msg).
  /// @param rollingHash The bucket's commitment after this message.
  event MessageSent(uint256 indexed l2BlockNumber, uint256 index, bytes32 indexed hash, bytes32 rollingHash);
  /// @notice The rollup consumed (closed) the bucket of `l2BlockNumber`.
  event BlockMessagesConsumed(uint256 indexed l2BlockNumber, bytes32 rollingHash, uint256 count);
  event RollupSet(address rollup);

  error Inbox__NotRollup(address caller, address rollup);
  error Inbox__NotDeployer(address caller);
  error Inbox__AlreadyInitialized(address rollup);
  error Inbox__ZeroAddress();
  error Inbox__InvalidRecipientVersion(uint256 expected, uint256 got);
  error Inbox__ContentTooLarge(bytes32 content);
  error Inbox__SecretHashTooLarge(bytes32 secretHash);
  error Inbox__BucketNotOpenYet(uint256 l2BlockNumber, uint256 inProgress);

  function initialize(address _rollup) external;
  function sendL2Message(L2Actor calldata _recipient, bytes32 _content, bytes32 _secretHash)
    external
    returns (bytes32 leaf, uint256 index);
  function consume(uint256 _l2BlockNumber) external returns (bytes32 rollingHash);
  function getBucket(uint256 _l2BlockNumber) external view returns (bytes32 rollingHash, uint256 count);
}
