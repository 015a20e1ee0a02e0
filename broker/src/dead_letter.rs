//! Dead letters: jobs the mesh gave up on because no agent acknowledged them within
//! MaxDeliver deliveries (agents crashing on them, or vanishing). The server announces each
//! with a max-deliveries advisory, which the `PROVE_DEAD` stream keeps until a broker turns
//! it into a failure result for the node — so a dead letter is never silently dropped, even
//! if no broker was running when it happened.

use crate::Broker;
use async_nats::jetstream::consumer::PullConsumer;
use futures::StreamExt;
use provemesh_common::{
    codec, unix_millis, AgentId, FailureKind, JobEnvelope, JobOutcome, JobResult, JobState,
    JobStatus,
};
use provemesh_nats::{headers, messages, subjects};
use serde::Deserialize;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

#[derive(Deserialize)]
struct MaxDeliveriesAdvisory {
    stream_seq: u64,
    deliveries: u64,
    consumer: String,
}

/// Handles dead letters until `shutdown`. Several brokers may run this at once: they share
/// one durable consumer, so each dead letter is handled once.
pub async fn run_dead_letters(broker: Broker, shutdown: CancellationToken) {
    loop {
        if let Err(e) = handle_batch(&broker, &shutdown).await {
            warn!(error = %e, "dead-letter handling failed; retrying");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

async fn handle_batch(
    broker: &Broker,
    shutdown: &CancellationToken,
) -> Result<(), async_nats::Error> {
    let consumer: PullConsumer = broker
        .topo
        .dead_letters
        .get_consumer(subjects::DEAD_LETTER_CONSUMER)
        .await?;
    let mut msgs = consumer
        .stream()
        .heartbeat(Duration::from_secs(5))
        .messages()
        .await?;
    loop {
        let msg = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            m = msgs.next() => match m { Some(m) => m?, None => return Ok(()) },
        };
        match serde_json::from_slice::<MaxDeliveriesAdvisory>(&msg.payload) {
            Ok(adv) => handle(broker, &adv).await?,
            Err(e) => warn!(error = %e, "ignoring an unreadable max-deliveries advisory"),
        }
        msg.ack().await?;
    }
}

async fn handle(broker: &Broker, adv: &MaxDeliveriesAdvisory) -> Result<(), async_nats::Error> {
    let raw = match broker.topo.jobs.get_raw_message(adv.stream_seq).await {
        Ok(m) => m,
        // Gone already: acknowledged late, purged by a cancel, or handled by another broker.
        Err(_) => return Ok(()),
    };
    let identity = codec::decode::<JobEnvelope>("job envelope", &raw.payload)
        .map(|e| (e.id, e.proof_type, e.epoch))
        .ok()
        .or_else(|| headers::job_identity(Some(&raw.headers)));
    if let Some((id, proof_type, epoch)) = identity {
        let last = broker
            .topo
            .status
            .get(subjects::status_key(epoch, &id))
            .await
            .ok()
            .flatten()
            .and_then(|b| codec::decode::<JobStatus>("job status", &b).ok());
        let last_error = last
            .as_ref()
            .and_then(|s| s.error.clone())
            .unwrap_or_else(|| {
                "no agent acknowledged it within AckWait (agents crashed or vanished)".into()
            });
        let error = format!(
            "dead letter: {} deliveries on {} without success; last error: {last_error}",
            adv.deliveries, adv.consumer
        );
        warn!(job = %id.short(), %proof_type, %epoch, %error, "job dead-lettered");
        let cancelled = broker.is_cancelled(epoch).await.unwrap_or(false);
        if !cancelled {
            let result = JobResult {
                id,
                proof_type,
                epoch,
                attempt: adv.deliveries as u32,
                agent: AgentId("broker".into()),
                outcome: JobOutcome::Failed {
                    kind: FailureKind::Exhausted,
                    error: error.clone(),
                },
                prove_ms: 0,
                finished_at_ms: unix_millis(),
            };
            messages::publish_result(&broker.topo.js, &result)
                .await
                .map_err(Box::new)?;
            crate::metrics::metrics().dead_letter(proof_type);
        }
        let s = JobStatus {
            id,
            proof_type,
            epoch,
            state: if cancelled {
                JobState::Cancelled
            } else {
                JobState::Failed
            },
            attempt: adv.deliveries as u32,
            agent: last.and_then(|s| s.agent),
            error: Some(error),
            updated_at_ms: unix_millis(),
        };
        messages::put_status(&broker.topo.js, &s, true)
            .await
            .map_err(Box::new)?;
    } else {
        warn!(
            seq = adv.stream_seq,
            "dead-lettered message names no job; removing it"
        );
    }
    broker.topo.jobs.delete_message(adv.stream_seq).await?;
    info!(seq = adv.stream_seq, "dead letter handled");
    Ok(())
}
