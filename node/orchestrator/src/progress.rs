//! How far an epoch is, and whether it will make its submission deadline.
//!
//! The driver publishes an [`EpochProgress`] on a watch channel after every change: per
//! proof type how many jobs wait for their children, are queued on the mesh, are being
//! proved (an agent reported the job in flight), and are done; and an estimate of when the
//! root proof will exist. The prover node's JSON-RPC reads it; the deadline watchdog
//! warns once when the estimate passes the submission deadline.
//!
//! The estimate is the larger of two lower bounds on what is left: the critical path of
//! the unfinished DAG, and the unfinished work spread over the agents' observed
//! parallelism (proving seconds reported per wall second since the first job was
//! enqueued, or a hint from the caller). Node times are the mean proving time observed
//! per type, falling back to the mean over all types, then to the configured estimate.
//! Blocks not added yet are unknown, so before the seal the estimate covers the DAG so far.

use crate::dag::Dag;
use provemesh_common::{EpochNumber, ProofType};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Where an epoch's proving stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "reason")]
pub enum EpochState {
    Proving,
    Proved,
    Failed(String),
    Cancelled,
}

/// Jobs of one proof type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TypeProgress {
    /// Nodes of this type in the DAG so far.
    pub total: usize,
    /// Waiting for their children's proofs.
    pub waiting: usize,
    /// On the mesh, not yet taken (or taken less than ~200 ms ago: agents report a job
    /// in flight only once it runs that long).
    pub queued: usize,
    /// Being proved by an agent.
    pub in_flight: usize,
    /// Proved, and the proof checked.
    pub done: usize,
    /// Mean proving time observed, in ms.
    pub mean_prove_ms: Option<u64>,
}

/// A snapshot of an epoch's progress (see the module documentation).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EpochProgress {
    pub epoch: EpochNumber,
    #[serde(flatten)]
    pub state: EpochState,
    pub blocks: usize,
    pub sealed: bool,
    pub per_type: BTreeMap<ProofType, TypeProgress>,
    pub jobs_total: usize,
    pub jobs_done: usize,
    /// Jobs re-enqueued after a transient failure or a rejected proof.
    pub retries: u32,
    pub rejected_proofs: u32,
    pub started_at_ms: u64,
    /// Estimated unix ms of the root proof; none until a job finished (or with no
    /// estimate configured).
    pub eta_ms: Option<u64>,
    pub deadline_ms: Option<u64>,
    /// Deadline minus estimated finish (negative: expected overrun).
    pub deadline_slack_ms: Option<i64>,
    /// The watchdog found the estimate past the deadline (stays set once seen).
    pub deadline_at_risk: bool,
    /// Time the orchestrator spent handling events (building inputs, checking proofs'
    /// results, enqueueing), as opposed to waiting for the mesh.
    pub node_busy_ms: u64,
}

impl EpochProgress {
    pub fn new(epoch: EpochNumber, started_at_ms: u64, deadline_ms: Option<u64>) -> Self {
        EpochProgress {
            epoch,
            state: EpochState::Proving,
            blocks: 0,
            sealed: false,
            per_type: BTreeMap::new(),
            jobs_total: 0,
            jobs_done: 0,
            retries: 0,
            rejected_proofs: 0,
            started_at_ms,
            eta_ms: None,
            deadline_ms,
            deadline_slack_ms: None,
            deadline_at_risk: false,
            node_busy_ms: 0,
        }
    }
}

/// Per node, what the estimator needs from the driver.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NodeClock {
    pub proof_type: ProofType,
    pub done: bool,
    /// Time since the node's job was enqueued (its remaining time is discounted by it).
    pub enqueued_for: Option<Duration>,
}

/// Observed proving times per type.
#[derive(Debug, Clone, Default)]
pub(crate) struct Timings {
    sum_s: BTreeMap<ProofType, (f64, u32)>,
}

impl Timings {
    pub fn record(&mut self, t: ProofType, prove: Duration) {
        let e = self.sum_s.entry(t).or_default();
        e.0 += prove.as_secs_f64();
        e.1 += 1;
    }

    pub fn mean(&self, t: ProofType) -> Option<f64> {
        self.sum_s
            .get(&t)
            .filter(|(_, n)| *n > 0)
            .map(|(s, n)| s / f64::from(*n))
    }

