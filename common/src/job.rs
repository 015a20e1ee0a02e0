//! What travels over the mesh for one job: the envelope an agent pulls, the result it
//! reports, and the status kept for inspection.
//!
//! The envelope stays small (a NATS message, not a payload store): inputs above
//! [`INLINE_INPUT_LIMIT`] and every proof live in object storage and are referenced by key
//! and SHA-256, which the reader checks.

use crate::{AgentId, EpochNumber, JobId, ProofType};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// Envelope format version; an agent refuses (terminates) envelopes of a newer version
/// rather than guessing.
pub const ENVELOPE_VERSION: u8 = 1;

/// Inputs up to this size ride inline in the envelope; larger ones go to object storage.
pub const INLINE_INPUT_LIMIT: usize = 32 * 1024;

/// Where a job's circuit inputs are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputRef {
    /// Small inputs, carried in the envelope itself.
    Inline(Bytes),
    /// Inputs in object storage under `key`, `size` bytes hashing to `sha256`.
    Object {
        key: String,
        size: u64,
        #[serde(with = "crate::ids::hex_bytes")]
        sha256: [u8; 32],
    },
}

/// One proving job as published on `prove.job.<epoch>.<proof_type>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobEnvelope {
    pub version: u8,
    pub id: JobId,
    pub proof_type: ProofType,
    pub epoch: EpochNumber,
    pub inputs: InputRef,
    /// When the broker enqueued it (Unix µs); dispatch latency is measured from here.
    pub enqueued_at_us: u64,
    /// After this instant (Unix ms) the proof is useless (the epoch's submission window
    /// has passed): an agent fails the job as expired instead of proving it.
    pub deadline_ms: Option<u64>,
}

/// Where a finished proof is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofRef {
    pub key: String,
    pub size: u64,
    #[serde(with = "crate::ids::hex_bytes")]
    pub sha256: [u8; 32],
}

/// Why a job failed for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The same input would fail again: malformed payload, unknown type, circuit assertion.
    Deterministic,
    /// Transient failures until the mesh's delivery limit was reached (dead letter).
    Exhausted,
    /// The job's deadline passed before it was proved.
    Expired,
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FailureKind::Deterministic => "deterministic",
            FailureKind::Exhausted => "exhausted",
            FailureKind::Expired => "expired",
        })
    }
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobOutcome {
    Proved(ProofRef),
    Failed { kind: FailureKind, error: String },
}

/// The report an agent (or the broker's dead-letter handler) publishes on
/// `prove.result.<epoch>.<id>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobResult {
    pub id: JobId,
    pub proof_type: ProofType,
    pub epoch: EpochNumber,
    /// The delivery attempt that produced this result (1 = first).
    pub attempt: u32,
    pub agent: AgentId,
    pub outcome: JobOutcome,
    /// Time spent proving (0 when the proof already existed or the job failed early).
    pub prove_ms: u64,
    pub finished_at_ms: u64,
}

/// The lifecycle states kept in the status bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Proving,
    /// A transient failure; the job was handed back for another attempt.
    Retrying,
    Proved,
    Failed,
    Cancelled,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Proving => "proving",
            JobState::Retrying => "retrying",
            JobState::Proved => "proved",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    /// No further transition is expected.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobState::Proved | JobState::Failed | JobState::Cancelled
        )
    }
}

/// One revision of a job's status (the KV bucket keeps a history of them per job).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobStatus {
    pub id: JobId,
    pub proof_type: ProofType,
    pub epoch: EpochNumber,
    pub state: JobState,
    pub attempt: u32,
    pub agent: Option<AgentId>,
    pub error: Option<String>,
    pub updated_at_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{decode, encode};
    use proptest::prelude::*;

    fn envelope(inputs: Vec<u8>, epoch: u64, obj: bool) -> JobEnvelope {
        let id = JobId::derive(ProofType::MergeRollup, &inputs);
        JobEnvelope {
            version: ENVELOPE_VERSION,
            id,
            proof_type: ProofType::MergeRollup,
            epoch: EpochNumber(epoch),
            inputs: if obj {
                InputRef::Object {
                    key: format!("inputs/{epoch}/{id}"),
                    size: inputs.len() as u64,
                    sha256: crate::ids::sha256(&inputs),
                }
            } else {
                InputRef::Inline(inputs.into())
            },
            enqueued_at_us: 1,
            deadline_ms: Some(2),
        }
    }

    proptest! {
        #[test]
        fn envelope_round_trips(inputs in proptest::collection::vec(any::<u8>(), 0..512),
                                epoch in any::<u64>(), obj in any::<bool>()) {
            let e = envelope(inputs, epoch, obj);
            let bytes = encode("envelope", &e).unwrap();
            prop_assert_eq!(decode::<JobEnvelope>("envelope", &bytes).unwrap(), e);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode::<JobEnvelope>("envelope", &bytes);
            let _ = decode::<JobResult>("result", &bytes);
        }
    }

    #[test]
    fn decode_error_names_the_message() {
        let err = decode::<JobEnvelope>("job envelope", b"\xc1nonsense").unwrap_err();
        assert!(
            err.to_string().starts_with("cannot decode job envelope"),
            "{err}"
        );
    }
}

/// An agent's presence on the mesh (`PROVE_AGENTS` bucket, key = agent id), refreshed by
/// the agent every few seconds and expiring with the bucket's TTL: how a node learns the
/// proving capacity it can bid with — idle agents included, which job statuses never show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentPresence {
    pub agent: AgentId,
    /// The proof types it pulls (its allow-list).
    pub proof_types: Vec<ProofType>,
    /// Jobs it proves at once.
    pub concurrency: u32,
    /// Its proving backend (`simulated`, `bb`): a node proving for real counts only `bb`.
    pub backend: String,
    /// Jobs in flight when it last reported.
    pub in_flight: u32,
    /// When it last reported (Unix ms).
    pub seen_at_ms: u64,
}
