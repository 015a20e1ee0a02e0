//! The archive in redb: the pending chain, pruned blocks (kept so that an L1 reorg can undo
//! a prune), proofs, L1→L2 messages, epoch out roots, and the L1 position it has read up to.
//!
//! Every record carries the L1 block its event came from, which makes an L1 reorg a plain
//! delete: [`ArchiveStore::rollback_to`] removes what was learnt after the fork point and
//! restores the blocks that a removed prune had cut. Each L1 batch and each rollback is one
//! write transaction (redb commits durably), so after a crash the archive opens at the end
//! of the last batch it committed, with the matching cursor: nothing half-applied, nothing
//! read twice.
//!
//! Reorg detection needs the hashes of L1 blocks the archive has read: the cursor's, those
//! of every block that held an event (kept for good, they are few), and the ends of recent
//! batches (dropped after [`CHECKPOINT_HORIZON`] L1 blocks: a missing one only makes a
//! rollback go back further than it had to).

use crate::config::Contracts;
use crate::error::StoreError;
use crate::events::{ArchiveEvent, L1Position};
use crate::source::{ChainEvent, L2Block};
use alloy::primitives::{Bytes, B256};
use alloy::sol_types::SolType;
use provemesh_l1::{BlockHeader, Tips};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

/// Batch-end checkpoints without events older than this many L1 blocks behind the cursor
/// are dropped (Ethereum finalises after ~64 blocks).
pub const CHECKPOINT_HORIZON: u64 = 1024;

/// Named values: "identity", "epoch_duration", "cursor".
const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("meta");
/// L2 block number → [`StoredBlock`]: the pending chain.
const BLOCKS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("blocks");
/// (epoch, L2 block number) of the pending chain.
const EPOCH_BLOCKS: TableDefinition<'_, (u64, u64), ()> = TableDefinition::new("epoch_blocks");
/// (L1 block, log index of the prune, L2 block number) → [`StoredBlock`] it removed.
const PRUNED: TableDefinition<'_, (u64, u64, u64), &[u8]> = TableDefinition::new("pruned");
/// (L1 block, log index) → (proven tip after the proof, epoch).
const PROVEN: TableDefinition<'_, (u64, u64), (u64, u64)> = TableDefinition::new("proven");
/// Inbox message index → [`StoredMessage`] (index order is L1 order).
const MESSAGES: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("messages");
/// (L2 block, message index) → (leaf, bucket's rolling hash after it).
const BUCKETS: TableDefinition<'_, (u64, u64), ([u8; 32], [u8; 32])> =
    TableDefinition::new("buckets");
/// Epoch → [`StoredOutRoot`].
const OUT_ROOTS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("out_roots");
/// L1 block → (its hash, whether it held events).
const CHECKPOINTS: TableDefinition<'_, u64, ([u8; 32], bool)> = TableDefinition::new("checkpoints");

/// An L1 block the archive has read, by number and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub number: u64,
    pub hash: B256,
}

/// What an archive follows; a data directory holds the archive of one deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Identity {
    pub chain_id: u64,
    pub contracts: Contracts,
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "rollup {} (inbox {}, outbox {}) on chain {}",
            self.contracts.rollup, self.contracts.inbox, self.contracts.outbox, self.chain_id
        )
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredBlock {
    number: u64,
    slot: u64,
    epoch: u64,
    archive: B256,
    /// ABI encoding of the header.
    header: Bytes,
    tx_hashes: Vec<B256>,
    body: Bytes,
    l1: L1Position,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredMessage {
    l2_block: u64,
    leaf: B256,
    l1: L1Position,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredOutRoot {
    root: B256,
    l1_block: u64,
}

/// The events of one L1 range `[cursor + 1, to.number]`, to be applied at once.
#[derive(Debug, Clone)]
pub(crate) struct Batch {
    pub events: Vec<(L1Position, ArchiveEvent)>,
    pub to: Checkpoint,
}

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    // Encoding plain structs into a Vec cannot fail.
    rmp_serde::to_vec_named(v).unwrap_or_default()
}

fn decode<T: DeserializeOwned>(what: impl Fn() -> String, bytes: &[u8]) -> Result<T, StoreError> {
    rmp_serde::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        what: what(),
        reason: e.to_string(),
    })
}

