//! Why an epoch could not be proved. Every variant names the epoch, and those about a
//! job name the job (full id), its proof type and its place in the epoch, so the prover
//! node can report the reason as is.

use crate::dag::{DagError, NodeKey};
use provemesh_broker::BrokerError;
use provemesh_common::{EpochNumber, FailureKind, ProofType};
use provemesh_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum EpochError {
    /// A job failed for good: deterministically at once, or transiently (`exhausted`,
    /// `expired`) more often than the retry policy allows.
    #[error("epoch {epoch}: {proof_type} job {job} ({node}) failed ({kind}, attempt {attempts}): {error}")]
    JobFailed {
        epoch: EpochNumber,
        job: String,
        proof_type: ProofType,
        node: NodeKey,
        kind: FailureKind,
        attempts: u32,
        error: String,
    },
    /// A reported proof did not check out (missing, corrupt, or not bound to its job and
    /// public inputs) more often than the retry policy allows.
    #[error("epoch {epoch}: proof of {proof_type} job {job} ({node}) rejected (attempt {attempts}): {reason}")]
    BadProof {
        epoch: EpochNumber,
        job: String,
        proof_type: ProofType,
        node: NodeKey,
        attempts: u32,
        reason: String,
    },
    #[error("epoch {epoch} cancelled; {purged} queued jobs purged from the mesh")]
    Cancelled { epoch: EpochNumber, purged: u64 },
    #[error("epoch {epoch} was cancelled on the mesh by someone else")]
    CancelledElsewhere { epoch: EpochNumber },
    #[error("epoch {epoch}: block {index} of the epoch (number {number}): {reason}")]
    InvalidBlock {
        epoch: EpochNumber,
        index: usize,
        number: u64,
        reason: String,
    },
    #[error("epoch {epoch}: {source}")]
    Dag {
        epoch: EpochNumber,
        #[source]
        source: DagError,
    },
    #[error("epoch {epoch}: invalid configuration: {reason}")]
    Config { epoch: EpochNumber, reason: String },
    #[error("epoch {epoch}: finished without being sealed (call seal after the last block)")]
    NotSealed { epoch: EpochNumber },
    #[error("epoch {epoch}: cannot build the inputs of {proof_type} ({node}): {reason}")]
    Inputs {
        epoch: EpochNumber,
        proof_type: ProofType,
        node: NodeKey,
        reason: String,
    },
    #[error("epoch {epoch}: proof store, proof of job {job}: {source}")]
    Store {
        epoch: EpochNumber,
        job: String,
        #[source]
        source: Box<StoreError>,
    },
    #[error("epoch {epoch}: {source}")]
    Broker {
        epoch: EpochNumber,
        #[source]
        source: Box<BrokerError>,
    },
    /// The node's own proof verifier (`bb verify`) could not run.
    #[error("epoch {epoch}: cannot verify the proof of job {job}: {reason}")]
    Verifier {
        epoch: EpochNumber,
        job: String,
        reason: String,
    },
    #[error("epoch {epoch}: the orchestrator stopped: {reason}")]
    Stopped { epoch: EpochNumber, reason: String },
}

impl EpochError {
    pub fn epoch(&self) -> EpochNumber {
        match self {
            EpochError::JobFailed { epoch, .. }
            | EpochError::BadProof { epoch, .. }
            | EpochError::Cancelled { epoch, .. }
            | EpochError::CancelledElsewhere { epoch }
            | EpochError::InvalidBlock { epoch, .. }
            | EpochError::Dag { epoch, .. }
            | EpochError::Config { epoch, .. }
            | EpochError::NotSealed { epoch }
            | EpochError::Inputs { epoch, .. }
            | EpochError::Store { epoch, .. }
            | EpochError::Broker { epoch, .. }
            | EpochError::Verifier { epoch, .. }
            | EpochError::Stopped { epoch, .. } => *epoch,
        }
    }

    /// True when the epoch was cancelled (on request or by another process).
    pub fn is_cancelled(&self) -> bool {
        matches!(
            self,
            EpochError::Cancelled { .. } | EpochError::CancelledElsewhere { .. }
        )
    }
}
