//! The live view of `provemesh jobs --watch`: queue depth per proof type, jobs in flight per
//! agent, throughput and failures, refreshed every interval.
//!
//! Queue depths are read from the jobs stream at each refresh. Everything else is followed
//! rather than re-read: the view loads the current statuses once (as `provemesh jobs`
//! does), then applies the mesh's results and status changes as they arrive
//! ([`provemesh_broker::report::Broker::activity`]), so a refresh costs one stream-info
//! request however many results the mesh keeps. Agents record a job as in flight once it
//! has run 200 ms, so shorter jobs show up in throughput but never as in flight.
//!
//! On a terminal each refresh redraws the screen (ANSI); otherwise each prints one compact
//! line (or, with `--json`, one JSON object), so the view can be piped and tested.
//!
//! Pure: the state, what a refresh shows and how it is printed. `jobs` runs the loop.

use provemesh_broker::report::Activity;
use provemesh_broker::QueueDepth;
use provemesh_common::{EpochNumber, JobId, JobState, JobStatus, ProofType};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::time::Duration;

/// Throughput is results per second over this much of the recent past.
const THROUGHPUT_WINDOW_MS: u64 = 5_000;
/// Agents with nothing in flight are listed while seen this recently.
const AGENT_SHOWN_FOR_MS: u64 = 5 * 60_000;
/// A job's in-flight status that arrives after its result is ignored for this long.
const FINISHED_MEMORY_MS: u64 = 120_000;
/// Failures listed on the terminal view.
const RECENT_FAILURES: usize = 5;
/// Width of the longest bar, in characters.
const BAR_WIDTH: u64 = 40;

/// When the view stops (Ctrl-C always stops it).
#[derive(Debug, Clone, Copy)]
pub struct WatchOptions {
    pub interval: Duration,
    /// Stop after this long (a last refresh is drawn then).
    pub watch_for: Option<Duration>,
    /// Stop after this many refreshes.
    pub iterations: Option<u64>,
    /// One JSON object per refresh instead of a line or a screen.
    pub json: bool,
}

/// A job that failed for good.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Failure {
    pub id: JobId,
    pub proof_type: ProofType,
    pub epoch: EpochNumber,
    pub attempt: u32,
    pub error: String,
}

/// What the view knows, kept up to date from the mesh's activity. Pure: every time is a
/// Unix ms passed in.
#[derive(Debug, Default)]
pub struct LiveState {
    /// Job → agent proving it.
    in_flight: HashMap<JobId, String>,
    /// Jobs with a result, and when it arrived.
    finished: HashMap<JobId, u64>,
    /// Agent → last time it was seen in a status or result.
    agents: BTreeMap<String, u64>,
    /// Arrival times of results within the throughput window.
    arrivals: VecDeque<u64>,
    results: u64,
    failed: u64,
    recent_failures: VecDeque<Failure>,
    started_ms: u64,
}

impl LiveState {
    /// Starts from the latest statuses (results merged in, as `Broker::epoch_statuses`
    /// returns them).
    pub fn seeded(statuses: &[JobStatus], now_ms: u64) -> Self {
        let mut s = LiveState {
            started_ms: now_ms,
            ..Default::default()
        };
        let mut by_time: Vec<&JobStatus> = statuses.iter().collect();
        by_time.sort_by_key(|s| s.updated_at_ms);
        for st in by_time {
            if let Some(a) = &st.agent {
                s.seen(&a.0, st.updated_at_ms);
            }
            match st.state {
                JobState::Proving => {
                    if let Some(a) = &st.agent {
                        s.in_flight.insert(st.id, a.0.clone());
                    }
                }
                JobState::Failed => {
                    s.failed += 1;
                    s.push_failure(st);
                }
                _ => {}
            }
        }
        s
    }

    /// Applies one thing that happened, which arrived at `now_ms`.
    pub fn apply(&mut self, activity: &Activity, now_ms: u64) {
        match activity {
            Activity::Result(r) => {
                self.seen(&r.agent.0, now_ms);
                self.in_flight.remove(&r.id);
                self.finished.insert(r.id, now_ms);
                self.arrivals.push_back(now_ms);
                self.results += 1;
                if let provemesh_common::JobOutcome::Failed { kind, error } = &r.outcome {
                    self.failed += 1;
                    self.push_failure(&JobStatus {
                        id: r.id,
                        proof_type: r.proof_type,
                        epoch: r.epoch,
                        state: JobState::Failed,
                        attempt: r.attempt,
                        agent: Some(r.agent.clone()),
                        error: Some(format!("{kind}: {error}")),
                        updated_at_ms: r.finished_at_ms,
                    });
                }
            }
            Activity::Status(st) => {
                if let Some(a) = &st.agent {
                    self.seen(&a.0, now_ms);
                }
                match (st.state, &st.agent) {
                    // Results and statuses arrive on separate feeds: a status written
                    // before the result may arrive after it.
                    (JobState::Proving, Some(a)) if !self.finished.contains_key(&st.id) => {
                        self.in_flight.insert(st.id, a.0.clone());
                    }
                    (JobState::Proving, _) => {}
                    _ => {
                        self.in_flight.remove(&st.id);
                    }
                }
            }
        }
    }

