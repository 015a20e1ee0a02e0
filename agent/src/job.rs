//! One job on an agent, from pull to acknowledgement.
//!
//! Order of effects: proof stored → result published → job acknowledged (the result is the
//! record of how the job ended). A crash between any two leaves the job unacknowledged;
//! its redelivery finds the proof in the store and re-publishes the same result, which the
//! server drops as a duplicate (`Nats-Msg-Id` = `result.<job id>`). So nothing is lost and
//! the node sees one result per job.
//!
//! While it runs, the job records an in-flight status (after 200 ms) and sends in-progress
//! acks every third of AckWait, so a long proof is not redelivered; a killed agent stops
//! sending them and the job returns to the mesh after AckWait.

use crate::backend::{BackendError, ProvingRequest};
use crate::phases::JobPhases;
use crate::runtime::Inner;
use async_nats::jetstream::{AckKind, Message};
use backon::{ExponentialBuilder, Retryable};
use bytes::Bytes;
use provemesh_common::job::ENVELOPE_VERSION;
use provemesh_common::{
    codec, unix_millis, FailureKind, InputRef, JobEnvelope, JobId, JobOutcome, JobResult, JobState,
    JobStatus, ProofRef, ProofType,
};
use provemesh_nats::{headers, messages, subjects};
use provemesh_store::{ProofStore, StoreError};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::OwnedSemaphorePermit;
use tracing::{debug, info, warn, Instrument};

/// Why a job did not produce a proof.
enum JobError {
    /// Would fail again with the same input.
    Deterministic(String),
    /// May pass on another attempt.
    Transient(String),
    /// Stopped from outside: the epoch was cancelled or the agent is handing jobs back.
    Interrupted,
}

pub(crate) async fn run(
    inner: Arc<Inner>,
    consumer_type: ProofType,
    msg: Message,
    _permit: OwnedSemaphorePermit,
    picked_up: Instant,
) {
    inner.stats.bump(|s| &s.started);
    let attempt = msg.info().map(|i| i.delivered.max(1) as u32).unwrap_or(1);

    let env = match decode(&msg, consumer_type) {
        Ok(env) => env,
        Err(reason) => return reject_malformed(&inner, &msg, consumer_type, attempt, reason).await,
    };
    if inner.cfg.record_dispatch {
        let waited = provemesh_common::unix_micros().saturating_sub(env.enqueued_at_us);
        let mut v = inner
            .stats
            .dispatch_us
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if v.len() < 200_000 {
            v.push(waited);
        }
    }
    inner.metrics.started(env.proof_type, attempt);
    let span = tracing::info_span!(
        "job",
        job = %env.id.short(),
        proof_type = %env.proof_type,
        epoch = %env.epoch,
        attempt,
        agent = %inner.cfg.id
    );
    headers::continue_trace(&span, msg.headers.as_ref());
    handle(inner, msg, env, attempt, picked_up)
        .instrument(span)
        .await
}

