//! The epoch supervisor: starts a proving job for every epoch L1 says is claimed with our
//! quote, hands its proof to the publisher, and stops jobs whose blocks a reorg or prune
//! removed.
//!
//! L1 is the source of truth for claims: the supervisor reads `getProofClaim` on every
//! round rather than trusting an in-process event, so a restarted node re-attaches to the
//! epoch it was proving (the orchestrator finds the mesh's results, the publisher its
//! journal) without any epoch state of its own to recover.

use crate::job::{prove_epoch, JobContext, JobError, ProvenEpoch};
use crate::sync::SyncEvent;
use futures::future::BoxFuture;
use provemesh_archiver::L2BlockSource;
use provemesh_orchestrator::EpochProgress;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

/// Where proofs go (the L1 publisher; a trait so the supervisor does not depend on how).
pub trait EpochPublisher: Send + Sync + 'static {
    /// Submits `proof` once; `Ok` with a description (tx hash, or "already proven").
    fn publish<'a>(
        &'a self,
        proof: &'a ProvenEpoch,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<Published, String>>;
}

/// How a publication ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Published {
    Submitted { tx_hash: String, l1_block: u64 },
    AlreadyProven { proven_tip: u64 },
}

/// Where an epoch of ours stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EpochPhase {
    /// Claimed; waiting for its blocks to execute and its jobs to prove.
    Proving,
    /// Root proof verified; submitting to L1.
    Publishing,
    Published(Published),
    Failed(String),
    /// Its blocks changed (reorg, prune) or the node is stopping.
    Cancelled,
}

/// One epoch the node proves or proved.
#[derive(Debug, Clone, Serialize)]
pub struct EpochRecord {
    pub epoch: u64,
    pub phase: EpochPhase,
    pub progress: Option<EpochProgress>,
    pub started_at_ms: u64,
    pub finished_at_ms: Option<u64>,
    /// Jobs in the epoch's DAG, once proved.
    pub jobs: Option<usize>,
    /// Proving time, claim to verified root proof.
    pub proving_ms: Option<u64>,
}

/// What the supervisor reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EpochEvent {
    Started { epoch: u64 },
    Proved { epoch: u64, jobs: usize },
    Published { epoch: u64, published: Published },
    Failed { epoch: u64, error: String },
    Cancelled { epoch: u64 },
}

/// Shared record of the epochs.
#[derive(Clone, Default)]
pub struct Epochs {
    records: Arc<Mutex<BTreeMap<u64, EpochRecord>>>,
}

impl Epochs {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, EpochRecord>> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn all(&self) -> Vec<EpochRecord> {
        self.lock().values().cloned().collect()
    }

    pub fn get(&self, epoch: u64) -> Option<EpochRecord> {
        self.lock().get(&epoch).cloned()
    }

    fn update(&self, epoch: u64, f: impl FnOnce(&mut EpochRecord)) {
        if let Some(r) = self.lock().get_mut(&epoch) {
            f(r);
        }
    }

    /// Active or finished with success: not to be started again.
    fn settled_or_running(&self, epoch: u64) -> bool {
        self.lock().get(&epoch).is_some_and(|r| {
            matches!(
                r.phase,
                EpochPhase::Proving | EpochPhase::Publishing | EpochPhase::Published(_)
            )
        })
    }

    /// Epochs being proved or published now.
    pub fn in_progress(&self) -> usize {
        self.lock()
            .values()
            .filter(|r| matches!(r.phase, EpochPhase::Proving | EpochPhase::Publishing))
            .count()
    }
}

/// How the supervisor runs.
#[derive(Debug, Clone)]
pub struct SupervisorConfig {
    /// How often L1's claim is read.
    pub poll_interval: Duration,
    /// Completed epochs kept in the record (for status) besides running ones.
    pub keep_finished: usize,
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        SupervisorConfig {
            poll_interval: Duration::from_millis(500),
            keep_finished: 64,
        }
    }
}

