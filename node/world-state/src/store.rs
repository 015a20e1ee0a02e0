//! The world state's tables in redb and versioned reads from them.
//!
//! Every node and leaf preimage is stored under its position *and the block that wrote
//! it*; reading "at block b" takes the newest version not after b. That one rule gives
//! read-only snapshots of any kept block, unwinding (delete the versions of the removed
//! blocks, listed in their change log) and crash safety (a block is one redb write
//! transaction: after a kill -9 the database opens at the last committed block). Keys
//! are big-endian so that redb's byte order is (tree, level, index, block) order.

use crate::config::{TreeHeights, TreeId};
use crate::error::{DbContext, Result, WorldStateError};
use provemesh_common::codec;
use provemesh_common::hash::{AppendOnlyTreeSnapshot, BlockHeader, Fr};
use redb::{ReadOnlyTable, ReadTransaction, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

/// (tree, level, index, block) → node hash.
pub(crate) const NODES: TableDefinition<'_, [u8; 18], [u8; 32]> = TableDefinition::new("nodes");
/// (tree, index, block) → leaf preimage (rmp-serde).
pub(crate) const LEAVES: TableDefinition<'_, [u8; 17], &[u8]> = TableDefinition::new("leaves");
/// (tree, key) → leaf index of an indexed tree's key (keys never move once inserted).
pub(crate) const KEYS: TableDefinition<'_, [u8; 33], u64> = TableDefinition::new("keys");
/// block → [`BlockRecord`].
pub(crate) const BLOCKS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("blocks");
/// block → [`ChangeLog`].
pub(crate) const CHANGES: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("changes");
/// "heights" → [`TreeHeights`].
pub(crate) const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("meta");

pub(crate) fn node_key(tree: TreeId, level: u8, index: u64, block: u64) -> [u8; 18] {
    let mut k = [0u8; 18];
    k[0] = tree as u8;
    k[1] = level;
    k[2..10].copy_from_slice(&index.to_be_bytes());
    k[10..].copy_from_slice(&block.to_be_bytes());
    k
}

pub(crate) fn leaf_key(tree: TreeId, index: u64, block: u64) -> [u8; 17] {
    let mut k = [0u8; 17];
    k[0] = tree as u8;
    k[1..9].copy_from_slice(&index.to_be_bytes());
    k[9..].copy_from_slice(&block.to_be_bytes());
    k
}

pub(crate) fn key_key(tree: TreeId, key: &[u8; 32]) -> [u8; 33] {
    let mut k = [0u8; 33];
    k[0] = tree as u8;
    k[1..].copy_from_slice(key);
    k
}

/// What the world state records per committed block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRecord {
    pub header: BlockHeader,
    /// The archive after this block's header was appended.
    pub archive: AppendOnlyTreeSnapshot,
    /// Every tree's snapshot after this block, in [`TreeId::ALL`] order.
    pub trees: [AppendOnlyTreeSnapshot; 5],
}

impl BlockRecord {
    /// The snapshot of `tree` after this block.
    pub fn snapshot(&self, tree: TreeId) -> AppendOnlyTreeSnapshot {
        self.trees[tree as usize]
    }
}

/// The positions a block wrote, so that unwinding it deletes exactly those versions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ChangeLog {
    /// (tree, level, index) of each node written.
    pub nodes: Vec<(u8, u8, u64)>,
    /// (tree, index) of each leaf preimage written.
    pub leaves: Vec<(u8, u64)>,
    /// (tree, key) of each key inserted.
    pub keys: Vec<(u8, [u8; 32])>,
}

