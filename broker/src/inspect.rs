//! Looking at the mesh: queue depth per epoch and proof type, job statuses per epoch, a
//! job's full history by id.
//!
//! Two sources make up a job's status: the status bucket records what only agents know
//! (in flight, retrying, handed back, cancelled), and the results stream records how every
//! job ended. Listings merge them, the result taking precedence.

use crate::{Broker, BrokerError};
use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use futures::StreamExt;
use provemesh_common::{
    codec, EpochNumber, JobId, JobOutcome, JobResult, JobState, JobStatus, ProofType,
};
use provemesh_nats::subjects;
use std::collections::BTreeMap;
use std::collections::HashMap;
use std::time::Duration;

/// Jobs waiting in the queue for one (epoch, proof type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct QueueDepth {
    pub epoch: EpochNumber,
    pub proof_type: ProofType,
    pub queued: u64,
}

/// Every recorded status revision of one job, oldest first.
#[derive(Debug, Clone, serde::Serialize)]
pub struct JobHistory {
    pub id: JobId,
    pub revisions: Vec<JobStatus>,
}

impl Broker {
    /// Messages still in the jobs stream per (epoch, type). This includes jobs being proved
    /// right now (a WorkQueue message leaves the stream when acknowledged).
    pub async fn queue_depths(&self) -> Result<Vec<QueueDepth>, BrokerError> {
        let jobs = self.topo.jobs.clone();
        let mut subjects_info = jobs
            .info_with_subjects(subjects::ALL_JOBS)
            .await
            .map_err(|e| BrokerError::nats("read job queue", e))?;
        let mut out = BTreeMap::new();
        while let Some(item) = subjects_info.next().await {
            let (subject, count) = item.map_err(|e| BrokerError::nats("read job queue", e))?;
            if let Some((epoch, t)) = subjects::parse_job_subject(&subject) {
                out.insert(
                    (epoch, t.critical_path_rank()),
                    QueueDepth {
                        epoch,
                        proof_type: t,
                        queued: count as u64,
                    },
                );
            }
        }
        Ok(out.into_values().collect())
    }

    /// The latest status of every job of `epoch` that an agent has touched.
    pub async fn epoch_statuses(&self, epoch: EpochNumber) -> Result<Vec<JobStatus>, BrokerError> {
        let kv = self.latest_statuses(&format!("{epoch}.*")).await?;
        let results = self
            .latest_results(&subjects::results_of_epoch(epoch))
            .await?;
        Ok(merge(kv, results))
    }

    /// The latest status of every job still recorded (statuses within their TTL, results
    /// within their retention).
    pub async fn all_statuses(&self) -> Result<Vec<JobStatus>, BrokerError> {
        let kv = self.latest_statuses(">").await?;
        let results = self.latest_results(subjects::ALL_RESULTS).await?;
        Ok(merge(kv, results))
    }

    /// The last result per job among results whose subject matches `filter`.
    async fn latest_results(&self, filter: &str) -> Result<Vec<JobResult>, BrokerError> {
        let stream = self.topo.results.clone();
        let mut subs = stream
            .info_with_subjects(filter)
            .await
            .map_err(|e| BrokerError::nats("count results", e))?;
        let mut count = 0;
        while let Some(item) = subs.next().await {
            item.map_err(|e| BrokerError::nats("count results", e))?;
            count += 1;
        }
        let mut out = Vec::with_capacity(count);
        if count == 0 {
            return Ok(out);
        }
        let consumer = stream
            .create_consumer(pull::OrderedConfig {
                filter_subject: filter.to_string(),
                deliver_policy: DeliverPolicy::LastPerSubject,
                ..Default::default()
            })
            .await
            .map_err(|e| BrokerError::nats("read results", e))?;
        let mut msgs = consumer
            .messages()
            .await
            .map_err(|e| BrokerError::nats("read results", e))?;
        while out.len() < count {
            let Ok(Some(m)) = tokio::time::timeout(Duration::from_secs(5), msgs.next()).await
            else {
                break;
            };
            let m = m.map_err(|e| BrokerError::nats("read results", e))?;
            if let Ok(r) = codec::decode::<JobResult>("job result", &m.payload) {
                out.push(r);
            }
        }
        Ok(out)
    }

