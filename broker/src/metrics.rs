//! The broker's metrics, recorded through the global OpenTelemetry meter (no-ops unless the
//! binary exports them). Names are stable and listed in the README.

use crate::Broker;
use opentelemetry::metrics::Counter;
use opentelemetry::{global, KeyValue};
use provemesh_common::ProofType;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::debug;

pub(crate) struct BrokerMetrics {
    enqueued: Counter<u64>,
    results: Counter<u64>,
    dead_letters: Counter<u64>,
}

fn ty(t: ProofType) -> KeyValue {
    KeyValue::new("proof_type", t.as_str())
}

/// The instruments, created on first use (after the binary installed its meter provider).
pub(crate) fn metrics() -> &'static BrokerMetrics {
    static M: OnceLock<BrokerMetrics> = OnceLock::new();
    M.get_or_init(|| {
        let m = global::meter("provemesh");
        BrokerMetrics {
            enqueued: m
                .u64_counter("provemesh.broker.jobs.enqueued")
                .with_description("Jobs enqueued (duplicate: the same job was already queued)")
                .build(),
            results: m
                .u64_counter("provemesh.broker.results.received")
                .with_description("Results the node received, by outcome (proved, failed)")
                .build(),
            dead_letters: m
                .u64_counter("provemesh.broker.dead_letters")
                .with_description(
                    "Jobs that exhausted their deliveries and were failed from a dead letter",
                )
                .build(),
        }
    })
}

impl BrokerMetrics {
    pub fn enqueued(&self, t: ProofType, duplicate: bool) {
        self.enqueued
            .add(1, &[ty(t), KeyValue::new("duplicate", duplicate)]);
    }

    pub fn result(&self, t: ProofType, proved: bool) {
        let outcome = if proved { "proved" } else { "failed" };
        self.results
            .add(1, &[ty(t), KeyValue::new("outcome", outcome)]);
    }

    pub fn dead_letter(&self, t: ProofType) {
        self.dead_letters.add(1, &[ty(t)]);
    }
}

/// Publishes `provemesh.mesh.queue.depth` (jobs queued per proof type, all epochs) until
/// `shutdown`, refreshing it from the jobs stream every `every`. An autoscaler or a
/// dashboard reads the backlog from here; a failed refresh keeps the last values.
pub async fn export_queue_depths(broker: Broker, every: Duration, shutdown: CancellationToken) {
    let depths: Arc<Mutex<BTreeMap<ProofType, u64>>> = Arc::default();
    let seen = depths.clone();
    let _gauge = global::meter("provemesh")
        .u64_observable_gauge("provemesh.mesh.queue.depth")
        .with_description("Jobs queued on the mesh, per proof type")
        .with_callback(move |o| {
            let d = seen.lock().unwrap_or_else(|p| p.into_inner());
            for t in ProofType::ALL {
                o.observe(d.get(&t).copied().unwrap_or(0), &[ty(t)]);
            }
        })
        .build();
    loop {
        match broker.queue_depths().await {
            Ok(q) => {
                let mut by_type = BTreeMap::new();
                for d in q {
                    *by_type.entry(d.proof_type).or_insert(0) += d.queued;
                }
                *depths.lock().unwrap_or_else(|p| p.into_inner()) = by_type;
            }
            Err(e) => debug!(error = %e, "queue depth not refreshed"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}
