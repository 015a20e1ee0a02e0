// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @notice Constants the contracts share with the L2 side.
library Constants {
  /// @notice The rollup version: block headers and L1->L2 message recipients must carry it.
  uint256 internal constant ROLLUP_VERSION = 1;
  /// @notice The BN254 scalar field modulus: message contents must be field elements.
  uint256 internal constant P = 21888242871839275222246405745257275088548364400416034343698204186575808495617;
  /// @notice 100% in basis points (the quote's fee share).
  uint256 internal constant MAX_BPS = 10_000;
  /// @notice Number of public inputs of the epoch root proof (see EpochProofPublicInputs).
  uint256 internal constant EPOCH_PROOF_PUBLIC_INPUTS = 7;
}
