//! Which of an epoch's jobs the mesh should prove first: longest remaining path first.
//!
//! A job's priority is the estimated proving time on the path from it to the root rollup,
//! itself included: its own time plus its parent's priority ([`Dag::remaining_paths`]).
//! Longer goes first. Every job's path is longer than its parent's, so the wide layer that
//! everything else waits on (base rollups, the tx merges above them, the parities) is
//! proved before the narrow chain above it, and no agent sits idle at the end of an epoch
//! while the last base rollups, started late, hold up the root. Serving the jobs nearest
//! the root first (the earlier rule) starved that layer: in `provemesh bench epoch` it ran
//! 3–24% above the tightest lower bound, where a list-scheduling model of the same DAGs
//! with this rule meets the bound.
//!
//! The mesh carries no per-job priority value. Its priority levels are its per-type queues:
//! one durable consumer per proof type, which agents sweep in
//! [`ProofType::critical_path_rank`] order, first-in first-out within a queue. The policy
//! is mapped onto them in two places, and the priority never enters a job (the job id
//! stays a hash of type and inputs, so de-duplication is unchanged):
//!
//! - *across types*, `critical_path_rank` lists the types by their longest remaining path;
//!   the tests below derive that order from the DAGs of the epoch shapes and proving times
//!   we run, and check for any shape and any times that no type ranks after the type of
//!   its parent (no job waits behind a job that waits for it);
//! - *within a type*, a queue serves in enqueue order, so the orchestrator builds its leaf
//!   jobs and enqueues each batch longest path first ([`order_longest_first`]). Across
//!   epochs a queue stays first-in first-out: an older epoch's jobs of a type, enqueued
//!   earlier, are served first.
//!
//! Per-type levels approximate the per-job rule where the ranges of two types overlap
//! (with the benchmark's times a top-level merge's path is shorter than a base parity's);
//! the model puts that cost under 1% on the benchmark's epochs.

use crate::dag::{Dag, NodeIdx};
use provemesh_common::ProofType;
use std::collections::BTreeMap;
use std::time::Duration;

/// Estimated proving time per proof type: the weights of the remaining paths. Only their
/// ratios matter. Types not given count one second each.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProvingTimes {
    seconds: BTreeMap<ProofType, f64>,
}

impl ProvingTimes {
    /// Every type one second: a path counts jobs. What the orchestrator uses when the
    /// caller knows nothing better; the order it gives differs from the timed one only
    /// between types whose ranges overlap.
    pub fn uniform() -> Self {
        Self::default()
    }

    /// `time(t)` for every proof type.
    pub fn from_fn(time: impl Fn(ProofType) -> Duration) -> Self {
        ProvingTimes {
            seconds: ProofType::ALL
                .into_iter()
                .map(|t| (t, time(t).as_secs_f64()))
                .collect(),
        }
    }

    /// The estimate for one job of `t`, in seconds.
    pub fn secs(&self, t: ProofType) -> f64 {
        self.seconds.get(&t).copied().unwrap_or(1.0)
    }
}

/// The remaining path of `idx`: its own estimated time plus its parent's remaining path, on
/// the DAG as it is (before the seal, the right edge of the block tree has no parent yet).
pub fn remaining_path(dag: &Dag, idx: NodeIdx, times: &ProvingTimes) -> f64 {
    let mut total = 0.0;
    let mut at = Some(idx);
    while let Some(i) = at {
        let n = dag.node(i);
        total += times.secs(n.proof_type);
        at = n.parent;
    }
    total
}

/// Sorts `items` (each naming a node of `dag`) longest remaining path first; equal paths
/// keep their order (block order, as the caller lists them), so the sort is deterministic.
pub fn order_longest_first<T>(
    dag: &Dag,
    times: &ProvingTimes,
    items: &mut [T],
    node: impl Fn(&T) -> NodeIdx,
) {
    items.sort_by_cached_key(|item| {
        std::cmp::Reverse(Ordered(remaining_path(dag, node(item), times)))
    });
}

/// A path length with a total order (paths are finite sums of non-negative estimates).
struct Ordered(f64);

impl PartialEq for Ordered {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Ordered {}

impl PartialOrd for Ordered {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ordered {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dag::NodeKey;
    use proptest::prelude::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// The simulated proving times of `provemesh bench epoch`.
    fn bench_times() -> ProvingTimes {
        ProvingTimes::from_fn(|t| match t {
            ProofType::BaseParity => ms(20),
            ProofType::RootParity => ms(60),
            ProofType::PrivateBaseRollup | ProofType::PublicBaseRollup => ms(200),
            ProofType::MergeRollup | ProofType::BlockMergeRollup => ms(50),
            ProofType::BlockRootRollup => ms(150),
            ProofType::RootRollup => ms(100),
        })
    }

    fn epoch(blocks: &[usize], parities: usize) -> Dag {
        let mut d = Dag::new();
        for &txs in blocks {
            d.add_block(txs, parities).unwrap();
        }
        d.seal().unwrap();
        d
    }

