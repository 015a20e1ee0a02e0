// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @notice An epoch root proof verifier. The signature is the one Barretenberg's generated
/// Honk verifier has, so the real verifier and the simulated one are interchangeable:
/// returns true for a valid proof, reverts (or returns false) otherwise.
interface IVerifier {
  function verify(bytes calldata _proof, bytes32[] calldata _publicInputs) external view returns (bool);
}
