//! An epoch's proving as a timeline: one lane per agent, one bar per job, and the critical
//! path — the chain of jobs the epoch's end waited on. Pure: built from what the mesh
//! recorded ([`provemesh_broker::report::EpochRecord`]), drawn by `timeline_svg`, printed
//! as JSON by `provemesh epoch report --json`.
//!
//! **When a job ran.** Its result says who proved it (`agent`), which delivery did
//! (`attempt`), when it finished (`finished_at_ms`, the agent's clock) and for how long the
//! agent worked on it (`prove_ms`: fetching inputs, proving, storing the proof). So a bar
//! spans `finished_at_ms - prove_ms ..= finished_at_ms`. A job whose proof already existed,
//! or that failed before proving, reports `prove_ms = 0`; its bar starts at its earliest
//! in-flight ("proving") status of that attempt if one was recorded (agents record it once
//! a job has run 200 ms), and is otherwise a mark at its finish. Times from different hosts
//! are only as comparable as their clocks.
//!
//! **The critical path.** The mesh does not record which job's proof fed which parent (a
//! job's inputs are opaque to it, and leave the mesh with the job), so the path is derived
//! from the shape every epoch's proof tree has and from the times: start at the
//! last-finishing root rollup, then repeatedly step to the job that finished last, before
//! the current one started, among the proof types that can be its children (root rollup ←
//! block merge / block root; block merge ← block merge / block root; block root ← merge /
//! root parity / base rollup; merge ← merge / base rollup; root parity ← base parity). The
//! node enqueues a parent the moment its last child's proof arrives, so that job is
//! normally the child that held the parent back. Where parallel branches finish at nearly
//! the same moment the step can land on a job of a sibling branch; the chain shown is then
//! still a chain of jobs that ran back to back, ending at the root, but not necessarily
//! the tree's own edges.

use provemesh_broker::report::EpochRecord;
use provemesh_common::{EpochNumber, JobId, JobOutcome, JobResult, JobState, ProofType};
use std::collections::{BTreeMap, HashSet};

/// Where a bar's start comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StartSource {
    /// `finished_at_ms - prove_ms` from the job's result.
    ProveTime,
    /// The first in-flight status the agent recorded for that attempt.
    Status,
    /// Nothing recorded: the bar is a mark at the finish.
    Unknown,
}

/// One job of the epoch.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Bar {
    pub id: JobId,
    pub proof_type: ProofType,
    pub agent: String,
    pub attempt: u32,
    /// Unix ms.
    pub start_ms: u64,
    /// Unix ms.
    pub end_ms: u64,
    pub start_source: StartSource,
    pub proved: bool,
    /// How it failed, for a failed job.
    pub error: Option<String>,
    /// Row within its agent's lane (an agent proving several jobs at once uses several).
    pub row: usize,
    pub critical: bool,
}

impl Bar {
    pub fn duration_ms(&self) -> u64 {
        self.end_ms - self.start_ms
    }
}

/// One agent's lane.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Lane {
    pub agent: String,
    /// Rows needed so that no two of its bars overlap.
    pub rows: usize,
    pub jobs: usize,
}

/// The epoch drawn as a timeline.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Timeline {
    pub epoch: EpochNumber,
    /// The earliest start (Unix ms): time 0 of the drawing.
    pub origin_ms: u64,
    /// The latest finish (Unix ms).
    pub end_ms: u64,
    /// Sorted by agent name.
    pub lanes: Vec<Lane>,
    /// Sorted by lane, then start.
    pub bars: Vec<Bar>,
    /// The critical path, leaf first, ending at [`Self::root`] (empty without results).
    pub critical_path: Vec<JobId>,
    /// The last-finishing root rollup, if the epoch has one yet.
    pub root: Option<JobId>,
}

impl Timeline {
    /// Lays out `record`'s results; statuses only fill in starts that results lack.
    pub fn build(record: &EpochRecord) -> Timeline {
        let mut bars: Vec<Bar> = latest_per_job(&record.results)
            .into_iter()
            .map(|r| bar_of(r, record))
            .collect();
        bars.sort_by(|a, b| {
            (a.agent.as_str(), a.start_ms, a.end_ms, a.id).cmp(&(
                b.agent.as_str(),
                b.start_ms,
                b.end_ms,
                b.id,
            ))
        });
        let lanes = pack_rows(&mut bars);
        let root = bars
            .iter()
            .filter(|b| b.proof_type == ProofType::RootRollup)
            .max_by_key(|b| (b.end_ms, b.id))
            .map(|b| b.id);
        let critical_path = critical_path(&bars, root);
        let on_path: HashSet<JobId> = critical_path.iter().copied().collect();
        for b in &mut bars {
            b.critical = on_path.contains(&b.id);
        }
        Timeline {
            epoch: record.epoch,
            origin_ms: bars.iter().map(|b| b.start_ms).min().unwrap_or(0),
            end_ms: bars.iter().map(|b| b.end_ms).max().unwrap_or(0),
            lanes,
            bars,
            critical_path,
            root,
        }
    }

    /// First start to last finish.
    pub fn span_ms(&self) -> u64 {
        self.end_ms.saturating_sub(self.origin_ms)
    }

