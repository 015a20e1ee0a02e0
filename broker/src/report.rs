//! Reading back what the mesh recorded, for views that draw it rather than list it.
//!
//! - [`Broker::epoch_record`]: every result and every status revision of one epoch — what
//!   `provemesh epoch report` turns into a timeline (who proved what, when).
//! - [`Broker::activity`]: results and status changes from now on, as they happen — what
//!   the live view of `provemesh jobs --watch` counts.
//!
//! Both read through short-lived ordered consumers (no durable state on the server, and
//! within what the observer role may do), like the listings in `inspect`.

use crate::{Broker, BrokerError};
use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use async_nats::jetstream::stream::Stream as JsStream;
use futures::{Stream, StreamExt};
use provemesh_common::{codec, EpochNumber, JobResult, JobStatus};
use provemesh_nats::subjects;
use std::pin::Pin;
use std::time::Duration;

/// How long a read of recorded messages waits for the next one before giving up on the
/// rest (the count it expects was taken just before; messages can expire meanwhile).
const READ_IDLE: Duration = Duration::from_secs(5);

/// Everything the mesh still holds about one epoch: the last result of each job (results
/// are kept `results_max_age`, 7 days by default) and every status revision agents wrote
/// (kept `status_ttl`, 24 h by default, at most `status_history` revisions per job),
/// oldest first.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct EpochRecord {
    pub epoch: EpochNumber,
    pub results: Vec<JobResult>,
    pub statuses: Vec<JobStatus>,
}

impl EpochRecord {
    /// Nothing recorded: an epoch never proved here, or one whose record expired.
    pub fn is_empty(&self) -> bool {
        self.results.is_empty() && self.statuses.is_empty()
    }
}

/// One thing that happened on the mesh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Activity {
    /// A job ended (proved or failed for good).
    Result(JobResult),
    /// An agent recorded a status: in flight, retrying, handed back, cancelled.
    Status(JobStatus),
}

/// Results and status changes as they happen, from the moment [`Broker::activity`] was
/// called; ends only when the connection does.
pub type ActivityFeed = Pin<Box<dyn Stream<Item = Result<Activity, BrokerError>> + Send>>;

impl Broker {
    /// The recorded results and status revisions of `epoch`. Empty (not an error) when
    /// nothing is recorded; fails only when the mesh cannot be read.
    pub async fn epoch_record(&self, epoch: EpochNumber) -> Result<EpochRecord, BrokerError> {
        let results = read_recorded(
            &self.topo.results,
            &subjects::results_of_epoch(epoch),
            DeliverPolicy::LastPerSubject,
            format!("results of epoch {epoch}"),
        )
        .await?
        .iter()
        .filter_map(|payload| codec::decode::<JobResult>("job result", payload).ok())
        .collect();
        let statuses = read_recorded(
            &self.topo.status.stream,
            &status_subjects(Some(epoch)),
            DeliverPolicy::All,
            format!("status history of epoch {epoch}"),
        )
        .await?
        .iter()
        // Deletes and purges carry no status; skip them.
        .filter_map(|payload| codec::decode::<JobStatus>("job status", payload).ok())
        .collect();
        Ok(EpochRecord {
            epoch,
            results,
            statuses,
        })
    }

    /// A feed of results and status changes of `epoch` (all epochs when `None`) from now
    /// on. Undecodable messages (and status deletes) are skipped.
    pub async fn activity(&self, epoch: Option<EpochNumber>) -> Result<ActivityFeed, BrokerError> {
        let results_filter = match epoch {
            Some(e) => subjects::results_of_epoch(e),
            None => subjects::ALL_RESULTS.to_string(),
        };
        let results = follow(&self.topo.results, results_filter, "follow results")
            .await?
            .filter_map(|m| async move {
                activity(m, "follow results", |p| {
                    codec::decode::<JobResult>("job result", p)
                        .ok()
                        .map(Activity::Result)
                })
            });
        let statuses = follow(
            &self.topo.status.stream,
            status_subjects(epoch),
            "follow job statuses",
        )
        .await?
        .filter_map(|m| async move {
            // Deletes and purges carry no status; skip them.
            activity(m, "follow job statuses", |p| {
                codec::decode::<JobStatus>("job status", p)
                    .ok()
                    .map(Activity::Status)
            })
        });
        Ok(Box::pin(futures::stream::select(results, statuses)))
    }
}

/// The status bucket's subjects for one epoch's keys (`<epoch>.<job id>`), or all.
fn status_subjects(epoch: Option<EpochNumber>) -> String {
    let keys = match epoch {
        Some(e) => format!("{e}.*"),
        None => ">".to_string(),
    };
    format!("$KV.{}.{keys}", subjects::STATUS_BUCKET)
}

/// The payloads of the messages matching `filter` that are stored now.
async fn read_recorded(
    stream: &JsStream,
    filter: &str,
    deliver_policy: DeliverPolicy,
    what: String,
) -> Result<Vec<bytes::Bytes>, BrokerError> {
    // How many to expect: an ordered consumer over an empty selection would just wait.
    let mut subs = stream
        .clone()
        .info_with_subjects(filter)
        .await
        .map_err(|e| BrokerError::nats(format!("count {what}"), e))?;
    let (mut subjects_seen, mut messages_stored) = (0usize, 0usize);
    while let Some(item) = subs.next().await {
        let (_, n) = item.map_err(|e| BrokerError::nats(format!("count {what}"), e))?;
        subjects_seen += 1;
        messages_stored += n;
    }
    let expected = match deliver_policy {
        DeliverPolicy::LastPerSubject => subjects_seen,
        _ => messages_stored,
    };
    let mut out = Vec::with_capacity(expected);
    if expected == 0 {
        return Ok(out);
    }
    let consumer = stream
        .create_consumer(pull::OrderedConfig {
            filter_subject: filter.to_string(),
            deliver_policy,
            ..Default::default()
        })
        .await
        .map_err(|e| BrokerError::nats(format!("read {what}"), e))?;
    let mut msgs = consumer
        .messages()
        .await
        .map_err(|e| BrokerError::nats(format!("read {what}"), e))?;
    while out.len() < expected {
        let Ok(Some(m)) = tokio::time::timeout(READ_IDLE, msgs.next()).await else {
            break;
        };
        let m = m.map_err(|e| BrokerError::nats(format!("read {what}"), e))?;
        // The server's own count of what is left: stop when it says nothing is, even if
        // some of the expected messages expired in between.
        let last = m.info().map(|i| i.pending == 0).unwrap_or(false);
        out.push(m.payload.clone());
        if last {
            break;
        }
    }
    Ok(out)
}

/// The messages matching `filter` stored from now on.
async fn follow(
    stream: &JsStream,
    filter: String,
    what: &'static str,
) -> Result<pull::Ordered, BrokerError> {
    stream
        .create_consumer(pull::OrderedConfig {
            filter_subject: filter,
            deliver_policy: DeliverPolicy::New,
            ..Default::default()
        })
        .await
        .map_err(|e| BrokerError::nats(what, e))?
        .messages()
        .await
        .map_err(|e| BrokerError::nats(what, e))
}

/// A followed message as activity: `None` for one that does not decode.
fn activity(
    m: Result<async_nats::jetstream::Message, pull::OrderedError>,
    what: &'static str,
    decode: impl FnOnce(&[u8]) -> Option<Activity>,
) -> Option<Result<Activity, BrokerError>> {
    match m {
        Ok(m) => decode(&m.payload).map(Ok),
        Err(e) => Some(Err(BrokerError::nats(what, e))),
    }
}
