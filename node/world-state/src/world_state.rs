//! The World State DB: the five trees in DATA_DIRECTORY, one block at a time.
//!
//! A [`WorldState`] is the single writer. Between commits it holds the working state of
//! the block being built (changed by the tx processor through [`WorldState::trees_mut`]);
//! [`WorldState::commit_block`] writes that block in one redb transaction,
//! [`WorldState::rollback`] drops it, [`WorldState::unwind_to`] removes committed blocks
//! (reorg, prune). Readers take [`WorldStateSnapshot`]s, which see one block's state for
//! as long as they live, whatever the writer does meanwhile.

use crate::config::{TreeHeights, TreeId, WorldStateConfig};
use crate::error::{DbContext, Result, WorldStateError};
use crate::indexed::IndexedTree;
use crate::snapshot::WorldStateSnapshot;
use crate::store::{
    self, decode, encode, key_key, leaf_key, node_key, BlockRecord, ChangeLog, StoreReader, BLOCKS,
    CHANGES, KEYS, LEAVES, META, NODES,
};
use crate::tree::MerkleTree;
use provemesh_common::hash::{
    empty_subtree_root, AppendOnlyTreeSnapshot, BlockHeader, Fr, GlobalVariables,
    NullifierLeafPreimage, PartialStateReference, PublicDataLeafPreimage, StateReference,
};
use redb::{Database, ReadableDatabase};
use std::path::Path;
use std::sync::Arc;

/// The file inside the data directory.
pub const WORLD_STATE_FILE: &str = "world_state.redb";

/// Mutable access to every tree at once (disjoint borrows, so trees can be updated on
/// separate threads).
pub struct TreesMut<'a> {
    pub note_hash: &'a mut MerkleTree,
    pub nullifier: &'a mut IndexedTree<NullifierLeafPreimage>,
    pub public_data: &'a mut IndexedTree<PublicDataLeafPreimage>,
    pub l1_to_l2_message: &'a mut MerkleTree,
    pub archive: &'a mut MerkleTree,
}

struct Trees {
    note_hash: MerkleTree,
    nullifier: IndexedTree<NullifierLeafPreimage>,
    public_data: IndexedTree<PublicDataLeafPreimage>,
    l1_to_l2_message: MerkleTree,
    archive: MerkleTree,
}

pub struct WorldState {
    db: Arc<Database>,
    config: WorldStateConfig,
    tip: u64,
    tip_record: BlockRecord,
    trees: Trees,
}

impl WorldState {
    /// Opens (or creates, with the genesis block 0) the world state in `data_dir`.
    pub fn open(data_dir: &Path, config: WorldStateConfig) -> Result<WorldState> {
        config.heights.validate()?;
        std::fs::create_dir_all(data_dir).map_err(|e| {
            WorldStateError::Corrupt(format!("cannot create {}: {e}", data_dir.display()))
        })?;
        let db = Database::create(data_dir.join(WORLD_STATE_FILE)).ctx("open database")?;
        let db = Arc::new(db);
        let txn = db.begin_read().ctx("begin read")?;
        if let Some(stored) = store::read_heights(&txn)? {
            if stored != config.heights {
                return Err(WorldStateError::ConfigMismatch {
                    stored,
                    requested: config.heights,
                });
            }
        }
        let existing = store::read_tip(&txn)?;
        drop(txn);
        match existing {
            Some((tip, record)) => Self::load(db, config, tip, record),
            None => Self::genesis(db, config),
        }
    }

    fn load(
        db: Arc<Database>,
        config: WorldStateConfig,
        tip: u64,
        record: BlockRecord,
    ) -> Result<WorldState> {
        let txn = db.begin_read().ctx("begin read")?;
        let h = config.heights;
        let c = config.cached_levels;
        let mk = |id: TreeId| -> Result<MerkleTree> {
            Ok(MerkleTree::new(
                id,
                h.of(id),
                record.snapshot(id).next_available_leaf_index,
                c,
                StoreReader::open(&txn, tip)?,
            ))
        };
        let trees = Trees {
            note_hash: mk(TreeId::NoteHash)?,
            nullifier: IndexedTree::new(mk(TreeId::Nullifier)?),
            public_data: IndexedTree::new(mk(TreeId::PublicData)?),
            l1_to_l2_message: mk(TreeId::L1ToL2Message)?,
            archive: mk(TreeId::Archive)?,
        };
        Ok(WorldState {
            db,
            config,
            tip,
            tip_record: record,
            trees,
        })
    }

