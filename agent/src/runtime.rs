//! The agent's scheduling loop: which job to take next, how an idle agent waits, and how
//! it drains on shutdown.
//!
//! Jobs of each proof type sit behind their own pull consumer. With free slots the agent
//! sweeps its allowed types in `ProofType::critical_path_rank` order (longest remaining
//! path to the root first: base rollups first, root rollup last) with non-waiting pulls of
//! at most as many jobs as it has free slots, so a busy mesh always serves first the jobs
//! the most proving still waits on, and within a type (FIFO) the older epochs first. An
//! agent never holds a job it has no slot for: a job taken is a job started.
//!
//! An idle agent does not long-poll its consumers (a long-poll on each of several queues
//! can deliver more jobs than free slots, and handing the extras back burns their delivery
//! count). Instead it joins the queue groups of its types' doorbells (`prove.ready.<type>`),
//! which the broker rings once per job enqueued, so each ring wakes exactly one idle
//! agent, which then sweeps. A full agent leaves the groups, so rings go to agents that
//! can take the job. Rings are best effort; a safety sweep every `idle_sweep` picks up
//! anything enqueued without one (e.g. by other tooling).

use crate::backend::ProvingBackend;
use crate::config::AgentConfig;
use crate::job;
use crate::pull::Puller;
use async_nats::jetstream::AckKind;
use futures::StreamExt;
use provemesh_common::{EpochNumber, ProofType};
use provemesh_nats::messages::parse_cancelled_key;
use provemesh_nats::{subjects, Topology};
use provemesh_store::ProofStore;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

/// The agent could not run.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("agent {agent}: no job consumer for proof type {proof_type} (is the mesh topology applied?)")]
    MissingConsumer {
        agent: String,
        proof_type: ProofType,
    },
}

/// How long a full agent stays in the doorbell groups before leaving them.
const FULL_LINGER: Duration = Duration::from_millis(50);
/// How many times a doorbell is passed on by full agents before it is dropped.
const MAX_RING_HOPS: u8 = 1;

/// Longest wait for the answer to a non-waiting pull.
const PULL_TIMEOUT: Duration = Duration::from_secs(5);

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
    /// Dispatch latencies (enqueue → start, µs), recorded only when the agent's
    /// configuration asks for them (benchmarks); at most 200,000 samples.
    pub dispatch_us: Mutex<Vec<u64>>,
    /// Each proved job's phases, kept only when the configuration asks (`record_phases`);
    /// at most 100,000.
    pub phases: Mutex<Vec<crate::phases::JobPhases>>,
    /// Jobs handed back because no slot was free when they arrived (the sweep takes at
    /// most as many jobs as free slots, so this stays 0 unless that invariant breaks).
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
    pub metrics: crate::metrics::AgentMetrics,
}

