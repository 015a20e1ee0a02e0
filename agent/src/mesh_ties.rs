//! What an agent keeps up with on the mesh besides its jobs: epoch cancellations, and its
//! own presence for the nodes counting proving capacity (and the fleet's size, which
//! spaces its safety sweeps).

use crate::runtime::{pause, Inner};
use futures::StreamExt;
use provemesh_common::EpochNumber;
use provemesh_nats::messages::parse_cancelled_key;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// Epoch cancellations seen by this agent, and a token per epoch that in-flight jobs of
/// that epoch watch.
#[derive(Default)]
pub(crate) struct Cancellations {
    epochs: Mutex<HashMap<EpochNumber, CancellationToken>>,
}

impl Cancellations {
    fn token(&self, epoch: EpochNumber) -> CancellationToken {
        let mut m = self.epochs.lock().unwrap_or_else(|p| p.into_inner());
        m.entry(epoch).or_default().clone()
    }

    /// A token cancelled when `epoch` is (already cancelled if it was).
    pub(crate) fn watch(&self, epoch: EpochNumber) -> CancellationToken {
        self.token(epoch).child_token()
    }

    pub(crate) fn is_cancelled(&self, epoch: EpochNumber) -> bool {
        self.token(epoch).is_cancelled()
    }

    fn cancel(&self, epoch: EpochNumber) {
        self.token(epoch).cancel();
    }
}

/// Follows the epochs bucket: a `cancelled.<E>` marker cancels every in-flight job of E
/// and makes the agent drop E's jobs still to come.
pub(crate) async fn watch_cancellations(inner: Arc<Inner>, shutdown: CancellationToken) {
    loop {
        match inner.topo.epochs.watch_with_history("cancelled.*").await {
            Ok(mut w) => loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    e = w.next() => match e {
                        Some(Ok(entry)) => {
                            if let Some(epoch) = parse_cancelled_key(&entry.key) {
                                if !inner.cancellations.is_cancelled(epoch) {
                                    info!(agent = %inner.cfg.id, %epoch, "epoch cancelled");
                                }
                                inner.cancellations.cancel(epoch);
                            }
                        }
                        Some(Err(e)) => { warn!(error = %e, "watching cancellations failed"); break; }
                        None => break,
                    },
                }
            },
            Err(e) => warn!(error = %e, "cannot watch cancellations; retrying"),
        }
        pause(&shutdown, Duration::from_secs(1)).await;
        if shutdown.is_cancelled() {
            return;
        }
    }
}

/// Keeps the agent's presence on the mesh (`PROVE_AGENTS`) fresh until `shutdown`, then
/// withdraws it: nodes count it as proving capacity while it lives, idle or busy. A
/// failure is logged and retried at the next refresh; it never stops proving.
pub(crate) async fn announce_presence(
    inner: Arc<Inner>,
    slots: Arc<Semaphore>,
    shutdown: CancellationToken,
) {
    let Some(bucket) = inner.topo.agents.clone() else {
        warn!(agent = %inner.cfg.id, "the mesh has no agents bucket (applied by an older node): not announcing this agent");
        return;
    };
    // Refresh at a third of the bucket's TTL (the node that applied the topology set it;
    // this agent's own configuration may differ).
    let ttl = match bucket.status().await {
        Ok(s) if !s.max_age().is_zero() => s.max_age(),
        _ => inner.topo.config.agent_ttl,
    };
    let every = (ttl / 3).max(Duration::from_millis(100));
    let conc = inner.cfg.concurrency;
    let mut failing = false;
    let mut next = Duration::from_millis(500).min(every);
    loop {
        let p = provemesh_common::AgentPresence {
            agent: inner.cfg.id.clone(),
            proof_types: inner.cfg.proof_types.clone(),
            concurrency: conc as u32,
            backend: inner.backend.name().to_string(),
            in_flight: conc.saturating_sub(slots.available_permits()) as u32,
            seen_at_ms: provemesh_common::unix_millis(),
        };
        match provemesh_nats::messages::put_presence(&bucket, &p).await {
            Ok(()) => {
                failing = false;
                // The bucket's live entries (and the departures of the last TTL, which
                // leave a marker until it ends): near enough to space the safety sweeps.
                if let Ok(n) = provemesh_nats::messages::count_agents(&bucket).await {
                    inner
                        .stats
                        .fleet
                        .store(n, std::sync::atomic::Ordering::Relaxed);
                }
            }
            Err(e) if !failing => {
                failing = true;
                warn!(agent = %inner.cfg.id, error = %e, "cannot announce this agent's presence; retrying");
            }
            Err(_) => {}
        }
        // The first refreshes come sooner (1, 2, 4… s): a fleet started together is
        // counted once it has announced itself, not a full period later.
        next = (next * 2).min(every);
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(next) => {}
        }
    }
    if let Err(e) = provemesh_nats::messages::remove_presence(&bucket, &inner.cfg.id.0).await {
        debug!(agent = %inner.cfg.id, error = %e, "could not withdraw this agent's presence; it expires");
    }
}
