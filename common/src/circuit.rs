//! The simulated circuit: what the `simulated` proving backend checks and what its fake
//! proof binds to.
//!
//! Real circuits (Noir, proved by Barretenberg) take typed inputs and expose public
//! inputs. The simulated backend keeps the two properties the rest of the system relies
//! on: an unsatisfiable input fails with the circuit's assertion message (deterministic,
//! never retried), and a proof is bound to its job and public inputs, so the node can tell
//! a proof that belongs to its job from one that does not.
//!
//! A simulated circuit's inputs are its public inputs plus equality constraints (the cheap
//! checks a real circuit would make, such as "left.end_state == right.start_state"),
//! plus an opaque payload standing in for the private witness.

use crate::codec::{self, CodecError};
use crate::ids::sha256;
use crate::JobId;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A 32-byte field element (big-endian), as in Noir's `Field` over BN254.
pub type FieldBytes = [u8; 32];

/// One equality the circuit asserts; `message` is the assertion's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Constraint {
    pub left: FieldBytes,
    pub right: FieldBytes,
    pub message: String,
}

/// The inputs of a simulated circuit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SimulatedCircuitInputs {
    pub public_inputs: Vec<FieldBytes>,
    pub constraints: Vec<Constraint>,
    /// Stands in for the private witness; only its hash enters the proof.
    pub payload: Bytes,
}

/// A constraint of the circuit does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("circuit assertion failed: {message}")]
pub struct AssertionFailed {
    pub message: String,
}

impl SimulatedCircuitInputs {
    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        codec::encode("simulated circuit inputs", self)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        codec::decode("simulated circuit inputs", bytes)
    }

    /// Checks every constraint, reporting the first that fails.
    pub fn check(&self) -> Result<(), AssertionFailed> {
        match self.constraints.iter().find(|c| c.left != c.right) {
            Some(c) => Err(AssertionFailed {
                message: c.message.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Hash of the public inputs, the value a simulated proof commits to.
    pub fn public_inputs_hash(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"provemesh/public-inputs/v1\0");
        for pi in &self.public_inputs {
            h.update(pi);
        }
        h.finalize().into()
    }
}

const SIM_PROOF_MAGIC: &[u8; 8] = b"PMSIMPF1";
/// Magic, job id, public-inputs hash, witness hash, binding tag.
pub const SIM_PROOF_HEADER_LEN: usize = 8 + 32 + 32 + 32 + 32;

/// A simulated proof: a header binding it to (job id, public inputs, witness) followed by
/// deterministic filler up to the configured proof size (so storage and bandwidth costs
/// resemble real proofs).
pub struct SimulatedProof;

/// Why a simulated proof was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimulatedProofError {
    #[error("not a simulated proof (bad magic or {0} bytes is too short)")]
    Malformed(usize),
    #[error("proof belongs to job {found}, not {expected}")]
    WrongJob { expected: String, found: String },
    #[error("proof does not commit to these public inputs")]
    WrongPublicInputs,
    #[error("proof binding tag does not match its contents (tampered)")]
    Tampered,
}

impl SimulatedProof {
    /// Builds the proof of `inputs` for job `id`, padded to at least `size` bytes.
    pub fn create(id: &JobId, inputs: &SimulatedCircuitInputs, size: usize) -> Vec<u8> {
        let pih = inputs.public_inputs_hash();
        let wh = sha256(&inputs.payload);
        let tag = Self::tag(id, &pih, &wh);
        let mut out = Vec::with_capacity(size.max(SIM_PROOF_HEADER_LEN));
        out.extend_from_slice(SIM_PROOF_MAGIC);
        out.extend_from_slice(&id.0);
        out.extend_from_slice(&pih);
        out.extend_from_slice(&wh);
        out.extend_from_slice(&tag);
        let mut block = tag;
        while out.len() < size {
            block = sha256(&block);
            let n = (size - out.len()).min(32);
            out.extend_from_slice(&block[..n]);
        }
        out
    }

    /// Checks that `proof` is the simulated proof of job `id` over `public_inputs`.
    pub fn verify(
        proof: &[u8],
        id: &JobId,
        public_inputs: &[FieldBytes],
    ) -> Result<(), SimulatedProofError> {
        if proof.len() < SIM_PROOF_HEADER_LEN || &proof[..8] != SIM_PROOF_MAGIC {
            return Err(SimulatedProofError::Malformed(proof.len()));
        }
        let field = |i: usize| -> [u8; 32] {
            let mut a = [0u8; 32];
            a.copy_from_slice(&proof[8 + 32 * i..8 + 32 * (i + 1)]);
            a
        };
        let (pid, pih, wh, tag) = (field(0), field(1), field(2), field(3));
        if pid != id.0 {
            return Err(SimulatedProofError::WrongJob {
                expected: id.to_hex(),
                found: hex::encode(pid),
            });
        }
        let want = SimulatedCircuitInputs {
            public_inputs: public_inputs.to_vec(),
            ..Default::default()
        }
        .public_inputs_hash();
        if pih != want {
            return Err(SimulatedProofError::WrongPublicInputs);
        }
        if tag != Self::tag(id, &pih, &wh) {
            return Err(SimulatedProofError::Tampered);
        }
        Ok(())
    }

    fn tag(id: &JobId, pih: &[u8; 32], wh: &[u8; 32]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"provemesh/sim-proof/v1\0");
        h.update(id.0);
        h.update(pih);
        h.update(wh);
        h.finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ProofType;

    fn inputs(ok: bool) -> SimulatedCircuitInputs {
        SimulatedCircuitInputs {
            public_inputs: vec![[1; 32], [2; 32]],
            constraints: vec![Constraint {
                left: [7; 32],
                right: if ok { [7; 32] } else { [8; 32] },
                message: "left.end != right.start".into(),
            }],
            payload: Bytes::from_static(b"witness"),
        }
    }

    #[test]
    fn failing_constraint_reports_its_message() {
        assert!(inputs(true).check().is_ok());
        assert_eq!(
            inputs(false).check().unwrap_err().message,
            "left.end != right.start"
        );
    }

    #[test]
    fn proof_binds_job_and_public_inputs() {
        let i = inputs(true);
        let id = JobId::derive(ProofType::MergeRollup, &i.encode().unwrap());
        let p = SimulatedProof::create(&id, &i, 1000);
        assert_eq!(p.len(), 1000);
        assert_eq!(SimulatedProof::verify(&p, &id, &i.public_inputs), Ok(()));
        let other = JobId::derive(ProofType::RootRollup, b"x");
        assert!(matches!(
            SimulatedProof::verify(&p, &other, &i.public_inputs),
            Err(SimulatedProofError::WrongJob { .. })
        ));
        assert_eq!(
            SimulatedProof::verify(&p, &id, &[[1; 32]]),
            Err(SimulatedProofError::WrongPublicInputs)
        );
        let mut t = p.clone();
        t[8 + 32 * 2] ^= 1;
        assert_eq!(
            SimulatedProof::verify(&t, &id, &i.public_inputs),
            Err(SimulatedProofError::Tampered)
        );
        assert!(matches!(
            SimulatedProof::verify(&p[..10], &id, &i.public_inputs),
            Err(SimulatedProofError::Malformed(10))
        ));
    }
}