    pub fn bar(&self, id: &JobId) -> Option<&Bar> {
        self.bars.iter().find(|b| b.id == *id)
    }
}

/// The proof types whose proofs a job of type `t` can verify (its possible children in
/// an epoch's proof tree; a block of one tx has no merge, a one-block epoch no block
/// merge, and merges and block merges stack).
pub fn possible_children(t: ProofType) -> &'static [ProofType] {
    use ProofType::*;
    match t {
        RootRollup => &[BlockMergeRollup, BlockRootRollup],
        BlockMergeRollup => &[BlockMergeRollup, BlockRootRollup],
        BlockRootRollup => &[MergeRollup, RootParity, PrivateBaseRollup, PublicBaseRollup],
        MergeRollup => &[MergeRollup, PrivateBaseRollup, PublicBaseRollup],
        RootParity => &[BaseParity],
        BaseParity | PrivateBaseRollup | PublicBaseRollup => &[],
    }
}

/// The last result of each job (a job has one unless its record outlived the duplicate
/// window and it was proved again; then the later one counts).
fn latest_per_job(results: &[JobResult]) -> Vec<&JobResult> {
    let mut by_id: BTreeMap<JobId, &JobResult> = BTreeMap::new();
    for r in results {
        let keep = by_id
            .get(&r.id)
            .is_none_or(|old| (r.finished_at_ms, r.attempt) >= (old.finished_at_ms, old.attempt));
        if keep {
            by_id.insert(r.id, r);
        }
    }
    by_id.into_values().collect()
}

fn bar_of(r: &JobResult, record: &EpochRecord) -> Bar {
    let end_ms = r.finished_at_ms;
    let (start_ms, start_source) = if r.prove_ms > 0 {
        (end_ms.saturating_sub(r.prove_ms), StartSource::ProveTime)
    } else {
        record
            .statuses
            .iter()
            .filter(|s| {
                s.id == r.id
                    && s.state == JobState::Proving
                    && s.attempt == r.attempt
                    && s.agent.as_ref() == Some(&r.agent)
                    && s.updated_at_ms <= end_ms
            })
            .map(|s| s.updated_at_ms)
            .min()
            .map_or((end_ms, StartSource::Unknown), |t| (t, StartSource::Status))
    };
    let (proved, error) = match &r.outcome {
        JobOutcome::Proved(_) => (true, None),
        JobOutcome::Failed { kind, error } => (false, Some(format!("{kind}: {error}"))),
    };
    Bar {
        id: r.id,
        proof_type: r.proof_type,
        agent: r.agent.0.clone(),
        attempt: r.attempt,
        start_ms,
        end_ms,
        start_source,
        proved,
        error,
        row: 0,
        critical: false,
    }
}

/// Assigns each bar the first row of its lane that is free at its start (bars sorted by
/// agent, then start) and returns the lanes.
fn pack_rows(bars: &mut [Bar]) -> Vec<Lane> {
    let mut lanes: Vec<Lane> = Vec::new();
    let mut row_ends: Vec<u64> = Vec::new();
    for b in bars.iter_mut() {
        if lanes.last().is_none_or(|l| l.agent != b.agent) {
            lanes.push(Lane {
                agent: b.agent.clone(),
                rows: 0,
                jobs: 0,
            });
            row_ends.clear();
        }
        let row = match row_ends.iter().position(|&e| e <= b.start_ms) {
            Some(r) => r,
            None => {
                row_ends.push(0);
                row_ends.len() - 1
            }
        };
        // A zero-length bar still takes its instant, so marks at the same time stack.
        row_ends[row] = b.end_ms.max(b.start_ms + 1);
        b.row = row;
        // Invariant: a lane was pushed above for this bar's agent.
        if let Some(lane) = lanes.last_mut() {
            lane.rows = lane.rows.max(row + 1);
            lane.jobs += 1;
        }
    }
    lanes
}

