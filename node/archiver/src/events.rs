//! Turns the raw logs of one L1 range into the archive's events, in chain order.
//!
//! Only what the L2 chain view depends on is kept: proposed blocks, prunes and proofs
//! (Rollup), L1→L2 messages (Inbox) and epoch out roots (Outbox). The rest (claims, fees,
//! bucket closures, …) is skipped: the prover node reads those from L1 itself when it needs
//! them.

use crate::config::Contracts;
use alloy::primitives::{B256, U256};
use alloy::rpc::types::Log;
use alloy::sol_types::SolEventInterface;
use provemesh_l1::bindings::Inbox::InboxEvents;
use provemesh_l1::bindings::Outbox::OutboxEvents;
use provemesh_l1::bindings::Rollup::{L2BlockProposed, RollupEvents};
use serde::{Deserialize, Serialize};

/// Where an event sits on L1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct L1Position {
    pub block_number: u64,
    pub block_hash: B256,
    pub tx_hash: B256,
    pub log_index: u64,
}

/// An event the archive applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ArchiveEvent {
    Proposed(Box<L2BlockProposed>),
    Pruned {
        epoch: u64,
        proven: u64,
        pruned_pending: u64,
    },
    Proven {
        epoch: u64,
        end_block: u64,
        end_archive: B256,
    },
    MessageSent {
        l2_block: u64,
        index: u64,
        leaf: B256,
        rolling_hash: B256,
    },
    OutRoot {
        epoch: u64,
        root: B256,
    },
}

fn n(v: U256) -> u64 {
    v.saturating_to()
}

/// The archive's events among `logs`, sorted by (L1 block, log index). A log of one of
/// our contracts that does not decode is skipped with a warning: the contracts' ABI is
/// compiled in, so that would be an event added to a newer contract.
pub(crate) fn decode(contracts: &Contracts, logs: &[Log]) -> Vec<(L1Position, ArchiveEvent)> {
    let mut out = Vec::new();
    for log in logs {
        let pos = L1Position {
            block_number: log.block_number.unwrap_or_default(),
            block_hash: log.block_hash.unwrap_or_default(),
            tx_hash: log.transaction_hash.unwrap_or_default(),
            log_index: log.log_index.unwrap_or_default(),
        };
        let (topics, data) = (log.topics(), &log.data().data);
        let address = log.address();
        let event = if address == contracts.rollup {
            match RollupEvents::decode_raw_log(topics, data) {
                Ok(RollupEvents::L2BlockProposed(e)) => Some(ArchiveEvent::Proposed(Box::new(e))),
                Ok(RollupEvents::PrunedPending(e)) => Some(ArchiveEvent::Pruned {
                    epoch: n(e.epoch),
                    proven: n(e.provenBlockNumber),
                    pruned_pending: n(e.prunedPendingBlockNumber),
                }),
                Ok(RollupEvents::EpochProven(e)) => Some(ArchiveEvent::Proven {
                    epoch: n(e.epoch),
                    end_block: n(e.endBlockNumber),
                    end_archive: e.endArchive,
                }),
                Ok(_) => None,
                Err(e) => {
                    tracing::warn!(
                        l1_block = pos.block_number,
                        "skipping an undecodable Rollup log: {e}"
                    );
                    None
                }
            }
        } else if address == contracts.inbox {
            match InboxEvents::decode_raw_log(topics, data) {
                Ok(InboxEvents::MessageSent(e)) => Some(ArchiveEvent::MessageSent {
                    l2_block: n(e.l2BlockNumber),
                    index: n(e.index),
                    leaf: e.hash,
                    rolling_hash: e.rollingHash,
                }),
                Ok(_) => None,
                Err(e) => {
                    tracing::warn!(
                        l1_block = pos.block_number,
                        "skipping an undecodable Inbox log: {e}"
                    );
                    None
                }
            }
        } else if address == contracts.outbox {
            match OutboxEvents::decode_raw_log(topics, data) {
                Ok(OutboxEvents::RootAdded(e)) => Some(ArchiveEvent::OutRoot {
                    epoch: n(e.epoch),
                    root: e.root,
                }),
                Ok(_) => None,
                Err(e) => {
                    tracing::warn!(
                        l1_block = pos.block_number,
                        "skipping an undecodable Outbox log: {e}"
                    );
                    None
                }
            }
        } else {
            None
        };
        if let Some(e) = event {
            out.push((pos, e));
        }
    }
    out.sort_by_key(|(p, _)| (p.block_number, p.log_index));
    out
}
