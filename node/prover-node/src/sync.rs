//! The world state synchronizer: re-executes every block of the pending chain, in order, on
//! the node's own world state, and keeps the executed blocks (with their base rollup and
//! parity inputs) of unproven epochs for the proving jobs.
//!
//! Why re-execute rather than trust L1: L1 records headers, tx hashes and effects digests,
//! not the witnesses a proof needs. Executing each block's txs (fetched by hash from the tx
//! provider) against our world state yields those witnesses, and reproducing the header and
//! archive L1 recorded proves that what we will prove is what was proposed. A block that
//! does not reproduce (a tx whose client proof fails, effects that differ from the body, a
//! header that disagrees) stops the synchronizer at that block with the reason: its epoch
//! is unprovable, and saying so beats proving something L1 will reject.
//!
//! Reorgs and prunes: on an archiver `Pruned`/`L1Reorg` event the synchronizer finds the
//! last block whose archive still matches the chain, unwinds the world state to it and
//! reports [`SyncEvent::Unwound`] so proving jobs of the affected epoch stop.
//!
//! At start the world state is unwound to L1's proven tip: the unproven blocks are executed
//! again, deterministically, so a restarted node rebuilds exactly the inputs (and so the
//! content-addressed jobs) it had before.

use alloy::primitives::B256;
use futures::future::BoxFuture;
use provemesh_archiver::{ChainEvent, L2Block, L2BlockSource};
use provemesh_common::hash::Fr;
use provemesh_common::tx::{Tx, TxHash};
use provemesh_sequencer::header::{b256, l2_global_variables, propose_args};
use provemesh_tx_processor::{process_block, BlockToProcess, ClientProofVerifier, ProcessedBlock};
use provemesh_world_state::WorldState;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// Where the synchronizer gets a block's txs (the tx provider; a trait so the node can
/// combine sources and tests can count requests).
pub trait TxFetcher: Send + Sync + 'static {
    /// The txs of `hashes`, in order, by `deadline`.
    fn fetch<'a>(
        &'a self,
        hashes: &'a [TxHash],
        deadline: tokio::time::Instant,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<Vec<Tx>, String>>;
}

/// A block of the pending chain, executed on the world state.
#[derive(Debug)]
pub struct ExecutedBlock {
    /// The block as L1 recorded it.
    pub l2: L2Block,
    /// Its execution: base rollup, parity and block root inputs.
    pub processed: ProcessedBlock,
}

/// What the synchronizer did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncEvent {
    Executed {
        block: u64,
        epoch: u64,
    },
    /// The world state went back to `to`: blocks after it are gone. `pruned`: the Rollup
    /// pruned them (their epoch can never be proved); else L1 reorganised (the epoch may
    /// come back with other blocks).
    Unwound {
        to: u64,
        pruned: bool,
    },
    /// Block `block` (of `epoch`) cannot be executed as L1 recorded it.
    Stuck {
        block: u64,
        epoch: u64,
        reason: String,
    },
}

/// The synchronizer's position.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncState {
    /// Last block executed and committed on the world state.
    pub tip: u64,
    /// A block that cannot be executed, with why (cleared when the chain changes).
    pub stuck: Option<(u64, String)>,
}

/// Why the synchronizer stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("world state: {0}")]
    WorldState(#[from] provemesh_world_state::WorldStateError),
    #[error("L2 block source: {0}")]
    Source(String),
    #[error("world state task: {0}")]
    Task(String),
}

/// How the synchronizer runs.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// How long to wait for a block's txs before reporting the block stuck (it is tried
    /// again on the next round).
    pub tx_timeout: Duration,
    /// How often to look for new blocks when no archiver event came.
    pub poll_interval: Duration,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            tx_timeout: Duration::from_secs(30),
            poll_interval: Duration::from_millis(500),
        }
    }
}

/// Shared view of the executed blocks.
#[derive(Clone)]
pub struct Executed {
    blocks: Arc<Mutex<BTreeMap<u64, Arc<ExecutedBlock>>>>,
    state: watch::Sender<SyncState>,
    events: broadcast::Sender<SyncEvent>,
}

