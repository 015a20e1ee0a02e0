// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @notice The few Foundry cheatcodes the tests use (forge-std is not vendored: it is not
/// in a registry we can pin, and these are all we need).
interface Vm {
  function warp(uint256 _timestamp) external;
  function prank(address _sender) external;
  function expectRevert(bytes calldata _revertData) external;
  function sign(uint256 _privateKey, bytes32 _digest) external pure returns (uint8 v, bytes32 r, bytes32 s);
  function addr(uint256 _privateKey) external pure returns (address);
  function assume(bool _condition) external pure;
}

/// @notice Assertions that revert with what differed; a reverting test fails.
abstract contract Base {
  Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

  error AssertEqUint(string what, uint256 got, uint256 want);
  error AssertEqBytes32(string what, bytes32 got, bytes32 want);
  error AssertEqAddress(string what, address got, address want);
  error AssertTrue(string what);

  function assertEq(uint256 _got, uint256 _want, string memory _what) internal pure {
    if (_got != _want) revert AssertEqUint(_what, _got, _want);
  }

  function assertEq(bytes32 _got, bytes32 _want, string memory _what) internal pure {
    if (_got != _want) revert AssertEqBytes32(_what, _got, _want);
  }

  function assertEq(address _got, address _want, string memory _what) internal pure {
    if (_got != _want) revert AssertEqAddress(_what, _got, _want);
  }

  function assertTrue(bool _ok, string memory _what) internal pure {
    if (!_ok) revert AssertTrue(_what);
  }
}
