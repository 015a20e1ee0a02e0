// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {EpochProofQuote} from "./DataStructures.sol";

/// @notice EIP-712 struct hash of an epoch proof quote. The type string lists the fields in
/// the struct's order; node/l1 signs the same struct through alloy's `sol!`.
library EpochProofQuoteLib {
  bytes32 internal constant EPOCH_PROOF_QUOTE_TYPEHASH = keccak256(
    "EpochProofQuote(uint256 epochToProve,uint256 validUntilSlot,uint256 bondAmount,uint32 basisPointFee,address prover)"
  );

  function hash(EpochProofQuote calldata _quote) internal pure returns (bytes32) {
    return keccak256(
      abi.encode(
        EPOCH_PROOF_QUOTE_TYPEHASH,
        _quote.epochToProve,
        _quote.validUntilSlot,
        _quote.bondAmount,
        _quote.basisPointFee,
        _quote.prover
      )
    );
  }
}