async fn handle(
    inner: Arc<Inner>,
    msg: Message,
    env: JobEnvelope,
    attempt: u32,
    picked_up: Instant,
) {
    let cancelled = inner.cancellations.watch(env.epoch);
    if cancelled.is_cancelled() {
        inner.stats.bump(|s| &s.cancelled);
        debug!("epoch cancelled; dropping job");
        ack(&msg, AckKind::Term).await;
        status(&inner, &env, JobState::Cancelled, attempt, None).await;
        return;
    }
    if let Some(deadline) = env.deadline_ms.filter(|d| unix_millis() > *d) {
        inner.stats.bump(|s| &s.failed);
        let error = format!(
            "deadline passed {} ms ago before proving started",
            unix_millis() - deadline
        );
        finish_failed(&inner, &msg, &env, attempt, FailureKind::Expired, error).await;
        return;
    }
    let started = Instant::now();
    // The heartbeat ends with the select (it never finishes by itself): a pending in-flight
    // status is dropped before any final one is written (same connection, so one already
    // sent reaches the bucket first).
    let outcome = tokio::select! {
        r = execute(&inner, &env, attempt, picked_up) => r,
        _ = cancelled.cancelled() => Err(JobError::Interrupted),
        _ = inner.hand_back.cancelled() => Err(JobError::Interrupted),
        never = heartbeat(&inner, &msg, &env, attempt) => match never {},
    };
    match outcome {
        Ok((proof, phases)) => {
            let proved_now = phases.is_some();
            if let Some(p) = phases {
                crate::phases::record(&inner, p);
            }
            if proved_now {
                inner.stats.bump(|s| &s.proved);
            } else {
                inner.stats.bump(|s| &s.reused);
            }
            // A cancel that raced with the proof: the epoch's results must not arrive.
            if inner.cancellations.is_cancelled(env.epoch) {
                inner.stats.bump(|s| &s.cancelled);
                ack(&msg, AckKind::Term).await;
                status(&inner, &env, JobState::Cancelled, attempt, None).await;
                return;
            }
            let prove_ms = if proved_now {
                started.elapsed().as_millis() as u64
            } else {
                0
            };
            let result = result_of(&inner, &env, attempt, JobOutcome::Proved(proof), prove_ms);
            if let Err(e) = publish(&inner, &result).await {
                // Not acknowledged: the job comes back and the stored proof is re-reported.
                warn!(error = %e, "cannot report result; the job will be redelivered");
                return;
            }
            // How the job ended is recorded by its result; every view of the job's status
            // lets the result supersede the "proving" revision shown while it ran.
            ack(&msg, AckKind::Ack).await;
            inner.metrics.succeeded(
                env.proof_type,
                !proved_now,
                proved_now.then(|| started.elapsed().as_secs_f64()),
            );
            debug!(prove_ms, reused = !proved_now, "proved");
        }
        Err(JobError::Deterministic(error)) => {
            inner.stats.bump(|s| &s.failed);
            warn!(%error, "job failed (not retried)");
            finish_failed(
                &inner,
                &msg,
                &env,
                attempt,
                FailureKind::Deterministic,
                error,
            )
            .await;
        }
        Err(JobError::Transient(error)) if attempt >= inner.max_deliver => {
            inner.stats.bump(|s| &s.failed);
            let error = format!("gave up after {attempt} attempts; last error: {error}");
            warn!(%error, "job failed");
            finish_failed(&inner, &msg, &env, attempt, FailureKind::Exhausted, error).await;
        }
        Err(JobError::Transient(error)) => {
            inner.stats.bump(|s| &s.retried);
            let delay = retry_delay(attempt);
            info!(%error, retry_in = ?delay, "transient failure; handing the job back");
            status(&inner, &env, JobState::Retrying, attempt, Some(error)).await;
            ack(&msg, AckKind::Nak(Some(delay))).await;
            ring_when_back(&inner, env.proof_type, delay);
        }
        Err(JobError::Interrupted) if inner.cancellations.is_cancelled(env.epoch) => {
            inner.stats.bump(|s| &s.cancelled);
            info!("epoch cancelled while proving; job dropped");
            ack(&msg, AckKind::Term).await;
            status(&inner, &env, JobState::Cancelled, attempt, None).await;
        }
        Err(JobError::Interrupted) => {
            inner.stats.bump(|s| &s.handed_back);
            inner.metrics.handed_back(env.proof_type);
            info!("drain deadline: handing the job back to the mesh");
            status(
                &inner,
                &env,
                JobState::Retrying,
                attempt,
                Some(format!("agent {} shut down before finishing", inner.cfg.id)),
            )
            .await;
            ack(&msg, AckKind::Nak(None)).await;
            // A job back in its queue rings like a new one: idle agents leave queues they
            // found empty to their doorbells, so without a ring it would wait for one's
            // safety sweep.
            messages::ring(&inner.topo.js.client(), env.proof_type, 1).await;
        }
    }
}

/// How long after its retry delay a handed-back job is taken to be in its queue again (the
/// server starts the delay when the nak arrives, a moment after it is sent).
const BACK_MARGIN: Duration = Duration::from_millis(100);

/// Rings `proof_type`'s doorbell once a job handed back with `delay` is queued again: idle
/// agents leave queues they found empty to their doorbells, and a ring now would find
/// nothing, so without this the job would wait for an agent's safety sweep. Best effort:
/// nothing rings if this agent stops first.
fn ring_when_back(inner: &Inner, proof_type: ProofType, delay: Duration) {
    let (client, stopped) = (inner.topo.js.client(), inner.stopped.clone());
    tokio::spawn(async move {
        tokio::select! {
            _ = tokio::time::sleep(delay + BACK_MARGIN) => messages::ring(&client, proof_type, 1).await,
            _ = stopped.cancelled() => {}
        }
    });
}