    /// What to show at `now_ms`, given the queue depths just read.
    pub fn snapshot(&mut self, queue: &[QueueDepth], now_ms: u64, iteration: u64) -> Snapshot {
        let window_start = now_ms.saturating_sub(THROUGHPUT_WINDOW_MS);
        while self.arrivals.front().is_some_and(|t| *t < window_start) {
            self.arrivals.pop_front();
        }
        self.finished
            .retain(|_, t| now_ms.saturating_sub(*t) < FINISHED_MEMORY_MS);
        // Over the window, or over the time watched so far if that is shorter.
        let window_s =
            (now_ms.saturating_sub(self.started_ms)).clamp(1, THROUGHPUT_WINDOW_MS) as f64 / 1000.0;

        let mut queued: Vec<(ProofType, u64)> = ProofType::by_priority(&ProofType::ALL)
            .into_iter()
            .map(|t| (t, 0))
            .collect();
        for q in queue {
            if let Some(e) = queued.iter_mut().find(|(t, _)| *t == q.proof_type) {
                e.1 += q.queued;
            }
        }
        let mut in_flight: BTreeMap<String, u64> = self
            .agents
            .iter()
            .filter(|(_, seen)| now_ms.saturating_sub(**seen) < AGENT_SHOWN_FOR_MS)
            .map(|(a, _)| (a.clone(), 0))
            .collect();
        for agent in self.in_flight.values() {
            *in_flight.entry(agent.clone()).or_default() += 1;
        }
        Snapshot {
            iteration,
            elapsed_s: now_ms.saturating_sub(self.started_ms) as f64 / 1000.0,
            queued_total: queued.iter().map(|(_, n)| n).sum(),
            queued: queued
                .into_iter()
                .map(|(t, n)| (t.as_str().to_string(), n))
                .collect(),
            in_flight_total: self.in_flight.len() as u64,
            in_flight,
            results_per_s: self.arrivals.len() as f64 / window_s,
            results: self.results,
            failed: self.failed,
            recent_failures: self.recent_failures.iter().cloned().collect(),
        }
    }

    fn seen(&mut self, agent: &str, at_ms: u64) {
        let t = self.agents.entry(agent.to_string()).or_default();
        *t = (*t).max(at_ms);
    }

    fn push_failure(&mut self, st: &JobStatus) {
        self.recent_failures.push_front(Failure {
            id: st.id,
            proof_type: st.proof_type,
            epoch: st.epoch,
            attempt: st.attempt,
            error: st.error.clone().unwrap_or_default(),
        });
        self.recent_failures.truncate(RECENT_FAILURES);
    }
}

/// One refresh of the view.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Snapshot {
    pub iteration: u64,
    /// Seconds since the view started.
    pub elapsed_s: f64,
    /// Jobs in the queue (not yet acknowledged, in-flight included) per proof type, in
    /// scheduling order (root rollup first).
    pub queued: Vec<(String, u64)>,
    pub queued_total: u64,
    /// Jobs in flight per agent (agents seen in the last five minutes, even with none).
    pub in_flight: BTreeMap<String, u64>,
    pub in_flight_total: u64,
    /// Results per second over the last five seconds.
    pub results_per_s: f64,
    /// Results since the view started.
    pub results: u64,
    /// Failed jobs: those recorded when the view started plus those since.
    pub failed: u64,
    /// The latest failures, newest first.
    pub recent_failures: Vec<Failure>,
}

