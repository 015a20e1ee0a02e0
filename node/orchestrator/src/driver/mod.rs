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

use crate::build::{build_leaves, BuildContext, Built, ProvedChild};
use crate::dag::{Dag, DagError, NodeIdx, NodeKey};
use crate::error::EpochError;
use crate::metrics::metrics;
use crate::outputs::Outputs;
use crate::priority;
use crate::progress::{EpochProgress, EpochState, Timings};
use crate::real::Proofs;
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
use tokio::sync::{mpsc, watch, Semaphore};
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
    /// A leaf whose job is being built on a blocking thread.
    Building,
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
    /// The public inputs the job's proof must carry.
    expected: Vec<FieldBytes>,
    proof: Option<ProofRef>,
    /// The checked proof's bytes (a real parent's job carries its children's proofs).
    proof_bytes: Option<Bytes>,
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
            expected: Vec::new(),
            proof: None,
            proof_bytes: None,
            enqueued_at: None,
            in_flight: false,
        }
    }
}

enum Rejection {
    Bad(String),
    Store(StoreError),
    Verifier(String),
}

struct Checked {
    idx: NodeIdx,
    job: JobId,
    proof: ProofRef,
    prove_ms: u64,
    outcome: Result<outcomes::CheckedProof, Rejection>,
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
    building: JoinSet<Result<Vec<Built>, EpochError>>,
    enqueuing: JoinSet<Result<(), BrokerError>>,
    /// Bounds the blocking threads building leaf jobs to the cores (longest path first).
    builders: Arc<Semaphore>,
    timings: Timings,
    progress: EpochProgress,
    progress_tx: watch::Sender<EpochProgress>,
    started: Instant,
    first_enqueue: Option<Instant>,
    node_busy: Duration,
}

type Statuses = Option<BoxStream<'static, JobStatus>>;

/// Leaf jobs built per blocking task: small, so the first jobs of a block go out early.
const LEAVES_PER_TASK: usize = 4;