    async fn latest_statuses(&self, key_filter: &str) -> Result<Vec<JobStatus>, BrokerError> {
        let count = self.count_keys(key_filter).await?;
        let mut out = Vec::with_capacity(count);
        if count == 0 {
            return Ok(out);
        }
        let mut w = self
            .topo
            .status
            .watch_with_history(key_filter)
            .await
            .map_err(|e| BrokerError::nats("read job statuses", e))?;
        // The watch delivers the last value per key, then live updates; `delta` counts
        // what is still pending of the initial set.
        while let Ok(Some(entry)) = tokio::time::timeout(Duration::from_secs(5), w.next()).await {
            let entry = entry.map_err(|e| BrokerError::nats("read job statuses", e))?;
            if let Ok(s) = codec::decode::<JobStatus>("job status", &entry.value) {
                out.push(s);
            }
            if entry.delta == 0 {
                break;
            }
        }
        Ok(out)
    }

    async fn count_keys(&self, key_filter: &str) -> Result<usize, BrokerError> {
        let stream = self.topo.status.stream.clone();
        let mut subs = stream
            .info_with_subjects(format!("$KV.{}.{key_filter}", subjects::STATUS_BUCKET))
            .await
            .map_err(|e| BrokerError::nats("count job statuses", e))?;
        let mut n = 0;
        while let Some(item) = subs.next().await {
            item.map_err(|e| BrokerError::nats("count job statuses", e))?;
            n += 1;
        }
        Ok(n)
    }

    /// Every status revision of job `id` (whatever its epoch), oldest first, ending with
    /// its result if it has one; `None` if no agent has touched it (or all of it expired).
    pub async fn job_history(&self, id: &JobId) -> Result<Option<JobHistory>, BrokerError> {
        let mut revisions = self.status_history(id).await?;
        let results = self
            .latest_results(&format!("prove.result.*.{}", id.to_hex()))
            .await?;
        revisions.extend(results.iter().map(status_of_result));
        if revisions.is_empty() {
            return Ok(None);
        }
        Ok(Some(JobHistory { id: *id, revisions }))
    }

    async fn status_history(&self, id: &JobId) -> Result<Vec<JobStatus>, BrokerError> {
        let stream = self.topo.status.stream.clone();
        let mut subs = stream
            .info_with_subjects(format!("$KV.{}.*.{}", subjects::STATUS_BUCKET, id.to_hex()))
            .await
            .map_err(|e| BrokerError::nats("find job", e))?;
        let Some(item) = subs.next().await else {
            return Ok(Vec::new());
        };
        let (subject, _) = item.map_err(|e| BrokerError::nats("find job", e))?;
        let key = subject
            .trim_start_matches(&format!("$KV.{}.", subjects::STATUS_BUCKET))
            .to_string();
        let mut h = self
            .topo
            .status
            .history(&key)
            .await
            .map_err(|e| BrokerError::nats(format!("history of {key}"), e))?;
        let mut revisions = Vec::new();
        while let Some(entry) = h.next().await {
            let entry = entry.map_err(|e| BrokerError::nats(format!("history of {key}"), e))?;
            if let Ok(s) = codec::decode::<JobStatus>("job status", &entry.value) {
                revisions.push(s);
            }
        }
        Ok(revisions)
    }

    /// The result of job `id` in `epoch`, if one was published and is still kept.
    pub async fn result_of(
        &self,
        epoch: EpochNumber,
        id: &JobId,
    ) -> Result<Option<provemesh_common::JobResult>, BrokerError> {
        match self
            .topo
            .results
            .direct_get_last_for_subject(subjects::result(epoch, id))
            .await
        {
            Ok(m) => Ok(codec::decode("job result", &m.payload).ok()),
            Err(e) if e.kind() == async_nats::jetstream::stream::DirectGetErrorKind::NotFound => {
                Ok(None)
            }
            Err(e) => Err(BrokerError::nats(format!("result of job {id}"), e)),
        }
    }
}

/// The status a result stands for.
fn status_of_result(r: &JobResult) -> JobStatus {
    let (state, error) = match &r.outcome {
        JobOutcome::Proved(_) => (JobState::Proved, None),
        JobOutcome::Failed { kind, error } => (JobState::Failed, Some(format!("{kind}: {error}"))),
    };
    JobStatus {
        id: r.id,
        proof_type: r.proof_type,
        epoch: r.epoch,
        state,
        attempt: r.attempt,
        agent: Some(r.agent.clone()),
        error,
        updated_at_ms: r.finished_at_ms,
    }
}

/// Statuses from the bucket, overridden by results where a job has one.
fn merge(kv: Vec<JobStatus>, results: Vec<JobResult>) -> Vec<JobStatus> {
    let mut by_id: HashMap<JobId, JobStatus> = kv.into_iter().map(|s| (s.id, s)).collect();
    for r in &results {
        by_id.insert(r.id, status_of_result(r));
    }
    by_id.into_values().collect()
}
