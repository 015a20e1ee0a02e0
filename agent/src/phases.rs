//! Where a job's time went on an agent, from the moment its message was received to the
//! moment its proof was stored in the object store — the part of a job an agent owns
//! (reporting the result and acknowledging come after, and cost milliseconds).
//!
//! Every job proved here is recorded as histograms (`provemesh.agent.job.phase_duration`
//! by phase, `provemesh.agent.job.prove_peak_memory`) and in the job span's log line; an
//! agent configured with `record_phases` also keeps each record in its [`AgentStats`]
//! (`provemesh bench prove` compares the whole against the raw `bb prove` time of the
//! same job).
//!
//! [`AgentStats`]: crate::AgentStats

use crate::backend::ProveStats;
use crate::runtime::Inner;
use provemesh_common::{EpochNumber, JobId, ProofType};
use std::time::Duration;
use tracing::debug;

/// Most records an agent keeps (a benchmark reads them; a long run must not grow forever).
const MAX_RECORDS: usize = 100_000;

/// One job proved by this agent, phase by phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobPhases {
    pub job: JobId,
    pub proof_type: ProofType,
    pub epoch: EpochNumber,
    pub attempt: u32,
    /// Message received → the backend was asked to prove: decoding, the store lookup for
    /// an existing proof, fetching inputs kept in the store, the id check.
    pub before_backend: Duration,
    /// The backend's call, start to return.
    pub backend_call: Duration,
    /// Backend returned → proof stored (the object store's put).
    pub store: Duration,
    /// Message received → proof stored: the agent's whole share of the job.
    pub pickup_to_stored: Duration,
    /// Inside the backend, for one that measures it (`bb`: children verified, witness,
    /// `bb prove` with its peak memory, the new proof verified).
    pub backend: Option<ProveStats>,
}

impl JobPhases {
    /// Pickup → stored over the raw prover process's time (`bb prove`) of this job: the
    /// agent's overhead as a ratio (1.0: none). `None` without a backend breakdown.
    pub fn overhead_ratio(&self) -> Option<f64> {
        let prove = self.backend.as_ref()?.prove.as_secs_f64();
        (prove > 0.0).then(|| self.pickup_to_stored.as_secs_f64() / prove)
    }
}

/// Records a proved job: metrics always, the record itself when the agent keeps them.
pub(crate) fn record(inner: &Inner, p: JobPhases) {
    inner.metrics.phases(&p);
    let ms = |d: Duration| d.as_millis() as u64;
    debug!(
        pickup_to_stored_ms = ms(p.pickup_to_stored),
        before_backend_ms = ms(p.before_backend),
        backend_ms = ms(p.backend_call),
        store_ms = ms(p.store),
        prove_ms = p.backend.as_ref().map(|b| ms(b.prove)),
        "job phases"
    );
    if inner.cfg.record_phases {
        let mut v = inner
            .stats
            .phases
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if v.len() < MAX_RECORDS {
            v.push(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overhead_ratio_is_pickup_to_stored_over_the_raw_prove_time() {
        let mut p = JobPhases {
            job: JobId([7; 32]),
            proof_type: ProofType::MergeRollup,
            epoch: EpochNumber(1),
            attempt: 1,
            before_backend: Duration::from_millis(5),
            backend_call: Duration::from_millis(10_400),
            store: Duration::from_millis(5),
            pickup_to_stored: Duration::from_millis(10_500),
            backend: None,
        };
        assert_eq!(p.overhead_ratio(), None, "no breakdown, no ratio");
        p.backend = Some(ProveStats {
            circuit: "merge_rollup".into(),
            gates: 1 << 20,
            children_verify: Duration::from_millis(100),
            witness: Duration::from_millis(200),
            prove: Duration::from_secs(10),
            prove_peak_rss: 1 << 30,
            self_verify: Duration::from_millis(100),
            total: Duration::from_millis(10_400),
        });
        let r = p.overhead_ratio().unwrap_or_default();
        assert!((r - 1.05).abs() < 1e-9, "{r}");
    }
}