/// Blocking threads building leaf jobs at once: every core but one. Building is pure CPU;
/// with every core on it, the event loop and the enqueue tasks that get the built jobs to
/// the agents wait for a time slice, and the first jobs reach the mesh later than with
/// one builder fewer (measured by `provemesh bench epoch`).
fn leaf_builders() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// What woke the event loop.
enum Event {
    Cancel,
    Command(Option<Command>),
    Checked(Result<Checked, tokio::task::JoinError>),
    Built(Result<Result<Vec<Built>, EpochError>, tokio::task::JoinError>),
    Enqueued(Result<Result<(), BrokerError>, tokio::task::JoinError>),
    Results(Result<EpochEvent, BrokerError>),
    Status(Option<JobStatus>),
    Tick,
}

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
            building: JoinSet::new(),
            enqueuing: JoinSet::new(),
            builders: Arc::new(Semaphore::new(leaf_builders())),
            timings: Timings::default(),
            progress,
            progress_tx,
            started: Instant::now(),
            first_enqueue: None,
            node_busy: Duration::ZERO,
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
            let event = tokio::select! {
                biased;
                _ = cancel.cancelled() => Event::Cancel,
                cmd = commands.recv(), if commands_open => Event::Command(cmd),
                Some(c) = self.checking.join_next(), if !self.checking.is_empty() => Event::Checked(c),
                Some(b) = self.building.join_next(), if !self.building.is_empty() => Event::Built(b),
                Some(e) = self.enqueuing.join_next(), if !self.enqueuing.is_empty() => Event::Enqueued(e),
                ev = results.next() => Event::Results(ev),
                s = next_status(&mut statuses) => Event::Status(s),
                _ = tick.tick() => Event::Tick,
            };
            // Node time: handling an event, enqueueing what it made ready, publishing.
            let busy = Instant::now();
            match event {
                Event::Cancel => {
                    let report = self
                        .broker
                        .cancel_epoch(epoch)
                        .await
                        .map_err(|e| self.broker_err(e))?;
                    return Err(EpochError::Cancelled {
                        epoch,
                        purged: report.purged,
                    });
                }
                Event::Command(Some(Command::AddBlock(b))) => self.add_block(*b)?,
                Event::Command(Some(Command::Seal(expected))) => self.seal(expected)?,
                Event::Command(None) => {
                    commands_open = false;
                    if !self.dag.is_sealed() {
                        return Err(EpochError::NotSealed { epoch });
                    }
                }
                Event::Checked(c) => {
                    let c = c.map_err(|e| EpochError::Stopped {
                        epoch,
                        reason: format!("proof check task: {e}"),
                    })?;
                    if let Some(root) = self.checked(c)? {
                        return Ok(root);
                    }
                }
                Event::Built(b) => {
                    let built = b.map_err(|e| EpochError::Stopped {
                        epoch,
                        reason: format!("input building task: {e}"),
                    })??;
                    for b in built {
                        self.install(b)?;
                    }
                }
                Event::Enqueued(e) => {
                    e.map_err(|e| EpochError::Stopped {
                        epoch,
                        reason: format!("enqueue task: {e}"),
                    })?
                    .map_err(|e| self.broker_err(e))?;
                }
                Event::Results(ev) => match ev.map_err(|e| self.broker_err(e))? {
                    EpochEvent::CaughtUp => {
                        debug!(%epoch, known = self.early.len(), "replay of stored results done");
                        self.caught_up = true;
                    }
                    EpochEvent::Result(r) => self.on_result(*r)?,
                },
                Event::Status(Some(s)) => self.on_status(&s),
                Event::Status(None) => statuses = None,
                Event::Tick => {
                    if self.broker.is_cancelled(epoch).await.unwrap_or(false) {
                        return Err(EpochError::CancelledElsewhere { epoch });
                    }
                    self.watchdog();
                }
            }
            self.flush()?;
            self.node_busy += busy.elapsed();
            self.progress.node_busy_ms = self.node_busy.as_millis() as u64;
            self.publish();
        }
    }

    fn add_block(&mut self, block: ProcessedBlock) -> Result<(), EpochError> {
        let epoch = self.cfg.epoch;
        let index = self.blocks.len();
        let number = block.header.global_variables.block_number;
        if matches!(self.cfg.proofs, Proofs::Real(_)) {
            if let Some(reason) = crate::real::unprovable_block(block.txs.len()) {
                return Err(EpochError::InvalidBlock {
                    epoch,
                    index,
                    number,
                    reason,
                });
            }
        }
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
        if matches!(self.cfg.proofs, Proofs::Real(_)) {
            if let Some(reason) = crate::real::unprovable_epoch(self.blocks.len()) {
                return Err(EpochError::Config { epoch, reason });
            }
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
        // Leaves are built off the event loop, a few per blocking task (of one block),
        // longest remaining path first: the base rollups of every block added before any
        // parity, since the first jobs out are the first the agents take.
        let mut leaves: Vec<(usize, NodeIdx, NodeKey)> = Vec::new();
        for &idx in &new {
            let key = self.dag.node(idx).key;
            match key {
                NodeKey::BaseParity { block, .. } | NodeKey::BaseRollup { block, .. } => {
                    self.slots[idx].phase = Phase::Building;
                    leaves.push((block, idx, key));
                }
                _ => {}
            }
        }
        priority::order_longest_first(&self.dag, &self.cfg.proving_times, &mut leaves, |l| l.1);
        for group in leaves.chunk_by(|a, b| a.0 == b.0) {
            let block = self.blocks[group[0].0].clone();
            for chunk in group.chunks(LEAVES_PER_TASK) {
                let nodes: Vec<(NodeIdx, NodeKey)> =
                    chunk.iter().map(|&(_, i, k)| (i, k)).collect();
                let (epoch, deadline) = (self.cfg.epoch, self.cfg.deadline_ms);
                let (permits, block) = (self.builders.clone(), block.clone());
                let (proofs, blocks) = (self.cfg.proofs.clone(), self.blocks.clone());
                self.building.spawn(async move {
                    let _permit = permits.acquire_owned().await;
                    tokio::task::spawn_blocking(move || {
                        build_leaves(epoch, deadline, &proofs, &blocks, &block, &nodes)
                    })
                    .await
                    .map_err(|e| EpochError::Stopped {
                        epoch,
                        reason: format!("input building thread: {e}"),
                    })?
                });
            }
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

    /// Builds the node's job (on the event loop: every node but a leaf's first attempt)
    /// and installs it.
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
            proofs: &self.cfg.proofs,
        };
        let slots = &self.slots;
        let (circuit, real) = ctx.build(idx, slots[idx].retry, |c| {
            let s = &slots[c];
            Some(ProvedChild {
                job: s.job?,
                proof: s.proof.as_ref()?,
                outputs: s.outputs.as_ref()?,
                bytes: s.proof_bytes.as_ref()?,
                public_inputs: &s.expected,
            })
        })?;
        let node = self.dag.node(idx).key;
        let built = Built::new(
            idx,
            node,
            self.cfg.epoch,
            self.cfg.deadline_ms,
            circuit,
            real,
        )?;
        self.install(built)
    }

    /// Takes a built job: uses its result if the mesh already reported one, else queues
    /// it for enqueueing.
    fn install(&mut self, b: Built) -> Result<(), EpochError> {
        let idx = b.idx;
        let slot = &mut self.slots[idx];
        slot.job = Some(b.id);
        slot.outputs = Some(b.outputs);
        slot.expected = b.expected;
        slot.proof = None;
        slot.proof_bytes = None;
        self.by_job.insert(b.id, idx);
        if let Some(r) = self.early.remove(&b.id) {
            slot.phase = Phase::Queued;
            return self.on_known_result(idx, r);
        }
        slot.phase = Phase::Pending;
        slot.new_job = Some(b.job);
        self.pending.push(idx);
        Ok(())
    }

    /// Enqueues the built jobs in one batch, once stored results have been replayed.
    fn flush(&mut self) -> Result<(), EpochError> {
        if !self.caught_up || self.pending.is_empty() {
            return Ok(());
        }
        let mut idxs = Vec::new();
        let mut jobs = Vec::new();
        // A queue serves its jobs in the order they arrive: longest remaining path first.
        let mut pending = std::mem::take(&mut self.pending);
        priority::order_longest_first(&self.dag, &self.cfg.proving_times, &mut pending, |&i| i);
        for idx in pending {
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
        // The event loop does not wait for the server's acks (a round trip per batch):
        // the enqueue runs as a task, and a failure fails the epoch when it comes back.
        let broker = self.broker.clone();
        let epoch = self.cfg.epoch;
        let n = jobs.len();
        self.enqueuing.spawn(async move {
            let enqueued = (|| broker.enqueue_many(jobs.clone()))
                .retry(
                    ExponentialBuilder::default()
                        .with_min_delay(Duration::from_millis(100))
                        .with_max_times(3),
                )
                .when(|e| !matches!(e, BrokerError::EpochCancelled(_)))
                .await?;
            let duplicates = enqueued.iter().filter(|e| e.duplicate).count();
            debug!(%epoch, jobs = n, duplicates, "jobs enqueued");
            Ok(())
        });
        let now = Instant::now();
        self.first_enqueue.get_or_insert(now);
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