impl Snapshot {
    /// One compact line: non-empty queues and every listed agent.
    pub fn line(&self) -> String {
        let queues: Vec<String> = self
            .queued
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(t, n)| format!("{t}={n}"))
            .collect();
        let agents: Vec<String> = self
            .in_flight
            .iter()
            .map(|(a, n)| format!("{a}={n}"))
            .collect();
        format!(
            "#{} t={:.1}s queued={} [{}] in_flight={} [{}] rate={:.1}/s results={} failed={}",
            self.iteration,
            self.elapsed_s,
            self.queued_total,
            queues.join(" "),
            self.in_flight_total,
            agents.join(" "),
            self.results_per_s,
            self.results,
            self.failed
        )
    }

    /// The full-screen view (without the escape codes that clear the screen).
    pub fn frame(&self, scope: &str, interval: Duration) -> String {
        const B: &str = "\x1b[1m";
        const DIM: &str = "\x1b[2m";
        const RED: &str = "\x1b[31m";
        const GREEN: &str = "\x1b[32m";
        const CYAN: &str = "\x1b[36m";
        const OFF: &str = "\x1b[0m";
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{B}provemesh jobs — live{OFF} · {scope} · every {:?} · Ctrl-C stops   {DIM}#{} at {:.0}s{OFF}\n",
            interval, self.iteration, self.elapsed_s
        );
        let _ = writeln!(
            s,
            "{B}Queue{OFF} {DIM}(jobs not yet acknowledged, in-flight included){OFF}   total {}",
            self.queued_total
        );
        let max_q = self.queued.iter().map(|(_, n)| *n).max().unwrap_or(0);
        for (t, n) in &self.queued {
            let _ = writeln!(s, "  {t:<22}{n:>7}  {GREEN}{}{OFF}", bar(*n, max_q));
        }
        let _ = writeln!(
            s,
            "\n{B}Agents{OFF} {DIM}(jobs in flight for 200 ms or more){OFF}   total {}",
            self.in_flight_total
        );
        if self.in_flight.is_empty() {
            let _ = writeln!(s, "  {DIM}none seen yet{OFF}");
        }
        let max_a = self.in_flight.values().copied().max().unwrap_or(0);
        for (a, n) in &self.in_flight {
            let _ = writeln!(
                s,
                "  {:<22}{n:>7}  {CYAN}{}{OFF}",
                clip(a, 22),
                bar(*n, max_a)
            );
        }
        let _ = writeln!(
            s,
            "\n{B}Throughput{OFF}  {:.1} results/s {DIM}(last 5 s){OFF}   {} results since start",
            self.results_per_s, self.results
        );
        let colour = if self.failed > 0 { RED } else { "" };
        let _ = writeln!(s, "{B}Failed{OFF}      {colour}{}{OFF}", self.failed);
        for f in &self.recent_failures {
            let _ = writeln!(
                s,
                "  {RED}{} {} epoch {} (attempt {}){OFF}: {}",
                f.id.short(),
                f.proof_type,
                f.epoch,
                f.attempt,
                clip(&f.error, 100)
            );
        }
        s
    }
}

