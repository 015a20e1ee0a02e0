//! A tx's client proof: a zero-knowledge UltraHonk proof of the private kernel tail circuit
//! (`circuits/private_kernel_tail`) over the tx's public outputs.
//!
//! Three parties handle it: the tx's sender makes it ([`ClientProver`]: only the holder of
//! the secret the tx's first nullifier derives from can); every node that takes the tx in
//! checks it natively before executing the tx ([`ClientVerifier`], `bb verify`, a few tens
//! of milliseconds); and the base rollup verifies it again, recursively, inside its own
//! proof ([`base_rollup_client_proof`] hands it the proof and the kernel's key). The node's
//! check is what keeps a bad client proof from ever reaching the mesh: inside the rollup
//! a bad one would only surface as a root proof L1 refuses, after the whole epoch was
//! proved.
//!
//! Node-side (it maps tx-processor data and implements its verifier trait), so the agent's
//! image, which needs only `provemesh-bb`, stays free of node code.

use provemesh_bb::bb::{BbConfig, BbError, Target, Verdict};
use provemesh_bb::circuits::{CircuitSet, CompiledCircuit};
use provemesh_bb::proof::fields_hex;
use provemesh_bb::witness::{self, WitnessError};
use provemesh_common::hash::Fr;
use provemesh_common::tx::{ClientProof, ClientProofError, Tx, TxPublicOutputs};
use provemesh_tx_processor::ClientProofVerifier;
use serde_json::{json, Value};
use std::sync::Arc;

/// The circuit a client proof is a proof of.
pub const KERNEL: &str = "private_kernel_tail";
/// Fields of a client proof (ZK UltraHonk, Poseidon2 transcript):
/// `types::constants::ZK_HONK_PROOF_FIELDS`.
pub const CLIENT_PROOF_FIELDS: usize = 458;

/// Why a client proof could not be made or handed to a base rollup.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the circuit set in {0} has no {KERNEL} circuit (run scripts/circuits)")]
    NoKernel(String),
    #[error("tx outputs do not fit the private kernel tail: {0}")]
    Outputs(#[from] provemesh_circuit_inputs::InputsError),
    #[error(transparent)]
    Witness(#[from] WitnessError),
    #[error(transparent)]
    Bb(#[from] BbError),
    #[error("{KERNEL}: the proof's public inputs are not the tx's outputs")]
    PublicInputs,
    #[error("tx {tx} carries a simulated client proof; real proofs need a proof of the {KERNEL} circuit")]
    Simulated { tx: String },
    #[error("tx {tx}: {source}")]
    Proof {
        tx: String,
        #[source]
        source: ClientProofError,
    },
}

fn kernel(set: &CircuitSet) -> Result<Arc<CompiledCircuit>, ClientError> {
    set.get(KERNEL)
        .cloned()
        .ok_or_else(|| ClientError::NoKernel(set.dir.display().to_string()))
}

/// The public inputs a tx's client proof is verified over, as bb's file holds them.
fn public_inputs_bytes(outputs: &TxPublicOutputs) -> Result<Vec<u8>, ClientProofError> {
    let fields = outputs
        .kernel_public_inputs()
        .ok_or(ClientProofError::OverLimits)?;
    Ok(fields.iter().flat_map(|f| f.to_be_bytes()).collect())
}

/// Shape checks common to the node's verifier and the base rollup's input: a real proof,
/// of the right length, made with this circuit set's kernel key.
fn check_shape<'a>(
    kernel: &CompiledCircuit,
    proof: &'a ClientProof,
) -> Result<&'a [u8], ClientProofError> {
    match proof {
        ClientProof::Simulated(_) => Err(ClientProofError::SimulatedWhereRealRequired),
        ClientProof::Honk { proof, vk_hash } => {
            if *vk_hash != kernel.vk_hash {
                return Err(ClientProofError::WrongKey {
                    expected: kernel.vk_hash.to_hex(),
                    found: vk_hash.to_hex(),
                });
            }
            if proof.len() != CLIENT_PROOF_FIELDS * 32 {
                return Err(ClientProofError::WrongLength {
                    got: proof.len(),
                    want: CLIENT_PROOF_FIELDS * 32,
                });
            }
            Ok(proof)
        }
    }
}

/// Makes client proofs: what a wallet does for its user (here the devnet's load generator
/// and the tests).
#[derive(Debug, Clone)]
pub struct ClientProver {
    kernel: Arc<CompiledCircuit>,
    bb: BbConfig,
}