fn to_block(s: StoredBlock) -> Result<L2Block, StoreError> {
    let header =
        <BlockHeader as SolType>::abi_decode(&s.header).map_err(|e| StoreError::Corrupt {
            what: format!("the header of L2 block {}", s.number),
            reason: e.to_string(),
        })?;
    Ok(L2Block {
        number: s.number,
        slot: s.slot,
        epoch: s.epoch,
        archive: s.archive,
        header,
        tx_hashes: s.tx_hashes,
        body: s.body,
        l1: s.l1,
    })
}

/// Attaches the database path to redb's errors.
trait DbResult<T> {
    fn at(self, path: &Path) -> Result<T, StoreError>;
}

impl<T, E: Into<redb::Error>> DbResult<T> for Result<T, E> {
    fn at(self, path: &Path) -> Result<T, StoreError> {
        self.map_err(|e| StoreError::db(path, e))
    }
}

fn last_key<T: ReadableTable<u64, &'static [u8]>>(
    t: &T,
) -> Result<Option<u64>, redb::StorageError> {
    Ok(t.last()?.map(|(k, _)| k.value()))
}

/// The archive database.
pub(crate) struct ArchiveStore {
    db: Database,
    path: PathBuf,
}

impl ArchiveStore {
    /// Opens (or creates) the archive in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join("archive.redb");
        std::fs::create_dir_all(dir).map_err(|e| StoreError::db(&path, redb::Error::Io(e)))?;
        let db = Database::create(&path).map_err(|e| StoreError::db(&path, e))?;
        let s = ArchiveStore { db, path };
        let tx = s.db.begin_write().at(&s.path)?;
        {
            let db = s.path.as_path();
            tx.open_table(META).at(db)?;
            tx.open_table(BLOCKS).at(db)?;
            tx.open_table(EPOCH_BLOCKS).at(db)?;
            tx.open_table(PRUNED).at(db)?;
            tx.open_table(PROVEN).at(db)?;
            tx.open_table(MESSAGES).at(db)?;
            tx.open_table(BUCKETS).at(db)?;
            tx.open_table(OUT_ROOTS).at(db)?;
            tx.open_table(CHECKPOINTS).at(db)?;
        }
        tx.commit().at(&s.path)?;
        Ok(s)
    }

    fn meta<T: DeserializeOwned>(&self, key: &'static str) -> Result<Option<T>, StoreError> {
        let tx = self.db.begin_read().at(&self.path)?;
        let t = tx.open_table(META).at(&self.path)?;
        match t.get(key).at(&self.path)? {
            None => Ok(None),
            Some(v) => decode(|| format!("meta {key}"), v.value()).map(Some),
        }
    }

    fn set_meta<T: Serialize>(&self, key: &'static str, v: &T) -> Result<(), StoreError> {
        let tx = self.db.begin_write().at(&self.path)?;
        tx.open_table(META)
            .at(&self.path)?
            .insert(key, encode(v).as_slice())
            .at(&self.path)?;
        tx.commit().at(&self.path)
    }

    pub fn identity(&self) -> Result<Option<Identity>, StoreError> {
        self.meta("identity")
    }

    pub fn set_identity(&self, id: &Identity) -> Result<(), StoreError> {
        self.set_meta("identity", id)
    }

    pub fn epoch_duration(&self) -> Result<Option<u64>, StoreError> {
        self.meta("epoch_duration")
    }

    pub fn set_epoch_duration(&self, slots: u64) -> Result<(), StoreError> {
        self.set_meta("epoch_duration", &slots)
    }

    /// The last L1 block the archive has read, if any.
    pub fn cursor(&self) -> Result<Option<Checkpoint>, StoreError> {
        self.meta("cursor")
    }

    /// The L1 blocks whose hashes the archive keeps, newest first.
    pub fn checkpoints_desc(&self) -> Result<Vec<Checkpoint>, StoreError> {
        let tx = self.db.begin_read().at(&self.path)?;
        let t = tx.open_table(CHECKPOINTS).at(&self.path)?;
        let mut out = Vec::new();
        for r in t.range::<u64>(..).at(&self.path)?.rev() {
            let (k, v) = r.at(&self.path)?;
            out.push(Checkpoint {
                number: k.value(),
                hash: B256::from(v.value().0),
            });
        }
        Ok(out)
    }

    /// Applies one L1 batch and moves the cursor to its end, in one transaction; returns
    /// the chain events it caused.
    pub fn apply(&self, batch: &Batch, epoch_duration: u64) -> Result<Vec<ChainEvent>, StoreError> {
        let db = self.path.as_path();
        let tx = self.db.begin_write().at(db)?;
        let mut out: Vec<ChainEvent> = Vec::new();
        {
            let mut blocks = tx.open_table(BLOCKS).at(db)?;
            let mut epochs = tx.open_table(EPOCH_BLOCKS).at(db)?;
            let mut pruned = tx.open_table(PRUNED).at(db)?;
            let mut proven = tx.open_table(PROVEN).at(db)?;
            let mut messages = tx.open_table(MESSAGES).at(db)?;
            let mut buckets = tx.open_table(BUCKETS).at(db)?;
            let mut out_roots = tx.open_table(OUT_ROOTS).at(db)?;
            let mut checkpoints = tx.open_table(CHECKPOINTS).at(db)?;
            let mut event_blocks = BTreeMap::new();

            for (pos, ev) in &batch.events {
                event_blocks.insert(pos.block_number, pos.block_hash);
                match ev {
                    ArchiveEvent::Proposed(p) => {
                        let number: u64 = p.blockNumber.saturating_to();
                        let pending = last_key(&blocks).at(db)?.unwrap_or(0);
                        if number != pending + 1 {
                            return Err(StoreError::Gap {
                                l1_block: pos.block_number,
                                l2_block: number,
                                pending,
                            });
                        }
                        let slot: u64 = p.slotNumber.saturating_to();
                        let epoch = slot / epoch_duration.max(1);
                        let in_hash = buckets
                            .range((number, 0)..=(number, u64::MAX))
                            .at(db)?
                            .next_back()
                            .transpose()
                            .at(db)?
                            .map(|(_, v)| B256::from(v.value().1))
                            .unwrap_or_default();
                        if p.header.contentCommitment.inHash != in_hash {
                            tracing::warn!(
                                l2_block = number,
                                l1_block = pos.block_number,
                                "the block's inHash {} differs from the Inbox messages the archive holds for it ({in_hash}); were messages missed?",
                                p.header.contentCommitment.inHash
                            );
                        }
                        let stored = StoredBlock {
                            number,
                            slot,
                            epoch,
                            archive: p.archive,
                            header: <BlockHeader as SolType>::abi_encode(&p.header).into(),
                            tx_hashes: p.txHashes.clone(),
                            body: p.body.clone(),
                            l1: *pos,
                        };
                        blocks.insert(number, encode(&stored).as_slice()).at(db)?;
                        epochs.insert((epoch, number), ()).at(db)?;
                        match out.last_mut() {
                            Some(ChainEvent::BlocksAdded { last, .. }) if *last + 1 == number => {
                                *last = number
                            }
                            _ => out.push(ChainEvent::BlocksAdded {
                                first: number,
                                last: number,
                            }),
                        }
                    }
                    ArchiveEvent::Pruned {
                        epoch,
                        proven: proven_tip,
                        pruned_pending,
                    } => {
                        let pending = last_key(&blocks).at(db)?.unwrap_or(0);
                        if pending != *pruned_pending {
                            tracing::warn!(
                                l1_block = pos.block_number,
                                "prune of epoch {epoch}: L1 says the pending chain ended at block {pruned_pending}, the archive's ends at {pending}"
                            );
                        }
                        for k in proven_tip + 1..=pending {
                            let Some(bytes) = blocks.remove(k).at(db)?.map(|v| v.value().to_vec())
                            else {
                                continue;
                            };
                            let b: StoredBlock = decode(|| format!("L2 block {k}"), &bytes)?;
                            epochs.remove((b.epoch, k)).at(db)?;
                            pruned
                                .insert((pos.block_number, pos.log_index, k), bytes.as_slice())
                                .at(db)?;
                        }
                        out.push(ChainEvent::Pruned {
                            epoch: *epoch,
                            pending: (*proven_tip).min(pending),
                        });
                    }
                    ArchiveEvent::Proven {
                        epoch,
                        end_block,
                        end_archive,
                    } => {
                        if let Some(v) = blocks.get(*end_block).at(db)? {
                            let b: StoredBlock =
                                decode(|| format!("L2 block {end_block}"), v.value())?;
                            if b.archive != *end_archive {
                                tracing::warn!(
                                    l2_block = end_block,
                                    "epoch {epoch} proven with end archive {end_archive}, the archive holds {}",
                                    b.archive
                                );
                            }
                        }
                        proven
                            .insert((pos.block_number, pos.log_index), (*end_block, *epoch))
                            .at(db)?;
                        out.push(ChainEvent::Proven {
                            epoch: *epoch,
                            block: *end_block,
                        });
                    }
                    ArchiveEvent::MessageSent {
                        l2_block,
                        index,
                        leaf,
                        rolling_hash,
                    } => {
                        let m = StoredMessage {
                            l2_block: *l2_block,
                            leaf: *leaf,
                            l1: *pos,
                        };
                        messages.insert(*index, encode(&m).as_slice()).at(db)?;
                        buckets
                            .insert((*l2_block, *index), (leaf.0, rolling_hash.0))
                            .at(db)?;
                    }
                    ArchiveEvent::OutRoot { epoch, root } => {
                        let r = StoredOutRoot {
                            root: *root,
                            l1_block: pos.block_number,
                        };
                        out_roots.insert(*epoch, encode(&r).as_slice()).at(db)?;
                    }
                }
            }

            for (n, h) in &event_blocks {
                checkpoints.insert(*n, (h.0, true)).at(db)?;
            }
            let to = batch.to;
            checkpoints
                .insert(
                    to.number,
                    (to.hash.0, event_blocks.contains_key(&to.number)),
                )
                .at(db)?;
            let horizon = to.number.saturating_sub(CHECKPOINT_HORIZON);
            checkpoints
                .retain_in(..horizon, |_, (_, has_events)| has_events)
                .at(db)?;
            tx.open_table(META)
                .at(db)?
                .insert("cursor", encode(&to).as_slice())
                .at(db)?;
        }
        tx.commit().at(db)?;
        Ok(out)
    }

    /// Undoes everything learnt from L1 blocks after `fork` (all of it when `None`) and
    /// moves the cursor there, in one transaction; returns the tips after it.
    pub fn rollback_to(&self, fork: Option<Checkpoint>) -> Result<Tips, StoreError> {
        let keep = fork.map(|c| c.number);
        let gone = |l1: u64| keep.is_none_or(|k| l1 > k);
        let db = self.path.as_path();
        let tx = self.db.begin_write().at(db)?;
        {
            let mut blocks = tx.open_table(BLOCKS).at(db)?;
            let mut epochs = tx.open_table(EPOCH_BLOCKS).at(db)?;
            let mut pruned = tx.open_table(PRUNED).at(db)?;
            let mut proven = tx.open_table(PROVEN).at(db)?;
            let mut messages = tx.open_table(MESSAGES).at(db)?;
            let mut buckets = tx.open_table(BUCKETS).at(db)?;
            let mut out_roots = tx.open_table(OUT_ROOTS).at(db)?;
            let mut checkpoints = tx.open_table(CHECKPOINTS).at(db)?;

            // The pending chain is in L1 order: drop from the tip while proposed too late.
            while let Some(n) = last_key(&blocks).at(db)? {
                let b: StoredBlock = match blocks.get(n).at(db)? {
                    Some(v) => decode(|| format!("L2 block {n}"), v.value())?,
                    None => break,
                };
                if !gone(b.l1.block_number) {
                    break;
                }
                blocks.remove(n).at(db)?;
                epochs.remove((b.epoch, n)).at(db)?;
            }

            // Undo prunes from after the fork: their blocks proposed before it come back.
            let first_gone = keep.map_or(0, |k| k + 1);
            let undone: Vec<((u64, u64, u64), Vec<u8>)> = pruned
                .range((first_gone, 0, 0)..)
                .at(db)?
                .map(|r| r.map(|(k, v)| (k.value(), v.value().to_vec())))
                .collect::<Result<_, _>>()
                .at(db)?;
            for (key, bytes) in undone {
                pruned.remove(key).at(db)?;
                let b: StoredBlock = decode(|| format!("pruned L2 block {}", key.2), &bytes)?;
                if !gone(b.l1.block_number) {
                    epochs.insert((b.epoch, b.number), ()).at(db)?;
                    blocks.insert(b.number, bytes.as_slice()).at(db)?;
                }
            }

            proven.retain_in((first_gone, 0).., |_, _| false).at(db)?;

            loop {
                let Some((index, m)) = messages
                    .last()
                    .at(db)?
                    .map(|(k, v)| (k.value(), v.value().to_vec()))
                else {
                    break;
                };
                let m: StoredMessage = decode(|| format!("L1→L2 message {index}"), &m)?;
                if !gone(m.l1.block_number) {
                    break;
                }
                messages.remove(index).at(db)?;
                buckets.remove((m.l2_block, index)).at(db)?;
            }

            let roots: Vec<(u64, Vec<u8>)> = out_roots
                .range::<u64>(..)
                .at(db)?
                .map(|r| r.map(|(k, v)| (k.value(), v.value().to_vec())))
                .collect::<Result<_, _>>()
                .at(db)?;
            for (epoch, bytes) in roots {
                let r: StoredOutRoot = decode(|| format!("out root of epoch {epoch}"), &bytes)?;
                if gone(r.l1_block) {
                    out_roots.remove(epoch).at(db)?;
                }
            }

            checkpoints.retain_in(first_gone.., |_, _| false).at(db)?;
            let mut meta = tx.open_table(META).at(db)?;
            match fork {
                Some(c) => {
                    meta.insert("cursor", encode(&c).as_slice()).at(db)?;
                }
                None => {
                    meta.remove("cursor").at(db)?;
                }
            }
        }
        tx.commit().at(db)?;
        self.tips()
    }

    // ------------------------------------------------------------------ reads

    pub fn tips(&self) -> Result<Tips, StoreError> {
        let db = self.path.as_path();
        let tx = self.db.begin_read().at(db)?;
        let blocks = tx.open_table(BLOCKS).at(db)?;
        let proven = tx.open_table(PROVEN).at(db)?;
        let pending = blocks.last().at(db)?.map_or(0, |(k, _)| k.value());
        let proven = proven.last().at(db)?.map_or(0, |(_, v)| v.value().0);
        Ok(Tips { pending, proven })
    }

    pub fn blocks(&self, range: RangeInclusive<u64>) -> Result<Vec<L2Block>, StoreError> {
        let db = self.path.as_path();
        let tx = self.db.begin_read().at(db)?;
        let t = tx.open_table(BLOCKS).at(db)?;
        let mut out = Vec::new();
        for r in t.range(range).at(db)? {
            let (k, v) = r.at(db)?;
            let n = k.value();
            out.push(to_block(decode(|| format!("L2 block {n}"), v.value())?)?);
        }
        Ok(out)
    }

    pub fn block(&self, number: u64) -> Result<Option<L2Block>, StoreError> {
        Ok(self.blocks(number..=number)?.pop())
    }

    pub fn blocks_of_epoch(&self, epoch: u64) -> Result<Vec<L2Block>, StoreError> {
        let db = self.path.as_path();
        let range = {
            let tx = self.db.begin_read().at(db)?;
            let t = tx.open_table(EPOCH_BLOCKS).at(db)?;
            let mut it = t.range((epoch, 0)..=(epoch, u64::MAX)).at(db)?;
            let first = it.next().transpose().at(db)?.map(|(k, _)| k.value().1);
            let last = it.next_back().transpose().at(db)?.map(|(k, _)| k.value().1);
            match (first, last) {
                (Some(f), l) => f..=l.unwrap_or(f),
                (None, _) => return Ok(Vec::new()),
            }
        };
        // An epoch's blocks are consecutive: slots only increase along the chain.
        self.blocks(range)
    }

    pub fn l1_to_l2_messages(&self, l2_block: u64) -> Result<Vec<B256>, StoreError> {
        let db = self.path.as_path();
        let tx = self.db.begin_read().at(db)?;
        let t = tx.open_table(BUCKETS).at(db)?;
        t.range((l2_block, 0)..=(l2_block, u64::MAX))
            .at(db)?
            .map(|r| r.map(|(_, v)| B256::from(v.value().0)).at(db))
            .collect()
    }

    /// The out root the Outbox holds for proven `epoch`.
    pub fn out_root(&self, epoch: u64) -> Result<Option<B256>, StoreError> {
        let db = self.path.as_path();
        let tx = self.db.begin_read().at(db)?;
        let t = tx.open_table(OUT_ROOTS).at(db)?;
        match t.get(epoch).at(db)? {
            None => Ok(None),
            Some(v) => {
                let r: StoredOutRoot = decode(|| format!("out root of epoch {epoch}"), v.value())?;
                Ok(Some(r.root))
            }
        }
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
