//! The agent's scheduling loop: which job to take next, how an idle agent waits, and how
//! it drains on shutdown.
//!
//! Jobs of each proof type sit behind their own pull consumer. With a free slot the agent
//! sweeps its allowed types in critical-path order (root rollup first, base rollups last)
//! with non-waiting pulls, so a busy mesh always serves the jobs nearest the root first;
//! within a type the consumer is FIFO, which serves older epochs first. Only when every
//! allowed queue is empty does the agent long-poll all of them at once; should two jobs
//! then arrive together for one free slot, the extra one is handed straight back (a nak
//! without delay) for another agent to take at once.

use crate::backend::ProvingBackend;
use crate::config::AgentConfig;
use crate::job;
use async_nats::jetstream::consumer::PullConsumer;
use async_nats::jetstream::AckKind;
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use provemesh_common::{EpochNumber, ProofType};
use provemesh_nats::messages::parse_cancelled_key;
use provemesh_nats::Topology;
use provemesh_store::ProofStore;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

/// The agent could not run.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("agent {agent}: no job consumer for proof type {proof_type} (is the mesh topology applied?)")]
    MissingConsumer { agent: String, proof_type: ProofType },
}

/// Counters of what an agent did; shared, so tests and the CLI can watch them live.
#[derive(Debug, Default)]
pub struct AgentStats {
    /// Jobs taken from the mesh.
    pub started: AtomicU64,
    /// Proofs made and stored (counted when stored, whether or not the report got out).
    pub proved: AtomicU64,
    /// Deliveries whose proof already existed in the store (re-reported, not re-proved).
    pub reused: AtomicU64,
    /// Jobs failed for good (deterministic, exhausted, expired).
    pub failed: AtomicU64,
    /// Transient failures handed back for a later attempt.
    pub retried: AtomicU64,
    /// Jobs handed back unfinished at the drain deadline.
    pub handed_back: AtomicU64,
    /// Jobs dropped because their epoch was cancelled.
    pub cancelled: AtomicU64,
    /// Jobs handed back because more arrived at once than the agent had free slots.
    pub overflow: AtomicU64,
}

impl AgentStats {
    pub fn get(&self, f: impl Fn(&AgentStats) -> &AtomicU64) -> u64 {
        f(self).load(Ordering::Relaxed)
    }

    pub(crate) fn bump(&self, f: impl Fn(&AgentStats) -> &AtomicU64) {
        f(self).fetch_add(1, Ordering::Relaxed);
    }
}

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

pub(crate) struct Inner {
    pub cfg: AgentConfig,
    pub topo: Topology,
    pub store: ProofStore,
    pub backend: Arc<dyn ProvingBackend>,
    pub stats: Arc<AgentStats>,
    pub cancellations: Cancellations,
    /// Fired at the drain deadline: unfinished jobs are handed back.
    pub hand_back: CancellationToken,
    pub ack_wait: Duration,
    pub max_deliver: u32,
}

/// A prover agent bound to the mesh. See the crate documentation.
pub struct Agent {
    inner: Arc<Inner>,
    consumers: Vec<(ProofType, PullConsumer)>,
}

impl Agent {
    /// Builds an agent over an applied or bound topology holding a consumer for each of the
    /// configuration's proof types.
    pub fn new(
        cfg: AgentConfig,
        topo: Topology,
        store: ProofStore,
        backend: Arc<dyn ProvingBackend>,
    ) -> Result<Self, AgentError> {
        let mut consumers = Vec::new();
        for &t in &cfg.proof_types {
            let c = topo
                .consumer(t)
                .ok_or_else(|| AgentError::MissingConsumer { agent: cfg.id.0.clone(), proof_type: t })?;
            consumers.push((t, c.clone()));
        }
        let (ack_wait, max_deliver) = consumers
            .first()
            .map(|(_, c)| {
                let info = &c.cached_info().config;
                (info.ack_wait, info.max_deliver.max(1) as u32)
            })
            .unwrap_or((topo.config.ack_wait, topo.config.max_deliver.max(1) as u32));
        Ok(Agent {
            inner: Arc::new(Inner {
                cfg,
                topo,
                store,
                backend,
                stats: Arc::new(AgentStats::default()),
                cancellations: Cancellations::default(),
                hand_back: CancellationToken::new(),
                ack_wait,
                max_deliver,
            }),
            consumers,
        })
    }

    /// Live counters.
    pub fn stats(&self) -> Arc<AgentStats> {
        self.inner.stats.clone()
    }

    /// Pulls and proves until `shutdown` fires, then stops pulling, lets in-flight jobs
    /// finish within the drain deadline, and hands back whatever is still running.
    pub async fn run(self, shutdown: CancellationToken) -> Arc<AgentStats> {
        let inner = self.inner.clone();
        info!(
            agent = %inner.cfg.id,
            proof_types = ?inner.cfg.proof_types,
            concurrency = inner.cfg.concurrency,
            backend = inner.backend.name(),
            store = inner.store.describe(),
            "prover agent started"
        );
        let watcher = tokio::spawn(watch_cancellations(inner.clone(), shutdown.clone()));
        let tracker = TaskTracker::new();
        let slots = Arc::new(Semaphore::new(inner.cfg.concurrency));

        loop {
            let permit = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            };
            match self.sweep(&slots, permit, &tracker).await {
                Ok(None) => continue,
                Ok(Some(permit)) => {
                    let t0 = Instant::now();
                    self.idle_wait(&slots, permit, &tracker, &shutdown).await;
                    if t0.elapsed() < Duration::from_millis(50) {
                        // Every long-poll ended at once (server unreachable?): do not spin.
                        pause(&shutdown, Duration::from_millis(200)).await;
                    }
                }
                Err(e) => {
                    warn!(agent = %inner.cfg.id, error = %e, "pulling jobs failed; retrying");
                    pause(&shutdown, Duration::from_millis(500)).await;
                }
            }
        }

