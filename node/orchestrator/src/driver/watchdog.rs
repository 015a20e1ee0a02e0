//! The deadline watchdog and the progress snapshot.

use super::{Driver, Phase};
use crate::metrics::metrics;
use crate::progress::{self, NodeClock, TypeProgress};
use provemesh_common::unix_millis;
use std::time::{Duration, Instant};
use tracing::warn;

impl Driver {
    /// Re-estimates the finish; warns once when it passes the submission deadline.
    pub(super) fn watchdog(&mut self) {
        let now = Instant::now();
        let clocks: Vec<NodeClock> = self
            .dag
            .nodes()
            .iter()
            .zip(&self.slots)
            .map(|(n, s)| NodeClock {
                proof_type: n.proof_type,
                done: s.phase == Phase::Done,
                enqueued_for: s.enqueued_at.map(|t| now - t),
            })
            .collect();
        let parallelism = self.cfg.parallelism_hint.map_or_else(
            || {
                let since = self.first_enqueue.map_or(Duration::ZERO, |t| now - t);
                progress::observed_parallelism(&self.timings, since)
            },
            |p| p as f64,
        );
        let Some(left) = progress::remaining_seconds(
            &self.dag,
            &clocks,
            &self.timings,
            self.cfg.job_time_estimate,
            parallelism,
        ) else {
            return;
        };
        let eta = unix_millis() + (left * 1000.0) as u64;
        self.progress.eta_ms = Some(eta);
        let Some(deadline) = self.cfg.deadline_ms else {
            return;
        };
        let slack_ms = deadline as i64 - eta as i64;
        self.progress.deadline_slack_ms = Some(slack_ms);
        metrics().slack(self.cfg.epoch, slack_ms as f64 / 1000.0);
        if slack_ms < 0 && !self.progress.deadline_at_risk {
            self.progress.deadline_at_risk = true;
            warn!(
                epoch = %self.cfg.epoch,
                expected_overrun_s = -slack_ms as f64 / 1000.0,
                deadline_ms = deadline,
                eta_ms = eta,
                jobs_done = self.slots.iter().filter(|s| s.phase == Phase::Done).count(),
                jobs_total = self.dag.len(),
                sealed = self.dag.is_sealed(),
                "epoch is expected to miss its proof submission deadline"
            );
        }
    }

    pub(super) fn publish(&mut self) {
        let mut per_type: std::collections::BTreeMap<_, TypeProgress> = Default::default();
        let mut done = 0;
        for (n, s) in self.dag.nodes().iter().zip(&self.slots) {
            let t = per_type.entry(n.proof_type).or_default();
            t.total += 1;
            match s.phase {
                Phase::Waiting | Phase::Building => t.waiting += 1,
                Phase::Pending => t.queued += 1,
                Phase::Queued if s.in_flight => t.in_flight += 1,
                Phase::Queued | Phase::Verifying => t.queued += 1,
                Phase::Done => {
                    t.done += 1;
                    done += 1;
                }
            }
        }
        for (ty, t) in per_type.iter_mut() {
            t.mean_prove_ms = self.timings.mean(*ty).map(|s| (s * 1000.0) as u64);
        }
        self.progress.per_type = per_type;
        self.progress.jobs_total = self.dag.len();
        self.progress.jobs_done = done;
        self.progress_tx.send_replace(self.progress.clone());
    }
}
