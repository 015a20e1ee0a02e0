//! The epoch's event loop: blocks and the seal from the caller, results from the mesh,
//! proof checks, the watchdog tick, cancellation.
//!
//! Its state is a function of the inputs (blocks, seal, expected root public inputs) and
//! the epoch's results: results are read from the first one stored (ordered, deliver-all
//! consumer), jobs are content-addressed, and retries carry a nonce derived from how many
//! failures or rejected proofs the results show. So a restarted orchestrator rebuilds the
//! same DAG with the same job ids, finds the results already reported, and enqueues only
//! what has none. Until the replay of stored results is done, built jobs are held back;
//! a job whose result is already known is never enqueued again (and one enqueued again
//! anyway is dropped by the mesh's de-duplication or re-reported from the proof store).

mod outcomes;
mod watchdog;

use crate::build::{BuildContext, ProvedChild};
use crate::dag::{Dag, DagError, NodeIdx};
use crate::error::EpochError;
use crate::metrics::metrics;
use crate::outputs::Outputs;
use crate::progress::{EpochProgress, EpochState, Timings};
use crate::{EpochConfig, RootProof};
use backon::{ExponentialBuilder, Retryable};
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use provemesh_broker::{Broker, BrokerError, EpochEvent, EpochResults, NewJob};
use provemesh_common::circuit::FieldBytes;
use provemesh_common::{FailureKind, JobId, JobResult, JobStatus, ProofRef};
use provemesh_store::StoreError;
use provemesh_tx_processor::ProcessedBlock;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

pub(crate) enum Command {
    AddBlock(Box<ProcessedBlock>),
    Seal(Option<Vec<FieldBytes>>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Children not all proved yet.
    Waiting,
    /// Built, enqueue pending (held back until the replay of stored results is done).
    Pending,
    Queued,
    Verifying,
    Done,
}

struct Slot {
    phase: Phase,
    retry: u32,
    job: Option<JobId>,
    new_job: Option<NewJob>,
    outputs: Option<Outputs>,
    proof: Option<ProofRef>,
    enqueued_at: Option<Instant>,
    in_flight: bool,
}

impl Slot {
    fn new() -> Self {
        Slot {
            phase: Phase::Waiting,
            retry: 0,
            job: None,
            new_job: None,
            outputs: None,
            proof: None,
            enqueued_at: None,
            in_flight: false,
        }
    }
}

enum Rejection {
    Bad(String),
    Store(StoreError),
}

struct Checked {
    idx: NodeIdx,
    job: JobId,
    proof: ProofRef,
    prove_ms: u64,
    outcome: Result<Bytes, Rejection>,
}

/// Why a job is proved again.
enum Redo {
    Failed(FailureKind, String),
    Rejected(String),
}

pub(crate) struct Driver {
    broker: Broker,
    cfg: EpochConfig,
    dag: Dag,
    blocks: Vec<Arc<ProcessedBlock>>,
    slots: Vec<Slot>,
    by_job: HashMap<JobId, NodeIdx>,
    /// Results of jobs not built (yet): replayed before their blocks were added again.
    early: HashMap<JobId, JobResult>,
    pending: Vec<NodeIdx>,
    caught_up: bool,
    checking: JoinSet<Checked>,
    timings: Timings,
    progress: EpochProgress,
    progress_tx: watch::Sender<EpochProgress>,
    started: Instant,
    first_enqueue: Option<Instant>,
}

type Statuses = Option<BoxStream<'static, JobStatus>>;

async fn next_status(s: &mut Statuses) -> Option<JobStatus> {
    match s {
        Some(s) => s.next().await,
        None => futures::future::pending().await,
    }
}

impl Driver {
    pub fn new(
        broker: Broker,
        cfg: EpochConfig,
        progress_tx: watch::Sender<EpochProgress>,
    ) -> Self {
        let progress = progress_tx.borrow().clone();
        Driver {
            broker,
            cfg,
            dag: Dag::new(),
            blocks: Vec::new(),
            slots: Vec::new(),
            by_job: HashMap::new(),
            early: HashMap::new(),
            pending: Vec::new(),
            caught_up: false,
            checking: JoinSet::new(),
            timings: Timings::default(),
            progress,
            progress_tx,
            started: Instant::now(),
            first_enqueue: None,
        }
    }

