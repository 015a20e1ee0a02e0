// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {L2ToL1Msg} from "../libraries/DataStructures.sol";

/// @notice L2->L1 messages: the rollup stores each proven epoch's out hash (a sha256 Merkle
/// root over its blocks' out hashes); a recipient consumes a message with a Merkle path to it.
interface IOutbox {
  event RootAdded(uint256 indexed epoch, bytes32 root);
  /// @param leafId 2^pathLength + leafIndex: unique per position in the epoch's tree.
  event MessageConsumed(uint256 indexed epoch, bytes32 indexed root, bytes32 indexed messageHash, uint256 leafId);
  event RollupSet(address rollup);

  error Outbox__NotRollup(address caller, address rollup);
  error Outbox__NotDeployer(address caller);
  error Outbox__AlreadyInitialized(address rollup);
  error Outbox__ZeroAddress();
  error Outbox__RootAlreadySet(uint256 epoch, bytes32 root);
  error Outbox__NothingToConsumeAtEpoch(uint256 epoch);
  error Outbox__InvalidRecipient(address expected, address caller);
  error Outbox__InvalidChainId(uint256 expected, uint256 got);
  error Outbox__LeafIndexOutOfBounds(uint256 leafIndex, uint256 pathLength);
  error Outbox__AlreadyConsumed(uint256 epoch, uint256 leafId);
  error Outbox__InvalidMerkleProof(uint256 epoch, bytes32 expectedRoot, bytes32 computedRoot);

  function initialize(address _rollup) external;
  function insert(uint256 _epoch, bytes32 _root) external;
  function consume(L2ToL1Msg calldata _message, uint256 _epoch, uint256 _leafIndex, bytes32[] calldata _path)
    external;
  function getRoot(uint256 _epoch) external view returns (bytes32);
  function hasMessageBeenConsumedAtEpoch(uint256 _epoch, uint256 _leafId) external view returns (bool);
}