fn bar(n: u64, max: u64) -> String {
    if n == 0 || max == 0 {
        return String::new();
    }
    let len = (n * BAR_WIDTH).div_ceil(max).clamp(1, BAR_WIDTH);
    "█".repeat(len as usize)
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max - 1).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use provemesh_common::{AgentId, FailureKind, JobOutcome, JobResult, ProofRef};

    fn id(n: u8) -> JobId {
        JobId([n; 32])
    }

    fn status(n: u8, state: JobState, agent: &str, at: u64) -> JobStatus {
        JobStatus {
            id: id(n),
            proof_type: ProofType::MergeRollup,
            epoch: EpochNumber(3),
            state,
            attempt: 1,
            agent: Some(AgentId(agent.into())),
            error: (state == JobState::Failed).then(|| "deterministic: bad".to_string()),
            updated_at_ms: at,
        }
    }

    fn result(n: u8, agent: &str, failed: bool) -> JobResult {
        JobResult {
            id: id(n),
            proof_type: ProofType::MergeRollup,
            epoch: EpochNumber(3),
            attempt: 1,
            agent: AgentId(agent.into()),
            outcome: if failed {
                JobOutcome::Failed {
                    kind: FailureKind::Exhausted,
                    error: "store down".into(),
                }
            } else {
                JobOutcome::Proved(ProofRef {
                    key: "k".into(),
                    size: 1,
                    sha256: [0; 32],
                })
            },
            prove_ms: 10,
            finished_at_ms: 0,
        }
    }

    fn depth(t: ProofType, epoch: u64, queued: u64) -> QueueDepth {
        QueueDepth {
            epoch: EpochNumber(epoch),
            proof_type: t,
            queued,
        }
    }

    #[test]
    fn seeds_in_flight_and_failures_and_follows_results() {
        let t0 = 1_000_000;
        let mut s = LiveState::seeded(
            &[
                status(1, JobState::Proving, "a", t0 - 10),
                status(2, JobState::Proving, "b", t0 - 10),
                status(3, JobState::Failed, "b", t0 - 20),
                status(4, JobState::Proved, "c", t0 - 30),
            ],
            t0,
        );
        let snap = s.snapshot(&[], t0, 1);
        assert_eq!(snap.in_flight_total, 2);
        assert_eq!(snap.failed, 1);
        assert_eq!(
            snap.in_flight.into_iter().collect::<Vec<_>>(),
            vec![("a".into(), 1), ("b".into(), 1), ("c".into(), 0)]
        );

        s.apply(&Activity::Result(result(1, "a", false)), t0 + 500);
        s.apply(&Activity::Result(result(5, "c", true)), t0 + 900);
        // A late in-flight status of a finished job does not bring it back.
        s.apply(
            &Activity::Status(status(1, JobState::Proving, "a", t0 + 100)),
            t0 + 950,
        );
        s.apply(
            &Activity::Status(status(6, JobState::Proving, "d", t0 + 960)),
            t0 + 960,
        );
        let snap = s.snapshot(&[], t0 + 1000, 2);
        assert_eq!(snap.in_flight_total, 2, "job 2 on b, job 6 on d");
        assert_eq!(snap.in_flight["d"], 1);
        assert_eq!(snap.in_flight["a"], 0);
        assert_eq!((snap.results, snap.failed), (2, 2));
        assert!((snap.results_per_s - 2.0).abs() < 1e-9, "2 results in 1 s");
        assert_eq!(snap.recent_failures[0].id, id(5), "newest first");
        assert_eq!(snap.recent_failures[0].error, "exhausted: store down");
    }

    #[test]
    fn throughput_is_over_the_last_five_seconds() {
        let t0 = 0;
        let mut s = LiveState::seeded(&[], t0);
        for i in 0..10u8 {
            s.apply(&Activity::Result(result(i, "a", false)), t0 + 1000);
        }
        for i in 10..15u8 {
            s.apply(&Activity::Result(result(i, "a", false)), t0 + 9000);
        }
        let snap = s.snapshot(&[], t0 + 10_000, 1);
        assert!((snap.results_per_s - 1.0).abs() < 1e-9, "5 in the last 5 s");
        assert_eq!(snap.results, 15);
    }

    #[test]
    fn handed_back_jobs_leave_flight_and_old_agents_drop_off() {
        let mut s = LiveState::seeded(&[status(1, JobState::Proving, "a", 0)], 0);
        s.apply(
            &Activity::Status(status(1, JobState::Retrying, "a", 10)),
            10,
        );
        let snap = s.snapshot(&[], 20, 1);
        assert_eq!(snap.in_flight_total, 0);
        assert!(snap.in_flight.contains_key("a"));
        let snap = s.snapshot(&[], AGENT_SHOWN_FOR_MS + 20, 2);
        assert!(snap.in_flight.is_empty(), "not seen for five minutes");
    }

    #[test]
    fn queue_depths_sum_over_epochs_per_type_in_scheduling_order() {
        let mut s = LiveState::seeded(&[], 0);
        let snap = s.snapshot(
            &[
                depth(ProofType::PrivateBaseRollup, 1, 12),
                depth(ProofType::PrivateBaseRollup, 2, 3),
                depth(ProofType::RootRollup, 1, 1),
            ],
            1000,
            4,
        );
        assert_eq!(snap.queued_total, 16);
        assert_eq!(snap.queued[1], ("private_base_rollup".into(), 15));
        assert_eq!(snap.queued[7], ("root_rollup".into(), 1));
        assert_eq!(
            snap.line(),
            "#4 t=1.0s queued=16 [private_base_rollup=15 root_rollup=1] in_flight=0 [] \
             rate=0.0/s results=0 failed=0"
        );
        let frame = snap.frame("all epochs", Duration::from_secs(1));
        let base = frame
            .lines()
            .find(|l| l.contains("private_base_rollup"))
            .unwrap();
        assert_eq!(base.matches('█').count(), BAR_WIDTH as usize, "longest bar");
        // (not block_root_rollup, listed before it)
        let root = frame
            .lines()
            .find(|l| l.trim_start().starts_with("root_rollup "))
            .unwrap();
        assert_eq!(root.matches('█').count(), 3, "1 of 15, rounded up");
        assert!(frame.contains("none seen yet"));
    }

    #[test]
    fn bars_scale() {
        assert_eq!(bar(0, 10), "");
        assert_eq!(bar(10, 10).chars().count(), 40);
        assert_eq!(bar(1, 1000).chars().count(), 1);
    }
}
