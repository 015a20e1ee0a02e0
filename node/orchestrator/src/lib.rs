//! The Proving Orchestrator: proves one epoch on the mesh, streaming.
//!
//! The tx processor hands over blocks as it executes them ([`EpochHandle::add_block`]);
//! the orchestrator grows the epoch's proof DAG ([`dag`]) and enqueues every job the
//! moment its inputs exist — parities and base rollups as soon as their block arrives,
//! each parent as soon as all its children's proofs are fetched and checked — so proving
//! starts long before execution ends. After the last block ([`EpochHandle::seal`]) the
//! root rollup closes the epoch; its proof is verified locally before
//! [`EpochHandle::finish`] returns it with L1's epoch public inputs.
//!
//! In simulated mode each job's inputs are built from the real data ([`circuits`]): the
//! simulated circuits assert what the real ones would, so an inconsistent block fails
//! its job with a message naming the circuit and the field.
//!
//! Failures: a deterministic job failure fails the epoch at once; transient ones
//! (`exhausted`, `expired`) and rejected proofs are proved again with a retry nonce (a new
//! content-addressed job) up to [`EpochConfig::max_job_retries`] times. Cancellation
//! ([`EpochConfig::cancel`]) cancels the epoch on the mesh. A restarted orchestrator for
//! the same epoch and inputs picks up where the last one stopped (see `driver`).

mod bounds;
mod build;
pub mod circuits;
pub mod dag;
mod driver;
mod error;
pub mod fixtures;
mod metrics;
pub mod outputs;
pub mod priority;
pub mod progress;
mod real;

pub use bounds::MakespanBounds;
pub use dag::{Dag, NodeKey};
pub use error::EpochError;
pub use outputs::{l1_epoch_public_inputs, EPOCH_PUBLIC_INPUTS, EPOCH_PUBLIC_INPUT_NAMES};
pub use priority::ProvingTimes;
pub use progress::{EpochProgress, EpochState, TypeProgress};
pub use real::{unprovable_block, unprovable_epoch, Proofs, RealCircuits};

use bytes::Bytes;
use driver::{Command, Driver};
use futures::StreamExt;
use provemesh_broker::Broker;
use provemesh_common::circuit::FieldBytes;
use provemesh_common::{unix_millis, EpochNumber, JobId, ProofRef};
use provemesh_tx_processor::ProcessedBlock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::{warn, Instrument};

/// How to prove one epoch.
#[derive(Debug, Clone)]
pub struct EpochConfig {
    pub epoch: EpochNumber,
    /// The prover's id as L1 sees it (its address, left-padded): a root public input.
    pub prover_id: FieldBytes,
    /// L1's epoch public inputs (`Rollup.getEpochProofPublicInputs`, in its order); the
    /// root rollup asserts each against what it computes. May instead be given at
    /// [`EpochHandle::seal_with`].
    pub expected_root_public_inputs: Option<Vec<FieldBytes>>,
    /// The submission deadline (unix ms): jobs expire after it, and the watchdog warns
    /// when the estimated finish passes it.
    pub deadline_ms: Option<u64>,
    /// How many times one job is proved again after a transient failure or a rejected
    /// proof before the epoch fails.
    pub max_job_retries: u32,
    /// Assumed proving time of a job before any was observed (none: no estimate until
    /// the first proof).
    pub job_time_estimate: Option<Duration>,
    /// Jobs the mesh proves at once for this epoch, when known (else observed).
    pub parallelism_hint: Option<usize>,
    /// Estimated proving time per type: the weights of the longest-remaining-path order
    /// in which leaf jobs are built and each batch is enqueued ([`priority`]). Uniform by
    /// default (a path counts jobs).
    pub proving_times: ProvingTimes,
    /// How often the watchdog re-estimates.
    pub watch_interval: Duration,
    /// Cancelling it (reorg, prune) cancels the epoch on the mesh and stops proving.
    pub cancel: CancellationToken,
    /// Simulated or real proofs (the agents' backend must match).
    pub proofs: Proofs,
}

impl EpochConfig {
    pub fn new(epoch: EpochNumber, prover_id: FieldBytes) -> Self {
        EpochConfig {
            epoch,
            prover_id,
            expected_root_public_inputs: None,
            deadline_ms: None,
            max_job_retries: 1,
            job_time_estimate: None,
            parallelism_hint: None,
            proving_times: ProvingTimes::uniform(),
            watch_interval: Duration::from_secs(1),
            cancel: CancellationToken::new(),
            proofs: Proofs::Simulated,
        }
    }
}

/// The epoch's root rollup proof, verified.
#[derive(Debug, Clone)]
pub struct RootProof {
    pub job: JobId,
    pub proof: ProofRef,
    pub proof_bytes: Bytes,
    /// The proof as L1's verifier takes it (`submitEpochRootProof`'s proof): the stored
    /// proof when simulated, bb's proof bytes when real.
    pub l1_proof: Bytes,
    /// L1's epoch public inputs, which the proof commits to.
    pub public_inputs: Vec<FieldBytes>,
    /// Jobs in the epoch's DAG.
    pub jobs: usize,
    /// From start to the verified root proof.
    pub elapsed: Duration,
}

