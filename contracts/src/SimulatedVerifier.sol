// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IVerifier} from "./interfaces/IVerifier.sol";

/// @title SimulatedVerifier
/// @notice Verifies the simulated proofs of provemesh's `simulated` proving backend
/// (PROVER_REAL_PROOFS=false), byte for byte as `SimulatedProof::verify` in
/// common/src/circuit.rs does, minus the job id (L1 does not know it):
///
///   proof = "PMSIMPF1" ‖ jobId ‖ piHash ‖ witnessHash ‖ tag ‖ filler
///   piHash = sha256("provemesh/public-inputs/v1\0" ‖ publicInputs[0] ‖ … )
///   tag    = sha256("provemesh/sim-proof/v1\0" ‖ jobId ‖ piHash ‖ witnessHash)
///
/// It accepts a proof only when it commits to exactly the public inputs the rollup passes
/// and its binding tag is intact. This binds a proof to its public inputs; it proves no
/// computation (anyone can make one), so it belongs on devnets and in tests only.
contract SimulatedVerifier is IVerifier {
  bytes8 private constant MAGIC = "PMSIMPF1";
  uint256 private constant HEADER_LENGTH = 8 + 32 * 4;

  error SimulatedVerifier__Malformed(uint256 length);
  error SimulatedVerifier__WrongPublicInputs(bytes32 expected, bytes32 committed);
  error SimulatedVerifier__Tampered(bytes32 jobId);

  function verify(bytes calldata _proof, bytes32[] calldata _publicInputs)
    external
    pure
    override(IVerifier)
    returns (bool)
  {
    require(
      _proof.length >= HEADER_LENGTH && bytes8(_proof[0:8]) == MAGIC, SimulatedVerifier__Malformed(_proof.length)
    );
    bytes32 jobId = bytes32(_proof[8:40]);
    bytes32 piHash = bytes32(_proof[40:72]);
    bytes32 witnessHash = bytes32(_proof[72:104]);
    bytes32 tag = bytes32(_proof[104:136]);

    bytes32 expected = sha256(abi.encodePacked("provemesh/public-inputs/v1\x00", _publicInputs));
    require(piHash == expected, SimulatedVerifier__WrongPublicInputs(expected, piHash));
    require(
      tag == sha256(abi.encodePacked("provemesh/sim-proof/v1\x00", jobId, piHash, witnessHash)),
      SimulatedVerifier__Tampered(jobId)
    );
    return true;
  }
}
