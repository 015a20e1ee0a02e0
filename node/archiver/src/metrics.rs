//! The archiver's metrics, through the global OpenTelemetry meter (no-ops unless the binary
//! exports them). Names are stable; `host` attributes carry only scheme, host and port.

use opentelemetry::metrics::{Counter, Gauge};
use opentelemetry::{global, KeyValue};
use provemesh_l1::Tips;

pub(crate) struct ArchiverMetrics {
    l1_block: Gauge<u64>,
    lag_blocks: Gauge<u64>,
    pending: Gauge<u64>,
    proven: Gauge<u64>,
    blocks_added: Counter<u64>,
    reorgs: Counter<u64>,
    prunes: Counter<u64>,
    rpc_errors: Counter<u64>,
}

impl ArchiverMetrics {
    pub fn new() -> Self {
        let m = global::meter("provemesh");
        ArchiverMetrics {
            l1_block: m
                .u64_gauge("provemesh.archiver.l1_block")
                .with_description("Last L1 block the archiver has read")
                .build(),
            lag_blocks: m
                .u64_gauge("provemesh.archiver.lag_blocks")
                .with_description(
                    "L1 blocks between the L1 head and the last block the archiver has read",
                )
                .build(),
            pending: m
                .u64_gauge("provemesh.archiver.l2_pending_block")
                .with_description("Last L2 block of the pending chain")
                .build(),
            proven: m
                .u64_gauge("provemesh.archiver.l2_proven_block")
                .with_description("Last L2 block of the proven chain")
                .build(),
            blocks_added: m
                .u64_counter("provemesh.archiver.l2_blocks")
                .with_description("L2 blocks added to the pending chain")
                .build(),
            reorgs: m
                .u64_counter("provemesh.archiver.l1_reorgs")
                .with_description("L1 reorganisations the archiver rolled back")
                .build(),
            prunes: m
                .u64_counter("provemesh.archiver.l2_prunes")
                .with_description("Prunes of the pending chain (PrunedPending)")
                .build(),
            rpc_errors: m
                .u64_counter("provemesh.archiver.l1_errors")
                .with_description("Failed L1 sync rounds, per host (each moves to the next URL)")
                .build(),
        }
    }

    pub fn position(&self, l1_block: u64, latest: u64) {
        self.l1_block.record(l1_block, &[]);
        self.lag_blocks.record(latest.saturating_sub(l1_block), &[]);
    }

    pub fn tips(&self, t: Tips) {
        self.pending.record(t.pending, &[]);
        self.proven.record(t.proven, &[]);
    }

    pub fn blocks_added(&self, n: u64) {
        self.blocks_added.add(n, &[]);
    }

    pub fn reorg(&self) {
        self.reorgs.add(1, &[]);
    }

    pub fn prune(&self) {
        self.prunes.add(1, &[]);
    }

    pub fn l1_error(&self, host: &str) {
        self.rpc_errors
            .add(1, &[KeyValue::new("host", host.to_string())]);
    }
}
