//! The `bb` backend (PROVER_REAL_PROOFS=true): real UltraHonk proofs of the Noir circuits in
//! `circuits/`, made by Barretenberg.
//!
//! A job's inputs are a [`RealJobInputs`]: the circuit, its own parameters, and the stored
//! proofs of its children. Proving one:
//!
//! 1. the circuit must be the one of the job's proof type;
//! 2. the inputs are completed from the circuit set ([`provemesh_bb::job::prepare`]): each
//!    child's public inputs, proof, verification key and vk tree path;
//! 3. every child proof is verified natively (bb verify) — a bad child fails the job here,
//!    in milliseconds, not after a minute of proving a parent that cannot verify;
//! 4. the witness is generated in Rust (Noir's ACVM; a failing `assert` fails the job for
//!    good with the circuit's message);
//! 5. bb proves (a process of its own, killed if the job is cancelled), and its public
//!    inputs must be the ones the ACVM computed;
//! 6. the proof is checked natively once more and stored as a [`RealProof`].
//!
//! Failures of bb itself (out of memory, killed, missing) are transient: another attempt,
//! maybe on another agent, may succeed.

mod config;

pub use config::{BbArgs, BbBackendConfig};

pub use crate::backend::ProveStats;
use crate::backend::{BackendError, ProvingBackend, ProvingRequest};
use acir::AcirField;
use bytes::Bytes;
use futures::future::BoxFuture;
use provemesh_bb::bb::{BbConfig, BbError, Verdict};
pub use provemesh_bb::circuits::circuits_for;
use provemesh_bb::circuits::{CircuitSet, CircuitsError};
use provemesh_bb::job::{prepare, RealJobInputs};
use provemesh_bb::proof::{split_fields, RealProof};
use provemesh_bb::witness::{execute, WitnessError};
use std::sync::Arc;
use std::time::Instant;
use tracing::{debug, info, warn};

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct BbBackend {
    bb: BbConfig,
    circuits: Arc<CircuitSet>,
}

impl BbBackend {
    /// Loads the circuits of a validated configuration.
    pub fn new(cfg: &BbBackendConfig) -> Result<Self, CircuitsError> {
        let circuits = Arc::new(CircuitSet::load(&cfg.circuits_dir)?);
        if cfg.insecure_devnet {
            warn!(
                crs = %cfg.bb.crs_dir.display(),
                "real proofs with the INSECURE devnet CRS (τ is public: anyone can forge proofs); devnets and tests only"
            );
        }
        info!(
            circuits = circuits.iter().count(),
            dir = %cfg.circuits_dir.display(),
            bb = %cfg.bb.prover.display(),
            "bb backend ready"
        );
        Ok(BbBackend {
            bb: cfg.bb.clone(),
            circuits,
        })
    }

    pub fn circuits(&self) -> &CircuitSet {
        &self.circuits
    }