        tracker.close();
        if !tracker.is_empty() {
            info!(agent = %inner.cfg.id, in_flight = tracker.len(), deadline = ?inner.cfg.drain_deadline, "draining");
        }
        if tokio::time::timeout(inner.cfg.drain_deadline, tracker.wait()).await.is_err() {
            info!(agent = %inner.cfg.id, "drain deadline passed: handing unfinished jobs back to the mesh");
            inner.hand_back.cancel();
            tracker.wait().await;
        }
        watcher.abort();
        info!(agent = %inner.cfg.id, proved = inner.stats.get(|s| &s.proved), "prover agent stopped");
        inner.stats.clone()
    }

    /// Takes as many queued jobs as there are free slots, highest priority type first.
    /// Returns the unused permit when every allowed queue was empty.
    async fn sweep(
        &self,
        slots: &Arc<Semaphore>,
        permit: OwnedSemaphorePermit,
        tracker: &TaskTracker,
    ) -> Result<Option<OwnedSemaphorePermit>, async_nats::Error> {
        let mut first = Some(permit);
        for (t, consumer) in &self.consumers {
            let want = (first.is_some() as usize + slots.available_permits()).min(self.inner.cfg.max_fetch_batch);
            if want == 0 {
                break;
            }
            let mut batch = consumer.fetch().max_messages(want).messages().await?;
            while let Some(m) = batch.next().await {
                match m {
                    Ok(msg) => {
                        let p = first.take().or_else(|| slots.clone().try_acquire_owned().ok());
                        self.start(*t, msg, p, tracker).await;
                    }
                    Err(e) => debug!(proof_type = %t, error = %e, "pull ended"),
                }
            }
        }
        Ok(first)
    }

    /// Long-polls every allowed consumer until one job arrives, all polls expire, or
    /// shutdown. Polls still open after the first job are drained in the background: a job
    /// they bring is started if a slot is free, else handed back at once.
    async fn idle_wait(
        &self,
        slots: &Arc<Semaphore>,
        permit: OwnedSemaphorePermit,
        tracker: &TaskTracker,
        shutdown: &CancellationToken,
    ) {
        let expires = self.inner.cfg.idle_poll;
        let mut polls: FuturesUnordered<_> = self
            .consumers
            .iter()
            .map(|(t, c)| {
                let (t, c) = (*t, c.clone());
                async move {
                    match c.batch().max_messages(1).expires(expires).messages().await {
                        Ok(mut b) => (t, b.next().await.map(|r| r.map_err(|e| e.to_string()))),
                        Err(e) => (t, Some(Err(e.to_string()))),
                    }
                }
            })
            .collect();
        let mut permit = Some(permit);
        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return,
                next = polls.next() => match next {
                    None => return,
                    Some((_, None)) => {}
                    Some((t, Some(Err(e)))) => debug!(proof_type = %t, error = %e, "long-poll ended"),
                    Some((t, Some(Ok(msg)))) => {
                        let p = permit.take().or_else(|| slots.clone().try_acquire_owned().ok());
                        self.start(t, msg, p, tracker).await;
                        break;
                    }
                },
            }
        }
        if polls.is_empty() {
            return;
        }
        let (this, slots, shutdown) = (self.clone_handle(), slots.clone(), shutdown.clone());
        let tracker2 = tracker.clone();
        tracker.spawn(async move {
            loop {
                tokio::select! {
                    biased;
                    _ = shutdown.cancelled() => return,
                    next = polls.next() => match next {
                        None => return,
                        Some((t, Some(Ok(msg)))) => {
                            let p = slots.clone().try_acquire_owned().ok();
                            this.start(t, msg, p, &tracker2).await;
                        }
                        Some(_) => {}
                    },
                }
            }
        });
    }

    /// Starts a job in its own task, or hands it straight back when no slot is free.
    async fn start(
        &self,
        t: ProofType,
        msg: async_nats::jetstream::Message,
        permit: Option<OwnedSemaphorePermit>,
        tracker: &TaskTracker,
    ) {
        match permit {
            Some(p) => {
                tracker.spawn(job::run(self.inner.clone(), t, msg, p));
            }
            None => {
                self.inner.stats.bump(|s| &s.overflow);
                if let Err(e) = msg.ack_with(AckKind::Nak(None)).await {
                    debug!(error = %e, "handing back an extra job failed; it returns after AckWait");
                }
            }
        }
    }

    fn clone_handle(&self) -> Agent {
        Agent { inner: self.inner.clone(), consumers: self.consumers.clone() }
    }
}

async fn pause(shutdown: &CancellationToken, d: Duration) {
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = tokio::time::sleep(d) => {}
    }
}

/// Follows the epochs bucket: a `cancelled.<E>` marker cancels every in-flight job of E
/// and makes the agent drop E's jobs still to come.
async fn watch_cancellations(inner: Arc<Inner>, shutdown: CancellationToken) {
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
