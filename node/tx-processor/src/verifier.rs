//! Client proof verification, behind a trait so that the real verifier (UltraHonk of the
//! private kernel tail, through Barretenberg) and the simulated one are interchangeable.

use provemesh_common::tx::{ClientProof, ClientProofError, SimulatedClientProof, Tx};

pub trait ClientProofVerifier: Sync {
    fn verify(&self, tx: &Tx) -> Result<(), ClientProofError>;
}

/// PROVER_REAL_PROOFS=false: accepts exactly the simulated proofs bound to the tx's
/// outputs; refuses real proofs (it cannot check them).
#[derive(Debug, Clone, Copy, Default)]
pub struct SimulatedClientProofVerifier;

impl ClientProofVerifier for SimulatedClientProofVerifier {
    fn verify(&self, tx: &Tx) -> Result<(), ClientProofError> {
        match &tx.proof {
            ClientProof::Simulated(p) => SimulatedClientProof::verify(p, &tx.outputs),
            ClientProof::Honk { .. } => Err(ClientProofError::Unsupported("UltraHonk")),
        }
    }
}
