//! The orchestrator's metrics, through the global OpenTelemetry meter (no-ops unless the
//! binary exports them). Stable names, listed in the README:
//!
//! - `provemesh.epoch.deadline_slack_seconds` [epoch]: gauge, submission deadline minus
//!   the estimated finish (negative: expected overrun);
//! - `provemesh.epoch.proving_time` [outcome]: histogram, seconds from start to the
//!   verified root proof (or the failure);
//! - `provemesh.epoch.jobs` [proof_type]: counter of jobs whose proof was checked.

use opentelemetry::metrics::{Counter, Gauge, Histogram};
use opentelemetry::{global, KeyValue};
use provemesh_common::{EpochNumber, ProofType};
use std::sync::OnceLock;

pub(crate) struct EpochMetrics {
    slack: Gauge<f64>,
    proving_time: Histogram<f64>,
    jobs: Counter<u64>,
}

pub(crate) fn metrics() -> &'static EpochMetrics {
    static M: OnceLock<EpochMetrics> = OnceLock::new();
    M.get_or_init(|| {
        let m = global::meter("provemesh");
        EpochMetrics {
            slack: m
                .f64_gauge("provemesh.epoch.deadline_slack_seconds")
                .with_unit("s")
                .with_description(
                    "Submission deadline minus the estimated finish of the epoch's root proof",
                )
                .build(),
            proving_time: m
                .f64_histogram("provemesh.epoch.proving_time")
                .with_unit("s")
                .with_description("Time from the epoch's start to its verified root proof")
                .with_boundaries(vec![
                    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 2400.0, 3600.0, 7200.0,
                ])
                .build(),
            jobs: m
                .u64_counter("provemesh.epoch.jobs")
                .with_description("Jobs of epochs whose proof was checked, per proof type")
                .build(),
        }
    })
}

impl EpochMetrics {
    pub fn slack(&self, epoch: EpochNumber, seconds: f64) {
        self.slack
            .record(seconds, &[KeyValue::new("epoch", epoch.0 as i64)]);
    }

    pub fn finished(&self, seconds: f64, outcome: &'static str) {
        self.proving_time
            .record(seconds, &[KeyValue::new("outcome", outcome)]);
    }

    pub fn job_done(&self, t: ProofType) {
        self.jobs.add(1, &[KeyValue::new("proof_type", t.as_str())]);
    }
}
