//! The L1 publisher's metrics, through the global OpenTelemetry meter (no-ops unless the
//! binary exports them). Names are stable; `host` attributes carry only scheme, host and
//! port.

use super::{PublishError, Published};
use opentelemetry::metrics::{Counter, Histogram};
use opentelemetry::{global, KeyValue};
use std::sync::OnceLock;

pub(super) struct PublisherMetrics {
    publishes: Counter<u64>,
    txs: Counter<u64>,
    gas_used: Histogram<u64>,
    fee_per_gas: Histogram<f64>,
    l1_errors: Counter<u64>,
}

/// How a publish ended, as the `outcome` attribute says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Submitted,
    AlreadyProven,
    Rejected,
    FailedOnChain,
    NotMined,
    Unreachable,
    Cancelled,
    Error,
}

impl Outcome {
    pub fn of(r: &Result<Published, PublishError>) -> Self {
        match r {
            Ok(Published::Submitted { .. }) => Outcome::Submitted,
            Ok(Published::AlreadyProven { .. }) => Outcome::AlreadyProven,
            Err(PublishError::Rejected { .. }) => Outcome::Rejected,
            Err(PublishError::FailedOnChain { .. }) => Outcome::FailedOnChain,
            Err(PublishError::NotMined { .. }) => Outcome::NotMined,
            Err(PublishError::Unreachable { .. }) => Outcome::Unreachable,
            Err(PublishError::Cancelled { .. }) => Outcome::Cancelled,
            Err(_) => Outcome::Error,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Outcome::Submitted => "submitted",
            Outcome::AlreadyProven => "already_proven",
            Outcome::Rejected => "rejected",
            Outcome::FailedOnChain => "failed_on_chain",
            Outcome::NotMined => "not_mined",
            Outcome::Unreachable => "unreachable",
            Outcome::Cancelled => "cancelled",
            Outcome::Error => "error",
        }
    }
}

/// The instruments, created on first use (after the binary installed its meter provider).
pub(super) fn metrics() -> &'static PublisherMetrics {
    static M: OnceLock<PublisherMetrics> = OnceLock::new();
    M.get_or_init(|| {
        let m = global::meter("provemesh");
        PublisherMetrics {
            publishes: m
                .u64_counter("provemesh.l1_publisher.publish_attempts")
                .with_description(
                    "Epoch root proof publishes, by outcome (submitted, already_proven, \
                     rejected, failed_on_chain, not_mined, unreachable, cancelled, error)",
                )
                .build(),
            txs: m
                .u64_counter("provemesh.l1_publisher.txs_sent")
                .with_description("Root proof transactions broadcast (kind: first, replacement)")
                .build(),
            gas_used: m
                .u64_histogram("provemesh.l1_publisher.gas_used")
                .with_description("Gas used by each landed root proof transaction")
                .with_unit("gas")
                .with_boundaries(vec![
                    1e5, 2e5, 3e5, 5e5, 7.5e5, 1e6, 1.5e6, 2e6, 3e6, 4e6, 5e6, 7.5e6, 1e7,
                ])
                .build(),
            fee_per_gas: m
                .f64_histogram("provemesh.l1_publisher.fee_per_gas")
                .with_description("Effective gas price paid by each landed root proof transaction")
                .with_unit("Gwei")
                .with_boundaries(vec![
                    0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0,
                ])
                .build(),
            l1_errors: m
                .u64_counter("provemesh.l1_publisher.l1_errors")
                .with_description("L1 requests an endpoint failed to answer, per host (each moves to the next URL)")
                .build(),
        }
    })
}

impl PublisherMetrics {
    pub fn publish(&self, outcome: Outcome) {
        self.publishes
            .add(1, &[KeyValue::new("outcome", outcome.as_str())]);
    }

    pub fn sent(&self, replacement: bool) {
        let kind = if replacement { "replacement" } else { "first" };
        self.txs.add(1, &[KeyValue::new("kind", kind)]);
    }

    pub fn landed(&self, gas_used: u64, effective_gas_price: u128) {
        self.gas_used.record(gas_used, &[]);
        // Gwei: wei would put every value far past any readable bucket.
        self.fee_per_gas
            .record(effective_gas_price as f64 / 1e9, &[]);
    }

    pub fn l1_error(&self, host: &str) {
        self.l1_errors
            .add(1, &[KeyValue::new("host", host.to_string())]);
    }
}
