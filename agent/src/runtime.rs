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
//! can take the job. Rings are best effort; a safety sweep picks up anything enqueued
//! without one (e.g. by other tooling, or back after AckWait from a killed agent). What
//! it must guarantee is that *some* idle agent asks each queue soon, not that every one
//! does: an idle agent sweeps every `idle_sweep` in a fleet of up to
//! [`SWEEPERS_PER_INTERVAL`] agents, and proportionally less often in a larger one (at
//! most [`MAX_SWEEP_STRETCH`] times less), at a random point of its interval. The fleet
//! as a whole keeps asking each queue about as often, and a large idle fleet does not
//! load the server with a pull per queue per agent per second.
//!
//! Pulls are kept few, since each is a request and often an answer for the server to
//! handle. A queue found empty is not asked again while the agent keeps a free slot and
//! its doorbells (a job queued meanwhile rings); once the agent was full, it is asked
//! again after `empty_recheck`, doubled for each further empty pull in a row up to eight
//! times, and at once if the sweep found nothing elsewhere. A ring makes its type's
//! queue worth asking again, the safety sweep every queue. And once full, an agent waits
//! up to a millisecond for more of its slots to free before it sweeps, asking for several
//! jobs in one pull.

use crate::backend::ProvingBackend;
use crate::config::AgentConfig;
use crate::doorbell::{pass_on, ring, Doorbell};
use crate::job;
use crate::mesh_ties::{announce_presence, watch_cancellations, Cancellations};
use crate::pull::Puller;
use async_nats::jetstream::AckKind;
use provemesh_common::ProofType;
use provemesh_nats::{subjects, Topology};
use provemesh_store::ProofStore;
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
    MissingConsumer {
        agent: String,
        proof_type: ProofType,
    },
}

/// How long a full agent stays in the doorbell groups before leaving them.
const FULL_LINGER: Duration = Duration::from_millis(50);

/// How long a busy agent whose first slot frees waits for its other slots, so that it
/// asks for several jobs in one pull rather than one pull per job. Short next to any real
/// proof, and bounded: a slot freed is filled within this.
const GATHER: Duration = Duration::from_millis(1);

/// How many agents of a fleet between them make the safety sweeps of one `idle_sweep`:
/// in a larger fleet each agent sweeps that much less often.
pub(crate) const SWEEPERS_PER_INTERVAL: u64 = 16;

/// The longest an idle agent's safety sweep is put off, as a multiple of `idle_sweep`
/// (where few agents of a large fleet serve a proof type, a job of that type queued
/// without a ring waits at most this for one of them).
pub(crate) const MAX_SWEEP_STRETCH: u64 = 8;

/// How long an idle agent waits for a ring before its safety sweep: `idle_sweep`
/// stretched by the fleet's size past [`SWEEPERS_PER_INTERVAL`] agents (at most
/// [`MAX_SWEEP_STRETCH`] times), at a uniformly random point between half and one and a
/// half of that, so that the fleet's sweeps spread out instead of coming all at once.
pub(crate) fn safety_sweep_wait(idle_sweep: Duration, fleet: u64, draw: f64) -> Duration {
    let stretch = fleet
        .div_ceil(SWEEPERS_PER_INTERVAL)
        .clamp(1, MAX_SWEEP_STRETCH);
    idle_sweep.mul_f64(stretch as f64 * (0.5 + draw.clamp(0.0, 1.0)))
}

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
    /// Pull requests sent to the job consumers, and those answered with no job: what
    /// scheduling costs the server beyond the jobs themselves.
    pub pulls: AtomicU64,
    pub empty_pulls: AtomicU64,
    /// Agents on the mesh as this agent last counted them (0 until counted): it spaces the
    /// agent's safety sweeps.
    pub fleet: AtomicU64,
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

pub(crate) struct Inner {
    pub cfg: AgentConfig,
    pub topo: Topology,
    pub store: ProofStore,
    pub backend: Arc<dyn ProvingBackend>,
    pub stats: Arc<AgentStats>,
    pub cancellations: Cancellations,
    /// Fired at the drain deadline: unfinished jobs are handed back.
    pub hand_back: CancellationToken,
    /// Fired when the agent has stopped: ends what it left behind (delayed rings).
    pub stopped: CancellationToken,
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
                stopped: CancellationToken::new(),
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
        // Since when this agent has had a free slot and its doorbells all along: a job
        // queued since then rang, and the ring reached an agent that could take it.
        let mut listening_since: Option<Instant> = None;

