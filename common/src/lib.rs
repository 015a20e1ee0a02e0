//! Domain vocabulary shared by every provemesh component: proof types, epochs, job ids,
//! the job envelope and result that travel over the mesh, the rmp-serde codec, the
//! simulated-circuit constraint form, and the configuration pieces every binary shares.
//!
//! Nothing here performs network or disk I/O; crates that talk to NATS, S3 or L1 build on
//! these types.

pub mod circuit;
pub mod codec;
pub mod config;
pub mod hash;
pub mod ids;
pub mod job;
pub mod proof_type;
pub mod tx;

pub use ids::{AgentId, EpochNumber, JobId};
pub use job::{
    AgentPresence, FailureKind, InputRef, JobEnvelope, JobOutcome, JobResult, JobState, JobStatus,
    ProofRef,
};
pub use proof_type::ProofType;

/// Microseconds since the Unix epoch (enqueue times, for dispatch latency).
pub fn unix_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch, the one clock format used in envelopes and statuses.
pub fn unix_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
