//! The shape of an epoch's proof DAG, grown as blocks arrive.
//!
//! Per block: base parities → root parity; one base rollup per tx, merged pairwise (a lone
//! node passes up unmerged) into one tx run; the block root over that run and the root
//! parity (a block without txs has only the parity child). Block roots are merged pairwise
//! the same way across the epoch, and the root rollup closes it.
//!
//! The DAG grows while the tx processor is still executing the epoch: a block's nodes
//! exist the moment it is added, and so does every block merge whose two subtrees can no
//! longer change — a merge over an aligned, complete range of blocks (blocks 0‥3, 4‥7, …)
//! has the same children whatever number of blocks follows. Only the right edge of the
//! block merge tree and the root wait for [`Dag::seal`]. Nodes are created children
//! first, so index order is a topological order.
//!
//! Pure data, no I/O: the driver keeps the runtime state of each node beside it.

use provemesh_common::ProofType;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;

/// Index of a node in [`Dag::nodes`].
pub type NodeIdx = usize;

/// Where a node sits in the epoch; stable across runs for the same blocks (part of the
/// job's inputs, so it takes part in the content-addressed job id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKey {
    BaseParity {
        block: usize,
        index: usize,
    },
    RootParity {
        block: usize,
    },
    BaseRollup {
        block: usize,
        tx: usize,
    },
    /// A merge of a block's tx tree; level 1 merges base rollups.
    Merge {
        block: usize,
        level: u32,
        index: usize,
    },
    BlockRoot {
        block: usize,
    },
    /// A merge of the epoch's block tree; level 1 merges block roots.
    BlockMerge {
        level: u32,
        index: usize,
    },
    Root,
}

impl NodeKey {
    pub fn proof_type(&self) -> ProofType {
        match self {
            NodeKey::BaseParity { .. } => ProofType::BaseParity,
            NodeKey::RootParity { .. } => ProofType::RootParity,
            NodeKey::BaseRollup { .. } => ProofType::PrivateBaseRollup,
            NodeKey::Merge { .. } => ProofType::MergeRollup,
            NodeKey::BlockRoot { .. } => ProofType::BlockRootRollup,
            NodeKey::BlockMerge { .. } => ProofType::BlockMergeRollup,
            NodeKey::Root => ProofType::RootRollup,
        }
    }
}

/// Human form for logs and errors; blocks are counted from 0 within the epoch.
impl fmt::Display for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeKey::BaseParity { block, index } => write!(f, "block {block} base parity {index}"),
            NodeKey::RootParity { block } => write!(f, "block {block} root parity"),
            NodeKey::BaseRollup { block, tx } => write!(f, "block {block} tx {tx} base rollup"),
            NodeKey::Merge {
                block,
                level,
                index,
            } => write!(f, "block {block} merge L{level}#{index}"),
            NodeKey::BlockRoot { block } => write!(f, "block {block} block root"),
            NodeKey::BlockMerge { level, index } => write!(f, "block merge L{level}#{index}"),
            NodeKey::Root => f.write_str("root rollup"),
        }
    }
}

/// One circuit of the DAG.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DagNode {
    pub key: NodeKey,
    pub proof_type: ProofType,
    /// In circuit order: (left, right) for merges; (txs, parity) for a block root with
    /// txs, (parity) without; the base parities for a root parity.
    pub children: Vec<NodeIdx>,
    /// Set once the parent exists (block roots and block merges near the right edge get
    /// theirs only at seal).
    pub parent: Option<NodeIdx>,
}

/// The nodes of one block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockNodes {
    pub base_parities: Vec<NodeIdx>,
    pub root_parity: NodeIdx,
    pub base_rollups: Vec<NodeIdx>,
    /// The top of the tx tree (a merge, or the only base rollup); none without txs.
    pub txs_top: Option<NodeIdx>,
    pub block_root: NodeIdx,
}

/// The DAG cannot grow this way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DagError {
    #[error("the epoch is sealed: no more blocks")]
    Sealed,
    #[error("no blocks: an epoch has at least one")]
    Empty,
    #[error("block {block} has no base parity")]
    NoParity { block: usize },
}

/// A pairwise tree node's value comes from a leaf or from a merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Provider {
    Leaf(usize),
    Merge(u32, usize),
}

/// Width of `level` of a pairwise tree over `n` leaves.
fn width(n: usize, level: u32) -> usize {
    (0..level).fold(n, |w, _| w.div_ceil(2))
}

/// Levels above the leaves (0 for a single leaf).
fn height(n: usize) -> u32 {
    let mut h = 0;
    while width(n, h) > 1 {
        h += 1;
    }
    h
}