    /// The types present in `dag`, ordered by the longest remaining path of any of their
    /// jobs, longest first.
    fn types_by_longest_path(dag: &Dag, times: &ProvingTimes) -> Vec<ProofType> {
        let paths = dag.remaining_paths(|i| times.secs(dag.node(i).proof_type));
        let mut longest: BTreeMap<ProofType, f64> = BTreeMap::new();
        for (n, p) in dag.nodes().iter().zip(paths) {
            let e = longest.entry(n.proof_type).or_default();
            *e = e.max(p);
        }
        let mut types: Vec<(ProofType, f64)> = longest.into_iter().collect();
        types.sort_by(|a, b| b.1.total_cmp(&a.1));
        types.into_iter().map(|(t, _)| t).collect()
    }

    #[test]
    fn a_jobs_priority_is_its_time_plus_its_parents() {
        // One block of 3 txs: bases 0 and 1 merge at level 1, base 2 passes up to the
        // level-2 merge; the block root joins it with the root parity; then the root.
        let d = epoch(&[3], 2);
        let times = bench_times();
        let b = &d.blocks()[0];
        let at = |i| remaining_path(&d, i, &times);
        // root 0.1; block root 0.15 + 0.1; top merge 0.05 + 0.25.
        assert!((at(d.root().unwrap()) - 0.1).abs() < 1e-9);
        assert!((at(b.block_root) - 0.25).abs() < 1e-9);
        assert!((at(b.txs_top.unwrap()) - 0.3).abs() < 1e-9);
        // Bases 0 and 1 sit under two merges, base 2 under one.
        assert!((at(b.base_rollups[0]) - 0.55).abs() < 1e-9);
        assert!((at(b.base_rollups[2]) - 0.5).abs() < 1e-9);
        // Base parity → root parity → block root → root.
        assert!((at(b.base_parities[1]) - 0.33).abs() < 1e-9);
        // The same numbers as the whole-DAG pass.
        let all = d.remaining_paths(|i| times.secs(d.node(i).proof_type));
        assert_eq!(all.len(), d.len());
        for (i, path) in all.iter().enumerate() {
            assert!((path - at(i)).abs() < 1e-9, "{}", d.node(i).key);
        }
    }

    #[test]
    fn longest_first_puts_the_deeper_base_first_and_keeps_ties_in_order() {
        let d = epoch(&[3, 8], 1);
        let times = bench_times();
        let (b0, b1) = (&d.blocks()[0], &d.blocks()[1]);
        let mut nodes = vec![
            d.root().unwrap(),
            b0.base_parities[0],
            b0.base_rollups[2],
            b0.base_rollups[0],
            b1.base_rollups[0],
            b1.base_rollups[1],
        ];
        order_longest_first(&d, &times, &mut nodes, |&i| i);
        // Block 1's bases have three merges above them, block 0's base 0 two, its base 2
        // one; ties (block 1's two bases) keep the order given.
        assert_eq!(
            nodes,
            vec![
                b1.base_rollups[0],
                b1.base_rollups[1],
                b0.base_rollups[0],
                b0.base_rollups[2],
                b0.base_parities[0],
                d.root().unwrap(),
            ]
        );
    }

    /// The mesh's levels, `critical_path_rank`, are the types ordered by their longest
    /// remaining path, for the epochs the benchmark proves (with its times, and with no
    /// times at all) and for larger blocks.
    #[test]
    fn the_mesh_levels_follow_the_longest_remaining_path() {
        let levels = ProofType::by_priority(&ProofType::EPOCH_TREE);
        for shape in [vec![8; 4], vec![32; 8], vec![64; 16], vec![8, 32, 5, 17]] {
            for times in [bench_times(), ProvingTimes::uniform()] {
                assert_eq!(
                    types_by_longest_path(&epoch(&shape, 4), &times),
                    levels,
                    "blocks of {shape:?} txs, {times:?}"
                );
            }
        }
    }

    proptest! {
        /// Whatever the shape and the times, a job's path is longer than its parent's and
        /// its type ranks no later than its parent's: the per-type levels never queue a job
        /// behind the job that waits for it.
        #[test]
        fn no_job_ranks_behind_its_parent(
            blocks in proptest::collection::vec(0usize..20, 1..10),
            parities in 1usize..5,
            ms_per_type in proptest::collection::vec(1u64..100_000, 8),
        ) {
            let d = epoch(&blocks, parities);
            let times = ProvingTimes::from_fn(|t| {
                let i = ProofType::ALL.iter().position(|x| *x == t).unwrap_or(0);
                ms(ms_per_type[i])
            });
            for (i, n) in d.nodes().iter().enumerate() {
                let Some(p) = n.parent else {
                    prop_assert_eq!(n.key, NodeKey::Root);
                    continue;
                };
                prop_assert!(remaining_path(&d, i, &times) > remaining_path(&d, p, &times));
                prop_assert!(
                    n.proof_type.critical_path_rank() <= d.node(p).proof_type.critical_path_rank(),
                    "{} ranks behind its parent {}", n.key, d.node(p).key
                );
            }
        }
    }
}