pub(crate) fn encode<T: Serialize>(what: &'static str, v: &T) -> Result<Vec<u8>> {
    Ok(codec::encode(what, v)?)
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(what: &'static str, b: &[u8]) -> Result<T> {
    Ok(codec::decode(what, b)?)
}

/// Reads of one redb read transaction at one block: the committed state a working tree
/// starts from, or a snapshot's state.
pub(crate) struct StoreReader {
    pub block: u64,
    nodes: ReadOnlyTable<[u8; 18], [u8; 32]>,
    leaves: ReadOnlyTable<[u8; 17], &'static [u8]>,
    keys: ReadOnlyTable<[u8; 33], u64>,
}

impl StoreReader {
    pub fn open(txn: &ReadTransaction, block: u64) -> Result<StoreReader> {
        Ok(StoreReader {
            block,
            nodes: txn.open_table(NODES).ctx("open nodes table")?,
            leaves: txn.open_table(LEAVES).ctx("open leaves table")?,
            keys: txn.open_table(KEYS).ctx("open keys table")?,
        })
    }

    /// The node's newest version at or before this reader's block.
    pub fn node(&self, tree: TreeId, level: u8, index: u64) -> Result<Option<Fr>> {
        let lo = node_key(tree, level, index, 0);
        let hi = node_key(tree, level, index, self.block);
        let mut range = self.nodes.range(lo..=hi).ctx("read node")?;
        match range.next_back() {
            Some(entry) => {
                let (_, v) = entry.ctx("read node")?;
                let f = Fr::from_be_bytes(&v.value())
                    .map_err(|e| WorldStateError::Corrupt(format!("{tree} node: {e}")))?;
                Ok(Some(f))
            }
            None => Ok(None),
        }
    }

    /// The leaf preimage's newest version at or before this reader's block.
    pub fn leaf<L: serde::de::DeserializeOwned>(
        &self,
        tree: TreeId,
        index: u64,
    ) -> Result<Option<L>> {
        let lo = leaf_key(tree, index, 0);
        let hi = leaf_key(tree, index, self.block);
        let mut range = self.leaves.range(lo..=hi).ctx("read leaf")?;
        match range.next_back() {
            Some(entry) => {
                let (_, v) = entry.ctx("read leaf")?;
                Ok(Some(decode("leaf preimage", v.value())?))
            }
            None => Ok(None),
        }
    }

    /// The index of `key` if a leaf below `size` holds it.
    pub fn key_index(&self, tree: TreeId, key: &[u8; 32], size: u64) -> Result<Option<u64>> {
        let got = self.keys.get(key_key(tree, key)).ctx("read key")?;
        Ok(got.map(|g| g.value()).filter(|&i| i < size))
    }

    /// The largest key strictly below `key` held by a leaf below `size`, with its index.
    pub fn low_key(
        &self,
        tree: TreeId,
        key: &[u8; 32],
        size: u64,
    ) -> Result<Option<([u8; 32], u64)>> {
        let lo = key_key(tree, &[0u8; 32]);
        let hi = key_key(tree, key);
        for entry in self.keys.range(lo..hi).ctx("search low key")?.rev() {
            let (k, v) = entry.ctx("search low key")?;
            let index = v.value();
            if index < size {
                let mut out = [0u8; 32];
                out.copy_from_slice(&k.value()[1..]);
                return Ok(Some((out, index)));
            }
        }
        Ok(None)
    }
}

pub(crate) fn read_heights(txn: &ReadTransaction) -> Result<Option<TreeHeights>> {
    let meta = match txn.open_table(META) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(WorldStateError::db("open meta table")(e.into())),
    };
    match meta.get("heights").ctx("read heights")? {
        Some(v) => Ok(Some(decode("tree heights", v.value())?)),
        None => Ok(None),
    }
}

/// The highest committed block and its record.
pub(crate) fn read_tip(txn: &ReadTransaction) -> Result<Option<(u64, BlockRecord)>> {
    let blocks = match txn.open_table(BLOCKS) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(WorldStateError::db("open blocks table")(e.into())),
    };
    let last = blocks.last().ctx("read tip")?;
    match last {
        Some((k, v)) => Ok(Some((k.value(), decode("block record", v.value())?))),
        None => Ok(None),
    }
}

pub(crate) fn read_block(txn: &ReadTransaction, block: u64) -> Result<Option<BlockRecord>> {
    let blocks = txn.open_table(BLOCKS).ctx("open blocks table")?;
    match blocks.get(block).ctx("read block")? {
        Some(v) => Ok(Some(decode("block record", v.value())?)),
        None => Ok(None),
    }
}