/// Starts and stops proving jobs. See the module documentation.
pub struct Supervisor<S> {
    pub ctx: Arc<JobContext<S>>,
    pub publisher: Arc<dyn EpochPublisher>,
    pub config: SupervisorConfig,
    pub epochs: Epochs,
    pub events: broadcast::Sender<EpochEvent>,
}

struct Running {
    /// Cancels the epoch on the mesh (prune: it can never be proved).
    cancel: CancellationToken,
    /// Stops the job here only (reorg: the epoch may come back, and its jobs that did not
    /// change are still good; a mesh cancel would be final for the epoch number).
    abort: tokio::task::AbortHandle,
    end_block: Option<u64>,
}

impl<S: L2BlockSource + 'static> Supervisor<S> {
    pub async fn run(self, shutdown: CancellationToken) {
        let mut running: BTreeMap<u64, Running> = BTreeMap::new();
        let mut tasks: JoinSet<(u64, Result<(), JobError>)> = JoinSet::new();
        let mut sync_events = self.ctx.executed.subscribe();
        let mut tick = tokio::time::interval(self.config.poll_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => self.poll(&mut running, &mut tasks).await,
                Some(done) = tasks.join_next() => {
                    let Ok((epoch, result)) = done else { continue };
                    running.remove(&epoch);
                    self.finished(epoch, result);
                }
                ev = sync_events.recv() => match ev {
                    Ok(SyncEvent::Unwound { to, pruned }) => {
                        let hit: Vec<u64> = running
                            .iter()
                            .filter(|(_, r)| r.end_block.is_none_or(|end| end > to))
                            .map(|(e, _)| *e)
                            .collect();
                        for epoch in hit {
                            if pruned {
                                warn!(epoch, to, "the epoch was pruned: cancelling its jobs on the mesh");
                                if let Some(r) = running.get(&epoch) {
                                    r.cancel.cancel();
                                }
                            } else if let Some(r) = running.remove(&epoch) {
                                warn!(epoch, to, "L1 reorganised under the epoch: stopping its proving job until the chain settles");
                                r.abort.abort();
                                self.finished(epoch, Err(JobError::Cancelled { epoch }));
                            }
                        }
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => {}
                },
            }
        }
        // Stopping: jobs stop here (their mesh jobs stay queued for the next start).
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }

    /// Starts the job of an epoch claimed with our quote, if none runs.
    async fn poll(
        &self,
        running: &mut BTreeMap<u64, Running>,
        tasks: &mut JoinSet<(u64, Result<(), JobError>)>,
    ) {
        let claim = match self.ctx.rollup.proof_claim().await {
            Ok(c) => c,
            Err(e) => {
                warn!("reading the proof claim on L1: {e}");
                return;
            }
        };
        let Some(claim) = claim else { return };
        if claim.prover != self.ctx.prover {
            return;
        }
        let epoch: u64 = claim.epochToProve.saturating_to();
        if running.contains_key(&epoch) || self.epochs.settled_or_running(epoch) {
            return;
        }
        let end_block = match self.ctx.source.blocks_of_epoch(epoch).await {
            Ok(b) => b.last().map(|b| b.number),
            Err(e) => {
                warn!(epoch, "reading the epoch's blocks: {e}");
                return;
            }
        };
        if end_block.is_none() {
            // The archiver has not seen the epoch's blocks yet.
            return;
        }
        info!(epoch, "epoch claimed with our quote: proving it");
        // Not a child of the shutdown token: firing it cancels the epoch on the mesh for
        // good (the cancel marker is final for the epoch number), which only a prune may
        // do. A node stopping (or restarting) just drops its job; the mesh keeps the
        // epoch's jobs and results for the next start to re-attach to.
        let cancel = CancellationToken::new();
        let now = provemesh_common::unix_millis();
        {
            let mut records = self.epochs.lock();
            records.insert(
                epoch,
                EpochRecord {
                    epoch,
                    phase: EpochPhase::Proving,
                    progress: None,
                    started_at_ms: now,
                    finished_at_ms: None,
                    jobs: None,
                    proving_ms: None,
                },
            );
            while records.len() > self.config.keep_finished {
                let Some(oldest) = records.keys().next().copied() else {
                    break;
                };
                records.remove(&oldest);
            }
        }
        let _ = self.events.send(EpochEvent::Started { epoch });
        let ctx = self.ctx.clone();
        let publisher = self.publisher.clone();
        let epochs = self.epochs.clone();
        let events = self.events.clone();
        let job_cancel = cancel.clone();
        let abort = tasks.spawn(async move {
            let r = run_epoch(
                &ctx,
                publisher.as_ref(),
                &epochs,
                &events,
                epoch,
                job_cancel,
            )
            .await;
            (epoch, r)
        });
        running.insert(
            epoch,
            Running {
                cancel,
                abort,
                end_block,
            },
        );
    }

    fn finished(&self, epoch: u64, result: Result<(), JobError>) {
        let now = provemesh_common::unix_millis();
        match result {
            Ok(()) => {}
            Err(e) if e.is_cancelled() => {
                info!(epoch, "epoch proving cancelled: {e}");
                self.epochs.update(epoch, |r| {
                    r.phase = EpochPhase::Cancelled;
                    r.finished_at_ms = Some(now);
                });
                crate::metrics::get().epoch_finished("cancelled");
                let _ = self.events.send(EpochEvent::Cancelled { epoch });
            }
            Err(e) => {
                error!(epoch, "epoch failed: {e}");
                let error = e.to_string();
                self.epochs.update(epoch, |r| {
                    r.phase = EpochPhase::Failed(error.clone());
                    r.finished_at_ms = Some(now);
                });
                crate::metrics::get().epoch_finished("failed");
                let _ = self.events.send(EpochEvent::Failed { epoch, error });
            }
        }
    }
}

