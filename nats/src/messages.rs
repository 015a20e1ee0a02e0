//! Publishing and reading the mesh's messages: jobs, results, statuses, cancel markers.
//! Broker and agents both go through these, so subjects and headers are spelled once.

use crate::{headers, subjects};
use async_nats::jetstream::{self, context::PublishAckFuture, kv, Context};
use bytes::Bytes;
use provemesh_common::codec::{self, CodecError};
use provemesh_common::{
    AgentPresence, EpochNumber, JobEnvelope, JobOutcome, JobResult, JobStatus, ProofType,
};

/// A mesh message could not be sent or read.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error("publish to {subject}: {source}")]
    Publish {
        subject: String,
        #[source]
        source: async_nats::Error,
    },
    #[error("status bucket {op} {key}: {source}")]
    Status {
        op: &'static str,
        key: String,
        #[source]
        source: async_nats::Error,
    },
    #[error("agents bucket {op}: {source}")]
    Agents {
        op: &'static str,
        #[source]
        source: async_nats::Error,
    },
}

/// A mesh message as it goes on the wire: subject, headers, payload.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub subject: String,
    pub headers: async_nats::HeaderMap,
    pub payload: Vec<u8>,
}

impl Outgoing {
    /// Bytes of its headers and payload as the server stores and delivers them (the
    /// subject aside): what `provemesh bench mesh` gives its raw baseline to carry.
    pub fn stored_len(&self) -> usize {
        headers::wire_len(&self.headers) + self.payload.len()
    }
}

/// The message that enqueues `env`.
pub fn job_message(env: &JobEnvelope) -> Result<Outgoing, MessageError> {
    Ok(Outgoing {
        subject: subjects::job(env.epoch, env.proof_type),
        headers: headers::for_job(&env.id, env.proof_type, env.epoch),
        payload: codec::encode("job envelope", env)?,
    })
}

/// The message that reports `r`.
pub fn result_message(r: &JobResult) -> Result<Outgoing, MessageError> {
    let outcome = match &r.outcome {
        JobOutcome::Proved(_) => "proved".to_string(),
        JobOutcome::Failed { kind, .. } => format!("failed:{kind}"),
    };
    Ok(Outgoing {
        subject: subjects::result(r.epoch, &r.id),
        headers: headers::for_result(&r.id, r.proof_type, r.epoch, r.attempt, &r.agent, &outcome),
        payload: codec::encode("job result", r)?,
    })
}

/// Publishes a job; the returned future resolves to the server's ack, whose `duplicate`
/// flag says the same job id was already queued within the duplicate window.
pub async fn publish_job(
    js: &Context,
    env: &JobEnvelope,
) -> Result<PublishAckFuture, MessageError> {
    let Outgoing {
        subject,
        headers,
        payload,
    } = job_message(env)?;
    js.send_publish(
        subject.clone(),
        jetstream::message::PublishMessage::build()
            .payload(payload.into())
            .headers(headers),
    )
    .await
    .map_err(|e| MessageError::Publish {
        subject,
        source: e.into(),
    })
}

/// Publishes a result and waits for the server to store it. A result published twice for
/// the same job (after a crash between report and ack) is dropped by the server.
pub async fn publish_result(js: &Context, r: &JobResult) -> Result<(), MessageError> {
    let Outgoing {
        subject,
        headers,
        payload,
    } = result_message(r)?;
    let err = |e: async_nats::Error| MessageError::Publish {
        subject: subject.clone(),
        source: e,
    };
    let ack = js
        .send_publish(
            subject.clone(),
            jetstream::message::PublishMessage::build()
                .payload(payload.into())
                .headers(headers),
        )
        .await
        .map_err(|e| err(e.into()))?;
    ack.await.map_err(|e| err(e.into()))?;
    Ok(())
}

