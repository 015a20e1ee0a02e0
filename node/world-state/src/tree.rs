//! One Merkle tree's working state: the committed tree (read through redb and a cache of
//! its top levels) plus the uncommitted changes of the block being built.
//!
//! Writes are lazy. Setting a leaf stores it and marks its ancestors stale; a stale node
//! is rehashed from its children only when someone reads it (a sibling path, a root).
//! Marking stops at the first ancestor already stale, so a batch of leaves costs one
//! hash per distinct dirty node, and nodes whose subtree starts at or beyond the tree's
//! size are known empty without a lookup. At commit the dirty nodes are written to redb
//! in the block's transaction and folded into the cache.

use crate::config::TreeId;
use crate::error::{Result, WorldStateError};
use crate::store::StoreReader;
use provemesh_common::hash::{empty_subtree_root, merkle_hash, AppendOnlyTreeSnapshot, Fr};
use std::collections::{HashMap, HashSet};

/// A node position: (level above the leaves, index within the level).
pub(crate) type NodePos = (u8, u64);

pub struct MerkleTree {
    pub(crate) id: TreeId,
    pub(crate) height: u8,
    /// Next available leaf index in the working state.
    pub(crate) size: u64,
    /// Size at the last committed block.
    pub(crate) committed_size: u64,
    /// Uncommitted node values (leaves are level 0).
    pub(crate) pending: HashMap<NodePos, Fr>,
    /// Nodes whose pending value must be recomputed from their children.
    stale: HashSet<NodePos>,
    /// Committed node values of the top levels, at the last committed block.
    cache: HashMap<NodePos, Fr>,
    cache_min_level: u8,
    pub(crate) reader: StoreReader,
}

impl MerkleTree {
    pub(crate) fn new(
        id: TreeId,
        height: u8,
        size: u64,
        cached_levels: u8,
        reader: StoreReader,
    ) -> Self {
        MerkleTree {
            id,
            height,
            size,
            committed_size: size,
            pending: HashMap::new(),
            stale: HashSet::new(),
            cache: HashMap::new(),
            cache_min_level: height.saturating_sub(cached_levels),
            reader,
        }
    }

    pub fn id(&self) -> TreeId {
        self.id
    }

    pub fn height(&self) -> u8 {
        self.height
    }

    /// Next available leaf index.
    pub fn size(&self) -> u64 {
        self.size
    }

    fn capacity(&self) -> u128 {
        1u128 << self.height
    }

    /// Fails unless `adding` more leaves fit.
    pub(crate) fn check_room(&self, adding: u64) -> Result<()> {
        if u128::from(self.size) + u128::from(adding) > self.capacity() {
            return Err(WorldStateError::TreeFull {
                tree: self.id,
                size: self.size,
                adding,
                height: self.height,
            });
        }
        Ok(())
    }

    /// The node's current value (recomputing it if stale).
    pub(crate) fn node(&mut self, level: u8, index: u64) -> Result<Fr> {
        if (u128::from(index) << level) >= u128::from(self.size) {
            return Ok(empty_subtree_root(level));
        }
        if self.stale.contains(&(level, index)) {
            let left = self.node(level - 1, 2 * index)?;
            let right = self.node(level - 1, 2 * index + 1)?;
            let v = merkle_hash(left, right);
            self.pending.insert((level, index), v);
            self.stale.remove(&(level, index));
            return Ok(v);
        }
        if let Some(v) = self.pending.get(&(level, index)) {
            return Ok(*v);
        }
        self.committed_node(level, index)
    }

    fn committed_node(&mut self, level: u8, index: u64) -> Result<Fr> {
        if (u128::from(index) << level) >= u128::from(self.committed_size) {
            return Ok(empty_subtree_root(level));
        }
        let cacheable = level >= self.cache_min_level;
        if cacheable {
            if let Some(v) = self.cache.get(&(level, index)) {
                return Ok(*v);
            }
        }
        let v = self
            .reader
            .node(self.id, level, index)?
            .unwrap_or_else(|| empty_subtree_root(level));
        if cacheable {
            self.cache.insert((level, index), v);
        }
        Ok(v)
    }