    pub async fn run(
        mut self,
        commands: mpsc::UnboundedReceiver<Command>,
        results: EpochResults,
        statuses: Statuses,
    ) -> Result<RootProof, EpochError> {
        let out = self.event_loop(commands, results, statuses).await;
        let elapsed = self.started.elapsed().as_secs_f64();
        self.progress.state = match &out {
            Ok(_) => EpochState::Proved,
            Err(e) if e.is_cancelled() => EpochState::Cancelled,
            Err(e) => EpochState::Failed(e.to_string()),
        };
        self.publish();
        let epoch = self.cfg.epoch;
        match &out {
            Ok(root) => {
                metrics().finished(elapsed, "proved");
                info!(%epoch, jobs = self.dag.len(), elapsed_s = elapsed, root_job = %root.job.short(), "epoch proved; root proof verified");
            }
            Err(e) => {
                metrics().finished(
                    elapsed,
                    if e.is_cancelled() {
                        "cancelled"
                    } else {
                        "failed"
                    },
                );
                warn!(%epoch, error = %e, "epoch not proved");
            }
        }
        out
    }

    fn broker_err(&self, source: BrokerError) -> EpochError {
        match source {
            BrokerError::EpochCancelled(epoch) => EpochError::CancelledElsewhere { epoch },
            source => EpochError::Broker {
                epoch: self.cfg.epoch,
                source: Box::new(source),
            },
        }
    }

    async fn event_loop(
        &mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut results: EpochResults,
        mut statuses: Statuses,
    ) -> Result<RootProof, EpochError> {
        let epoch = self.cfg.epoch;
        let cancel = self.cfg.cancel.clone();
        let mut tick = tokio::time::interval(self.cfg.watch_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut commands_open = true;
        loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => {
                    let report = self.broker.cancel_epoch(epoch).await.map_err(|e| self.broker_err(e))?;
                    return Err(EpochError::Cancelled { epoch, purged: report.purged });
                }
                cmd = commands.recv(), if commands_open => match cmd {
                    Some(Command::AddBlock(b)) => self.add_block(*b)?,
                    Some(Command::Seal(expected)) => self.seal(expected)?,
                    None => {
                        commands_open = false;
                        if !self.dag.is_sealed() {
                            return Err(EpochError::NotSealed { epoch });
                        }
                    }
                },
                Some(c) = self.checking.join_next(), if !self.checking.is_empty() => {
                    let c = c.map_err(|e| EpochError::Stopped { epoch, reason: format!("proof check task: {e}") })?;
                    if let Some(root) = self.checked(c)? {
                        return Ok(root);
                    }
                }
                ev = results.next() => match ev.map_err(|e| self.broker_err(e))? {
                    EpochEvent::CaughtUp => {
                        debug!(%epoch, known = self.early.len(), "replay of stored results done");
                        self.caught_up = true;
                    }
                    EpochEvent::Result(r) => self.on_result(*r)?,
                },
                s = next_status(&mut statuses) => match s {
                    Some(s) => self.on_status(&s),
                    None => statuses = None,
                },
                _ = tick.tick() => {
                    if self.broker.is_cancelled(epoch).await.unwrap_or(false) {
                        return Err(EpochError::CancelledElsewhere { epoch });
                    }
                    self.watchdog();
                }
            }
            self.flush().await?;
            self.publish();
        }
    }

    fn add_block(&mut self, block: ProcessedBlock) -> Result<(), EpochError> {
        let epoch = self.cfg.epoch;
        let index = self.blocks.len();
        let number = block.header.global_variables.block_number;
        let new = self
            .dag
            .add_block(block.txs.len(), block.parity.base.len())
            .map_err(|source| match source {
                DagError::NoParity { .. } => EpochError::InvalidBlock {
                    epoch,
                    index,
                    number,
                    reason: "no base parity inputs".into(),
                },
                source => EpochError::Dag { epoch, source },
            })?;
        debug!(%epoch, block = number, txs = block.txs.len(), nodes = new.len(), "block added");
        self.blocks.push(Arc::new(block));
        self.progress.blocks = self.blocks.len();
        self.register(new)
    }

