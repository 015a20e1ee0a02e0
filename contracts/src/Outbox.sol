// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IOutbox} from "./interfaces/IOutbox.sol";
import {L2ToL1Msg} from "./libraries/DataStructures.sol";
import {Hash} from "./libraries/Hash.sol";

/// @title Outbox
/// @notice L2->L1 messages of proven epochs. The rollup inserts each proven epoch's out
/// hash: the Merkle root over the epoch's block out hashes, each itself the Merkle root of
/// the block's message leaves (sha256ToField of the ABI-encoded L2ToL1Msg). A recipient
/// consumes a message once, with the sibling path from its leaf to the epoch root (block
/// levels first, then epoch levels).
contract Outbox is IOutbox {
  address public immutable DEPLOYER;
  address public rollup;

  mapping(uint256 epoch => bytes32 root) private roots;
  mapping(uint256 epoch => mapping(uint256 leafId => bool consumed)) private consumed;

  constructor() {
    DEPLOYER = msg.sender;
  }

  function initialize(address _rollup) external override(IOutbox) {
    require(msg.sender == DEPLOYER, Outbox__NotDeployer(msg.sender));
    require(rollup == address(0), Outbox__AlreadyInitialized(rollup));
    require(_rollup != address(0), Outbox__ZeroAddress());
    rollup = _rollup;
    emit RollupSet(_rollup);
  }

  /// @notice Stores the out hash of a proven epoch (once; proven epochs are final).
  function insert(uint256 _epoch, bytes32 _root) external override(IOutbox) {
    require(msg.sender == rollup && rollup != address(0), Outbox__NotRollup(msg.sender, rollup));
    require(roots[_epoch] == bytes32(0), Outbox__RootAlreadySet(_epoch, roots[_epoch]));
    roots[_epoch] = _root;
    emit RootAdded(_epoch, _root);
  }

  /// @notice Consumes `_message` of proven epoch `_epoch` at `_leafIndex` of its tree; only
  /// the message's recipient, once.
  function consume(L2ToL1Msg calldata _message, uint256 _epoch, uint256 _leafIndex, bytes32[] calldata _path)
    external
    override(IOutbox)
  {
    require(msg.sender == _message.recipient.actor, Outbox__InvalidRecipient(_message.recipient.actor, msg.sender));
    require(block.chainid == _message.recipient.chainId, Outbox__InvalidChainId(block.chainid, _message.recipient.chainId));
    bytes32 root = roots[_epoch];
    require(root != bytes32(0), Outbox__NothingToConsumeAtEpoch(_epoch));
    require(_path.length < 256 && _leafIndex < (1 << _path.length), Outbox__LeafIndexOutOfBounds(_leafIndex, _path.length));
    uint256 leafId = (1 << _path.length) + _leafIndex;
    require(!consumed[_epoch][leafId], Outbox__AlreadyConsumed(_epoch, leafId));

    bytes32 leaf = Hash.sha256ToField(abi.encode(_message));
    bytes32 computed = Hash.rootFromPath(leaf, _leafIndex, _path);
    require(computed == root, Outbox__InvalidMerkleProof(_epoch, root, computed));

    consumed[_epoch][leafId] = true;
    emit MessageConsumed(_epoch, root, leaf, leafId);
  }

  function getRoot(uint256 _epoch) external view override(IOutbox) returns (bytes32) {
    return roots[_epoch];
  }

  function hasMessageBeenConsumedAtEpoch(uint256 _epoch, uint256 _leafId) external view override(IOutbox) returns (bool) {
    return consumed[_epoch][_leafId];
  }
}