/// What provides the value of node `(level, index)`: its own merge, or the left child
/// passed up when it has no right sibling.
fn provider(n: usize, level: u32, index: usize) -> Provider {
    if level == 0 {
        Provider::Leaf(index)
    } else if 2 * index + 1 < width(n, level - 1) {
        Provider::Merge(level, index)
    } else {
        provider(n, level - 1, 2 * index)
    }
}

/// Merges `(level, index, left, right)` of a pairwise tree over `n` leaves, lower levels
/// first. With `complete == false` more leaves may follow, so only merges whose right
/// subtree covers a complete aligned range (their shape is final) are listed.
fn merges(n: usize, complete: bool) -> Vec<(u32, usize, Provider, Provider)> {
    let mut out = Vec::new();
    for level in 1..=height(n) {
        for index in 0..width(n, level) {
            if 2 * index + 1 >= width(n, level - 1) {
                continue;
            }
            let final_shape = complete || ((2 * index + 2) << (level - 1)) <= n;
            if final_shape {
                out.push((
                    level,
                    index,
                    provider(n, level - 1, 2 * index),
                    provider(n, level - 1, 2 * index + 1),
                ));
            }
        }
    }
    out
}

/// See the module documentation.
#[derive(Debug, Clone, Default)]
pub struct Dag {
    nodes: Vec<DagNode>,
    blocks: Vec<BlockNodes>,
    block_merges: HashMap<(u32, usize), NodeIdx>,
    sealed: bool,
    root: Option<NodeIdx>,
}

impl Dag {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn nodes(&self) -> &[DagNode] {
        &self.nodes
    }

