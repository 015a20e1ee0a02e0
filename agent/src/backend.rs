//! The seam between the agent and a prover: `simulated` here, Barretenberg elsewhere.

use bytes::Bytes;
use futures::future::BoxFuture;
use provemesh_common::{EpochNumber, JobId, ProofType};
use std::time::Duration;

/// What a backend is asked to prove.
#[derive(Debug, Clone)]
pub struct ProvingRequest {
    pub id: JobId,
    pub proof_type: ProofType,
    pub epoch: EpochNumber,
    pub inputs: Bytes,
}

/// Why a backend could not produce a proof.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The circuit rejects these inputs (an assertion fails): the same inputs always will.
    #[error("circuit assertion failed: {0}")]
    Assertion(String),
    /// The inputs are not inputs of this circuit at all.
    #[error("invalid circuit inputs: {0}")]
    InvalidInput(String),
    /// This backend cannot prove this proof type.
    #[error("proof type {0} is not supported by this backend")]
    Unsupported(ProofType),
    /// A failure that may pass (resources, a helper process died): worth another attempt.
    #[error("{0}")]
    Transient(String),
}

impl BackendError {
    /// True when retrying with the same inputs cannot help.
    pub fn is_deterministic(&self) -> bool {
        !matches!(self, BackendError::Transient(_))
    }
}

/// A prover. `prove` must be cancel-safe: the agent drops the future to cancel a job (an
/// epoch was cancelled, or the agent is draining), so a backend running an external
/// process must kill it on drop. It must also not block its thread for long: the job's
/// in-progress acks are sent from the same task, so a `prove` that blocks past AckWait
/// gets its job redelivered (run CPU-bound work on the blocking pool or in a child process).
pub trait ProvingBackend: Send + Sync + 'static {
    /// A short name for logs and results (`simulated`, `bb`).
    fn name(&self) -> &'static str;

    /// Proves `req`, returning the proof bytes.
    fn prove(&self, req: ProvingRequest) -> BoxFuture<'_, Result<Bytes, BackendError>>;

    /// Proves `req` like [`prove`](Self::prove), and says where the time went when the
    /// backend measures it (`bb` does; the default, for backends that do not, is `None`).
    /// The agent calls this one, so that every job's phases reach its metrics.
    fn prove_measured(
        &self,
        req: ProvingRequest,
    ) -> BoxFuture<'_, Result<(Bytes, Option<ProveStats>), BackendError>> {
        Box::pin(async move { self.prove(req).await.map(|proof| (proof, None)) })
    }
}

/// Where one proof's time went inside a backend that runs a prover process (`bb`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProveStats {
    pub circuit: String,
    pub gates: u64,
    /// Native verification of the children.
    pub children_verify: Duration,
    /// Witness generation (ACVM).
    pub witness: Duration,
    /// The prover process (`bb prove`), start to exit: the raw proving time of the job.
    pub prove: Duration,
    /// The prover process's peak resident memory, bytes (its `VmHWM`, sampled every 50 ms).
    pub prove_peak_rss: u64,
    /// Native verification of the new proof.
    pub self_verify: Duration,
    /// The whole job in the backend.
    pub total: Duration,
}
