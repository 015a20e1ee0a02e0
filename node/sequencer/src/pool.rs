//! The tx pool: every tx the node has seen, by hash, with where it stands — pending (in
//! arrival order, waiting for a block), mined in a block, or rejected with its reason.
//! Pending txs are taken for a block in arrival order; they leave the pending list only
//! when the block is on L1 (mined) or the block builder refused them (rejected), so a
//! failed proposal loses nothing. A prune on L1 puts the pruned blocks' txs back to
//! pending, in their original order.
//!
//! Everything is in memory (a devnet sequencer); mined and rejected txs are kept so they
//! stay retrievable by hash.

use provemesh_common::hash::Fr;
use provemesh_common::tx::{Tx, TxHash};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

/// Where a tx stands in the pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolStatus {
    Pending,
    Mined { block: u64 },
    Rejected { kind: String, reason: String },
}

#[derive(Debug, Clone)]
struct Entry {
    tx: Arc<Tx>,
    /// Arrival order (also the pending list's key).
    seq: u64,
    status: PoolStatus,
}

/// The pool refused a tx.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    #[error("tx pool is full ({max} pending txs)")]
    Full { max: usize },
    #[error("nullifier {nullifier} is already spent by pending tx {by}")]
    NullifierInPool { nullifier: Fr, by: TxHash },
    #[error("tx has no hash (no nullifier)")]
    NoHash,
}

/// What `add` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Added {
    New(TxHash),
    /// Already in the pool (any status): nothing changed.
    Known(TxHash, PoolStatus),
}

#[derive(Default)]
struct Inner {
    entries: HashMap<TxHash, Entry>,
    pending: BTreeMap<u64, TxHash>,
    /// Nullifiers of pending txs → the tx.
    pending_nullifiers: HashMap<Fr, TxHash>,
    next_seq: u64,
    /// Txs recorded as refused at submission.
    refused_records: usize,
}

/// At most this many txs refused at submission are remembered (so their receipts say
/// why): a client sending junk cannot grow the pool without bound.
pub const MAX_REFUSED_RECORDS: usize = 100_000;

/// The tx pool; cheap to share (`Arc`), every method takes the lock briefly.
pub struct TxPool {
    inner: Mutex<Inner>,
    max_pending: usize,
}