/// A prover agent bound to the mesh. See the crate documentation.
pub struct Agent {
    inner: Arc<Inner>,
    pullers: Vec<(ProofType, Puller)>,
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
                .ok_or_else(|| AgentError::MissingConsumer {
                    agent: cfg.id.0.clone(),
                    proof_type: t,
                })?;
            consumers.push((t, c.clone()));
        }
        let (ack_wait, max_deliver) = consumers
            .first()
            .map(|(_, c)| {
                let info = &c.cached_info().config;
                (info.ack_wait, info.max_deliver.max(1) as u32)
            })
            .unwrap_or((topo.config.ack_wait, topo.config.max_deliver.max(1) as u32));
        let pullers = consumers
            .iter()
            .map(|(t, c)| (*t, Puller::new(topo.js.clone(), c.clone())))
            .collect();
        Ok(Agent {
            pullers,
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
                metrics: crate::metrics::AgentMetrics::new(),
            }),
        })
    }

    /// Live counters.
    pub fn stats(&self) -> Arc<AgentStats> {
        self.inner.stats.clone()
    }

    /// Pulls and proves until `shutdown` fires, then stops pulling, lets in-flight jobs
    /// finish within the drain deadline, and hands back whatever is still running.
    pub async fn run(mut self, shutdown: CancellationToken) -> Arc<AgentStats> {
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
        let presence = tokio::spawn(announce_presence(
            inner.clone(),
            slots.clone(),
            shutdown.clone(),
        ));
        // Kept for the run: the share of this agent's slots that are proving.
        let _busy = {
            let (slots, conc, id) = (slots.clone(), inner.cfg.concurrency, inner.cfg.id.clone());
            opentelemetry::global::meter("provemesh")
                .f64_observable_gauge("provemesh.agent.busy_ratio")
                .with_description("Share of an agent's job slots in use (0..1)")
                .with_callback(move |o| {
                    let busy = conc.saturating_sub(slots.available_permits());
                    o.observe(
                        busy as f64 / conc.max(1) as f64,
                        &[opentelemetry::KeyValue::new("agent", id.0.clone())],
                    );
                })
                .build()
        };
        let types: Vec<ProofType> = self.pullers.iter().map(|(t, _)| *t).collect();
        let client = inner.topo.js.client();
        let mut bell: Option<Doorbell> = None;
        let mut woken_by_ring = false;

        loop {
            let permit = if let Ok(p) = slots.clone().try_acquire_owned() {
                p
            } else {
                // Full. Stay in the doorbell groups for a moment (slots of short jobs free
                // up quickly, and leaving and re-joining every time costs the server),
                // passing on any ring that reaches us meanwhile; then leave them so rings
                // wake agents that can take the job.
                let linger = tokio::time::sleep(FULL_LINGER);
                tokio::pin!(linger);
                let mut lingering = bell.is_some();
                let acquired = loop {
                    tokio::select! {
                        biased;
                        _ = shutdown.cancelled() => break None,
                        p = slots.clone().acquire_owned() => break p.ok(),
                        r = ring(&mut bell), if lingering => pass_on(&client, r).await,
                        _ = &mut linger, if lingering => { bell = None; lingering = false; }
                    }
                };
                match acquired {
                    Some(p) => p,
                    None => break,
                }
            };
            if bell.is_none() {
                match Doorbell::join(&client, &types).await {
                    Ok(b) => bell = Some(b),
                    Err(e) => {
                        debug!(error = %e, "cannot join doorbells; relying on the idle sweep")
                    }
                }
            }
            match self
                .sweep(&slots, permit, &tracker, woken_by_ring.then_some(&client))
                .await
            {
                Ok(None) => woken_by_ring = false,
                Ok(Some(permit)) => {
                    // Idle, holding a free slot: wait for a ring, the safety sweep, or shutdown.
                    woken_by_ring = tokio::select! {
                        biased;
                        _ = shutdown.cancelled() => break,
                        _ = ring(&mut bell) => true,
                        _ = tokio::time::sleep(inner.cfg.idle_sweep) => false,
                    };
                    drop(permit);
                }
                Err(e) => {
                    warn!(agent = %inner.cfg.id, error = %e, "pulling jobs failed; retrying");
                    pause(&shutdown, Duration::from_millis(500)).await;
                }
            }
        }
        drop(bell);

        tracker.close();
        if !tracker.is_empty() {
            info!(agent = %inner.cfg.id, in_flight = tracker.len(), deadline = ?inner.cfg.drain_deadline, "draining");
        }
        if tokio::time::timeout(inner.cfg.drain_deadline, tracker.wait())
            .await
            .is_err()
        {
            info!(agent = %inner.cfg.id, "drain deadline passed: handing unfinished jobs back to the mesh");
            inner.hand_back.cancel();
            tracker.wait().await;
        }
        watcher.abort();
        // Withdrawn once draining is over: a node counting capacity sees it leave now
        // rather than after the presence TTL.
        let _ = presence.await;
        // Acks and naks are buffered by the client; the last ones (the hand-backs above)
        // must reach the server before the process may exit, or they wait out AckWait.
        if tokio::time::timeout(Duration::from_secs(5), client.flush())
            .await
            .is_err()
        {
            warn!(agent = %inner.cfg.id, "could not flush the last acks to the server");
        }
        info!(agent = %inner.cfg.id, proved = inner.stats.get(|s| &s.proved), "prover agent stopped");
        inner.stats.clone()
    }

    /// Takes as many queued jobs as there are free slots, highest priority type first.
    /// Returns the unused permit when every allowed queue was empty. With `ring_on`
    /// (the sweep follows a doorbell), a queue that still holds jobs after this agent took
    /// its share is rung once more, waking the next idle agent.
    async fn sweep(
        &mut self,
        slots: &Arc<Semaphore>,
        permit: OwnedSemaphorePermit,
        tracker: &TaskTracker,
        ring_on: Option<&async_nats::Client>,
    ) -> Result<Option<OwnedSemaphorePermit>, async_nats::Error> {
        let mut first = Some(permit);
        for (t, puller) in self.pullers.iter_mut() {
            let want = (first.is_some() as usize + slots.available_permits())
                .min(self.inner.cfg.max_fetch_batch);
            if want == 0 {
                break;
            }
            // A non-waiting pull is answered at once; it is bounded anyway, because a
            // request lost in a cluster leader change is never answered.
            let msgs = puller.pull(want, PULL_TIMEOUT).await?;
            let still_queued = msgs
                .last()
                .and_then(|m| m.info().ok())
                .is_some_and(|i| i.pending > 0);
            for msg in msgs {
                let p = first
                    .take()
                    .or_else(|| slots.clone().try_acquire_owned().ok());
                start(&self.inner, *t, msg, p, tracker).await;
            }
            if let (true, Some(client)) = (still_queued, ring_on) {
                let _ = client
                    .publish(subjects::ready(*t), bytes::Bytes::new())
                    .await;
            }
        }
        Ok(first)
    }
}