        loop {
            let permit = if let Ok(p) = slots.clone().try_acquire_owned() {
                p
            } else {
                listening_since = None;
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
                    Some(p) => {
                        gather_slots(&slots, inner.cfg.concurrency).await;
                        p
                    }
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
            if bell.is_none() {
                listening_since = None;
            } else if listening_since.is_none() {
                listening_since = Some(Instant::now());
            }
            match self
                .sweep(
                    &slots,
                    permit,
                    &tracker,
                    woken_by_ring.then_some(&client),
                    listening_since,
                )
                .await
            {
                Ok(None) => woken_by_ring = false,
                Ok(Some(permit)) => {
                    // Idle, holding a free slot: wait for a ring, the safety sweep, or shutdown.
                    // A ring makes its type's queue worth asking again; the safety sweep,
                    // every queue.
                    let rung = tokio::select! {
                        biased;
                        _ = shutdown.cancelled() => break,
                        r = ring(&mut bell) => Some(r.and_then(|m| subjects::ready_type(&m.subject))),
                        _ = tokio::time::sleep(safety_sweep_wait(
                            inner.cfg.idle_sweep,
                            inner.stats.get(|s| &s.fleet),
                            rand::random::<f64>(),
                        )) => None,
                    };
                    woken_by_ring = rung.is_some();
                    let only = rung.flatten();
                    for (t, puller) in self.pullers.iter_mut() {
                        if only.is_none_or(|rung| rung == *t) {
                            puller.forget_empty();
                        }
                    }
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
        inner.stopped.cancel();
        info!(agent = %inner.cfg.id, proved = inner.stats.get(|s| &s.proved), "prover agent stopped");
        inner.stats.clone()
    }

    /// Takes as many queued jobs as there are free slots, highest priority type first.
    /// Returns the unused permit when no job was found.
    ///
    /// Queues found empty are passed by: those found so while this agent was
    /// `listening_since` (a free slot and its doorbells all along, so a job queued since
    /// then rang an agent that could take it), and those found so within the last
    /// `empty_recheck` (backing off). The latter are asked after all when nothing else
    /// was found, so an agent never goes idle on a guess. With `ring_on` (the sweep
    /// follows a doorbell), a queue that still holds jobs after this agent took its share
    /// is rung once more, waking the next idle agent.
    async fn sweep(
        &mut self,
        slots: &Arc<Semaphore>,
        permit: OwnedSemaphorePermit,
        tracker: &TaskTracker,
        ring_on: Option<&async_nats::Client>,
        listening_since: Option<Instant>,
    ) -> Result<Option<OwnedSemaphorePermit>, async_nats::Error> {
        let mut first = Some(permit);
        let mut backing_off = Vec::new();
        for i in 0..self.pullers.len() {
            let puller = &self.pullers[i].1;
            let rung_if_filled = listening_since
                .zip(puller.seen_empty_at())
                .is_some_and(|(listening, empty)| empty >= listening);
            if rung_if_filled {
                continue;
            }
            if puller.known_empty(self.inner.cfg.empty_recheck) {
                backing_off.push(i);
                continue;
            }
            if !self.take(i, slots, &mut first, tracker, ring_on).await? {
                return Ok(first);
            }
        }
        for i in backing_off {
            if first.is_none() || !self.take(i, slots, &mut first, tracker, ring_on).await? {
                break;
            }
        }
        Ok(first)
    }

    /// Pulls from the `i`th queue as many jobs as there are free slots and starts them;
    /// false when there was no free slot to pull for.
    async fn take(
        &mut self,
        i: usize,
        slots: &Arc<Semaphore>,
        first: &mut Option<OwnedSemaphorePermit>,
        tracker: &TaskTracker,
        ring_on: Option<&async_nats::Client>,
    ) -> Result<bool, async_nats::Error> {
        let want = (first.is_some() as usize + slots.available_permits())
            .min(self.inner.cfg.max_fetch_batch);
        if want == 0 {
            return Ok(false);
        }
        let (t, puller) = &mut self.pullers[i];
        // A non-waiting pull is answered at once; it is bounded anyway, because a request
        // lost in a cluster leader change is never answered.
        let msgs = puller.pull(want, PULL_TIMEOUT).await?;
        self.inner.stats.bump(|s| &s.pulls);
        if msgs.is_empty() {
            self.inner.stats.bump(|s| &s.empty_pulls);
        }
        let still_queued = !msgs.is_empty() && puller.left_jobs_queued();
        for msg in msgs {
            let p = first
                .take()
                .or_else(|| slots.clone().try_acquire_owned().ok());
            start(&self.inner, *t, msg, p, tracker).await;
        }
        if let (true, Some(client)) = (still_queued, ring_on) {
            provemesh_nats::messages::ring(client, *t, 1).await;
        }
        Ok(true)
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
            // Boxed: the job's state machine is ~6 KB, and a task holding it by value would
            // copy it at every move into the task and again when the task finishes.
            tracker.spawn(Box::pin(job::run(inner.clone(), t, msg, p, picked_up)));
        }
        None => {
            inner.stats.bump(|s| &s.overflow);
            if let Err(e) = msg.ack_with(AckKind::Nak(None)).await {
                debug!(error = %e, "handing back an extra job failed; it returns after AckWait");
            }
        }
    }
}

/// Waits up to [`GATHER`] for every other slot to free as well (they are released at once;
/// the sweep takes them as it starts jobs).
async fn gather_slots(slots: &Semaphore, concurrency: usize) {
    let others = concurrency.saturating_sub(1) as u32;
    if others == 0 {
        return;
    }
    if let Ok(Ok(all)) = tokio::time::timeout(GATHER, slots.acquire_many(others)).await {
        drop(all);
    }
}

pub(crate) async fn pause(shutdown: &CancellationToken, d: Duration) {
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = tokio::time::sleep(d) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_larger_fleet_sweeps_less_often_per_agent_and_as_often_as_a_whole() {
        let s = Duration::from_secs(1);
        // Up to 16 agents: every agent sweeps about every second, half to one and a half.
        for fleet in [0, 1, 16] {
            assert_eq!(safety_sweep_wait(s, fleet, 0.0), Duration::from_millis(500));
            assert_eq!(safety_sweep_wait(s, fleet, 0.5), s);
            assert_eq!(
                safety_sweep_wait(s, fleet, 1.0),
                Duration::from_millis(1500)
            );
        }
        // 64 agents: each every 4 s on average, so the fleet still asks each queue about
        // 16 times a second.
        assert_eq!(safety_sweep_wait(s, 64, 0.5), Duration::from_secs(4));
        assert_eq!(safety_sweep_wait(s, 17, 0.5), Duration::from_secs(2));
        // However large the fleet, no agent waits more than 8 (± half) intervals.
        assert_eq!(safety_sweep_wait(s, 10_000, 0.5), Duration::from_secs(8));
        assert_eq!(safety_sweep_wait(s, 10_000, 7.0), Duration::from_secs(12));
    }

    #[tokio::test]
    async fn gathering_slots_is_bounded_and_keeps_none_of_them() {
        let slots = Arc::new(Semaphore::new(4));
        let _first = slots.clone().try_acquire_owned().unwrap();
        // Three jobs still running: the wait ends on its own.
        let running = slots.clone().try_acquire_many_owned(3).unwrap();
        tokio::time::timeout(Duration::from_secs(5), gather_slots(&slots, 4))
            .await
            .expect("the wait is bounded");
        assert_eq!(slots.available_permits(), 0);
        // Once they are done, the slots are left for the sweep to take.
        drop(running);
        tokio::time::timeout(Duration::from_secs(5), gather_slots(&slots, 4))
            .await
            .expect("free slots end the wait");
        assert_eq!(slots.available_permits(), 3);
        // One slot in all: nothing to wait for.
        let single = Semaphore::new(0);
        tokio::time::timeout(Duration::from_secs(5), gather_slots(&single, 1))
            .await
            .expect("no wait with one slot");
    }
}