    fn seal(&mut self, expected: Option<Vec<FieldBytes>>) -> Result<(), EpochError> {
        let epoch = self.cfg.epoch;
        if let Some(e) = expected {
            crate::check_expected(epoch, &e)?;
            self.cfg.expected_root_public_inputs = Some(e);
        }
        if self.cfg.expected_root_public_inputs.is_none() {
            return Err(EpochError::Config {
                epoch,
                reason: "no expected root public inputs (give them in EpochConfig or to seal_with)"
                    .into(),
            });
        }
        let new = self
            .dag
            .seal()
            .map_err(|source| EpochError::Dag { epoch, source })?;
        self.progress.sealed = true;
        info!(%epoch, blocks = self.blocks.len(), jobs = self.dag.len(), "epoch sealed");
        self.register(new)
    }

    fn register(&mut self, new: Vec<NodeIdx>) -> Result<(), EpochError> {
        for _ in &new {
            self.slots.push(Slot::new());
        }
        for idx in new {
            self.try_schedule(idx)?;
        }
        Ok(())
    }

    fn try_schedule(&mut self, idx: NodeIdx) -> Result<(), EpochError> {
        let ready = self.slots[idx].phase == Phase::Waiting
            && self
                .dag
                .node(idx)
                .children
                .iter()
                .all(|&c| self.slots[c].phase == Phase::Done);
        if ready {
            self.prepare(idx)?;
        }
        Ok(())
    }

    /// Builds the node's job; uses its result if the mesh already reported one, else
    /// queues it for enqueueing.
    fn prepare(&mut self, idx: NodeIdx) -> Result<(), EpochError> {
        let expected = self
            .cfg
            .expected_root_public_inputs
            .as_deref()
            .unwrap_or_default();
        let ctx = BuildContext {
            epoch: self.cfg.epoch,
            dag: &self.dag,
            blocks: &self.blocks,
            prover_id: self.cfg.prover_id,
            expected_root: expected,
        };
        let slots = &self.slots;
        let built = ctx.build(idx, slots[idx].retry, |c| {
            let s = &slots[c];
            Some(ProvedChild {
                job: s.job?,
                proof: s.proof.as_ref()?,
                outputs: s.outputs.as_ref()?,
            })
        })?;
        let node = self.dag.node(idx);
        let inputs = built.inputs.encode().map_err(|e| EpochError::Inputs {
            epoch: self.cfg.epoch,
            proof_type: node.proof_type,
            node: node.key,
            reason: e.to_string(),
        })?;
        let job = NewJob {
            epoch: self.cfg.epoch,
            proof_type: node.proof_type,
            inputs: inputs.into(),
            deadline_ms: self.cfg.deadline_ms,
        };
        let id = job.id();
        let slot = &mut self.slots[idx];
        slot.job = Some(id);
        slot.outputs = Some(built.outputs);
        slot.proof = None;
        self.by_job.insert(id, idx);
        if let Some(r) = self.early.remove(&id) {
            slot.phase = Phase::Queued;
            return self.on_known_result(idx, r);
        }
        slot.phase = Phase::Pending;
        slot.new_job = Some(job);
        self.pending.push(idx);
        Ok(())
    }

    /// Enqueues the built jobs in one batch, once stored results have been replayed.
    async fn flush(&mut self) -> Result<(), EpochError> {
        if !self.caught_up || self.pending.is_empty() {
            return Ok(());
        }
        let mut idxs = Vec::new();
        let mut jobs = Vec::new();
        for idx in std::mem::take(&mut self.pending) {
            let slot = &mut self.slots[idx];
            if slot.phase == Phase::Pending {
                if let Some(j) = slot.new_job.take() {
                    idxs.push(idx);
                    jobs.push(j);
                }
            }
        }
        if jobs.is_empty() {
            return Ok(());
        }
        let broker = self.broker.clone();
        let enqueued = (|| broker.enqueue_many(jobs.clone()))
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(100))
                    .with_max_times(3),
            )
            .when(|e| !matches!(e, BrokerError::EpochCancelled(_)))
            .await
            .map_err(|e| self.broker_err(e))?;
        let now = Instant::now();
        self.first_enqueue.get_or_insert(now);
        let duplicates = enqueued.iter().filter(|e| e.duplicate).count();
        debug!(epoch = %self.cfg.epoch, jobs = idxs.len(), duplicates, "jobs enqueued");
        for idx in idxs {
            let slot = &mut self.slots[idx];
            if slot.phase == Phase::Pending {
                slot.phase = Phase::Queued;
                slot.enqueued_at = Some(now);
            }
        }
        Ok(())
    }
}