/// Subscriptions to the doorbells of the agent's proof types, in their queue groups.
/// Dropping it leaves the groups.
struct Doorbell(futures::stream::SelectAll<async_nats::Subscriber>);

impl Doorbell {
    async fn join(
        client: &async_nats::Client,
        types: &[ProofType],
    ) -> Result<Self, async_nats::SubscribeError> {
        let mut subs = Vec::new();
        for &t in types {
            subs.push(
                client
                    .queue_subscribe(subjects::ready(t), subjects::ready_group(t))
                    .await?,
            );
        }
        Ok(Doorbell(futures::stream::select_all(subs)))
    }
}

/// Resolves on the next ring; never, without doorbells.
async fn ring(bell: &mut Option<Doorbell>) -> Option<async_nats::Message> {
    match bell {
        Some(b) => b.0.next().await,
        None => std::future::pending().await,
    }
}

/// Re-rings a doorbell that reached a full agent, so that an idle one wakes instead. The
/// payload counts hops; a ring stops after [`MAX_RING_HOPS`].
async fn pass_on(client: &async_nats::Client, ring: Option<async_nats::Message>) {
    let Some(m) = ring else { return };
    let hops = m.payload.first().copied().unwrap_or(0);
    if hops < MAX_RING_HOPS {
        let _ = client
            .publish(m.subject, bytes::Bytes::from(vec![hops + 1]))
            .await;
    }
}

/// Starts a job in its own task, or hands it straight back when no slot is free.
async fn start(
    inner: &Arc<Inner>,
    t: ProofType,
    msg: async_nats::jetstream::Message,
    permit: Option<OwnedSemaphorePermit>,
    tracker: &TaskTracker,
) {
    match permit {
        Some(p) => {
            // The job's clock starts here, as its message is taken (its phases).
            let picked_up = std::time::Instant::now();
            tracker.spawn(job::run(inner.clone(), t, msg, p, picked_up));
        }
        None => {
            inner.stats.bump(|s| &s.overflow);
            if let Err(e) = msg.ack_with(AckKind::Nak(None)).await {
                debug!(error = %e, "handing back an extra job failed; it returns after AckWait");
            }
        }
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

/// Keeps the agent's presence on the mesh (`PROVE_AGENTS`) fresh until `shutdown`, then
/// withdraws it: nodes count it as proving capacity while it lives, idle or busy. A
/// failure is logged and retried at the next refresh; it never stops proving.
async fn announce_presence(inner: Arc<Inner>, slots: Arc<Semaphore>, shutdown: CancellationToken) {
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
            Ok(()) => failing = false,
            Err(e) if !failing => {
                failing = true;
                warn!(agent = %inner.cfg.id, error = %e, "cannot announce this agent's presence; retrying");
            }
            Err(_) => {}
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(every) => {}
        }
    }
    if let Err(e) = provemesh_nats::messages::remove_presence(&bucket, &inner.cfg.id.0).await {
        debug!(agent = %inner.cfg.id, error = %e, "could not withdraw this agent's presence; it expires");
    }
}
