//! The seam between the agent and a prover: `simulated` here, Barretenberg elsewhere.

use bytes::Bytes;
use futures::future::BoxFuture;
use provemesh_common::{EpochNumber, JobId, ProofType};

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
/// process must kill it on drop.
pub trait ProvingBackend: Send + Sync + 'static {
    /// A short name for logs and results (`simulated`, `bb`).
    fn name(&self) -> &'static str;

    /// Proves `req`, returning the proof bytes.
    fn prove(&self, req: ProvingRequest) -> BoxFuture<'_, Result<Bytes, BackendError>>;
}
