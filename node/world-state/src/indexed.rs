//! Indexed Merkle trees (nullifier tree, public data tree): a Merkle tree whose leaves
//! are preimages linked into a list sorted by key, with the two insertion flows the base
//! rollup proves — a batch inserted as one subtree (nullifiers) and one-by-one inserts
//! or in-place updates (public data writes) — returning the witnesses a circuit needs.

use crate::config::TreeId;
use crate::error::{Result, WorldStateError};
use crate::store::StoreReader;
use crate::tree::MerkleTree;
use provemesh_common::hash::{Fr, IndexedLeafPreimage, MembershipWitness};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// A leaf preimage with its membership witness at the time it was used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LowLeafWitness<L> {
    pub preimage: L,
    pub witness: MembershipWitness,
}

/// Witnesses of a batch inserted as one subtree. Keys are processed in descending order,
/// so every low leaf is a leaf that existed before the batch; each low leaf's witness is
/// taken just before it is updated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchInsertionHints<L> {
    /// The batch's keys in processing (descending) order.
    pub sorted_keys: Vec<Fr>,
    /// For each sorted key, its position in the batch (and so in the subtree).
    pub sorted_key_indexes: Vec<u32>,
    /// For each sorted key, its low leaf before the update and the witness of that leaf.
    pub low_leaves: Vec<LowLeafWitness<L>>,
    /// Sibling path of the new subtree after all low-leaf updates.
    pub subtree_sibling_path: Vec<Fr>,
    /// The subtree's leaves in batch order (padding slots absent).
    pub new_leaves: Vec<L>,
    /// Index of the subtree's first leaf.
    pub start_index: u64,
}

/// Witnesses of one sequential insert or update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequentialInsertionHint<L> {
    /// The low leaf (or the leaf itself for an update) before the write.
    pub low_leaf: LowLeafWitness<L>,
    /// The leaf as written.
    pub new_leaf: L,
    /// For an insert: the new leaf's index and sibling path after the low leaf was
    /// updated. `None` for an update in place.
    pub insertion: Option<MembershipWitness>,
}

pub struct IndexedTree<L: IndexedLeafPreimage> {
    pub(crate) tree: MerkleTree,
    pending_leaves: HashMap<u64, L>,
    pending_keys: BTreeMap<[u8; 32], u64>,
}

impl<L: IndexedLeafPreimage> IndexedTree<L> {
    pub(crate) fn new(tree: MerkleTree) -> Self {
        IndexedTree {
            tree,
            pending_leaves: HashMap::new(),
            pending_keys: BTreeMap::new(),
        }
    }

    pub fn id(&self) -> TreeId {
        self.tree.id
    }

    pub fn merkle(&mut self) -> &mut MerkleTree {
        &mut self.tree
    }

    /// The preimage at `index` in the working state.
    pub fn leaf_preimage(&self, index: u64) -> Result<Option<L>> {
        if index >= self.tree.size {
            return Ok(None);
        }
        if let Some(l) = self.pending_leaves.get(&index) {
            return Ok(Some(*l));
        }
        self.tree.reader.leaf(self.tree.id, index)
    }

    /// The index of the leaf holding `key`, if any.
    pub fn find_key(&self, key: Fr) -> Result<Option<u64>> {
        let k = key.to_be_bytes();
        if let Some(i) = self.pending_keys.get(&k) {
            return Ok(Some(*i));
        }
        self.tree
            .reader
            .key_index(self.tree.id, &k, self.tree.committed_size)
    }

    /// The leaf with the largest key below `key` (the low leaf for inserting `key`).
    pub fn low_leaf(&self, key: Fr) -> Result<(u64, L)> {
        let k = key.to_be_bytes();
        let pending = self
            .pending_keys
            .range(..k)
            .next_back()
            .map(|(k, i)| (*k, *i));
        let committed = self
            .tree
            .reader
            .low_key(self.tree.id, &k, self.tree.committed_size)?;
        let best = match (pending, committed) {
            (Some(p), Some(c)) => Some(if p.0 > c.0 { p } else { c }),
            (p, c) => p.or(c),
        };
        let Some((_, index)) = best else {
            return Err(WorldStateError::NoLowLeaf {
                tree: self.tree.id,
                key,
            });
        };
        let leaf = self.leaf_preimage(index)?.ok_or_else(|| {
            WorldStateError::Corrupt(format!(
                "{} tree: key index {index} has no preimage",
                self.tree.id
            ))
        })?;
        Ok((index, leaf))
    }

    /// Membership witness of the leaf at `index` in the working state.
    pub fn witness(&mut self, index: u64) -> Result<MembershipWitness> {
        Ok(MembershipWitness {
            leaf_index: index,
            sibling_path: self.tree.sibling_path(index)?,
        })
    }

    fn write_leaf(&mut self, index: u64, leaf: L) {
        self.tree.set_leaf(index, leaf.leaf_hash());
        self.pending_leaves.insert(index, leaf);
    }

    fn insert_key(&mut self, key: Fr, index: u64) {
        self.pending_keys.insert(key.to_be_bytes(), index);
    }

    /// Fills a fresh tree with `count` linked leaves holding keys 0..count.
    pub(crate) fn prefill(&mut self, count: u64) -> Result<()> {
        self.tree.check_room(count)?;
        for i in 0..count {
            self.tree.size = i + 1;
            self.write_leaf(i, L::prefill(i, count));
            self.insert_key(Fr::from(i), i);
        }
        Ok(())
    }

