//! Lower bounds on an epoch's makespan, from its DAG and per-type proving times: what no
//! scheduler can beat with a given number of agent slots. For benchmarks, and for a prover
//! node sizing its agents against a submission window.

use crate::dag::{Dag, NodeKey};
use provemesh_common::ProofType;
use std::time::Duration;

/// Bounds of one epoch's DAG with given proving times (seconds).
#[derive(Debug, Clone, PartialEq)]
pub struct MakespanBounds {
    pub jobs: usize,
    /// The heaviest chain from a leaf to the root.
    pub critical_path: f64,
    /// Every job's proving time, summed.
    pub work: f64,
    /// The heaviest chain from one of the last block's leaves to the root: what is left
    /// once the last block is executed, at best.
    pub last_block_path: f64,
    /// Per node: (chain left after it, its own time). The DAG is a tree, so the chain
    /// after a node is its parent's, which cannot overlap it.
    after: Vec<(f64, f64)>,
}

impl MakespanBounds {
    /// The bounds of `dag` (sealed) with `time(proof type)` per job.
    pub fn of(dag: &Dag, time: impl Fn(ProofType) -> Duration) -> Self {
        let w = |i: usize| time(dag.node(i).proof_type).as_secs_f64();
        let critical_path = dag.critical_path(w);
        let work: f64 = (0..dag.len()).map(w).sum();
        let to_top = dag.remaining_paths(w);
        let last = dag.blocks().len().saturating_sub(1);
        let last_block_path = dag
            .nodes()
            .iter()
            .enumerate()
            .filter(|(_, n)| {
                matches!(n.key,
                    NodeKey::BaseParity { block, .. } | NodeKey::BaseRollup { block, .. }
                        if block == last)
            })
            .map(|(i, _)| to_top[i])
            .fold(0.0, f64::max);
        MakespanBounds {
            jobs: dag.len(),
            critical_path,
            work,
            last_block_path,
            after: (0..dag.len()).map(|i| (to_top[i] - w(i), w(i))).collect(),
        }
    }

    /// max(critical path, total work / slots).
    pub fn simple(&self, slots: usize) -> f64 {
        self.critical_path.max(self.work / slots.max(1) as f64)
    }

    /// A tighter bound: for every h, the jobs with at least h of chain after them must all
    /// be done h before the end, so the makespan is at least h + their work / slots
    /// (h = 0 gives work / slots). It exceeds [`Self::simple`] when a wide layer feeds a
    /// long chain: every base rollup, then merges, block root, block merges and root.
    pub fn layered(&self, slots: usize) -> f64 {
        let mut by_after = self.after.clone();
        by_after.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut best = self.critical_path;
        let mut w = 0.0;
        for (h, own) in by_after {
            w += own;
            best = best.max(h + w / slots.max(1) as f64);
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wide_layer_under_a_long_chain_lifts_the_bound() {
        let mut dag = Dag::new();
        dag.add_block(8, 1).unwrap();
        dag.seal().unwrap();
        // Base rollups take 4 s, everything else 1 s.
        let b = MakespanBounds::of(&dag, |t| {
            Duration::from_secs(if t == ProofType::PrivateBaseRollup {
                4
            } else {
                1
            })
        });
        // 1 base parity, 1 root parity, 8 bases, 7 merges, block root, root.
        assert_eq!(b.jobs, 19);
        assert_eq!(b.work, 32.0 + 11.0);
        // base, 3 merges, block root, root.
        assert_eq!(b.critical_path, 9.0);
        assert_eq!(b.last_block_path, 9.0);
        assert_eq!(b.simple(8), 9.0);
        // All 8 bases (32 s on 8 slots) must end 5 s before the root does.
        assert_eq!(b.layered(8), 4.0 + 5.0);
        assert_eq!(b.simple(2), 21.5);
        // h = 3: bases, all merges but the top one and the base parity (39 s) on 2
        // slots, then 3 s of chain.
        assert_eq!(b.layered(2), 3.0 + 39.0 / 2.0);
        assert_eq!(b.layered(1), b.work);
    }
}