/// Fetches inputs, proves (unless the proof already exists), stores the proof.
/// Returns the proof reference and, when it was proved now, where the time went since
/// `picked_up`.
async fn execute(
    inner: &Inner,
    env: &JobEnvelope,
    attempt: u32,
    picked_up: Instant,
) -> Result<(ProofRef, Option<JobPhases>), JobError> {
    let key = ProofStore::proof_key(env.epoch, &env.id);
    if let Some((existing, _)) = with_retry(|| inner.store.get_if_exists(&key))
        .await
        .map_err(store_error)?
    {
        debug!("proof already stored; re-reporting it");
        return Ok((existing, None));
    }
    let inputs: Bytes = match &env.inputs {
        InputRef::Inline(b) => b.clone(),
        InputRef::Object { key, size, sha256 } => {
            let r = ProofRef {
                key: key.clone(),
                size: *size,
                sha256: *sha256,
            };
            with_retry(|| inner.store.get_verified(&r))
                .await
                .map_err(store_error)?
        }
    };
    if JobId::derive(env.proof_type, &inputs) != env.id {
        return Err(JobError::Deterministic(format!(
            "job id {} does not match its inputs (tampered or corrupt envelope)",
            env.id
        )));
    }
    let backend_started = Instant::now();
    let (proof, backend) = inner
        .backend
        .prove_measured(ProvingRequest {
            id: env.id,
            proof_type: env.proof_type,
            epoch: env.epoch,
            inputs,
        })
        .await
        .map_err(|e| match e {
            BackendError::Transient(m) => {
                JobError::Transient(format!("backend {}: {m}", inner.backend.name()))
            }
            other => JobError::Deterministic(other.to_string()),
        })?;
    let backend_returned = Instant::now();
    let stored = with_retry(|| inner.store.put(&key, proof.clone()))
        .await
        .map_err(store_error)?;
    let phases = JobPhases {
        job: env.id,
        proof_type: env.proof_type,
        epoch: env.epoch,
        attempt,
        before_backend: backend_started - picked_up,
        backend_call: backend_returned - backend_started,
        store: backend_returned.elapsed(),
        pickup_to_stored: picked_up.elapsed(),
        backend,
    };
    Ok((stored, Some(phases)))
}

fn store_error(e: StoreError) -> JobError {
    if e.is_transient() {
        JobError::Transient(e.to_string())
    } else {
        JobError::Deterministic(e.to_string())
    }
}

/// Retries transient store failures a few times within about three seconds; longer
/// outages are handled by handing the job back with a growing delay.
async fn with_retry<T, F, Fut>(f: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    f.retry(
        ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_secs(1))
            .with_max_times(4),
    )
    .when(|e: &StoreError| e.is_transient())
    .await
}

/// Delay before attempt `attempt + 1` after a transient failure: 1 s, 2 s, 4 s… ≤ 30 s.
fn retry_delay(attempt: u32) -> Duration {
    Duration::from_secs((1u64 << attempt.saturating_sub(1).min(5)).min(30))
}

fn decode(msg: &Message, consumer_type: ProofType) -> Result<JobEnvelope, String> {
    let env: JobEnvelope =
        codec::decode("job envelope", &msg.payload).map_err(|e| e.to_string())?;
    if env.version > ENVELOPE_VERSION {
        return Err(format!(
            "envelope version {} is newer than this agent understands ({ENVELOPE_VERSION})",
            env.version
        ));
    }
    if env.proof_type != consumer_type {
        return Err(format!(
            "a {} job was queued for {consumer_type} agents",
            env.proof_type
        ));
    }
    match subjects::parse_job_subject(&msg.subject) {
        Some((e, t)) if e == env.epoch && t == env.proof_type => Ok(env),
        _ => Err(format!(
            "subject {} does not match the envelope (epoch {}, {})",
            msg.subject, env.epoch, env.proof_type
        )),
    }
}