    /// Sets a leaf (it must be below the working size) and marks its ancestors stale.
    pub(crate) fn set_leaf(&mut self, index: u64, value: Fr) {
        self.pending.insert((0, index), value);
        for level in 1..=self.height {
            if !self.stale.insert((level, index >> level)) {
                break;
            }
        }
    }

    /// Sets the leaves of a fresh subtree starting at `start`, growing the size to
    /// `start + 2^subtree_height`.
    pub(crate) fn set_subtree(&mut self, start: u64, leaves: &[Fr], subtree_height: u8) {
        self.size = self.size.max(start + (1u64 << subtree_height));
        for (i, leaf) in leaves.iter().enumerate() {
            if !leaf.is_zero() {
                self.set_leaf(start + i as u64, *leaf);
            }
        }
    }

    pub fn root(&mut self) -> Result<Fr> {
        self.node(self.height, 0)
    }

    pub fn snapshot(&mut self) -> Result<AppendOnlyTreeSnapshot> {
        Ok(AppendOnlyTreeSnapshot {
            root: self.root()?,
            next_available_leaf_index: self.size,
        })
    }

    /// The current value of leaf `index` (0 if unused).
    pub fn leaf(&mut self, index: u64) -> Result<Fr> {
        self.node(0, index)
    }

    /// Siblings from the node (`level`, `index`) up to the root.
    pub fn sibling_path_from(&mut self, level: u8, index: u64) -> Result<Vec<Fr>> {
        let mut path = Vec::with_capacity(usize::from(self.height - level));
        for l in level..self.height {
            let pos = index >> (l - level);
            path.push(self.node(l, pos ^ 1)?);
        }
        Ok(path)
    }

    /// The sibling path of leaf `index`.
    pub fn sibling_path(&mut self, index: u64) -> Result<Vec<Fr>> {
        self.sibling_path_from(0, index)
    }

    /// Appends a subtree of `2^subtree_height` leaves (`leaves`, zero padded) at the
    /// current size, which must be a multiple of the subtree size. Returns the subtree's
    /// sibling path before insertion (what a circuit checks the insertion with).
    pub fn append_subtree(&mut self, leaves: &[Fr], subtree_height: u8) -> Result<Vec<Fr>> {
        let width = 1u64 << subtree_height;
        if leaves.len() as u64 > width || !self.size.is_multiple_of(width) {
            return Err(WorldStateError::Misaligned {
                tree: self.id,
                size: self.size,
                subtree_height,
            });
        }
        self.check_room(width)?;
        let start = self.size;
        let path = self.sibling_path_from(subtree_height, start >> subtree_height)?;
        self.set_subtree(start, leaves, subtree_height);
        Ok(path)
    }

    /// Appends one leaf; returns its sibling path before insertion.
    pub fn append_leaf(&mut self, leaf: Fr) -> Result<Vec<Fr>> {
        self.append_subtree(&[leaf], 0)
    }

    /// Computes every stale node, so that `pending` holds the final values.
    pub(crate) fn settle(&mut self) -> Result<()> {
        self.root().map(|_| ())
    }

    /// After commit: pending values become committed (cached where cacheable).
    pub(crate) fn committed(&mut self, reader: StoreReader) {
        for ((level, index), v) in self.pending.drain() {
            if level >= self.cache_min_level {
                self.cache.insert((level, index), v);
            }
        }
        self.stale.clear();
        self.committed_size = self.size;
        self.reader = reader;
    }

    /// Drops uncommitted changes; with `reader` at another block (unwind) also the cache.
    pub(crate) fn reset(&mut self, size: u64, reader: StoreReader, clear_cache: bool) {
        self.pending.clear();
        self.stale.clear();
        if clear_cache {
            self.cache.clear();
        }
        self.size = size;
        self.committed_size = size;
        self.reader = reader;
    }
}
