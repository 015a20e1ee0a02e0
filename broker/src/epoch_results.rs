//! Every result of one epoch, from the first, for an orchestrator that rebuilds its state
//! from them.
//!
//! Unlike the durable [`crate::Results`] consumer (a position that survives restarts, one
//! delivery per result, acks), this is an ordered, ephemeral, deliver-all consumer
//! filtered to `prove.result.<epoch>.>`: a restarted orchestrator sees every result
//! reported so far, in order, and needs no acknowledgement bookkeeping — its state is a
//! function of its inputs and these results. [`EpochEvent::CaughtUp`] marks the end of
//! what was already stored when the reader opened, so the caller can hold back enqueues
//! until it knows which jobs are done. If the consumer breaks for good (the client
//! library recreates it on gaps by itself), the reader reopens after the last stream
//! sequence it delivered.
//!
//! Also the live job statuses of an epoch (in flight, retrying), for progress views.

use crate::{Broker, BrokerError};
use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use futures::StreamExt;
use provemesh_common::{codec, EpochNumber, JobResult, JobStatus};
use provemesh_nats::subjects;
use std::time::Duration;
use tracing::warn;

/// One step of an epoch's results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EpochEvent {
    Result(Box<JobResult>),
    /// Every result stored when the reader opened has been delivered (sent once).
    CaughtUp,
}

/// See the module documentation.
pub struct EpochResults {
    stream: async_nats::jetstream::stream::Stream,
    epoch: EpochNumber,
    messages: Option<pull::Ordered>,
    /// Stream sequence of the last message delivered (0: none yet).
    last_sequence: u64,
    caught_up: bool,
    caught_up_sent: bool,
}

impl Broker {
    /// Opens a reader of every result of `epoch`, from the first one stored.
    pub async fn epoch_results(&self, epoch: EpochNumber) -> Result<EpochResults, BrokerError> {
        let mut r = EpochResults {
            stream: self.topo.results.clone(),
            epoch,
            messages: None,
            last_sequence: 0,
            caught_up: false,
            caught_up_sent: false,
        };
        let backlog = r.open().await?;
        r.caught_up = backlog == 0;
        Ok(r)
    }

    /// Live statuses of `epoch`'s jobs as agents write them (the latest per job first,
    /// then every change). Statuses are written by agents for jobs in flight longer than
    /// ~200 ms, retried or handed back; results, not statuses, say how a job ended.
    pub async fn epoch_status_updates(
        &self,
        epoch: EpochNumber,
    ) -> Result<impl futures::Stream<Item = JobStatus> + Send + 'static, BrokerError> {
        let watch = self
            .topo
            .status
            .watch_with_history(format!("{epoch}.*"))
            .await
            .map_err(|e| BrokerError::nats(format!("watch statuses of epoch {epoch}"), e))?;
        Ok(watch.filter_map(|entry| async move {
            let entry = entry.ok()?;
            codec::decode::<JobStatus>("job status", &entry.value).ok()
        }))
    }
}

impl EpochResults {
    /// (Re)creates the consumer after the last delivered sequence; returns how many
    /// results it has pending.
    async fn open(&mut self) -> Result<u64, BrokerError> {
        let deliver_policy = if self.last_sequence == 0 {
            DeliverPolicy::All
        } else {
            DeliverPolicy::ByStartSequence {
                start_sequence: self.last_sequence + 1,
            }
        };
        let op = || format!("results of epoch {}", self.epoch);
        let consumer = self
            .stream
            .create_consumer(pull::OrderedConfig {
                filter_subject: subjects::results_of_epoch(self.epoch),
                deliver_policy,
                description: Some(format!("provemesh orchestrator, epoch {}", self.epoch)),
                ..Default::default()
            })
            .await
            .map_err(|e| BrokerError::nats(op(), e))?;
        let pending = consumer.cached_info().num_pending;
        self.messages = Some(
            consumer
                .messages()
                .await
                .map_err(|e| BrokerError::nats(op(), e))?,
        );
        Ok(pending)
    }

    /// The next event, waiting for one. Breaks of the consumer are absorbed by reopening
    /// it with backoff; an error is returned only when reopening failed five times in a
    /// row. Cancel-safe: wrap it in a timeout or a `select!` to bound the wait.
    pub async fn next(&mut self) -> Result<EpochEvent, BrokerError> {
        let mut backoff = Duration::from_millis(100);
        let mut failures = 0;
        loop {
            if self.caught_up && !self.caught_up_sent {
                self.caught_up_sent = true;
                return Ok(EpochEvent::CaughtUp);
            }
            let Some(messages) = self.messages.as_mut() else {
                if let Err(e) = self.open().await {
                    failures += 1;
                    if failures >= 5 {
                        return Err(e);
                    }
                    warn!(epoch = %self.epoch, error = %e, "reopening the epoch's results failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
                continue;
            };
            let msg = match messages.next().await {
                Some(Ok(m)) => m,
                Some(Err(e)) => {
                    warn!(epoch = %self.epoch, error = %e, "epoch results interrupted; reopening");
                    self.messages = None;
                    continue;
                }
                None => {
                    self.messages = None;
                    continue;
                }
            };
            if let Ok(info) = msg.info() {
                self.last_sequence = info.stream_sequence;
                if info.pending == 0 {
                    self.caught_up = true;
                }
            }
            match codec::decode::<JobResult>("job result", &msg.payload) {
                Ok(r) => return Ok(EpochEvent::Result(Box::new(r))),
                Err(e) => {
                    warn!(subject = %msg.subject, error = %e, "skipping an undecodable result");
                }
            }
        }
    }
}
