//! Enqueueing jobs: content-addressed ids, large inputs to the store first, pipelined
//! publishes, server-side de-duplication.

use crate::{Broker, BrokerError};
use bytes::Bytes;
use futures::{stream, StreamExt, TryStreamExt};
use provemesh_common::job::{ENVELOPE_VERSION, INLINE_INPUT_LIMIT};
use provemesh_common::{unix_micros, EpochNumber, InputRef, JobEnvelope, JobId, ProofType};
use provemesh_nats::messages;
use provemesh_store::ProofStore;
use tracing::Instrument;

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub epoch: EpochNumber,
    pub proof_type: ProofType,
    /// The circuit inputs; the job id is derived from them and the proof type.
    pub inputs: Bytes,
    /// Unix ms after which the proof is useless (the epoch's submission deadline).
    pub deadline_ms: Option<u64>,
}

impl NewJob {
    pub fn id(&self) -> JobId {
        JobId::derive(self.proof_type, &self.inputs)
    }

    /// This job's envelope, enqueued at `enqueued_at_us`, carrying its inputs inline (the
    /// broker moves inputs over the inline limit to the store and points at them instead).
    pub fn inline_envelope(self, enqueued_at_us: u64) -> JobEnvelope {
        JobEnvelope {
            version: ENVELOPE_VERSION,
            id: self.id(),
            proof_type: self.proof_type,
            epoch: self.epoch,
            inputs: InputRef::Inline(self.inputs),
            enqueued_at_us,
            deadline_ms: self.deadline_ms,
        }
    }
}

/// The outcome of enqueueing one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    pub id: JobId,
    /// The same job was already queued within the duplicate window: nothing new queued.
    pub duplicate: bool,
}

/// Most doorbell rings per proof type per enqueue call.
const RING_CAP: usize = 16;

/// Most enqueue publishes awaiting their server ack at once.
const PUBLISH_WINDOW: usize = 512;

/// Awaits the oldest publish of the window and records its outcome.
async fn settle(
    window: &mut std::collections::VecDeque<(
        &JobEnvelope,
        async_nats::jetstream::context::PublishAckFuture,
    )>,
    out: &mut Vec<Enqueued>,
    rings: &mut std::collections::BTreeMap<ProofType, usize>,
) -> Result<(), BrokerError> {
    let Some((env, ack)) = window.pop_front() else {
        return Ok(());
    };
    let ack = ack.await.map_err(|e| {
        BrokerError::nats(format!("enqueue job {} (epoch {})", env.id, env.epoch), e)
    })?;
    if !ack.duplicate {
        *rings.entry(env.proof_type).or_default() += 1;
    }
    crate::metrics::metrics().enqueued(env.proof_type, ack.duplicate);
    out.push(Enqueued {
        id: env.id,
        duplicate: ack.duplicate,
    });
    Ok(())
}

impl Broker {
    /// Enqueues one job. See [`Broker::enqueue_many`].
    pub async fn enqueue(&self, job: NewJob) -> Result<Enqueued, BrokerError> {
        Ok(self.enqueue_many(vec![job]).await?.remove(0))
    }

    /// Enqueues jobs, pipelining the publishes (one round trip for the batch, not one per
    /// job). Inputs above the inline limit are uploaded to the proof store first. The job
    /// id (hash of type and inputs) is the message id, so enqueueing the same job again —
    /// from a restarted node or a second one — within the duplicate window queues nothing;
    /// after it, an agent finds the stored proof and does not prove it again.
    pub async fn enqueue_many(&self, jobs: Vec<NewJob>) -> Result<Vec<Enqueued>, BrokerError> {
        let epochs: std::collections::BTreeSet<EpochNumber> =
            jobs.iter().map(|j| j.epoch).collect();
        for epoch in epochs {
            if self.is_cancelled(epoch).await? {
                return Err(BrokerError::EpochCancelled(epoch));
            }
        }
        let now = unix_micros();
        let envelopes: Vec<JobEnvelope> = stream::iter(jobs)
            .map(|j| self.envelope(j, now))
            .buffered(16)
            .try_collect()
            .await?;
        // Pipelined, with a bounded window of unacknowledged publishes: the client caps
        // acks in flight, so publishing a large batch before awaiting any would stall.
        let mut out = Vec::with_capacity(envelopes.len());
        let mut rings: std::collections::BTreeMap<ProofType, usize> = Default::default();
        let mut window = std::collections::VecDeque::with_capacity(PUBLISH_WINDOW);
        for env in &envelopes {
            if window.len() == PUBLISH_WINDOW {
                settle(&mut window, &mut out, &mut rings).await?;
            }
            // Debug level: exported as a trace span when traces are on, otherwise disabled
            // at the call site (no cost on the enqueue path).
            let span = tracing::debug_span!(
                "enqueue",
                job = %env.id.short(),
                proof_type = %env.proof_type,
                epoch = %env.epoch
            );
            let published = messages::publish_job(&self.topo.js, env)
                .instrument(span)
                .await?;
            window.push_back((env, published));
        }
        while !window.is_empty() {
            settle(&mut window, &mut out, &mut rings).await?;
        }
        // Only now are the jobs in the stream: wake idle agents, one per job up to a cap.
        // An agent woken by a ring that still sees work queued rings on, so a large batch
        // wakes every idle agent in a few hops without flooding a busy mesh with rings.
        let client = self.topo.js.client();
        for (t, n) in rings {
            messages::ring(&client, t, n.min(RING_CAP)).await;
        }
        Ok(out)
    }

    async fn envelope(&self, j: NewJob, now: u64) -> Result<JobEnvelope, BrokerError> {
        let inputs = j.inputs.clone();
        let mut env = j.inline_envelope(now);
        if inputs.len() > INLINE_INPUT_LIMIT {
            let key = ProofStore::input_key(env.epoch, &env.id);
            let r = self
                .store
                .put(&key, inputs)
                .await
                .map_err(|source| BrokerError::Store {
                    job: env.id.to_hex(),
                    epoch: env.epoch,
                    source,
                })?;
            env.inputs = InputRef::Object {
                key: r.key,
                size: r.size,
                sha256: r.sha256,
            };
        }
        Ok(env)
    }
}