    /// Inserts `keys` (zeros are padding) as one subtree of height `subtree_height`.
    pub fn batch_insert(
        &mut self,
        keys: &[Fr],
        subtree_height: u8,
    ) -> Result<BatchInsertionHints<L>> {
        let width = 1u64 << subtree_height;
        if keys.len() as u64 > width || !self.tree.size.is_multiple_of(width) {
            return Err(WorldStateError::Misaligned {
                tree: self.tree.id,
                size: self.tree.size,
                subtree_height,
            });
        }
        self.tree.check_room(width)?;
        let start = self.tree.size;
        let mut order: Vec<(usize, Fr)> = keys
            .iter()
            .copied()
            .enumerate()
            .filter(|(_, k)| !k.is_zero())
            .collect();
        order.sort_by_key(|e| std::cmp::Reverse(e.1));
        let mut hints = BatchInsertionHints {
            sorted_keys: Vec::with_capacity(order.len()),
            sorted_key_indexes: Vec::with_capacity(order.len()),
            low_leaves: Vec::with_capacity(order.len()),
            subtree_sibling_path: Vec::new(),
            new_leaves: Vec::new(),
            start_index: start,
        };
        // Refuse before changing anything: a failed batch leaves the tree as it was.
        for (i, (_, key)) in order.iter().enumerate() {
            if (i > 0 && order[i - 1].1 == *key) || self.find_key(*key)?.is_some() {
                return Err(WorldStateError::KeyExists {
                    tree: self.tree.id,
                    key: *key,
                });
            }
        }
        let mut new_leaves: Vec<Option<L>> = vec![None; keys.len()];
        for (pos, key) in order {
            let (low_index, low) = self.low_leaf(key)?;
            let witness = self.witness(low_index)?;
            let index = start + pos as u64;
            new_leaves[pos] = Some(L::from_parts(
                key,
                Fr::ZERO,
                low.next_key(),
                low.next_index(),
            ));
            self.write_leaf(low_index, low.with_next(key, index));
            self.insert_key(key, index);
            hints.sorted_keys.push(key);
            hints.sorted_key_indexes.push(pos as u32);
            hints.low_leaves.push(LowLeafWitness {
                preimage: low,
                witness,
            });
        }
        hints.subtree_sibling_path = self
            .tree
            .sibling_path_from(subtree_height, start >> subtree_height)?;
        self.tree.size = start + width;
        for (pos, leaf) in new_leaves.into_iter().enumerate() {
            if let Some(leaf) = leaf {
                self.write_leaf(start + pos as u64, leaf);
                hints.new_leaves.push(leaf);
            }
        }
        Ok(hints)
    }

    /// Writes `value` at `key`: updates the leaf holding `key` in place, or inserts a new
    /// leaf after its low leaf. Trees without values refuse an existing key.
    pub fn sequential_insert(
        &mut self,
        key: Fr,
        value: Fr,
        allow_update: bool,
    ) -> Result<SequentialInsertionHint<L>> {
        if let Some(index) = self.find_key(key)? {
            if !allow_update {
                return Err(WorldStateError::KeyExists {
                    tree: self.tree.id,
                    key,
                });
            }
            let old = self.leaf_preimage(index)?.ok_or_else(|| {
                WorldStateError::Corrupt(format!("{} tree: leaf {index} missing", self.tree.id))
            })?;
            let witness = self.witness(index)?;
            let new_leaf = old.with_value(value);
            self.write_leaf(index, new_leaf);
            return Ok(SequentialInsertionHint {
                low_leaf: LowLeafWitness {
                    preimage: old,
                    witness,
                },
                new_leaf,
                insertion: None,
            });
        }
        self.tree.check_room(1)?;
        let (low_index, low) = self.low_leaf(key)?;
        let witness = self.witness(low_index)?;
        let index = self.tree.size;
        self.write_leaf(low_index, low.with_next(key, index));
        let insertion = self.witness(index)?;
        let new_leaf = L::from_parts(key, value, low.next_key(), low.next_index());
        self.tree.size = index + 1;
        self.write_leaf(index, new_leaf);
        self.insert_key(key, index);
        Ok(SequentialInsertionHint {
            low_leaf: LowLeafWitness {
                preimage: low,
                witness,
            },
            new_leaf,
            insertion: Some(insertion),
        })
    }

    /// The value stored under `key` in the working state, if any.
    pub fn value_of(&self, key: Fr) -> Result<Option<Fr>> {
        match self.find_key(key)? {
            Some(i) => Ok(self.leaf_preimage(i)?.map(|l| l.value())),
            None => Ok(None),
        }
    }

    /// Uncommitted preimages and keys, for the commit.
    pub(crate) fn pending(&self) -> (&HashMap<u64, L>, &BTreeMap<[u8; 32], u64>) {
        (&self.pending_leaves, &self.pending_keys)
    }

    pub(crate) fn committed(&mut self, reader: StoreReader) {
        self.pending_leaves.clear();
        self.pending_keys.clear();
        self.tree.committed(reader);
    }

    pub(crate) fn reset(&mut self, size: u64, reader: StoreReader, clear_cache: bool) {
        self.pending_leaves.clear();
        self.pending_keys.clear();
        self.tree.reset(size, reader, clear_cache);
    }
}
