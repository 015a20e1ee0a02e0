//! The monitor's metrics, through the global OpenTelemetry meter (no-ops unless the binary
//! exports them). Names are stable.

use opentelemetry::metrics::Counter;
use opentelemetry::{global, KeyValue};
use std::sync::OnceLock;

pub(super) struct QuoteMetrics {
    sent: Counter<u64>,
    won: Counter<u64>,
    lost: Counter<u64>,
    skipped: Counter<u64>,
    failed: Counter<u64>,
    expired: Counter<u64>,
}

/// The instruments, created on first use (after the binary installed its meter provider).
pub(super) fn metrics() -> &'static QuoteMetrics {
    static M: OnceLock<QuoteMetrics> = OnceLock::new();
    M.get_or_init(|| {
        let m = global::meter("provemesh");
        QuoteMetrics {
            sent: m.u64_counter("provemesh.node.quotes.sent")
                .with_description("Epoch proof quotes delivered, by route (http, p2p)")
                .build(),
            won: m.u64_counter("provemesh.node.quotes.won")
                .with_description("Our quotes claimed on L1 (epochs ours to prove)")
                .build(),
            lost: m.u64_counter("provemesh.node.quotes.lost")
                .with_description("Our quotes beaten by another prover's claim")
                .build(),
            skipped: m.u64_counter("provemesh.node.quotes.skipped")
                .with_description("Ended epochs not bid for, by reason (below_min_reward, at_capacity, unprovable, funds_short)")
                .build(),
            failed: m.u64_counter("provemesh.node.quotes.failed")
                .with_description("Quotes not taken, by route and outcome (refused, undelivered)")
                .build(),
            expired: m.u64_counter("provemesh.node.quotes.expired")
                .with_description("Our quotes whose validity or claim window ended unclaimed")
                .build(),
        }
    })
}

impl QuoteMetrics {
    pub fn sent(&self, route: &'static str) {
        self.sent.add(1, &[KeyValue::new("route", route)]);
    }

    pub fn claimed(&self, ours: bool) {
        if ours {
            self.won.add(1, &[]);
        } else {
            self.lost.add(1, &[]);
        }
    }

    pub fn skipped(&self, reason: &'static str) {
        self.skipped.add(1, &[KeyValue::new("reason", reason)]);
    }

    pub fn failed(&self, route: &'static str, outcome: &'static str) {
        self.failed.add(
            1,
            &[
                KeyValue::new("route", route),
                KeyValue::new("outcome", outcome),
            ],
        );
    }

    pub fn expired(&self) {
        self.expired.add(1, &[]);
    }
}