impl Executed {
    fn new(tip: u64) -> Self {
        Executed {
            blocks: Arc::default(),
            state: watch::channel(SyncState { tip, stuck: None }).0,
            events: broadcast::channel(1024).0,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<ExecutedBlock>>> {
        self.blocks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Block `number`, if executed (and not yet dropped as proven).
    pub fn block(&self, number: u64) -> Option<Arc<ExecutedBlock>> {
        self.lock().get(&number).cloned()
    }

    pub fn state(&self) -> SyncState {
        self.state.borrow().clone()
    }

    pub fn watch(&self) -> watch::Receiver<SyncState> {
        self.state.subscribe()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<SyncEvent> {
        self.events.subscribe()
    }

    /// Waits until block `number` is executed; `Err` with the reason when the synchronizer
    /// is stuck at or before it, or when the block was unwound while waiting.
    pub async fn wait_for(
        &self,
        number: u64,
        cancel: &CancellationToken,
    ) -> Result<Arc<ExecutedBlock>, WaitError> {
        let mut rx = self.watch();
        loop {
            {
                let s = rx.borrow_and_update().clone();
                if let Some(b) = self.block(number) {
                    return Ok(b);
                }
                if let Some((at, reason)) = s.stuck {
                    if at <= number {
                        return Err(WaitError::Stuck { block: at, reason });
                    }
                }
            }
            tokio::select! {
                _ = cancel.cancelled() => return Err(WaitError::Cancelled),
                r = rx.changed() => if r.is_err() { return Err(WaitError::Cancelled) },
            }
        }
    }

    fn insert(&self, b: ExecutedBlock) {
        let (number, epoch) = (b.l2.number, b.l2.epoch);
        self.lock().insert(number, Arc::new(b));
        crate::metrics::get().block_executed(number);
        crate::metrics::get().stuck(false);
        self.state.send_modify(|s| {
            s.tip = number;
            s.stuck = None;
        });
        let _ = self.events.send(SyncEvent::Executed {
            block: number,
            epoch,
        });
    }

    fn unwound(&self, to: u64, pruned: bool) {
        self.lock().retain(|n, _| *n <= to);
        crate::metrics::get().unwound(to);
        crate::metrics::get().stuck(false);
        self.state.send_modify(|s| {
            s.tip = to;
            s.stuck = None;
        });
        let _ = self.events.send(SyncEvent::Unwound { to, pruned });
    }

    fn stuck(&self, block: u64, epoch: u64, reason: String) {
        let changed = self.state.borrow().stuck.as_ref() != Some(&(block, reason.clone()));
        if changed {
            warn!(
                block,
                epoch, "cannot execute the block as L1 recorded it: {reason}"
            );
            crate::metrics::get().stuck(true);
            self.state
                .send_modify(|s| s.stuck = Some((block, reason.clone())));
            let _ = self.events.send(SyncEvent::Stuck {
                block,
                epoch,
                reason,
            });
        }
    }

    /// Forgets executed blocks up to `block` (proven: no job needs them any more).
    fn proven(&self, block: u64) {
        self.lock().retain(|n, _| *n > block);
    }
}

/// Why waiting for a block ended without it.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum WaitError {
    #[error("block {block} cannot be executed: {reason}")]
    Stuck { block: u64, reason: String },
    #[error("cancelled")]
    Cancelled,
}

/// Re-executes the pending chain. See the module documentation.
pub struct Synchronizer<S> {
    source: Arc<S>,
    ws: Arc<Mutex<WorldState>>,
    txs: Arc<dyn TxFetcher>,
    verifier: Arc<dyn ClientProofVerifier + Send + Sync>,
    config: SyncConfig,
    executed: Executed,
}

fn lock_ws(ws: &Mutex<WorldState>) -> std::sync::MutexGuard<'_, WorldState> {
    ws.lock().unwrap_or_else(|p| p.into_inner())
}

async fn with_ws<T: Send + 'static>(
    ws: &Arc<Mutex<WorldState>>,
    f: impl FnOnce(&mut WorldState) -> T + Send + 'static,
) -> Result<T, SyncError> {
    let ws = ws.clone();
    tokio::task::spawn_blocking(move || f(&mut lock_ws(&ws)))
        .await
        .map_err(|e| SyncError::Task(e.to_string()))
}

impl<S: L2BlockSource + 'static> Synchronizer<S> {
    pub fn new(
        source: Arc<S>,
        ws: WorldState,
        txs: Arc<dyn TxFetcher>,
        verifier: Arc<dyn ClientProofVerifier + Send + Sync>,
        config: SyncConfig,
    ) -> Self {
        let tip = ws.tip();
        Synchronizer {
            source,
            ws: Arc::new(Mutex::new(ws)),
            txs,
            verifier,
            config,
            executed: Executed::new(tip),
        }
    }

