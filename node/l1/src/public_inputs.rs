//! The epoch root proof's public inputs, in the order the Rollup hands them to the
//! verifier (`Rollup.getEpochProofPublicInputs`):
//!
//! | index | value |
//! |---|---|
//! | 0 | previous archive (archive root of the proven tip before the epoch) |
//! | 1 | end archive (archive root after the epoch's last block) |
//! | 2 | out hash (Merkle root of the epoch's block out hashes) |
//! | 3 | total fees of the epoch's blocks |
//! | 4 | prover id (the claimed quote's prover address, left-padded) |
//! | 5 | epoch number |
//! | 6 | end block number |
//!
//! The root rollup circuit must expose exactly these (a simulated proof commits to their
//! hash; the real Honk verifier takes them as its public inputs), so this module is the one
//! place the node builds them.

use crate::bindings::Rollup::EpochProofPublicInputs;
use alloy::primitives::{Address, B256, U256};

/// Number of public inputs (`Constants.EPOCH_PROOF_PUBLIC_INPUTS`).
pub const EPOCH_PROOF_PUBLIC_INPUTS: usize = 7;

/// The prover id of `prover`: its address as a left-padded 32-byte word.
pub fn prover_id(prover: Address) -> B256 {
    prover.into_word()
}

/// The verifier's public inputs for `args` of `epoch` ending at `end_block`.
pub fn verifier_public_inputs(
    args: &EpochProofPublicInputs,
    epoch: u64,
    end_block: u64,
) -> Vec<B256> {
    vec![
        args.previousArchive,
        args.endArchive,
        args.outHash,
        B256::from(args.totalFees),
        args.proverId,
        B256::from(U256::from(epoch)),
        B256::from(U256::from(end_block)),
    ]
}

/// The same, as the 32-byte field elements the proving backends take.
pub fn verifier_public_input_fields(
    args: &EpochProofPublicInputs,
    epoch: u64,
    end_block: u64,
) -> Vec<[u8; 32]> {
    verifier_public_inputs(args, epoch, end_block)
        .into_iter()
        .map(|w| w.0)
        .collect()
}