    /// Creates block 0: prefilled indexed trees, genesis public data, and the genesis
    /// header as the archive's first leaf.
    fn genesis(db: Arc<Database>, config: WorldStateConfig) -> Result<WorldState> {
        {
            let w = db.begin_write().ctx("begin genesis")?;
            w.open_table(NODES).ctx("create nodes table")?;
            w.open_table(LEAVES).ctx("create leaves table")?;
            w.open_table(KEYS).ctx("create keys table")?;
            w.open_table(BLOCKS).ctx("create blocks table")?;
            w.open_table(CHANGES).ctx("create changes table")?;
            let mut meta = w.open_table(META).ctx("create meta table")?;
            meta.insert(
                "heights",
                encode("tree heights", &config.heights)?.as_slice(),
            )
            .ctx("write heights")?;
            drop(meta);
            w.commit().ctx("commit genesis tables")?;
        }
        let empty = BlockRecord {
            header: BlockHeader::default(),
            archive: AppendOnlyTreeSnapshot::default(),
            trees: [AppendOnlyTreeSnapshot::default(); 5],
        };
        let mut ws = Self::load(db, config, 0, empty)?;
        ws.trees.nullifier.prefill(ws.config.nullifier_prefill)?;
        ws.trees
            .public_data
            .prefill(ws.config.public_data_prefill)?;
        for (slot, value) in ws.config.genesis_public_data.clone() {
            ws.trees.public_data.sequential_insert(slot, value, true)?;
        }
        let header = BlockHeader {
            last_archive: AppendOnlyTreeSnapshot {
                root: empty_subtree_root(ws.config.heights.archive),
                next_available_leaf_index: 0,
            },
            state: ws.state_reference()?,
            global_variables: GlobalVariables::default(),
            ..BlockHeader::default()
        };
        ws.trees.archive.append_leaf(header.hash())?;
        ws.write_block(0, &header)?;
        tracing::info!(archive = %ws.tip_record.archive.root, "world state genesis written");
        Ok(ws)
    }

    pub fn config(&self) -> &WorldStateConfig {
        &self.config
    }

    pub fn heights(&self) -> TreeHeights {
        self.config.heights
    }

    /// The last committed block number.
    pub fn tip(&self) -> u64 {
        self.tip
    }

    /// The last committed block's record (header and archive).
    pub fn tip_record(&self) -> &BlockRecord {
        &self.tip_record
    }