    /// The executed blocks, for proving jobs and status.
    pub fn executed(&self) -> Executed {
        self.executed.clone()
    }

    fn src_err(e: S::Error) -> SyncError {
        SyncError::Source(e.to_string())
    }

    /// Runs until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), SyncError> {
        let mut events = self.source.subscribe();
        // Start from the proven tip: the unproven blocks are executed again (see the module
        // documentation), so their inputs exist in memory for the jobs.
        let proven = self.source.tips().await.map_err(Self::src_err)?.proven;
        let tip = with_ws(&self.ws, |ws| ws.tip()).await?;
        if tip > proven {
            info!(
                from = tip,
                to = proven,
                "unwinding the world state to the proven tip to re-execute unproven blocks"
            );
            with_ws(&self.ws, move |ws| ws.unwind_to(proven)).await??;
        }
        self.executed.unwound(tip.min(proven), false);
        loop {
            if shutdown.is_cancelled() {
                return Ok(());
            }
            // Chain changes first: they may invalidate what is executed.
            let (mut changed, mut pruned) = (false, false);
            loop {
                match events.try_recv() {
                    Ok(ChainEvent::Pruned { .. }) => (changed, pruned) = (true, true),
                    Ok(ChainEvent::L1Reorg { .. }) => changed = true,
                    Ok(ChainEvent::Proven { block, .. }) => self.executed.proven(block),
                    Ok(ChainEvent::BlocksAdded { .. }) => {}
                    Err(broadcast::error::TryRecvError::Lagged(_)) => changed = true,
                    Err(_) => break,
                }
            }
            if changed {
                self.reconcile(pruned).await?;
            }
            let progressed = self.step(&shutdown).await?;
            if !progressed {
                tokio::select! {
                    _ = shutdown.cancelled() => return Ok(()),
                    _ = tokio::time::sleep(self.config.poll_interval) => {}
                    r = events.recv() => match r {
                        Ok(ChainEvent::Pruned { .. }) => self.reconcile(true).await?,
                        Ok(ChainEvent::L1Reorg { .. })
                        | Err(broadcast::error::RecvError::Lagged(_)) => self.reconcile(false).await?,
                        Ok(ChainEvent::Proven { block, .. }) => self.executed.proven(block),
                        Ok(ChainEvent::BlocksAdded { .. }) => {}
                        Err(broadcast::error::RecvError::Closed) => return Ok(()),
                    },
                }
            }
        }
    }

    /// After a prune or reorg: unwinds to the last executed block the chain still has.
    async fn reconcile(&self, pruned: bool) -> Result<(), SyncError> {
        let tips = self.source.tips().await.map_err(Self::src_err)?;
        let tip = with_ws(&self.ws, |ws| ws.tip()).await?;
        let mut keep = tip.min(tips.pending);
        while keep > 0 {
            let ours = with_ws(&self.ws, move |ws| {
                ws.snapshot(keep).map(|s| b256(s.record().archive.root))
            })
            .await??;
            let chain = self.source.block(keep).await.map_err(Self::src_err)?;
            if chain.is_some_and(|b| b.archive == ours) {
                break;
            }
            keep -= 1;
        }
        if keep < tip {
            info!(
                from = tip,
                to = keep,
                "chain changed: unwinding the world state"
            );
            with_ws(&self.ws, move |ws| ws.unwind_to(keep)).await??;
            self.executed.unwound(keep, pruned);
        } else if self.executed.state().stuck.is_some() {
            // The block that would not execute may be gone: try again.
            self.executed.state.send_modify(|s| s.stuck = None);
        }
        Ok(())
    }

    /// Executes the next block if the chain has it; `false` when there was nothing to do.
    async fn step(&self, shutdown: &CancellationToken) -> Result<bool, SyncError> {
        let next = self.executed.state().tip + 1;
        if let Some((at, _)) = self.executed.state().stuck {
            if at == next {
                return Ok(false); // until the chain changes (reconcile clears it)
            }
        }
        let Some(block) = self.source.block(next).await.map_err(Self::src_err)? else {
            return Ok(false);
        };
        let leaves = self
            .source
            .l1_to_l2_messages(next)
            .await
            .map_err(Self::src_err)?;
        let hashes: Vec<TxHash> = match block
            .tx_hashes
            .iter()
            .map(|h| Fr::from_be_bytes(&h.0).map(TxHash))
            .collect::<Result<_, _>>()
        {
            Ok(h) => h,
            Err(e) => {
                self.executed.stuck(
                    next,
                    block.epoch,
                    format!("a tx hash is not a field element: {e}"),
                );
                return Ok(false);
            }
        };
        let deadline = tokio::time::Instant::now() + self.config.tx_timeout;
        let txs = match self.txs.fetch(&hashes, deadline, shutdown).await {
            Ok(t) => t,
            Err(e) => {
                if !shutdown.is_cancelled() {
                    self.executed
                        .stuck(next, block.epoch, format!("txs unavailable: {e}"));
                }
                return Ok(false);
            }
        };
        match self.execute(block, txs, leaves).await? {
            Ok(executed) => {
                debug!(
                    block = next,
                    txs = executed.processed.txs.len(),
                    "block executed"
                );
                self.executed.insert(executed);
            }
            Err((epoch, reason)) => self.executed.stuck(next, epoch, reason),
        }
        Ok(true)
    }

    /// Executes `block` with `txs`; on a mismatch with L1 the world state is rolled back
    /// and the reason returned.
    async fn execute(
        &self,
        block: L2Block,
        txs: Vec<Tx>,
        leaves: Vec<B256>,
    ) -> Result<Result<ExecutedBlock, (u64, String)>, SyncError> {
        let epoch = block.epoch;
        let number = block.number;
        let Some(global_variables) = l2_global_variables(&block.header) else {
            return Ok(Err((
                epoch,
                "its header has a value outside the BN254 field".into(),
            )));
        };
        // The body is each tx's effects digest: a tx whose outputs differ is not the one L1
        // recorded, whatever its hash says.
        for (i, tx) in txs.iter().enumerate() {
            let want = block.body.get(i * 32..(i + 1) * 32);
            if want != Some(&tx.outputs.digest()[..]) {
                return Ok(Err((
                    epoch,
                    format!(
                        "tx {i} ({}) does not match the block body's effects",
                        block.tx_hashes.get(i).copied().unwrap_or_default()
                    ),
                )));
            }
        }
        let to_process = BlockToProcess {
            global_variables,
            txs,
            l1_to_l2_messages: leaves
                .iter()
                .map(|l| Fr::from_be_bytes_reduce(l.as_slice()))
                .collect(),
        };
        let verifier = self.verifier.clone();
        let (want_archive, want_header) = (block.archive, block.header.clone());
        let result = with_ws(&self.ws, move |ws| {
            let processed = match process_block(ws, verifier.as_ref(), &to_process) {
                Ok(p) => p,
                Err(e) => return Ok(Err(format!("execution failed: {e}"))),
            };
            let mismatch = if let Some(r) = processed.rejected.first() {
                Some(format!(
                    "tx {} is invalid ({}): {}",
                    r.tx_hash
                        .map(|h| h.to_string())
                        .unwrap_or_else(|| "?".into()),
                    r.reason.kind(),
                    r.reason
                ))
            } else if b256(processed.block_root.new_archive.root) != want_archive {
                Some(format!(
                    "re-execution gives archive {}, L1 recorded {want_archive}",
                    b256(processed.block_root.new_archive.root),
                ))
            } else if propose_args(&processed, &leaves).header != want_header {
                Some("re-execution gives a header different from the one L1 recorded".into())
            } else {
                None
            };
            if let Some(reason) = mismatch {
                ws.rollback()?;
                return Ok(Err(reason));
            }
            ws.commit_block(&processed.header)?;
            Ok(Ok(processed))
        })
        .await?;
        let result: Result<Result<ProcessedBlock, String>, provemesh_world_state::WorldStateError> =
            result;
        Ok(match result? {
            Ok(processed) => Ok(ExecutedBlock {
                l2: block,
                processed,
            }),
            Err(reason) => {
                debug!(block = number, "not executed: {reason}");
                Err((epoch, reason))
            }
        })
    }
}