/// Walks back from `root` as the module documentation describes; leaf first.
fn critical_path(bars: &[Bar], root: Option<JobId>) -> Vec<JobId> {
    let Some(mut current) = root.and_then(|id| bars.iter().find(|b| b.id == id)) else {
        return Vec::new();
    };
    let mut path = vec![current.id];
    loop {
        let children = possible_children(current.proof_type);
        let previous = bars
            .iter()
            .filter(|b| {
                children.contains(&b.proof_type)
                    && b.end_ms <= current.start_ms
                    && !path.contains(&b.id)
            })
            .max_by_key(|b| (b.end_ms, b.duration_ms(), b.id));
        match previous {
            Some(p) => {
                path.push(p.id);
                current = p;
            }
            None => break,
        }
    }
    path.reverse();
    path
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use provemesh_common::{AgentId, JobStatus, ProofRef};

    pub(crate) fn id(n: u8) -> JobId {
        JobId([n; 32])
    }

    pub(crate) fn result(n: u8, t: ProofType, agent: &str, start: u64, end: u64) -> JobResult {
        JobResult {
            id: id(n),
            proof_type: t,
            epoch: EpochNumber(7),
            attempt: 1,
            agent: AgentId(agent.into()),
            outcome: JobOutcome::Proved(ProofRef {
                key: format!("proofs/7/{n}"),
                size: 1,
                sha256: [0; 32],
            }),
            prove_ms: end - start,
            finished_at_ms: end,
        }
    }

    /// A one-block epoch with two txs, on two agents (times in ms from 1000):
    ///
    /// ```text
    /// a: base1 [0,100]  base2 [0,300] (second row)   merge [310,400]   root [620,700]
    /// b: parity [0,50]  root_parity [60,120]          block_root [410,600]
    /// ```
    /// The root waited on the block root, which waited on the merge, which waited on the
    /// slower base (base2): that is the critical path.
    pub(crate) fn sample() -> EpochRecord {
        use ProofType::*;
        let r = |n, t, a, s: u64, e: u64| result(n, t, a, 1000 + s, 1000 + e);
        EpochRecord {
            epoch: EpochNumber(7),
            results: vec![
                r(1, PrivateBaseRollup, "agent-a", 0, 100),
                r(2, PrivateBaseRollup, "agent-a", 0, 300),
                r(3, BaseParity, "agent-b", 0, 50),
                r(4, RootParity, "agent-b", 60, 120),
                r(5, MergeRollup, "agent-a", 310, 400),
                r(6, BlockRootRollup, "agent-b", 410, 600),
                r(7, RootRollup, "agent-a", 620, 700),
            ],
            statuses: vec![],
        }
    }

    #[test]
    fn one_lane_per_agent_with_rows_for_overlaps() {
        let t = Timeline::build(&sample());
        assert_eq!(t.lanes.len(), 2);
        assert_eq!(
            t.lanes[0],
            Lane {
                agent: "agent-a".into(),
                rows: 2,
                jobs: 4
            }
        );
        assert_eq!(t.lanes[1].rows, 1, "agent-b's jobs never overlap");
        assert_eq!(t.bars.len(), 7);
        assert_eq!((t.origin_ms, t.end_ms, t.span_ms()), (1000, 1700, 700));
        let rows: Vec<_> = t
            .bars
            .iter()
            .filter(|b| b.agent == "agent-a")
            .map(|b| b.row)
            .collect();
        assert_eq!(rows, vec![0, 1, 0, 0], "the second base overlaps the first");
    }

    #[test]
    fn critical_path_walks_back_from_the_root() {
        let t = Timeline::build(&sample());
        assert_eq!(t.root, Some(id(7)));
        assert_eq!(t.critical_path, vec![id(2), id(5), id(6), id(7)]);
        let flagged: Vec<_> = t.bars.iter().filter(|b| b.critical).map(|b| b.id).collect();
        assert_eq!(flagged.len(), 4);
        assert!(
            !t.bar(&id(1)).unwrap().critical,
            "the faster base did not hold anything up"
        );
    }

    #[test]
    fn no_root_no_path_and_empty_record_is_empty() {
        let mut rec = sample();
        rec.results
            .retain(|r| r.proof_type != ProofType::RootRollup);
        let t = Timeline::build(&rec);
        assert_eq!((t.root, t.critical_path.len()), (None, 0));
        let t = Timeline::build(&EpochRecord::default());
        assert!(t.bars.is_empty() && t.lanes.is_empty());
        assert_eq!(t.span_ms(), 0);
    }

    #[test]
    fn start_from_status_when_no_prove_time_and_failures_kept() {
        let mut rec = sample();
        // Job 5 was re-reported from a stored proof (prove_ms 0) after being in flight.
        rec.results[4].prove_ms = 0;
        rec.statuses.push(JobStatus {
            id: id(5),
            proof_type: ProofType::MergeRollup,
            epoch: EpochNumber(7),
            state: JobState::Proving,
            attempt: 1,
            agent: Some(AgentId("agent-a".into())),
            error: None,
            updated_at_ms: 1350,
        });
        // Job 3 failed early: no start recorded at all.
        rec.results[2].prove_ms = 0;
        rec.results[2].outcome = JobOutcome::Failed {
            kind: provemesh_common::FailureKind::Deterministic,
            error: "parity mismatch".into(),
        };
        let t = Timeline::build(&rec);
        let b5 = t.bar(&id(5)).unwrap();
        assert_eq!((b5.start_ms, b5.start_source), (1350, StartSource::Status));
        let b3 = t.bar(&id(3)).unwrap();
        assert_eq!((b3.start_ms, b3.end_ms), (1050, 1050));
        assert_eq!(b3.start_source, StartSource::Unknown);
        assert!(!b3.proved && b3.error.as_deref() == Some("deterministic: parity mismatch"));
    }

    #[test]
    fn a_later_result_of_the_same_job_wins() {
        let mut rec = sample();
        let mut again = rec.results[0].clone();
        again.agent = AgentId("agent-c".into());
        again.attempt = 2;
        again.finished_at_ms = 1500;
        rec.results.push(again);
        let t = Timeline::build(&rec);
        assert_eq!(t.bars.len(), 7);
        assert_eq!(t.bar(&id(1)).unwrap().agent, "agent-c");
        assert_eq!(t.lanes.len(), 3);
    }
}
