// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title Hash
/// @notice sha256 reduced to a BN254 field element, and the sha256 Merkle trees the Inbox,
/// the Outbox and the rollup's out hash use. The L2 side (circuits, node) computes the same
/// values; node/l1's `hash` module mirrors this file and is tested against it on chain.
library Hash {
  /// @notice sha256 shifted right by one byte: the top byte is zero, so the value is below
  /// the BN254 scalar field modulus and can be a circuit's public input.
  function sha256ToField(bytes memory _data) internal pure returns (bytes32) {
    return bytes32(uint256(sha256(_data)) >> 8);
  }

  /// @notice Root of the Merkle tree over `_leaves`, zero-padded to a power of two, with
  /// nodes sha256ToField(left ‖ right). No leaves: zero; one leaf: the leaf itself.
  function merkleRoot(bytes32[] memory _leaves) internal pure returns (bytes32) {
    uint256 n = _leaves.length;
    if (n == 0) {
      return bytes32(0);
    }
    uint256 width = 1;
    while (width < n) {
      width <<= 1;
    }
    bytes32[] memory level = new bytes32[](width);
    for (uint256 i = 0; i < n; i++) {
      level[i] = _leaves[i];
    }
    while (width > 1) {
      width >>= 1;
      for (uint256 i = 0; i < width; i++) {
        level[i] = sha256ToField(abi.encodePacked(level[2 * i], level[2 * i + 1]));
      }
    }
    return level[0];
  }

  /// @notice Root reached from `_leaf` at `_index` through the sibling `_path` (leaf level
  /// first; bit i of the index says whether the node at level i is a right child).
  function rootFromPath(bytes32 _leaf, uint256 _index, bytes32[] calldata _path)
    internal
    pure
    returns (bytes32 node)
  {
    node = _leaf;
    for (uint256 i = 0; i < _path.length; i++) {
      if ((_index >> i) & 1 == 1) {
        node = sha256ToField(abi.encodePacked(_path[i], node));
      } else {
        node = sha256ToField(abi.encodePacked(node, _path[i]));
      }
    }
  }
}
