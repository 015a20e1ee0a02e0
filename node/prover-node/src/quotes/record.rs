//! What the monitor tells the node: events as they happen, and the record of our quotes
//! with their fates (served by the node's JSON-RPC, hence `Serialize`).

use super::policy::SkipReason;
use alloy::primitives::{Address, U256};
use provemesh_l1::{ProofClaim, RollupTiming};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// Epochs whose quote is remembered, besides the current ones.
pub(super) const KEEP_EPOCHS: usize = 64;

/// What the monitor reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum MonitorEvent {
    QuoteSent {
        epoch: u64,
        basis_point_fee: u32,
        bond: U256,
        valid_until_slot: u64,
    },
    QuoteSkipped {
        epoch: u64,
        reason: SkipReason,
    },
    /// L1 gave `epoch`'s proof right to `prover` (`ours`: to us — prove it).
    Claimed {
        epoch: u64,
        prover: Address,
        ours: bool,
        bond: U256,
        basis_point_fee: u32,
    },
    /// The escrow cannot cover the bond: `need` is the bond, `have` what could back it
    /// (free deposit, plus the token balance when auto-deposit is on).
    FundsShort {
        epoch: u64,
        need: U256,
        have: U256,
    },
}

/// How a quote of ours ended (or stands).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "fate")]
pub enum QuoteFate {
    /// Delivered; no claim for its epoch yet.
    Pending,
    /// Claimed with our address: ours to prove.
    Won,
    /// Another prover's quote was claimed.
    Lost {
        winner: Address,
        winner_basis_point_fee: u32,
    },
    /// Its validity or the claim window ended without a claim.
    Expired,
    /// The coordination node refused it (a JSON-RPC error): its reason.
    Refused { reason: String },
    /// Could not be delivered within the claim window (transport errors).
    Undelivered { reason: String },
}

/// One quote of ours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuoteRecord {
    pub epoch: u64,
    pub basis_point_fee: u32,
    pub bond: U256,
    pub valid_until_slot: u64,
    pub route: &'static str,
    pub sent_at_ms: u64,
    pub fate: QuoteFate,
}

/// The claim L1 holds, as the monitor uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ClaimSeen {
    pub epoch: u64,
    pub prover: Address,
    pub bond: U256,
    pub basis_point_fee: u32,
}

impl From<&ProofClaim> for ClaimSeen {
    fn from(c: &ProofClaim) -> Self {
        ClaimSeen {
            epoch: c.epochToProve.saturating_to(),
            prover: c.prover,
            bond: c.bondAmount,
            basis_point_fee: c.basisPointFee,
        }
    }
}

/// The quotes and events of a monitor, readable while it runs. Cheap to clone.
#[derive(Clone)]
pub struct MonitorHandle {
    records: Arc<Mutex<BTreeMap<u64, QuoteRecord>>>,
    events: broadcast::Sender<MonitorEvent>,
}