/// Records a job status revision (a KV put is a message on the bucket's subject). With
/// `wait`, it is a JetStream publish whose storage is confirmed; without, a plain publish
/// the server stores without answering — status updates on an agent's hot path are hints
/// for operators (results carry the truth), so they cost no reply and no round trip.
pub async fn put_status(js: &Context, s: &JobStatus, wait: bool) -> Result<(), MessageError> {
    let key = subjects::status_key(s.epoch, &s.id);
    let bytes: Bytes = codec::encode("job status", s)?.into();
    let err = |e: async_nats::Error| MessageError::Status {
        op: "put",
        key: key.clone(),
        source: e,
    };
    let subject = format!("$KV.{}.{key}", subjects::STATUS_BUCKET);
    if wait {
        let ack = js
            .publish(subject, bytes)
            .await
            .map_err(|e| err(e.into()))?;
        ack.await.map_err(|e| err(e.into()))?;
    } else {
        js.client()
            .publish(subject, bytes)
            .await
            .map_err(|e| err(e.into()))?;
    }
    Ok(())
}

/// Rings the doorbell of `proof_type` `n` times: each ring wakes at most one idle agent of
/// that type (a queue group), which then pulls. Best effort by design — rings are core
/// NATS messages, and agents also sweep their queues on a timer.
pub async fn ring(client: &async_nats::Client, proof_type: ProofType, n: usize) {
    let subject = subjects::ready(proof_type);
    for _ in 0..n {
        if client.publish(subject.clone(), Bytes::new()).await.is_err() {
            return;
        }
    }
}

/// Marks `epoch` cancelled for every agent watching the epochs bucket.
pub async fn mark_cancelled(epochs_kv: &kv::Store, epoch: EpochNumber) -> Result<(), MessageError> {
    let key = subjects::cancelled_key(epoch);
    epochs_kv
        .put(&key, provemesh_common::unix_millis().to_string().into())
        .await
        .map_err(|e| MessageError::Status {
            op: "put",
            key,
            source: e.into(),
        })?;
    Ok(())
}

/// Parses the epoch out of a cancel marker key.
pub fn parse_cancelled_key(key: &str) -> Option<EpochNumber> {
    key.strip_prefix("cancelled.")?.parse().ok()
}

/// Announces (or refreshes) an agent's presence; it lasts the bucket's TTL.
pub async fn put_presence(agents: &kv::Store, p: &AgentPresence) -> Result<(), MessageError> {
    let bytes: Bytes = codec::encode("agent presence", p)?.into();
    agents
        .put(p.agent.0.as_str(), bytes)
        .await
        .map_err(|e| MessageError::Agents {
            op: "put",
            source: e.into(),
        })?;
    Ok(())
}

/// About how many agents are present: the bucket's entries, counted by the server (one
/// request however many there are). An agent that stopped within the last TTL still
/// counts, by the marker it left.
pub async fn count_agents(agents: &kv::Store) -> Result<u64, MessageError> {
    let info = agents
        .stream
        .get_info()
        .await
        .map_err(|e| MessageError::Agents {
            op: "count",
            source: e.into(),
        })?;
    Ok(info.state.messages)
}

/// Withdraws an agent's presence (a clean stop; a killed agent's expires instead).
pub async fn remove_presence(agents: &kv::Store, agent: &str) -> Result<(), MessageError> {
    agents
        .delete(agent)
        .await
        .map_err(|e| MessageError::Agents {
            op: "delete",
            source: e.into(),
        })?;
    Ok(())
}

/// Every agent present now: entries refreshed within `ttl` (the bucket expires older ones
/// too, but only when the server gets to it). Undecodable entries are skipped.
pub async fn read_presences(
    agents: &kv::Store,
    ttl: std::time::Duration,
) -> Result<Vec<AgentPresence>, MessageError> {
    use futures::StreamExt as _;
    let err = |source: async_nats::Error| MessageError::Agents { op: "list", source };
    let mut keys = agents.keys().await.map_err(|e| err(e.into()))?;
    let now = provemesh_common::unix_millis();
    let mut out = Vec::new();
    while let Some(key) = keys.next().await {
        let key = key.map_err(|e| err(e.into()))?;
        let Some(bytes) = agents.get(&key).await.map_err(|e| err(e.into()))? else {
            continue;
        };
        if let Ok(p) = codec::decode::<AgentPresence>("agent presence", &bytes) {
            if now.saturating_sub(p.seen_at_ms) <= ttl.as_millis() as u64 {
                out.push(p);
            }
        }
    }
    out.sort_by(|a, b| a.agent.0.cmp(&b.agent.0));
    Ok(out)
}
