//! Merkle tree hashing shared by every tree of the world state and by the rollup circuits:
//! the node hash, the empty-subtree hashes, snapshots, membership witnesses and root
//! recomputation from a sibling path.
//!
//! Leaves are field elements; an empty leaf is 0 (an empty indexed-tree leaf preimage
//! hashes to 0 too, see `leaves`), so the empty subtree of height `h` has the root
//! `Z(h)` with `Z(0) = 0` and `Z(h+1) = merkle_hash(Z(h), Z(h))`. A tree of height `H`
//! has `2^H` leaves at level 0 and its root at level `H`; node `(level, index)` has the
//! children `(level-1, 2·index)` and `(level-1, 2·index+1)`.

use super::field::Fr;
use super::poseidon2::poseidon2_hash;
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// The tallest tree supported: leaf indices are u64.
pub const MAX_TREE_HEIGHT: u8 = 63;

/// A parent node from its two children (Aztec's `merkle_hash`).
pub fn merkle_hash(left: Fr, right: Fr) -> Fr {
    poseidon2_hash(&[left, right])
}

/// The root of an empty subtree of height `height` (`Z(height)`); cached, 0 ≤ height ≤ 63.
pub fn empty_subtree_root(height: u8) -> Fr {
    static ZEROS: OnceLock<Vec<Fr>> = OnceLock::new();
    let zeros = ZEROS.get_or_init(|| {
        let mut z = vec![Fr::ZERO];
        for h in 0..MAX_TREE_HEIGHT as usize {
            z.push(merkle_hash(z[h], z[h]));
        }
        z
    });
    zeros[usize::from(height.min(MAX_TREE_HEIGHT))]
}

/// A tree's root and size: Aztec's `AppendOnlyTreeSnapshot`. For an indexed tree the
/// size counts every leaf slot used, prefilled ones included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct AppendOnlyTreeSnapshot {
    pub root: Fr,
    pub next_available_leaf_index: u64,
}

impl AppendOnlyTreeSnapshot {
    /// The snapshot's fields in circuit order.
    pub fn to_fields(&self) -> [Fr; 2] {
        [self.root, Fr::from(self.next_available_leaf_index)]
    }
}

/// A leaf's index and the sibling path from it to the root (level 0 sibling first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct MembershipWitness {
    pub leaf_index: u64,
    pub sibling_path: Vec<Fr>,
}

impl MembershipWitness {
    /// The root this witness proves `leaf` under.
    pub fn root_for(&self, leaf: Fr) -> Fr {
        root_from_sibling_path(leaf, self.leaf_index, &self.sibling_path)
    }
}

/// Recomputes the root above `node` at position `index` of its level from its siblings
/// (the first sibling is `node`'s own). With a subtree root and the subtree's index this
/// checks a subtree insertion as well as a single leaf.
pub fn root_from_sibling_path(node: Fr, index: u64, path: &[Fr]) -> Fr {
    let mut acc = node;
    for (level, sibling) in path.iter().enumerate() {
        acc = if (index >> level) & 1 == 0 {
            merkle_hash(acc, *sibling)
        } else {
            merkle_hash(*sibling, acc)
        };
    }
    acc
}

/// The root of a tree of `height` whose first leaves are `leaves` and the rest empty,
/// computed level by level (empty pairs are not hashed). For subtrees and tests; the
/// world state keeps its trees incrementally.
pub fn merkle_root(leaves: &[Fr], height: u8) -> Fr {
    let mut level: Vec<Fr> = leaves.to_vec();
    for h in 0..height {
        if level.is_empty() {
            return empty_subtree_root(height);
        }
        let z = empty_subtree_root(h);
        level = level
            .chunks(2)
            .map(|pair| merkle_hash(pair[0], pair.get(1).copied().unwrap_or(z)))
            .collect();
    }
    level.first().copied().unwrap_or(Fr::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_roots_chain() {
        assert_eq!(empty_subtree_root(0), Fr::ZERO);
        assert_eq!(empty_subtree_root(1), merkle_hash(Fr::ZERO, Fr::ZERO));
        assert_eq!(merkle_root(&[], 5), empty_subtree_root(5));
        assert_eq!(merkle_root(&[Fr::ZERO; 3], 4), empty_subtree_root(4));
    }

    #[test]
    fn sibling_path_recomputes_root() {
        let leaves: Vec<Fr> = (1..=5u64).map(Fr::from).collect();
        let root = merkle_root(&leaves, 3);
        // Sibling path of index 4 (the fifth leaf): empty leaf 5, Z(1), node (2, 0).
        let path = vec![
            Fr::ZERO,
            empty_subtree_root(1),
            merkle_hash(
                merkle_hash(leaves[0], leaves[1]),
                merkle_hash(leaves[2], leaves[3]),
            ),
        ];
        assert_eq!(root_from_sibling_path(leaves[4], 4, &path), root);
        let w = MembershipWitness {
            leaf_index: 4,
            sibling_path: path,
        };
        assert_eq!(w.root_for(leaves[4]), root);
        assert_ne!(w.root_for(Fr::from(99u64)), root);
    }
}