    /// Proves one job, returning the stored proof's bytes and where the time went.
    pub async fn prove_with_stats(
        &self,
        req: ProvingRequest,
    ) -> Result<(Bytes, ProveStats), BackendError> {
        let started = Instant::now();
        let job = RealJobInputs::decode(&req.inputs)
            .map_err(|e| BackendError::InvalidInput(e.to_string()))?;
        let want = circuits_for(req.proof_type);
        if want.is_empty() {
            return Err(BackendError::Unsupported(req.proof_type));
        }
        if !want.contains(&job.circuit.as_str()) {
            return Err(BackendError::InvalidInput(format!(
                "a {} job must prove circuit {}, not {}",
                req.proof_type,
                want.join(" or "),
                job.circuit
            )));
        }
        let prepared =
            prepare(&self.circuits, &job).map_err(|e| BackendError::InvalidInput(e.to_string()))?;
        let c = prepared.circuit.clone();

        let t = Instant::now();
        for (i, (child, proof)) in prepared.children.iter().enumerate() {
            let verdict = self
                .bb
                .verify_retrying_kills(
                    &child.name,
                    &child.vk,
                    &proof.proof,
                    &proof.public_inputs_bytes(),
                    child.target,
                )
                .await
                .map_err(bb_error)?;
            if let Verdict::Invalid(why) = verdict {
                return Err(BackendError::Assertion(format!(
                    "circuit {}: child proof {i} ({}) does not verify: {why}",
                    c.name, child.name
                )));
            }
        }

        let children_verify = t.elapsed();
        let t = Instant::now();
        let (artifact_circuit, inputs) = (c.clone(), prepared.inputs);
        let exec =
            tokio::task::spawn_blocking(move || execute(&artifact_circuit.artifact, &inputs))
                .await
                .map_err(|e| {
                    BackendError::Transient(format!(
                        "circuit {}: witness generation task: {e}",
                        c.name
                    ))
                })?
                .map_err(|e| match e {
                    WitnessError::Assertion { circuit, message } => {
                        BackendError::Assertion(format!("circuit {circuit}: {message}"))
                    }
                    other => BackendError::InvalidInput(other.to_string()),
                })?;
        let witness_time = t.elapsed();

        let out = self
            .bb
            .prove(
                &c.name,
                &c.artifact_path,
                c.gates,
                &c.vk,
                &exec.witness_gz,
                c.target,
            )
            .await
            .map_err(bb_error)?;
        let public_inputs = split_fields(&out.public_inputs).ok_or_else(|| {
            BackendError::Transient(format!(
                "circuit {}: bb wrote a partial public inputs file",
                c.name
            ))
        })?;
        let expected: Vec<Vec<u8>> = exec.public_inputs.iter().map(|f| f.to_be_bytes()).collect();
        if public_inputs.iter().map(|p| p.to_vec()).collect::<Vec<_>>() != expected {
            return Err(BackendError::Transient(format!(
                "circuit {}: bb's public inputs differ from the witness's",
                c.name
            )));
        }
        let proof = RealProof {
            circuit: c.name.clone(),
            vk_hash: c.vk_hash.to_be_bytes(),
            public_inputs,
            proof: out.proof,
        };
        let t = Instant::now();
        let verdict = self
            .bb
            .verify(
                &c.name,
                &c.vk,
                &proof.proof,
                &proof.public_inputs_bytes(),
                c.target,
            )
            .await
            .map_err(bb_error)?;
        if let Verdict::Invalid(why) = verdict {
            return Err(BackendError::Transient(format!(
                "circuit {}: bb made a proof that does not verify: {why}",
                c.name
            )));
        }
        let stats = ProveStats {
            circuit: c.name.clone(),
            gates: c.gates,
            children_verify,
            witness: witness_time,
            prove: out.elapsed,
            prove_peak_rss: out.peak_rss,
            self_verify: t.elapsed(),
            total: started.elapsed(),
        };
        debug!(
            job = %req.id,
            circuit = %c.name,
            gates = c.gates,
            witness_ms = stats.witness.as_millis() as u64,
            prove_ms = stats.prove.as_millis() as u64,
            peak_rss_mib = stats.prove_peak_rss >> 20,
            "proved"
        );
        let bytes = proof
            .encode()
            .map(Bytes::from)
            .map_err(|e| BackendError::Transient(format!("circuit {}: {e}", c.name)))?;
        Ok((bytes, stats))
    }
}

/// bb failing (killed, out of memory, missing, CRS too small here) may pass elsewhere.
fn bb_error(e: BbError) -> BackendError {
    BackendError::Transient(e.to_string())
}

impl ProvingBackend for BbBackend {
    fn name(&self) -> &'static str {
        "bb"
    }

    fn prove(&self, req: ProvingRequest) -> BoxFuture<'_, Result<Bytes, BackendError>> {
        Box::pin(async move { self.prove_with_stats(req).await.map(|(b, _)| b) })
    }

    fn prove_measured(
        &self,
        req: ProvingRequest,
    ) -> BoxFuture<'_, Result<(Bytes, Option<ProveStats>), BackendError>> {
        Box::pin(async move {
            self.prove_with_stats(req)
                .await
                .map(|(b, stats)| (b, Some(stats)))
        })
    }
}