pub(crate) fn check_expected(epoch: EpochNumber, e: &[FieldBytes]) -> Result<(), EpochError> {
    if e.len() != EPOCH_PUBLIC_INPUTS {
        return Err(EpochError::Config {
            epoch,
            reason: format!(
                "{} expected root public inputs, L1 has {EPOCH_PUBLIC_INPUTS}",
                e.len()
            ),
        });
    }
    Ok(())
}

/// Starts epochs. See the crate documentation.
pub struct EpochProver;

impl EpochProver {
    /// Starts proving `config.epoch`: opens its results (every one reported so far) and
    /// runs the orchestrator in a task; feed it blocks through the handle.
    pub async fn start(broker: Broker, config: EpochConfig) -> Result<EpochHandle, EpochError> {
        let epoch = config.epoch;
        if let Some(e) = &config.expected_root_public_inputs {
            check_expected(epoch, e)?;
        }
        let results = broker
            .epoch_results(epoch)
            .await
            .map_err(|e| EpochError::Broker {
                epoch,
                source: Box::new(e),
            })?;
        // Progress only: proving goes on without it.
        let statuses = match broker.epoch_status_updates(epoch).await {
            Ok(s) => Some(s.boxed()),
            Err(e) => {
                warn!(%epoch, error = %e, "cannot watch job statuses; in-flight counts stay 0");
                None
            }
        };
        let (progress_tx, progress) =
            watch::channel(EpochProgress::new(epoch, unix_millis(), config.deadline_ms));
        let (commands, rx) = mpsc::unbounded_channel();
        let cancel = config.cancel.clone();
        let driver = Driver::new(broker, config, progress_tx);
        let span = tracing::info_span!("epoch", epoch = %epoch);
        let task = tokio::spawn(driver.run(rx, results, statuses).instrument(span));
        Ok(EpochHandle {
            epoch,
            commands: Some(commands),
            progress,
            cancel,
            sealed: AtomicBool::new(false),
            task: Some(task),
        })
    }

    /// Proves an epoch whose blocks are all known: start, add each, seal, finish.
    pub async fn prove(
        broker: Broker,
        config: EpochConfig,
        blocks: Vec<ProcessedBlock>,
    ) -> Result<RootProof, EpochError> {
        let h = Self::start(broker, config).await?;
        for b in blocks {
            if h.add_block(b).is_err() {
                break; // stopped: finish says why
            }
        }
        let _ = h.seal();
        h.finish().await
    }
}

/// A running epoch. Dropping it stops the orchestrator at once (as a crash would; the
/// jobs already on the mesh go on, and a new orchestrator for the epoch picks them up);
/// cancel to take the epoch off the mesh.
pub struct EpochHandle {
    epoch: EpochNumber,
    commands: Option<mpsc::UnboundedSender<Command>>,
    progress: watch::Receiver<EpochProgress>,
    cancel: CancellationToken,
    sealed: AtomicBool,
    task: Option<tokio::task::JoinHandle<Result<RootProof, EpochError>>>,
}

impl EpochHandle {
    pub fn epoch(&self) -> EpochNumber {
        self.epoch
    }

    fn send(&self, c: Command) -> Result<(), EpochError> {
        let stopped = || EpochError::Stopped {
            epoch: self.epoch,
            reason: "the orchestrator has stopped; finish() returns why".into(),
        };
        self.commands
            .as_ref()
            .ok_or_else(stopped)?
            .send(c)
            .map_err(|_| stopped())
    }

    /// Adds the epoch's next block (in order). Its parities and base rollups are enqueued
    /// at once.
    pub fn add_block(&self, block: ProcessedBlock) -> Result<(), EpochError> {
        if self.sealed.load(Ordering::Acquire) {
            return Err(EpochError::Dag {
                epoch: self.epoch,
                source: dag::DagError::Sealed,
            });
        }
        self.send(Command::AddBlock(Box::new(block)))
    }

    /// The last block is in, and the expected root public inputs were given in the config.
    pub fn seal(&self) -> Result<(), EpochError> {
        self.sealed.store(true, Ordering::Release);
        self.send(Command::Seal(None))
    }

    /// The last block is in; the root rollup must expose `expected_root_public_inputs`.
    pub fn seal_with(
        &self,
        expected_root_public_inputs: Vec<FieldBytes>,
    ) -> Result<(), EpochError> {
        check_expected(self.epoch, &expected_root_public_inputs)?;
        self.sealed.store(true, Ordering::Release);
        self.send(Command::Seal(Some(expected_root_public_inputs)))
    }

    /// The latest progress.
    pub fn progress(&self) -> EpochProgress {
        self.progress.borrow().clone()
    }

    /// Progress updates, for views that follow the epoch.
    pub fn watch_progress(&self) -> watch::Receiver<EpochProgress> {
        self.progress.clone()
    }

    /// Cancels the epoch (reorg, prune): its jobs are purged from the mesh and `finish`
    /// returns [`EpochError::Cancelled`].
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Waits for the verified root proof. Call after the seal: finishing an unsealed
    /// epoch fails with [`EpochError::NotSealed`].
    pub async fn finish(mut self) -> Result<RootProof, EpochError> {
        drop(self.commands.take());
        let Some(task) = self.task.take() else {
            return Err(EpochError::Stopped {
                epoch: self.epoch,
                reason: "already finished".into(),
            });
        };
        task.await.map_err(|e| EpochError::Stopped {
            epoch: self.epoch,
            reason: format!("orchestrator task: {e}"),
        })?
    }
}

impl Drop for EpochHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
