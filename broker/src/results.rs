//! The node's durable stream of job results.

use crate::{Broker, BrokerError};
use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use async_nats::jetstream::{AckKind, Message};
use futures::StreamExt;
use provemesh_common::{codec, EpochNumber, JobResult};
use provemesh_nats::{messages::parse_cancelled_key, subjects};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::{debug, warn};

/// One result, to be acknowledged once the node has recorded it (unacknowledged results
/// are delivered again, e.g. to a restarted node).
pub struct ResultDelivery {
    pub result: JobResult,
    msg: Message,
}

impl ResultDelivery {
    /// Marks the result as processed by this consumer. The ack is sent without waiting for
    /// the server: if the process dies right after, a result may be delivered again to its
    /// successor, so consumers de-duplicate by job id.
    pub async fn ack(&self) -> Result<(), BrokerError> {
        self.msg.ack().await.map_err(|e| BrokerError::Nats {
            op: format!("ack result of job {}", self.result.id),
            source: e,
        })
    }
}

/// A durable consumer of results. Its position survives restarts of the node: what was
/// acknowledged is not delivered again, what was not is. If the server side of the stream
/// goes away (a cluster leader change, a reconnect), it re-attaches by itself.
pub struct Results {
    stream: async_nats::jetstream::stream::Stream,
    config: pull::Config,
    messages: Option<async_nats::jetstream::consumer::pull::Stream>,
    cancelled: Arc<Mutex<HashSet<EpochNumber>>>,
    watcher: tokio::task::JoinHandle<()>,
}

impl Drop for Results {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

impl Broker {
    /// Opens (or re-attaches to) the durable results consumer `name`, optionally limited to
    /// one epoch. Results of cancelled epochs are acknowledged and skipped.
    pub async fn results(
        &self,
        name: &str,
        epoch: Option<EpochNumber>,
    ) -> Result<Results, BrokerError> {
        let filter = match epoch {
            Some(e) => subjects::results_of_epoch(e),
            None => subjects::ALL_RESULTS.to_string(),
        };
        let config = pull::Config {
            durable_name: Some(name.to_string()),
            description: Some("provemesh node results".into()),
            filter_subject: filter,
            ack_policy: AckPolicy::Explicit,
            deliver_policy: DeliverPolicy::All,
            // Short: results prefetched by a node that then died come back quickly to
            // its successor (the node de-duplicates by job id anyway).
            ack_wait: Duration::from_secs(10),
            max_ack_pending: 100_000,
            ..Default::default()
        };
        let messages = Some(open_messages(&self.topo.results, &config).await?);

        // Cancelled epochs: loaded before the first result is read, then followed live.
        let cancelled = self.cancelled.clone();
        let mut watch = self
            .topo
            .epochs
            .watch_with_history("cancelled.*")
            .await
            .map_err(|e| BrokerError::nats("watch cancellations", e))?;
        let known = self.cancelled_epochs().await?;
        cancelled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(known);
        let c2 = cancelled.clone();
        let watcher = tokio::spawn(async move {
            while let Some(Ok(entry)) = watch.next().await {
                if let Some(e) = parse_cancelled_key(&entry.key) {
                    c2.lock().unwrap_or_else(|p| p.into_inner()).insert(e);
                }
            }
        });
        Ok(Results {
            stream: self.topo.results.clone(),
            config,
            messages,
            cancelled,
            watcher,
        })
    }

    /// Every epoch with a cancel marker.
    pub async fn cancelled_epochs(&self) -> Result<Vec<EpochNumber>, BrokerError> {
        let mut keys = self
            .topo
            .epochs
            .keys()
            .await
            .map_err(|e| BrokerError::nats("list epochs bucket", e))?;
        let mut out = Vec::new();
        while let Some(k) = keys.next().await {
            if let Some(e) = k.ok().as_deref().and_then(parse_cancelled_key) {
                out.push(e);
            }
        }
        Ok(out)
    }
}

async fn open_messages(
    stream: &async_nats::jetstream::stream::Stream,
    config: &pull::Config,
) -> Result<async_nats::jetstream::consumer::pull::Stream, BrokerError> {
    let name = config.durable_name.clone().unwrap_or_default();
    let consumer: async_nats::jetstream::consumer::PullConsumer = stream
        .create_consumer(config.clone())
        .await
        .map_err(|e| BrokerError::nats(format!("results consumer {name}"), e))?;
    consumer
        .stream()
        .max_messages_per_batch(512)
        .heartbeat(Duration::from_secs(5))
        .messages()
        .await
        .map_err(|e| BrokerError::nats(format!("results consumer {name}"), e))
}

impl Results {
    /// The next result, waiting for one. Interruptions of the server side are absorbed
    /// (re-attaching with backoff), so this returns `None` only if re-attaching is
    /// impossible for good; wrap it in a timeout to bound the wait.
    pub async fn next(&mut self) -> Option<Result<ResultDelivery, BrokerError>> {
        let mut backoff = Duration::from_millis(100);
        loop {
            let Some(messages) = self.messages.as_mut() else {
                match open_messages(&self.stream, &self.config).await {
                    Ok(m) => self.messages = Some(m),
                    Err(e) => {
                        warn!(error = %e, "re-attaching to results failed; retrying");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(2));
                    }
                }
                continue;
            };
            let msg = match messages.next().await {
                Some(Ok(m)) => m,
                Some(Err(e)) => {
                    warn!(error = %e, "results stream interrupted; re-attaching");
                    self.messages = None;
                    continue;
                }
                None => {
                    warn!("results stream ended; re-attaching");
                    self.messages = None;
                    continue;
                }
            };
            let result: JobResult = match codec::decode("job result", &msg.payload) {
                Ok(r) => r,
                Err(e) => {
                    // Not ours to interpret, and never fixable by redelivery.
                    warn!(subject = %msg.subject, error = %e, "dropping an undecodable result");
                    let _ = msg.ack_with(AckKind::Term).await;
                    continue;
                }
            };
            if self
                .cancelled
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&result.epoch)
            {
                debug!(job = %result.id.short(), epoch = %result.epoch, "dropping a result of a cancelled epoch");
                let _ = msg.ack().await;
                continue;
            }
            let span = tracing::debug_span!(
                "result",
                job = %result.id.short(),
                proof_type = %result.proof_type,
                epoch = %result.epoch,
                agent = %result.agent
            );
            provemesh_nats::headers::continue_trace(&span, msg.headers.as_ref());
            drop(span.entered());
            crate::metrics::metrics().result(
                result.proof_type,
                matches!(result.outcome, provemesh_common::JobOutcome::Proved(_)),
            );
            return Some(Ok(ResultDelivery { result, msg }));
        }
    }
}