async fn run_epoch<S: L2BlockSource + 'static>(
    ctx: &JobContext<S>,
    publisher: &dyn EpochPublisher,
    epochs: &Epochs,
    events: &broadcast::Sender<EpochEvent>,
    epoch: u64,
    cancel: CancellationToken,
) -> Result<(), JobError> {
    let (progress_tx, mut progress_rx) = watch::channel(None);
    let mirror = {
        let epochs = epochs.clone();
        async move {
            while progress_rx.changed().await.is_ok() {
                let p = progress_rx.borrow_and_update().clone();
                epochs.update(epoch, |r| r.progress = p);
            }
        }
    };
    let proven = tokio::select! {
        r = prove_epoch(ctx, epoch, cancel.clone(), &progress_tx) => r?,
        _ = mirror => return Err(JobError::Cancelled { epoch }),
    };
    if let Some(p) = progress_tx.borrow().clone() {
        epochs.update(epoch, |r| r.progress = Some(p));
    }
    let jobs = proven.root.jobs;
    let proving_ms = proven.root.elapsed.as_millis() as u64;
    epochs.update(epoch, |r| {
        r.phase = EpochPhase::Publishing;
        r.jobs = Some(jobs);
        r.proving_ms = Some(proving_ms);
    });
    let _ = events.send(EpochEvent::Proved { epoch, jobs });
    let published = publisher
        .publish(&proven, &cancel)
        .await
        .map_err(|reason| JobError::L1 { epoch, reason })?;
    info!(epoch, ?published, "epoch proof published");
    crate::metrics::get().epoch_finished(match published {
        Published::Submitted { .. } => "published",
        Published::AlreadyProven { .. } => "already_proven",
    });
    let now = provemesh_common::unix_millis();
    epochs.update(epoch, |r| {
        r.phase = EpochPhase::Published(published.clone());
        r.finished_at_ms = Some(now);
    });
    let _ = events.send(EpochEvent::Published { epoch, published });
    Ok(())
}