/// A payload that is not a valid envelope: terminated at once. If the headers still say
/// which job it is, the node gets a failure result for it.
async fn reject_malformed(
    inner: &Inner,
    msg: &Message,
    consumer_type: ProofType,
    attempt: u32,
    reason: String,
) {
    inner.stats.bump(|s| &s.failed);
    let error = format!("malformed job on {}: {reason}", msg.subject);
    match headers::job_identity(msg.headers.as_ref()) {
        Some((id, proof_type, epoch)) => {
            warn!(job = %id.short(), %proof_type, %epoch, %error, "terminating malformed job");
            let result = JobResult {
                id,
                proof_type,
                epoch,
                attempt,
                agent: inner.cfg.id.clone(),
                outcome: JobOutcome::Failed {
                    kind: FailureKind::Deterministic,
                    error: error.clone(),
                },
                prove_ms: 0,
                finished_at_ms: unix_millis(),
            };
            if let Err(e) = publish(inner, &result).await {
                warn!(error = %e, "cannot report the malformed job");
            }
        }
        None => {
            warn!(consumer = %consumer_type, %error, "terminating malformed job that names no job id")
        }
    }
    ack(msg, AckKind::Term).await;
    inner
        .metrics
        .failed(consumer_type, FailureKind::Deterministic);
}

async fn finish_failed(
    inner: &Inner,
    msg: &Message,
    env: &JobEnvelope,
    attempt: u32,
    kind: FailureKind,
    error: String,
) {
    let result = result_of(
        inner,
        env,
        attempt,
        JobOutcome::Failed {
            kind,
            error: error.clone(),
        },
        0,
    );
    if let Err(e) = publish(inner, &result).await {
        warn!(error = %e, "cannot report the failure; the job will be redelivered");
        return;
    }
    ack(msg, AckKind::Term).await;
    inner.metrics.failed(env.proof_type, kind);
}

fn result_of(
    inner: &Inner,
    env: &JobEnvelope,
    attempt: u32,
    outcome: JobOutcome,
    prove_ms: u64,
) -> JobResult {
    JobResult {
        id: env.id,
        proof_type: env.proof_type,
        epoch: env.epoch,
        attempt,
        agent: inner.cfg.id.clone(),
        outcome,
        prove_ms,
        finished_at_ms: unix_millis(),
    }
}

async fn publish(inner: &Inner, r: &JobResult) -> Result<(), messages::MessageError> {
    (|| messages::publish_result(&inner.topo.js, r))
        .retry(
            ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(100))
                .with_max_delay(Duration::from_secs(2))
                .with_max_times(6),
        )
        .await
}

async fn status(
    inner: &Inner,
    env: &JobEnvelope,
    state: JobState,
    attempt: u32,
    error: Option<String>,
) {
    let s = JobStatus {
        id: env.id,
        proof_type: env.proof_type,
        epoch: env.epoch,
        state,
        attempt,
        agent: Some(inner.cfg.id.clone()),
        error,
        updated_at_ms: unix_millis(),
    };
    if let Err(e) = messages::put_status(&inner.topo.js, &s, false).await {
        debug!(error = %e, "status update not recorded");
    }
}

async fn ack(msg: &Message, kind: AckKind) {
    if let Err(e) = msg.ack_with(kind).await {
        debug!(error = %e, ?kind, "ack not delivered; the server will redeliver after AckWait");
    }
}

/// How long a job runs before its in-flight ("proving") status is recorded.
const PROVING_STATUS_DELAY: Duration = Duration::from_millis(200);

/// Keeps a job alive while it runs: records its in-flight status once it has run
/// [`PROVING_STATUS_DELAY`] (short jobs never show as in flight, which saves a write per
/// job), and sends `+WPI` every third of AckWait. It runs in the job's own task, raced
/// against the job (a task of its own per job cost a spawn, a move of its state and an
/// abort on every job); so a backend must not block its async calls — the real one runs
/// witness generation on the blocking pool and bb as a child process.
async fn heartbeat(
    inner: &Inner,
    msg: &Message,
    env: &JobEnvelope,
    attempt: u32,
) -> std::convert::Infallible {
    let every = (inner.ack_wait / 3).max(PROVING_STATUS_DELAY);
    tokio::time::sleep(PROVING_STATUS_DELAY).await;
    status(inner, env, JobState::Proving, attempt, None).await;
    tokio::time::sleep(every - PROVING_STATUS_DELAY).await;
    loop {
        if let Err(e) = msg.ack_with(AckKind::Progress).await {
            debug!(error = %e, "in-progress ack failed");
        }
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::retry_delay;
    use std::time::Duration;

    #[test]
    fn retry_delay_grows_and_caps() {
        assert_eq!(retry_delay(1), Duration::from_secs(1));
        assert_eq!(retry_delay(2), Duration::from_secs(2));
        assert_eq!(retry_delay(4), Duration::from_secs(8));
        assert_eq!(retry_delay(40), Duration::from_secs(30));
    }
}
