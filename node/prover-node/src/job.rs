//! The proving job of one claimed epoch: in the seed's order, the epoch's blocks and their
//! L1 facts from the archiver/L1, the executed blocks from the synchronizer handed to the
//! orchestrator one by one as they become available (proving starts before execution
//! ends), the root rollup sealed against the public inputs L1 itself computes, and the
//! verified root proof returned for the publisher.
//!
//! The public inputs come from `Rollup.getEpochProofPublicInputs`: if L1 disagrees with
//! what we would prove (another claim, a changed chain, a wrong out hash) the job fails
//! before any root rollup is proved, with L1's named reason.

use crate::sync::{Executed, WaitError};
use alloy::primitives::{Address, Bytes, U256};
use alloy::providers::DynProvider;
use provemesh_archiver::L2BlockSource;
use provemesh_broker::Broker;
use provemesh_common::EpochNumber;
use provemesh_l1::bindings::Rollup::EpochProofPublicInputs;
use provemesh_l1::public_inputs::prover_id;
use provemesh_l1::{RollupContract, RollupTiming};
use provemesh_orchestrator::{
    EpochConfig, EpochError, EpochProgress, EpochProver, Proofs, RootProof,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::info;

/// What a proving job needs from the node.
pub struct JobContext<S> {
    pub source: Arc<S>,
    pub executed: Executed,
    pub broker: Broker,
    pub rollup: RollupContract<DynProvider>,
    pub timing: RollupTiming,
    /// The prover's L1 address (PROVER_PUBLISHER_PRIVATE_KEY's): the root's prover id.
    pub prover: Address,
    pub max_job_retries: u32,
    pub job_time_estimate: Option<Duration>,
    pub proofs: Proofs,
}

/// A proved epoch, ready for L1.
#[derive(Debug, Clone)]
pub struct ProvenEpoch {
    pub epoch: u64,
    pub end_block: u64,
    pub args: EpochProofPublicInputs,
    pub proof: Bytes,
    pub root: RootProof,
}

/// Why a proving job ended without a proof.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("epoch {epoch}: the archive has no blocks of it")]
    NoBlocks { epoch: u64 },
    #[error("epoch {epoch}: L2 block source: {reason}")]
    Source { epoch: u64, reason: String },
    #[error("epoch {epoch}: L1: {reason}")]
    L1 { epoch: u64, reason: String },
    #[error("epoch {epoch} is unprovable: {reason}")]
    Unprovable { epoch: u64, reason: String },
    #[error(transparent)]
    Orchestrator(#[from] EpochError),
    #[error("epoch {epoch}: cancelled")]
    Cancelled { epoch: u64 },
}

impl JobError {
    /// Cancelled (reorg, prune, shutdown), as opposed to failed.
    pub fn is_cancelled(&self) -> bool {
        match self {
            JobError::Cancelled { .. } => true,
            JobError::Orchestrator(e) => e.is_cancelled(),
            _ => false,
        }
    }
}

/// Proves `epoch`. `progress` receives the orchestrator's progress once it starts;
/// cancelling `cancel` takes the epoch off the mesh.
pub async fn prove_epoch<S: L2BlockSource + 'static>(
    ctx: &JobContext<S>,
    epoch: u64,
    cancel: CancellationToken,
    progress: &watch::Sender<Option<EpochProgress>>,
) -> Result<ProvenEpoch, JobError> {
    let src = |e: S::Error| JobError::Source {
        epoch,
        reason: e.to_string(),
    };
    let l1 = |e: provemesh_l1::L1Error| JobError::L1 {
        epoch,
        reason: e.to_string(),
    };
    let blocks = ctx.source.blocks_of_epoch(epoch).await.map_err(src)?;
    let (Some(first), Some(last)) = (blocks.first(), blocks.last()) else {
        return Err(JobError::NoBlocks { epoch });
    };
    let (start, end_block) = (first.number, last.number);
    let previous_archive = ctx.rollup.block(start - 1).await.map_err(l1)?.archive;
    let out_hash = ctx
        .rollup
        .epoch_out_hash(start, end_block)
        .await
        .map_err(l1)?;
    let total_fees = blocks
        .iter()
        .fold(U256::ZERO, |acc, b| acc + b.header.totalFees);
    let args = EpochProofPublicInputs {
        previousArchive: previous_archive,
        endArchive: last.archive,
        outHash: out_hash,
        totalFees: total_fees,
        proverId: prover_id(ctx.prover),
    };
    // L1 computes (and checks) the root's public inputs itself: prove exactly those.
    let expected: Vec<[u8; 32]> = ctx
        .rollup
        .epoch_proof_public_inputs(epoch, end_block, args.clone())
        .await
        .map_err(l1)?
        .into_iter()
        .map(|w| w.0)
        .collect();

    let mut config = EpochConfig::new(EpochNumber(epoch), prover_id(ctx.prover).0);
    config.expected_root_public_inputs = Some(expected);
    config.deadline_ms = Some(
        ctx.timing
            .timestamp_for_slot(ctx.timing.proof_submission_deadline(epoch))
            .saturating_mul(1000),
    );
    config.max_job_retries = ctx.max_job_retries;
    config.job_time_estimate = ctx.job_time_estimate;
    config.proofs = ctx.proofs.clone();
    config.cancel = cancel.clone();
    info!(
        epoch,
        blocks = blocks.len(),
        start,
        end_block,
        "proving the epoch"
    );
    let handle = EpochProver::start(ctx.broker.clone(), config).await?;
    let mut watch_progress = handle.watch_progress();
    let forward = {
        let progress = progress.clone();
        async move {
            loop {
                progress.send_replace(Some(watch_progress.borrow_and_update().clone()));
                if watch_progress.changed().await.is_err() {
                    return;
                }
            }
        }
    };
    let feed = async {
        for b in &blocks {
            let executed = match ctx.executed.wait_for(b.number, &cancel).await {
                Ok(x) => x,
                Err(WaitError::Cancelled) => return Err(JobError::Cancelled { epoch }),
                Err(WaitError::Stuck { block, reason }) => {
                    return Err(JobError::Unprovable {
                        epoch,
                        reason: format!("block {block}: {reason}"),
                    });
                }
            };
            if executed.l2.archive != b.archive {
                // L1 reorganised between reading the epoch and executing it: stop here
                // (not on the mesh); the supervisor starts again on the settled chain.
                return Err(JobError::Cancelled { epoch });
            }
            if handle.add_block(executed.processed.clone()).is_err() {
                break; // the orchestrator stopped: finish says why
            }
        }
        let _ = handle.seal();
        Ok(())
    };
    let fed = tokio::select! {
        r = feed => r,
        _ = forward => Ok(()),
    };
    if let Err(e) = fed {
        // Unprovable: nothing of it will ever be used, take it off the mesh. Cancelled:
        // a fired `cancel` already cancels it there; a reorg leaves it (dropping the handle
        // stops only this orchestrator).
        if matches!(e, JobError::Unprovable { .. }) {
            handle.cancel();
            let _ = handle.finish().await;
        }
        return Err(e);
    }
    let forward_rest = {
        let progress = progress.clone();
        let mut rx = handle.watch_progress();
        tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                progress.send_replace(Some(rx.borrow_and_update().clone()));
            }
        })
    };
    let root = handle.finish().await;
    forward_rest.abort();
    let root = root?;
    info!(
        epoch,
        jobs = root.jobs,
        elapsed_ms = root.elapsed.as_millis() as u64,
        "root rollup proof verified"
    );
    Ok(ProvenEpoch {
        epoch,
        end_block,
        args,
        proof: Bytes::from(root.l1_proof.to_vec()),
        root,
    })
}