    pub fn trees_mut(&mut self) -> TreesMut<'_> {
        let t = &mut self.trees;
        TreesMut {
            note_hash: &mut t.note_hash,
            nullifier: &mut t.nullifier,
            public_data: &mut t.public_data,
            l1_to_l2_message: &mut t.l1_to_l2_message,
            archive: &mut t.archive,
        }
    }

    /// Snapshots of the tx-changed trees in the working state.
    pub fn partial_state(&mut self) -> Result<PartialStateReference> {
        Ok(PartialStateReference {
            note_hash_tree: self.trees.note_hash.snapshot()?,
            nullifier_tree: self.trees.nullifier.tree.snapshot()?,
            public_data_tree: self.trees.public_data.tree.snapshot()?,
        })
    }

    /// The state reference of the working state.
    pub fn state_reference(&mut self) -> Result<StateReference> {
        Ok(StateReference {
            l1_to_l2_message_tree: self.trees.l1_to_l2_message.snapshot()?,
            partial: self.partial_state()?,
        })
    }

    /// The working state's snapshot of one tree.
    pub fn tree_snapshot(&mut self, tree: TreeId) -> Result<AppendOnlyTreeSnapshot> {
        match tree {
            TreeId::NoteHash => self.trees.note_hash.snapshot(),
            TreeId::Nullifier => self.trees.nullifier.tree.snapshot(),
            TreeId::PublicData => self.trees.public_data.tree.snapshot(),
            TreeId::L1ToL2Message => self.trees.l1_to_l2_message.snapshot(),
            TreeId::Archive => self.trees.archive.snapshot(),
        }
    }

    /// Commits the working state as block `header.global_variables.block_number`, which
    /// must be the tip's successor; the caller has appended `header.hash()` to the
    /// archive. Atomic: after a crash the database holds the block entirely or not at all.
    pub fn commit_block(&mut self, header: &BlockHeader) -> Result<()> {
        let number = header.global_variables.block_number;
        if number != self.tip + 1 {
            return Err(WorldStateError::WrongBlockNumber {
                expected: self.tip + 1,
                got: number,
            });
        }
        if header.state != self.state_reference()? {
            return Err(WorldStateError::HeaderStateMismatch { block: number });
        }
        self.write_block(number, header)
    }

    fn write_block(&mut self, number: u64, header: &BlockHeader) -> Result<()> {
        let started = std::time::Instant::now();
        let archive = self.trees.archive.snapshot()?;
        let mut trees = [AppendOnlyTreeSnapshot::default(); 5];
        for tree in TreeId::ALL {
            trees[tree as usize] = self.tree_snapshot(tree)?;
        }
        let record = BlockRecord {
            header: *header,
            archive,
            trees,
        };
        let mut log = ChangeLog::default();
        let w = self.db.begin_write().ctx("begin block write")?;
        {
            let mut nodes = w.open_table(NODES).ctx("open nodes")?;
            let mut leaves = w.open_table(LEAVES).ctx("open leaves")?;
            let mut keys = w.open_table(KEYS).ctx("open keys")?;
            let t = &mut self.trees;
            for tree in [
                &mut t.note_hash,
                &mut t.nullifier.tree,
                &mut t.public_data.tree,
                &mut t.l1_to_l2_message,
                &mut t.archive,
            ] {
                tree.settle()?;
                for (&(level, index), v) in &tree.pending {
                    nodes
                        .insert(node_key(tree.id, level, index, number), v.to_be_bytes())
                        .ctx("write node")?;
                    log.nodes.push((tree.id as u8, level, index));
                }
            }
            fn indexed<L: provemesh_common::hash::IndexedLeafPreimage>(
                tree: &IndexedTree<L>,
                number: u64,
                leaves: &mut redb::Table<'_, [u8; 17], &[u8]>,
                keys: &mut redb::Table<'_, [u8; 33], u64>,
                log: &mut ChangeLog,
            ) -> Result<()> {
                let id = tree.id();
                let (pl, pk) = tree.pending();
                for (&index, leaf) in pl {
                    let bytes = encode("leaf preimage", leaf)?;
                    leaves
                        .insert(leaf_key(id, index, number), bytes.as_slice())
                        .ctx("write leaf")?;
                    log.leaves.push((id as u8, index));
                }
                for (key, &index) in pk {
                    keys.insert(key_key(id, key), index).ctx("write key")?;
                    log.keys.push((id as u8, *key));
                }
                Ok(())
            }
            indexed(&t.nullifier, number, &mut leaves, &mut keys, &mut log)?;
            indexed(&t.public_data, number, &mut leaves, &mut keys, &mut log)?;
            let mut blocks = w.open_table(BLOCKS).ctx("open blocks")?;
            blocks
                .insert(number, encode("block record", &record)?.as_slice())
                .ctx("write block")?;
            let mut changes = w.open_table(CHANGES).ctx("open changes")?;
            changes
                .insert(number, encode("change log", &log)?.as_slice())
                .ctx("write change log")?;
        }
        w.commit().ctx("commit block")?;
        let txn = self.db.begin_read().ctx("begin read")?;
        let t = &mut self.trees;
        t.note_hash.committed(StoreReader::open(&txn, number)?);
        t.nullifier.committed(StoreReader::open(&txn, number)?);
        t.public_data.committed(StoreReader::open(&txn, number)?);
        t.l1_to_l2_message
            .committed(StoreReader::open(&txn, number)?);
        t.archive.committed(StoreReader::open(&txn, number)?);
        self.tip = number;
        self.tip_record = record;
        tracing::debug!(
            block = number,
            nodes = log.nodes.len(),
            ms = started.elapsed().as_millis() as u64,
            "world state block committed"
        );
        Ok(())
    }

    /// Drops the working state's uncommitted changes.
    pub fn rollback(&mut self) -> Result<()> {
        self.reload(false)
    }

    fn reload(&mut self, clear_cache: bool) -> Result<()> {
        let txn = self.db.begin_read().ctx("begin read")?;
        let r = self.tip_record.clone();
        let tip = self.tip;
        let t = &mut self.trees;
        t.note_hash.reset(
            r.snapshot(TreeId::NoteHash).next_available_leaf_index,
            StoreReader::open(&txn, tip)?,
            clear_cache,
        );
        t.nullifier.reset(
            r.snapshot(TreeId::Nullifier).next_available_leaf_index,
            StoreReader::open(&txn, tip)?,
            clear_cache,
        );
        t.public_data.reset(
            r.snapshot(TreeId::PublicData).next_available_leaf_index,
            StoreReader::open(&txn, tip)?,
            clear_cache,
        );
        t.l1_to_l2_message.reset(
            r.snapshot(TreeId::L1ToL2Message).next_available_leaf_index,
            StoreReader::open(&txn, tip)?,
            clear_cache,
        );
        t.archive.reset(
            r.archive.next_available_leaf_index,
            StoreReader::open(&txn, tip)?,
            clear_cache,
        );
        Ok(())
    }

    /// Removes every block after `target` (reorg or prune) in one transaction and drops
    /// the working state. Block 0 (genesis) cannot be removed.
    pub fn unwind_to(&mut self, target: u64) -> Result<()> {
        if target > self.tip {
            return Err(WorldStateError::BlockNotFound {
                block: target,
                tip: self.tip,
            });
        }
        let w = self.db.begin_write().ctx("begin unwind")?;
        {
            let mut nodes = w.open_table(NODES).ctx("open nodes")?;
            let mut leaves = w.open_table(LEAVES).ctx("open leaves")?;
            let mut keys = w.open_table(KEYS).ctx("open keys")?;
            let mut blocks = w.open_table(BLOCKS).ctx("open blocks")?;
            let mut changes = w.open_table(CHANGES).ctx("open changes")?;
            for number in (target + 1..=self.tip).rev() {
                let log: ChangeLog = match changes.remove(number).ctx("read change log")? {
                    Some(v) => decode("change log", v.value())?,
                    None => {
                        return Err(WorldStateError::Corrupt(format!(
                            "block {number} has no change log"
                        )))
                    }
                };
                for (tree, level, index) in log.nodes {
                    let mut k = node_key(TreeId::NoteHash, level, index, number);
                    k[0] = tree;
                    nodes.remove(k).ctx("remove node")?;
                }
                for (tree, index) in log.leaves {
                    let mut k = leaf_key(TreeId::NoteHash, index, number);
                    k[0] = tree;
                    leaves.remove(k).ctx("remove leaf")?;
                }
                for (tree, key) in log.keys {
                    let mut k = key_key(TreeId::NoteHash, &key);
                    k[0] = tree;
                    keys.remove(k).ctx("remove key")?;
                }
                blocks.remove(number).ctx("remove block")?;
            }
        }
        w.commit().ctx("commit unwind")?;
        let txn = self.db.begin_read().ctx("begin read")?;
        let record = store::read_block(&txn, target)?.ok_or(WorldStateError::BlockNotFound {
            block: target,
            tip: self.tip,
        })?;
        tracing::info!(from = self.tip, to = target, "world state unwound");
        self.tip = target;
        self.tip_record = record;
        self.reload(true)
    }

    /// A read-only view of committed block `block`, valid until dropped (even across
    /// later commits and unwinds of the writer).
    pub fn snapshot(&self, block: u64) -> Result<WorldStateSnapshot> {
        WorldStateSnapshot::open(&self.db, self.config.heights, block)
    }

    /// The database, for readers on other threads ([`WorldStateSnapshot::open`]).
    pub fn database(&self) -> Arc<Database> {
        self.db.clone()
    }

    /// Working-state value of public storage `slot` (0 if never written).
    pub fn public_data_value(&self, slot: Fr) -> Result<Fr> {
        Ok(self.trees.public_data.value_of(slot)?.unwrap_or(Fr::ZERO))
    }

    /// Whether `nullifier` is in the working state's nullifier tree.
    pub fn nullifier_exists(&self, nullifier: Fr) -> Result<bool> {
        Ok(self.trees.nullifier.find_key(nullifier)?.is_some())
    }
}
