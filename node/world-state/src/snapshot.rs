//! Read-only views of one committed block, for concurrent readers (the orchestrator,
//! RPC, a proving job checking a witness) while the writer goes on.
//!
//! A snapshot holds a redb read transaction: it sees the database as it was when opened,
//! so a later commit or even an unwind of that very block does not change what it reads.
//! Reads pick each node's newest version at or before the snapshot's block.

use crate::config::{TreeHeights, TreeId};
use crate::error::{DbContext, Result, WorldStateError};
use crate::store::{self, BlockRecord, StoreReader};
use provemesh_common::hash::{
    empty_subtree_root, AppendOnlyTreeSnapshot, Fr, IndexedLeafPreimage, MembershipWitness,
    NullifierLeafPreimage, PublicDataLeafPreimage,
};
use redb::{Database, ReadableDatabase};

pub struct WorldStateSnapshot {
    block: u64,
    heights: TreeHeights,
    record: BlockRecord,
    reader: StoreReader,
}

impl WorldStateSnapshot {
    /// Opens a view of block `block` of `db` (a [`crate::WorldState::database`]).
    pub fn open(db: &Database, heights: TreeHeights, block: u64) -> Result<WorldStateSnapshot> {
        let txn = db.begin_read().ctx("begin snapshot")?;
        let tip = store::read_tip(&txn)?.map(|(t, _)| t).unwrap_or(0);
        let record =
            store::read_block(&txn, block)?.ok_or(WorldStateError::BlockNotFound { block, tip })?;
        let reader = StoreReader::open(&txn, block)?;
        Ok(WorldStateSnapshot {
            block,
            heights,
            record,
            reader,
        })
    }

    pub fn block_number(&self) -> u64 {
        self.block
    }

    /// The block's header and archive.
    pub fn record(&self) -> &BlockRecord {
        &self.record
    }

    pub fn tree_snapshot(&self, tree: TreeId) -> AppendOnlyTreeSnapshot {
        self.record.snapshot(tree)
    }

    fn node(&self, tree: TreeId, level: u8, index: u64) -> Result<Fr> {
        let size = self.record.snapshot(tree).next_available_leaf_index;
        if (u128::from(index) << level) >= u128::from(size) {
            return Ok(empty_subtree_root(level));
        }
        Ok(self
            .reader
            .node(tree, level, index)?
            .unwrap_or_else(|| empty_subtree_root(level)))
    }

    /// Leaf `index` of `tree` (0 if unused).
    pub fn leaf(&self, tree: TreeId, index: u64) -> Result<Fr> {
        self.node(tree, 0, index)
    }

    /// The root of `tree` recomputed from storage (equals the recorded snapshot's root).
    pub fn root(&self, tree: TreeId) -> Result<Fr> {
        self.node(tree, self.heights.of(tree), 0)
    }

    /// The sibling path of leaf `index` of `tree`.
    pub fn sibling_path(&self, tree: TreeId, index: u64) -> Result<Vec<Fr>> {
        let height = self.heights.of(tree);
        (0..height)
            .map(|l| self.node(tree, l, (index >> l) ^ 1))
            .collect()
    }

    pub fn membership_witness(&self, tree: TreeId, index: u64) -> Result<MembershipWitness> {
        Ok(MembershipWitness {
            leaf_index: index,
            sibling_path: self.sibling_path(tree, index)?,
        })
    }

    fn preimage<L: IndexedLeafPreimage>(&self, tree: TreeId, index: u64) -> Result<Option<L>> {
        if index >= self.record.snapshot(tree).next_available_leaf_index {
            return Ok(None);
        }
        self.reader.leaf(tree, index)
    }

    pub fn nullifier_preimage(&self, index: u64) -> Result<Option<NullifierLeafPreimage>> {
        self.preimage(TreeId::Nullifier, index)
    }

    pub fn public_data_preimage(&self, index: u64) -> Result<Option<PublicDataLeafPreimage>> {
        self.preimage(TreeId::PublicData, index)
    }

    /// Index of the leaf holding `key` in an indexed tree at this block.
    pub fn find_key(&self, tree: TreeId, key: Fr) -> Result<Option<u64>> {
        let size = self.record.snapshot(tree).next_available_leaf_index;
        self.reader.key_index(tree, &key.to_be_bytes(), size)
    }

    /// The low leaf for `key` (largest key below it) with its membership witness: the
    /// non-membership witness of `key` when `key` is absent.
    pub fn low_leaf_witness<L: IndexedLeafPreimage>(
        &self,
        tree: TreeId,
        key: Fr,
    ) -> Result<(L, MembershipWitness)> {
        let size = self.record.snapshot(tree).next_available_leaf_index;
        let (_, index) = self
            .reader
            .low_key(tree, &key.to_be_bytes(), size)?
            .ok_or(WorldStateError::NoLowLeaf { tree, key })?;
        let leaf = self.preimage::<L>(tree, index)?.ok_or_else(|| {
            WorldStateError::Corrupt(format!("{tree} leaf {index} has no preimage"))
        })?;
        Ok((leaf, self.membership_witness(tree, index)?))
    }

    /// Public storage `slot`'s value at this block (0 if never written).
    pub fn public_data_value(&self, slot: Fr) -> Result<Fr> {
        match self.find_key(TreeId::PublicData, slot)? {
            Some(i) => Ok(self
                .public_data_preimage(i)?
                .map(|l| l.value)
                .unwrap_or(Fr::ZERO)),
            None => Ok(Fr::ZERO),
        }
    }
}
