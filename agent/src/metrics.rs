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
    phase: Histogram<f64>,
    peak_memory: Histogram<u64>,
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
            phase: m
                .f64_histogram("provemesh.agent.job.phase_duration")
                .with_unit("s")
                .with_description("Where a proved job's time went on the agent, by phase: pickup_to_stored (message received to proof stored), and with bb children_verify, witness, prove (the bb prove process), self_verify")
                .with_boundaries(vec![
                    0.001, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0,
                ])
                .build(),
            peak_memory: m
                .u64_histogram("provemesh.agent.job.prove_peak_memory")
                .with_unit("By")
                .with_description("Peak resident memory of a job's prover process (bb prove)")
                .with_boundaries(
                    [64u64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768]
                        .iter()
                        .map(|mib| (mib << 20) as f64)
                        .collect(),
                )
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

    /// A proved job's phases (see [`crate::phases`]).
    pub fn phases(&self, p: &crate::phases::JobPhases) {
        let record = |phase: &'static str, d: std::time::Duration| {
            self.phase.record(
                d.as_secs_f64(),
                &[ty(p.proof_type), KeyValue::new("phase", phase)],
            );
        };
        record("pickup_to_stored", p.pickup_to_stored);
        if let Some(b) = &p.backend {
            record("children_verify", b.children_verify);
            record("witness", b.witness);
            record("prove", b.prove);
            record("self_verify", b.self_verify);
            if b.prove_peak_rss > 0 {
                self.peak_memory
                    .record(b.prove_peak_rss, &[ty(p.proof_type)]);
            }
        }
    }

    pub fn handed_back(&self, t: ProofType) {
        self.handed_back.add(1, &[ty(t)]);
    }
}
