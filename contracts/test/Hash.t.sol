// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Hash} from "../src/libraries/Hash.sol";
import {Base} from "./Base.sol";

contract HashHarness {
  function root(bytes32[] memory _leaves) external pure returns (bytes32) {
    return Hash.merkleRoot(_leaves);
  }

  function fromPath(bytes32 _leaf, uint256 _index, bytes32[] calldata _path) external pure returns (bytes32) {
    return Hash.rootFromPath(_leaf, _index, _path);
  }
}

contract HashTest is Base {
  HashHarness internal h = new HashHarness();

  function test_Sha256ToFieldIsAFieldElement(bytes memory _data) public pure {
    bytes32 f = Hash.sha256ToField(_data);
    assertEq(uint256(f) >> 248, 0, "top byte");
    assertEq(f, bytes32(uint256(sha256(_data)) >> 8), "shifted sha256");
  }

  function test_EveryLeafPathReachesTheRoot(uint8 _n, uint256 _seed) public view {
    uint256 n = bound(_n, 1, 9);
    bytes32[] memory leaves = new bytes32[](n);
    for (uint256 i = 0; i < n; i++) {
      leaves[i] = keccak256(abi.encode(_seed, i));
    }
    bytes32 root = h.root(leaves);
    for (uint256 i = 0; i < n; i++) {
      assertEq(h.fromPath(leaves[i], i, pathOf(leaves, i)), root, "path to root");
    }
  }

  function test_EdgeCases() public view {
    assertEq(h.root(new bytes32[](0)), bytes32(0), "no leaves");
    bytes32[] memory one = new bytes32[](1);
    one[0] = bytes32(uint256(5));
    assertEq(h.root(one), one[0], "one leaf");
  }

  function bound(uint256 _x, uint256 _min, uint256 _max) internal pure returns (uint256) {
    return _min + _x % (_max - _min + 1);
  }

  /// @dev The sibling path of leaf `_i`, computed level by level on a zero-padded copy.
  function pathOf(bytes32[] memory _leaves, uint256 _i) internal pure returns (bytes32[] memory path) {
    uint256 width = 1;
    uint256 height = 0;
    while (width < _leaves.length) {
      width <<= 1;
      height++;
    }
    bytes32[] memory level = new bytes32[](width);
    for (uint256 k = 0; k < _leaves.length; k++) {
      level[k] = _leaves[k];
    }
    path = new bytes32[](height);
    for (uint256 d = 0; d < height; d++) {
      path[d] = level[_i ^ 1];
      for (uint256 k = 0; k < width / 2; k++) {
        level[k] = Hash.sha256ToField(abi.encodePacked(level[2 * k], level[2 * k + 1]));
      }
      width /= 2;
      _i >>= 1;
    }
  }
}
