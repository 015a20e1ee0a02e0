//! The node's own metrics, through the global OpenTelemetry meter (no-ops unless the binary
//! exports them). Stable names, listed in the README:
//!
//! - `provemesh.node.epochs` [outcome = published | already_proven | failed | cancelled]:
//!   counter of epochs the node finished proving;
//! - `provemesh.node.blocks.executed`: counter of pending-chain blocks re-executed;
//! - `provemesh.node.world_state.tip`: gauge, last block executed on the world state;
//! - `provemesh.node.sync.stuck`: gauge, 1 while a block cannot be executed as L1
//!   recorded it (its epoch is unprovable), else 0.
//!
//! Proving time and deadline slack per epoch come from the orchestrator
//! (`provemesh.epoch.*`), L1 publishing from the publisher, quotes from the monitor.

use opentelemetry::metrics::{Counter, Gauge};
use opentelemetry::{global, KeyValue};
use std::sync::OnceLock;

pub(crate) struct NodeMetrics {
    epochs: Counter<u64>,
    executed: Counter<u64>,
    tip: Gauge<u64>,
    stuck: Gauge<u64>,
}

pub(crate) fn get() -> &'static NodeMetrics {
    static M: OnceLock<NodeMetrics> = OnceLock::new();
    M.get_or_init(|| {
        let m = global::meter("provemesh");
        NodeMetrics {
            epochs: m
                .u64_counter("provemesh.node.epochs")
                .with_description("Epochs the node finished, by outcome")
                .build(),
            executed: m
                .u64_counter("provemesh.node.blocks.executed")
                .with_description("Pending-chain blocks re-executed on the world state")
                .build(),
            tip: m
                .u64_gauge("provemesh.node.world_state.tip")
                .with_description("Last block executed on the node's world state")
                .build(),
            stuck: m
                .u64_gauge("provemesh.node.sync.stuck")
                .with_description(
                    "1 while a block cannot be executed as L1 recorded it (its epoch is unprovable)",
                )
                .build(),
        }
    })
}

impl NodeMetrics {
    pub fn epoch_finished(&self, outcome: &'static str) {
        self.epochs.add(1, &[KeyValue::new("outcome", outcome)]);
    }

    pub fn block_executed(&self, tip: u64) {
        self.executed.add(1, &[]);
        self.tip.record(tip, &[]);
    }

    pub fn unwound(&self, tip: u64) {
        self.tip.record(tip, &[]);
    }

    pub fn stuck(&self, stuck: bool) {
        self.stuck.record(u64::from(stuck), &[]);
    }
}