    fn overall(&self) -> Option<f64> {
        let (s, n) = self
            .sum_s
            .values()
            .fold((0.0, 0u32), |(s, n), (a, b)| (s + a, n + b));
        (n > 0).then(|| s / f64::from(n))
    }

    /// Seconds of proving observed in total.
    pub fn total_s(&self) -> f64 {
        self.sum_s.values().map(|(s, _)| s).sum()
    }

    /// Estimated proving time of a `t` job.
    pub fn estimate(&self, t: ProofType, fallback: Option<Duration>) -> Option<f64> {
        self.mean(t)
            .or_else(|| self.overall())
            .or_else(|| fallback.map(|d| d.as_secs_f64()))
    }
}

/// Seconds from now until the root proof, if anything can be said.
pub(crate) fn remaining_seconds(
    dag: &Dag,
    clocks: &[NodeClock],
    timings: &Timings,
    fallback: Option<Duration>,
    parallelism: f64,
) -> Option<f64> {
    let mut est = std::collections::HashMap::new();
    for t in ProofType::ALL {
        est.insert(t, timings.estimate(t, fallback)?);
    }
    let left = |i: usize| -> f64 {
        let c = &clocks[i];
        if c.done {
            return 0.0;
        }
        let full = est[&c.proof_type];
        match c.enqueued_for {
            // Already running or queued for a while: at least a tenth is left.
            Some(d) => (full - d.as_secs_f64()).max(full * 0.1),
            None => full,
        }
    };
    let critical = dag.critical_path(left);
    let work: f64 = (0..clocks.len()).map(left).sum();
    Some(critical.max(work / parallelism.max(1.0)))
}

/// The agents' parallelism as seen by this epoch: proving seconds per wall second.
pub(crate) fn observed_parallelism(timings: &Timings, since_first_enqueue: Duration) -> f64 {
    let wall = since_first_enqueue.as_secs_f64();
    if wall <= 0.0 {
        return 1.0;
    }
    (timings.total_s() / wall).max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clocks(d: &Dag, done: usize) -> Vec<NodeClock> {
        d.nodes()
            .iter()
            .enumerate()
            .map(|(i, n)| NodeClock {
                proof_type: n.proof_type,
                done: i < done,
                enqueued_for: None,
            })
            .collect()
    }

    #[test]
    fn estimate_is_the_larger_of_critical_path_and_spread_work() {
        let mut d = Dag::new();
        d.add_block(4, 1).unwrap();
        d.seal().unwrap();
        // 1 base parity, 1 root parity, 4 bases, 3 merges, block root, root = 11 nodes.
        assert_eq!(d.len(), 11);
        let mut t = Timings::default();
        assert_eq!(remaining_seconds(&d, &clocks(&d, 0), &t, None, 1.0), None);
        let c = clocks(&d, 0);
        let s = remaining_seconds(&d, &c, &t, Some(Duration::from_secs(1)), 100.0).unwrap();
        // Critical path: base, merge, merge, block root, root.
        assert!((s - 5.0).abs() < 1e-9, "{s}");
        let s = remaining_seconds(&d, &c, &t, Some(Duration::from_secs(1)), 1.0).unwrap();
        assert!((s - 11.0).abs() < 1e-9, "{s}");
        t.record(ProofType::PrivateBaseRollup, Duration::from_secs(3));
        // Other types take the overall mean (3 s) now.
        let s = remaining_seconds(&d, &c, &t, None, 100.0).unwrap();
        assert!((s - 15.0).abs() < 1e-9, "{s}");
        // Everything done: nothing left.
        let s = remaining_seconds(&d, &clocks(&d, 11), &t, None, 1.0).unwrap();
        assert_eq!(s, 0.0);
    }

    #[test]
    fn parallelism_is_proving_seconds_per_wall_second() {
        let mut t = Timings::default();
        for _ in 0..8 {
            t.record(ProofType::MergeRollup, Duration::from_secs(1));
        }
        assert_eq!(observed_parallelism(&t, Duration::from_secs(2)), 4.0);
        assert_eq!(observed_parallelism(&t, Duration::from_secs(100)), 1.0);
    }
}
