//! The agent's metrics, recorded through the global OpenTelemetry meter (no-ops unless the
//! binary exports them). Names are stable and listed in the README; attributes are
//! `proof_type` (and `kind` for failures, `reused` for successes, `agent` for the gauge).

use opentelemetry::metrics::{Counter, Histogram};
use opentelemetry::{global, KeyValue};
use provemesh_common::{FailureKind, ProofType};

pub(crate) struct AgentMetrics {
    started: Counter<u64>,
    redelivered: Counter<u64>,
    succeeded: Counter<u64>,
    failed: Counter<u64>,
    handed_back: Counter<u64>,
    duration: Histogram<f64>,
}

fn ty(t: ProofType) -> KeyValue {
    KeyValue::new("proof_type", t.as_str())
}

impl AgentMetrics {
    pub fn new() -> Self {
        let m = global::meter("provemesh");
        AgentMetrics {
            started: m
                .u64_counter("provemesh.agent.jobs.started")
                .with_description("Jobs an agent started (every delivery, redeliveries included)")
                .build(),
            redelivered: m
                .u64_counter("provemesh.agent.jobs.redelivered")
                .with_description("Jobs started on a second or later delivery")
                .build(),
            succeeded: m
                .u64_counter("provemesh.agent.jobs.succeeded")
                .with_description("Jobs whose proof was stored and reported (reused: an existing proof re-reported)")
                .build(),
            failed: m
                .u64_counter("provemesh.agent.jobs.failed")
                .with_description("Jobs failed for good, by kind (deterministic, exhausted, expired)")
                .build(),
            handed_back: m
                .u64_counter("provemesh.agent.jobs.handed_back")
                .with_description("Unfinished jobs handed back to the mesh at the drain deadline")
                .build(),
            duration: m
                .f64_histogram("provemesh.agent.job.duration")
                .with_unit("s")
                .with_description("Proving time of a job, per proof type")
                .with_boundaries(vec![
                    0.001, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0,
                ])
                .build(),
        }
    }

    pub fn started(&self, t: ProofType, attempt: u32) {
        self.started.add(1, &[ty(t)]);
        if attempt > 1 {
            self.redelivered.add(1, &[ty(t)]);
        }
    }

    pub fn succeeded(&self, t: ProofType, reused: bool, proving_secs: Option<f64>) {
        self.succeeded
            .add(1, &[ty(t), KeyValue::new("reused", reused)]);
        if let Some(s) = proving_secs {
            self.duration.record(s, &[ty(t)]);
        }
    }

    pub fn failed(&self, t: ProofType, kind: FailureKind) {
        self.failed
            .add(1, &[ty(t), KeyValue::new("kind", kind.to_string())]);
    }

    pub fn handed_back(&self, t: ProofType) {
        self.handed_back.add(1, &[ty(t)]);
    }
}