impl MonitorHandle {
    pub(super) fn new() -> Self {
        MonitorHandle {
            records: Arc::default(),
            events: broadcast::channel(256).0,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, QuoteRecord>> {
        // A panic while holding the lock cannot leave a record half-written.
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Our quotes of the last epochs (one per epoch), oldest first.
    pub fn quotes(&self) -> Vec<QuoteRecord> {
        self.lock().values().cloned().collect()
    }

    /// Events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<MonitorEvent> {
        self.events.subscribe()
    }

    pub(super) fn emit(&self, event: MonitorEvent) {
        // No subscriber is fine.
        let _ = self.events.send(event);
    }

    pub(super) fn quoted(&self, epoch: u64) -> bool {
        self.lock().contains_key(&epoch)
    }

    pub(super) fn record(&self, r: QuoteRecord) {
        let mut records = self.lock();
        records.insert(r.epoch, r);
        while records.len() > KEEP_EPOCHS {
            records.pop_first();
        }
    }

    /// Settles our quote for `claim`'s epoch as won or lost; whether we had one.
    pub(super) fn settle_claim(&self, claim: &ClaimSeen, me: Address) -> bool {
        let mut records = self.lock();
        let Some(r) = records.get_mut(&claim.epoch) else {
            return false;
        };
        // Expired too: the claim is L1's word, our clock may have run ahead of it.
        if !matches!(r.fate, QuoteFate::Pending | QuoteFate::Expired) {
            return false;
        }
        r.fate = if claim.prover == me {
            QuoteFate::Won
        } else {
            QuoteFate::Lost {
                winner: claim.prover,
                winner_basis_point_fee: claim.basis_point_fee,
            }
        };
        true
    }

    /// Marks pending quotes that can no longer be claimed at `slot` (past their validity
    /// or their epoch's claim window) expired; their epochs.
    pub(super) fn expire(&self, slot: u64, timing: &RollupTiming) -> Vec<u64> {
        let mut expired = Vec::new();
        for r in self.lock().values_mut() {
            if r.fate == QuoteFate::Pending
                && (slot > r.valid_until_slot || slot >= timing.claim_deadline(r.epoch))
            {
                r.fate = QuoteFate::Expired;
                expired.push(r.epoch);
            }
        }
        expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(epoch: u64, valid_until_slot: u64) -> QuoteRecord {
        QuoteRecord {
            epoch,
            basis_point_fee: 100,
            bond: U256::from(1_000),
            valid_until_slot,
            route: "http",
            sent_at_ms: 0,
            fate: QuoteFate::Pending,
        }
    }

    fn timing() -> RollupTiming {
        RollupTiming {
            genesis_time: 0,
            slot_duration: 2,
            epoch_duration: 2,
            claim_window: 2,
            proof_submission_window: 2,
        }
    }

    #[test]
    fn claims_settle_quotes_and_unclaimed_ones_expire() {
        let h = MonitorHandle::new();
        let me = Address::repeat_byte(1);
        let rival = Address::repeat_byte(2);
        // Claim windows: epoch 0 slots 2..4, epoch 1 4..6, epoch 2 6..8.
        h.record(record(0, 5));
        h.record(record(1, 4));
        h.record(record(2, 20));
        let claim = |epoch, prover| ClaimSeen {
            epoch,
            prover,
            bond: U256::from(1_000),
            basis_point_fee: 50,
        };
        assert!(h.settle_claim(&claim(0, rival), me));
        assert!(!h.settle_claim(&claim(0, me), me), "settled once");
        assert!(!h.settle_claim(&claim(7, me), me), "no quote for epoch 7");
        // Slot 5: epoch 1's quote is past its validity (4), its window still open.
        assert_eq!(h.expire(5, &timing()), vec![1]);
        // Epoch 2's window closes at slot 8 although the quote says 20.
        assert_eq!(h.expire(7, &timing()), Vec::<u64>::new());
        assert_eq!(h.expire(8, &timing()), vec![2]);
        // A claim L1 shows after we thought the quote expired wins over our clock.
        assert!(h.settle_claim(&claim(2, me), me));
        let fates: Vec<_> = h.quotes().into_iter().map(|r| r.fate).collect();
        assert_eq!(
            fates,
            vec![
                QuoteFate::Lost {
                    winner: rival,
                    winner_basis_point_fee: 50
                },
                QuoteFate::Expired,
                QuoteFate::Won
            ]
        );
    }

    #[test]
    fn the_record_keeps_the_last_epochs() {
        let h = MonitorHandle::new();
        for e in 0..(KEEP_EPOCHS as u64 + 5) {
            h.record(record(e, e + 4));
        }
        let q = h.quotes();
        assert_eq!(q.len(), KEEP_EPOCHS);
        assert_eq!(q[0].epoch, 5);
    }

    #[test]
    fn records_and_events_serialize_for_the_node_api() {
        let mut r = record(3, 9);
        r.fate = QuoteFate::Lost {
            winner: Address::repeat_byte(0xab),
            winner_basis_point_fee: 20,
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["epoch"], 3);
        assert_eq!(v["route"], "http");
        assert_eq!(v["fate"]["fate"], "lost");
        assert_eq!(
            v["fate"]["winner"],
            "0xabababababababababababababababababababab"
        );
        assert_eq!(v["fate"]["winner_basis_point_fee"], 20);
        let skipped = MonitorEvent::QuoteSkipped {
            epoch: 1,
            reason: SkipReason::AtCapacity { proving: 1, max: 1 },
        };
        let v = serde_json::to_value(&skipped).unwrap();
        assert_eq!(v["event"], "quote_skipped");
        assert_eq!(v["reason"]["kind"], "at_capacity");
    }
}