impl TxPool {
    pub fn new(max_pending: usize) -> Self {
        TxPool {
            inner: Mutex::new(Inner::default()),
            max_pending,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data (every update is a few
        // map operations that cannot panic half-way in a way that matters here).
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The pending tx spending `nullifier`, if any.
    pub fn pending_spender(&self, nullifier: &Fr) -> Option<TxHash> {
        self.lock().pending_nullifiers.get(nullifier).copied()
    }

    /// Status of `hash`, if known.
    pub fn status(&self, hash: &TxHash) -> Option<PoolStatus> {
        self.lock().entries.get(hash).map(|e| e.status.clone())
    }

    /// Adds a tx as pending (the caller has checked it). A known hash is left as it is.
    pub fn add(&self, tx: Tx) -> Result<Added, PoolError> {
        let hash = tx.hash().ok_or(PoolError::NoHash)?;
        let mut g = self.lock();
        if let Some(e) = g.entries.get(&hash) {
            // A tx refused earlier may be valid now (its fee payer was funded since).
            if !matches!(e.status, PoolStatus::Rejected { .. }) {
                return Ok(Added::Known(hash, e.status.clone()));
            }
        }
        if g.pending.len() >= self.max_pending {
            return Err(PoolError::Full {
                max: self.max_pending,
            });
        }
        if let Some((n, by)) = tx
            .outputs
            .nullifiers
            .iter()
            .find_map(|n| g.pending_nullifiers.get(n).map(|by| (*n, *by)))
        {
            return Err(PoolError::NullifierInPool { nullifier: n, by });
        }
        let seq = g.next_seq;
        g.next_seq += 1;
        for n in &tx.outputs.nullifiers {
            g.pending_nullifiers.insert(*n, hash);
        }
        g.pending.insert(seq, hash);
        g.entries.insert(
            hash,
            Entry {
                tx: Arc::new(tx),
                seq,
                status: PoolStatus::Pending,
            },
        );
        Ok(Added::New(hash))
    }

    /// Records a tx refused before it entered the pool (so its receipt says why).
    pub fn record_rejected(&self, tx: Tx, kind: &str, reason: &str) {
        let Some(hash) = tx.hash() else { return };
        let mut g = self.lock();
        if g.entries.contains_key(&hash) || g.refused_records >= MAX_REFUSED_RECORDS {
            return;
        }
        g.refused_records += 1;
        let seq = g.next_seq;
        g.next_seq += 1;
        g.entries.insert(
            hash,
            Entry {
                tx: Arc::new(tx),
                seq,
                status: PoolStatus::Rejected {
                    kind: kind.to_string(),
                    reason: reason.to_string(),
                },
            },
        );
    }

    /// Up to `max` pending txs, oldest first (they stay pending).
    pub fn pending(&self, max: usize) -> Vec<Arc<Tx>> {
        let g = self.lock();
        g.pending
            .values()
            .take(max)
            .filter_map(|h| g.entries.get(h).map(|e| e.tx.clone()))
            .collect()
    }

    pub fn pending_count(&self) -> usize {
        self.lock().pending.len()
    }

    fn leave_pending(g: &mut Inner, hash: &TxHash) -> Option<u64> {
        let (seq, nullifiers) = {
            let e = g.entries.get(hash)?;
            if e.status != PoolStatus::Pending {
                return None;
            }
            (e.seq, e.tx.outputs.nullifiers.clone())
        };
        g.pending.remove(&seq);
        for n in nullifiers {
            if g.pending_nullifiers.get(&n) == Some(hash) {
                g.pending_nullifiers.remove(&n);
            }
        }
        Some(seq)
    }

    /// The txs of block `block`, now on L1.
    pub fn mark_mined(&self, hashes: &[TxHash], block: u64) {
        let mut g = self.lock();
        for h in hashes {
            if Self::leave_pending(&mut g, h).is_some() {
                if let Some(e) = g.entries.get_mut(h) {
                    e.status = PoolStatus::Mined { block };
                }
            }
        }
    }

    /// A pending tx the block builder refused.
    pub fn mark_rejected(&self, hash: &TxHash, kind: &str, reason: &str) {
        let mut g = self.lock();
        if Self::leave_pending(&mut g, hash).is_some() {
            if let Some(e) = g.entries.get_mut(hash) {
                e.status = PoolStatus::Rejected {
                    kind: kind.to_string(),
                    reason: reason.to_string(),
                };
            }
        }
    }

    /// Blocks after `block` were pruned from L1: their txs are pending again, in their
    /// original order. Returns how many.
    pub fn unmine_after(&self, block: u64) -> usize {
        let mut g = self.lock();
        let back: Vec<(TxHash, u64, Vec<Fr>)> = g
            .entries
            .iter()
            .filter(|(_, e)| matches!(e.status, PoolStatus::Mined { block: b } if b > block))
            .map(|(h, e)| (*h, e.seq, e.tx.outputs.nullifiers.clone()))
            .collect();
        for (h, seq, nullifiers) in &back {
            g.pending.insert(*seq, *h);
            for n in nullifiers {
                g.pending_nullifiers.insert(*n, *h);
            }
            if let Some(e) = g.entries.get_mut(h) {
                e.status = PoolStatus::Pending;
            }
        }
        back.len()
    }

    /// The txs with `hashes`, in order (any status except rejected: a rejected tx is not
    /// served as if it were part of the chain or the pool).
    pub fn get_many(&self, hashes: &[TxHash]) -> Vec<Option<Tx>> {
        let g = self.lock();
        hashes
            .iter()
            .map(|h| {
                g.entries
                    .get(h)
                    .filter(|e| !matches!(e.status, PoolStatus::Rejected { .. }))
                    .map(|e| (*e.tx).clone())
            })
            .collect()
    }
}

impl provemesh_p2p::TxSource for TxPool {
    fn txs_by_hash(&self, hashes: &[TxHash]) -> Vec<Option<Tx>> {
        self.get_many(hashes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use provemesh_common::tx::{SimulatedClientProof, TxPublicOutputs};

    fn tx(nullifiers: &[u64]) -> Tx {
        let outputs = TxPublicOutputs {
            note_hashes: vec![],
            nullifiers: nullifiers.iter().map(|n| Fr::from(*n)).collect(),
            public_data_writes: vec![],
            l2_to_l1_messages: vec![],
            fee_payer: Fr::from(1u64),
            fee: Fr::from(1u64),
        };
        Tx {
            proof: SimulatedClientProof::create(&outputs),
            outputs,
        }
    }

    fn h(n: u64) -> TxHash {
        TxHash(Fr::from(n))
    }

    #[test]
    fn pending_in_order_until_mined_or_rejected_and_back_after_a_prune() {
        let pool = TxPool::new(10);
        for n in [10, 20, 30] {
            assert_eq!(pool.add(tx(&[n, n + 1])).unwrap(), Added::New(h(n)));
        }
        assert!(matches!(pool.add(tx(&[10, 11])).unwrap(), Added::Known(..)));
        assert_eq!(
            pool.add(tx(&[40, 21])),
            Err(PoolError::NullifierInPool {
                nullifier: Fr::from(21u64),
                by: h(20)
            })
        );
        let order: Vec<_> = pool.pending(10).iter().filter_map(|t| t.hash()).collect();
        assert_eq!(order, vec![h(10), h(20), h(30)]);

        pool.mark_mined(&[h(10), h(30)], 1);
        pool.mark_rejected(&h(20), "fee_not_payable", "poor");
        assert_eq!(pool.pending_count(), 0);
        assert_eq!(pool.status(&h(30)), Some(PoolStatus::Mined { block: 1 }));
        assert_eq!(
            pool.get_many(&[h(10), h(20), h(99)])
                .iter()
                .filter(|t| t.is_some())
                .count(),
            1
        );
        // 21 is free again once its tx left the pending list.
        assert!(matches!(pool.add(tx(&[50, 21])).unwrap(), Added::New(_)));

        assert_eq!(pool.unmine_after(0), 2);
        let order: Vec<_> = pool.pending(10).iter().filter_map(|t| t.hash()).collect();
        assert_eq!(order, vec![h(10), h(30), h(50)]);
    }

    #[test]
    fn a_full_pool_refuses() {
        let pool = TxPool::new(1);
        pool.add(tx(&[1])).unwrap();
        assert_eq!(pool.add(tx(&[2])), Err(PoolError::Full { max: 1 }));
    }
}