    pub fn node(&self, i: NodeIdx) -> &DagNode {
        &self.nodes[i]
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn blocks(&self) -> &[BlockNodes] {
        &self.blocks
    }

    pub fn is_sealed(&self) -> bool {
        self.sealed
    }

    /// The root rollup, once sealed.
    pub fn root(&self) -> Option<NodeIdx> {
        self.root
    }

    fn push(&mut self, key: NodeKey, children: Vec<NodeIdx>, new: &mut Vec<NodeIdx>) -> NodeIdx {
        let i = self.nodes.len();
        for &c in &children {
            self.nodes[c].parent = Some(i);
        }
        self.nodes.push(DagNode {
            key,
            proof_type: key.proof_type(),
            children,
            parent: None,
        });
        new.push(i);
        i
    }

    /// Adds the next block: `txs` base rollups and `base_parities` base parity circuits.
    /// Returns the nodes created (the block's, and block merges that became final).
    pub fn add_block(
        &mut self,
        txs: usize,
        base_parities: usize,
    ) -> Result<Vec<NodeIdx>, DagError> {
        if self.sealed {
            return Err(DagError::Sealed);
        }
        let block = self.blocks.len();
        if base_parities == 0 {
            return Err(DagError::NoParity { block });
        }
        let mut new = Vec::new();
        let base_parity_nodes: Vec<NodeIdx> = (0..base_parities)
            .map(|index| self.push(NodeKey::BaseParity { block, index }, vec![], &mut new))
            .collect();
        let root_parity = self.push(
            NodeKey::RootParity { block },
            base_parity_nodes.clone(),
            &mut new,
        );
        let base_rollups: Vec<NodeIdx> = (0..txs)
            .map(|tx| self.push(NodeKey::BaseRollup { block, tx }, vec![], &mut new))
            .collect();
        let mut tx_merges: HashMap<(u32, usize), NodeIdx> = HashMap::new();
        let resolve = |p: Provider, m: &HashMap<(u32, usize), NodeIdx>| match p {
            Provider::Leaf(i) => base_rollups[i],
            Provider::Merge(l, i) => m[&(l, i)],
        };
        for (level, index, left, right) in merges(txs, true) {
            let children = vec![resolve(left, &tx_merges), resolve(right, &tx_merges)];
            let m = self.push(
                NodeKey::Merge {
                    block,
                    level,
                    index,
                },
                children,
                &mut new,
            );
            tx_merges.insert((level, index), m);
        }
        let txs_top = (txs > 0).then(|| resolve(provider(txs, height(txs), 0), &tx_merges));
        let children = txs_top.into_iter().chain([root_parity]).collect();
        let block_root = self.push(NodeKey::BlockRoot { block }, children, &mut new);
        self.blocks.push(BlockNodes {
            base_parities: base_parity_nodes,
            root_parity,
            base_rollups,
            txs_top,
            block_root,
        });
        self.grow_block_merges(false, &mut new);
        Ok(new)
    }

    /// No more blocks: creates the right edge of the block merge tree and the root rollup.
    /// Returns the nodes created. Sealing twice creates nothing.
    pub fn seal(&mut self) -> Result<Vec<NodeIdx>, DagError> {
        if self.blocks.is_empty() {
            return Err(DagError::Empty);
        }
        let mut new = Vec::new();
        if self.sealed {
            return Ok(new);
        }
        self.sealed = true;
        self.grow_block_merges(true, &mut new);
        let n = self.blocks.len();
        let top = self.resolve_block(provider(n, height(n), 0));
        self.root = Some(self.push(NodeKey::Root, vec![top], &mut new));
        Ok(new)
    }

    fn resolve_block(&self, p: Provider) -> NodeIdx {
        match p {
            Provider::Leaf(i) => self.blocks[i].block_root,
            // Lower levels are created first (see `merges`), so the child exists.
            Provider::Merge(l, i) => self.block_merges[&(l, i)],
        }
    }

    fn grow_block_merges(&mut self, complete: bool, new: &mut Vec<NodeIdx>) {
        for (level, index, left, right) in merges(self.blocks.len(), complete) {
            if self.block_merges.contains_key(&(level, index)) {
                continue;
            }
            let children = vec![self.resolve_block(left), self.resolve_block(right)];
            let m = self.push(NodeKey::BlockMerge { level, index }, children, new);
            self.block_merges.insert((level, index), m);
        }
    }

    /// Per node, the weight of the chain from it to the top of the DAG as it is, itself
    /// included: its own weight plus its parent's chain. The DAG is a tree, so this is the
    /// longest (the only) path from the node to the root. Before the seal the right edge
    /// of the block merge tree has no parent yet, so its chains stop there.
    pub fn remaining_paths(&self, weight: impl Fn(NodeIdx) -> f64) -> Vec<f64> {
        let mut to_top = vec![0.0f64; self.nodes.len()];
        // Parents come after their children, so one pass from the top down fills it.
        for i in (0..self.nodes.len()).rev() {
            to_top[i] = weight(i) + self.nodes[i].parent.map_or(0.0, |p| to_top[p]);
        }
        to_top
    }

    /// The heaviest chain of node weights from a leaf to the top of the DAG as it is,
    /// with `weight(node)` the cost of one node.
    pub fn critical_path(&self, weight: impl Fn(NodeIdx) -> f64) -> f64 {
        let mut finish = vec![0.0f64; self.nodes.len()];
        let mut best = 0.0f64;
        for (i, n) in self.nodes.iter().enumerate() {
            let ready = n.children.iter().map(|&c| finish[c]).fold(0.0f64, f64::max);
            finish[i] = ready + weight(i);
            best = best.max(finish[i]);
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn count(d: &Dag, t: ProofType) -> usize {
        d.nodes().iter().filter(|n| n.proof_type == t).count()
    }

    fn build(blocks: &[usize]) -> Dag {
        let mut d = Dag::new();
        for &t in blocks {
            d.add_block(t, 4).unwrap();
        }
        d.seal().unwrap();
        d
    }

    /// Every node but the root has exactly one parent, which lists it, and comes later.
    fn check_tree(d: &Dag) {
        let root = d.root().unwrap();
        assert_eq!(root, d.len() - 1);
        for (i, n) in d.nodes().iter().enumerate() {
            for &c in &n.children {
                assert!(c < i, "children first");
                assert_eq!(d.node(c).parent, Some(i));
            }
            if i != root {
                let p = n.parent.expect("every node but the root has a parent");
                assert!(d.node(p).children.contains(&i));
            }
        }
    }

    #[test]
    fn odd_tx_counts_pass_the_lone_node_up() {
        let d = build(&[3, 5]);
        check_tree(&d);
        assert_eq!(count(&d, ProofType::PrivateBaseRollup), 8);
        assert_eq!(count(&d, ProofType::MergeRollup), 2 + 4);
        assert_eq!(count(&d, ProofType::BaseParity), 8);
        assert_eq!(count(&d, ProofType::RootParity), 2);
        assert_eq!(count(&d, ProofType::BlockRootRollup), 2);
        assert_eq!(count(&d, ProofType::BlockMergeRollup), 1);
        assert_eq!(count(&d, ProofType::RootRollup), 1);
        // 3 txs: merge(0,1) at level 1, tx 2 passes up, merge at level 2.
        let b0 = &d.blocks()[0];
        let top = d.node(b0.txs_top.unwrap());
        assert_eq!(
            top.key,
            NodeKey::Merge {
                block: 0,
                level: 2,
                index: 0
            }
        );
        assert_eq!(top.children[1], b0.base_rollups[2]);
    }

    #[test]
    fn one_block_one_tx() {
        let d = build(&[1]);
        check_tree(&d);
        let b = &d.blocks()[0];
        assert_eq!(b.txs_top, Some(b.base_rollups[0]));
        assert_eq!(
            d.node(b.block_root).children,
            vec![b.base_rollups[0], b.root_parity]
        );
        assert_eq!(d.node(d.root().unwrap()).children, vec![b.block_root]);
        assert_eq!(count(&d, ProofType::BlockMergeRollup), 0);
    }

    #[test]
    fn empty_block_has_only_the_parity_child() {
        let d = build(&[2, 0, 1]);
        check_tree(&d);
        let b = &d.blocks()[1];
        assert_eq!(b.txs_top, None);
        assert_eq!(d.node(b.block_root).children, vec![b.root_parity]);
        assert_eq!(count(&d, ProofType::BlockMergeRollup), 2);
    }

    #[test]
    fn refusals() {
        let mut d = Dag::new();
        assert_eq!(d.seal(), Err(DagError::Empty));
        assert_eq!(d.add_block(1, 0), Err(DagError::NoParity { block: 0 }));
        d.add_block(1, 4).unwrap();
        d.seal().unwrap();
        assert_eq!(d.seal(), Ok(vec![]));
        assert_eq!(d.add_block(1, 4), Err(DagError::Sealed));
    }

    #[test]
    fn aligned_block_merges_exist_before_seal() {
        let mut d = Dag::new();
        for _ in 0..3 {
            d.add_block(1, 1).unwrap();
        }
        // Blocks 0 and 1 form a complete pair; block 2 still waits for block 3 or seal.
        assert_eq!(count(&d, ProofType::BlockMergeRollup), 1);
        d.add_block(1, 1).unwrap();
        // (2,3) and the level-2 merge over 0‥3.
        assert_eq!(count(&d, ProofType::BlockMergeRollup), 3);
        d.add_block(1, 1).unwrap();
        assert_eq!(count(&d, ProofType::BlockMergeRollup), 3);
        d.seal().unwrap();
        // Five blocks: L1 (0,1) (2,3), L2 (01,23), L3 (0‥3, 4).
        assert_eq!(count(&d, ProofType::BlockMergeRollup), 4);
        check_tree(&d);
    }

    #[test]
    fn critical_path_counts_levels() {
        let d = build(&[4, 4]);
        // base → merge → merge → block root → block merge → root.
        assert_eq!(d.critical_path(|_| 1.0), 6.0);
        let paths = d.remaining_paths(|_| 1.0);
        let b = &d.blocks()[0];
        assert_eq!(paths[b.base_rollups[0]], 6.0);
        assert_eq!(paths[b.base_parities[0]], 5.0);
        assert_eq!(paths[d.root().unwrap()], 1.0);
        assert_eq!(paths.iter().copied().fold(0.0, f64::max), 6.0);
    }

    proptest! {
        /// Growing block by block gives the DAG of the final shape (every block merge as
        /// if the number of blocks had been known from the start), and the shape follows
        /// the pairwise rule: n leaves need n − 1 merges.
        #[test]
        fn streaming_equals_final_shape(blocks in proptest::collection::vec(0usize..12, 1..12),
                                        parities in 1usize..5) {
            let mut d = Dag::new();
            for &t in &blocks {
                d.add_block(t, parities).unwrap();
            }
            d.seal().unwrap();
            check_tree(&d);
            let txs: usize = blocks.iter().sum();
            let tx_merges: usize = blocks.iter().map(|&t| t.saturating_sub(1)).sum();
            prop_assert_eq!(count(&d, ProofType::PrivateBaseRollup), txs);
            prop_assert_eq!(count(&d, ProofType::MergeRollup), tx_merges);
            prop_assert_eq!(count(&d, ProofType::BlockMergeRollup), blocks.len() - 1);
            prop_assert_eq!(count(&d, ProofType::BaseParity), blocks.len() * parities);

            let n = blocks.len();
            let key = |p: Provider| match p {
                Provider::Leaf(block) => NodeKey::BlockRoot { block },
                Provider::Merge(level, index) => NodeKey::BlockMerge { level, index },
            };
            let mut want: Vec<(NodeKey, Vec<NodeKey>)> = merges(n, true)
                .into_iter()
                .map(|(level, index, l, r)| (NodeKey::BlockMerge { level, index }, vec![key(l), key(r)]))
                .collect();
            want.push((NodeKey::Root, vec![key(provider(n, height(n), 0))]));
            want.sort();
            let mut got: Vec<(NodeKey, Vec<NodeKey>)> = d.nodes().iter()
                .filter(|x| matches!(x.key, NodeKey::BlockMerge { .. } | NodeKey::Root))
                .map(|x| (x.key, x.children.iter().map(|&c| d.node(c).key).collect()))
                .collect();
            got.sort();
            prop_assert_eq!(got, want);
        }
    }
}