impl ClientProver {
    pub fn new(set: &CircuitSet, bb: BbConfig) -> Result<Self, ClientError> {
        Ok(ClientProver {
            kernel: kernel(set)?,
            bb,
        })
    }

    /// Proves `outputs` as the holder of `secret`: the first nullifier must be
    /// `tx_nullifier(secret, nonce)` (the circuit refuses anything else, with its message).
    pub async fn prove(
        &self,
        outputs: &TxPublicOutputs,
        secret: Fr,
        nonce: Fr,
    ) -> Result<ClientProof, ClientError> {
        let inputs = json!({
            "outputs": provemesh_circuit_inputs::tx_outputs(outputs)?,
            "secret": provemesh_circuit_inputs::hx(secret),
            "nonce": provemesh_circuit_inputs::hx(nonce),
        });
        let k = &self.kernel;
        let exec = witness::execute(&k.artifact, &inputs)?;
        let out = self
            .bb
            .prove(
                KERNEL,
                &k.artifact_path,
                k.gates,
                &k.vk,
                &exec.witness_gz,
                Target::NoirRecursive,
            )
            .await?;
        if Ok(&out.public_inputs) != public_inputs_bytes(outputs).as_ref() {
            return Err(ClientError::PublicInputs);
        }
        Ok(ClientProof::Honk {
            proof: out.proof.into(),
            vk_hash: k.vk_hash,
        })
    }
}

/// Checks client proofs natively (`bb verify`) before a tx is executed: the tx processor's
/// verifier when proofs are real. Blocking (it runs bb and waits, ~30 ms): the tx processor
/// is synchronous code.
#[derive(Debug, Clone)]
pub struct ClientVerifier {
    kernel: Arc<CompiledCircuit>,
    bb: BbConfig,
}

impl ClientVerifier {
    pub fn new(set: &CircuitSet, bb: BbConfig) -> Result<Self, ClientError> {
        Ok(ClientVerifier {
            kernel: kernel(set)?,
            bb,
        })
    }
}

impl ClientProofVerifier for ClientVerifier {
    fn verify(&self, tx: &Tx) -> Result<(), ClientProofError> {
        let proof = check_shape(&self.kernel, &tx.proof)?;
        let public_inputs = public_inputs_bytes(&tx.outputs)?;
        let verdict = self
            .bb
            .verify_blocking(
                KERNEL,
                &self.kernel.vk,
                proof,
                &public_inputs,
                Target::NoirRecursive,
            )
            .map_err(|e| ClientProofError::Unverifiable(e.to_string()))?;
        match verdict {
            Verdict::Valid => Ok(()),
            Verdict::Invalid(why) => Err(ClientProofError::Invalid(why)),
        }
    }
}

/// The base rollup's `client_proof` parameter for a tx: its client proof, the kernel's key
/// and that key's place in the vk tree. A simulated proof, a proof made with another kernel
/// key or one of the wrong length is refused by name: the base rollup could not be proved.
pub fn base_rollup_client_proof(set: &CircuitSet, tx: &Tx) -> Result<Value, ClientError> {
    let k = kernel(set)?;
    let name = || {
        tx.hash()
            .map(|h| h.to_string())
            .unwrap_or_else(|| "without nullifiers".into())
    };
    let proof = match check_shape(&k, &tx.proof) {
        Ok(p) => p,
        Err(ClientProofError::SimulatedWhereRealRequired) => {
            return Err(ClientError::Simulated { tx: name() })
        }
        Err(source) => return Err(ClientError::Proof { tx: name(), source }),
    };
    key_param(set, &k, fields_hex(proof))
}

fn key_param(
    set: &CircuitSet,
    k: &CompiledCircuit,
    proof: Vec<String>,
) -> Result<Value, ClientError> {
    let index = k.vk_index.ok_or_else(|| {
        ClientError::NoKernel(format!(
            "{} (the kernel is not in the vk tree)",
            set.dir.display()
        ))
    })?;
    let (_, path) = set
        .vk_path(index)
        .map_err(|e| ClientError::NoKernel(format!("{}: {e}", set.dir.display())))?;
    Ok(json!({
        "proof": proof,
        "vk": fields_hex(&k.vk),
        "vk_hash": k.vk_hash.to_hex(),
        "vk_path": path.iter().map(|p| p.to_hex()).collect::<Vec<_>>(),
    }))
}
