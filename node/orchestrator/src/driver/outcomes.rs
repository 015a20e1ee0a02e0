//! What the mesh reports: results (proved → fetch and check the proof; failed → fail
//! the epoch or prove again per policy), checked proofs feeding their parents, statuses.

use super::{Checked, Driver, Phase, Redo, Rejection};
use crate::dag::NodeIdx;
use crate::dag::NodeKey;
use crate::error::EpochError;
use crate::metrics::metrics;
use crate::real::{Proofs, RealRejection};
use crate::RootProof;
use backon::{ExponentialBuilder, Retryable};
use bytes::Bytes;
use provemesh_common::circuit::{FieldBytes, SimulatedProof};
use provemesh_common::{FailureKind, JobId, JobOutcome, JobResult, JobState, JobStatus, ProofRef};
use provemesh_store::{ProofStore, StoreError};
use std::time::Duration;
use tracing::warn;

impl Driver {
    pub(super) fn on_result(&mut self, r: JobResult) -> Result<(), EpochError> {
        match self.by_job.get(&r.id) {
            Some(&idx) => self.on_known_result(idx, r),
            None => {
                // A proof beats a failure for the same job; otherwise the first one counts.
                let keep_new = match self.early.get(&r.id) {
                    None => true,
                    Some(old) => {
                        !matches!(old.outcome, JobOutcome::Proved(_))
                            && matches!(r.outcome, JobOutcome::Proved(_))
                    }
                };
                if keep_new {
                    self.early.insert(r.id, r);
                }
                Ok(())
            }
        }
    }

    pub(super) fn on_known_result(&mut self, idx: NodeIdx, r: JobResult) -> Result<(), EpochError> {
        let slot = &mut self.slots[idx];
        let live = slot.job == Some(r.id) && matches!(slot.phase, Phase::Pending | Phase::Queued);
        if !live {
            return Ok(()); // an older attempt's, or a duplicate
        }
        slot.in_flight = false;
        let node = self.dag.node(idx);
        match r.outcome {
            JobOutcome::Proved(proof) => {
                slot.phase = Phase::Verifying;
                let pis = slot.expected.clone();
                let store = self.broker.store().clone();
                let (job, prove_ms) = (r.id, r.prove_ms);
                let (proofs, key) = (self.cfg.proofs.clone(), node.key);
                self.checking.spawn(async move {
                    let outcome = check_proof(&store, &proofs, key, &proof, &job, &pis).await;
                    Checked {
                        idx,
                        job,
                        proof,
                        prove_ms,
                        outcome,
                    }
                });
                Ok(())
            }
            JobOutcome::Failed {
                kind: FailureKind::Deterministic,
                error,
            } => Err(EpochError::JobFailed {
                epoch: self.cfg.epoch,
                job: r.id.to_hex(),
                proof_type: node.proof_type,
                node: node.key,
                kind: FailureKind::Deterministic,
                attempts: slot.retry + 1,
                error,
            }),
            JobOutcome::Failed { kind, error } => {
                warn!(epoch = %self.cfg.epoch, job = %r.id.short(), proof_type = %node.proof_type, node = %node.key, %kind, %error, "job failed; retrying per policy");
                self.redo(idx, Redo::Failed(kind, error))
            }
        }
    }

    pub(super) fn redo(&mut self, idx: NodeIdx, why: Redo) -> Result<(), EpochError> {
        let node = self.dag.node(idx);
        let slot = &mut self.slots[idx];
        if slot.retry >= self.cfg.max_job_retries {
            let (epoch, job) = (
                self.cfg.epoch,
                slot.job.map(|j| j.to_hex()).unwrap_or_default(),
            );
            let attempts = slot.retry + 1;
            return Err(match why {
                Redo::Failed(kind, error) => EpochError::JobFailed {
                    epoch,
                    job,
                    proof_type: node.proof_type,
                    node: node.key,
                    kind,
                    attempts,
                    error,
                },
                Redo::Rejected(reason) => EpochError::BadProof {
                    epoch,
                    job,
                    proof_type: node.proof_type,
                    node: node.key,
                    attempts,
                    reason,
                },
            });
        }
        self.progress.retries += 1;
        if matches!(why, Redo::Rejected(_)) {
            self.progress.rejected_proofs += 1;
        }
        slot.retry += 1;
        slot.phase = Phase::Waiting;
        slot.enqueued_at = None;
        self.prepare(idx)
    }

    pub(super) fn checked(&mut self, c: Checked) -> Result<Option<RootProof>, EpochError> {
        let epoch = self.cfg.epoch;
        let slot = &mut self.slots[c.idx];
        if slot.job != Some(c.job) || slot.phase != Phase::Verifying {
            return Ok(None);
        }
        let node = self.dag.node(c.idx);
        match c.outcome {
            Ok(checked) => {
                slot.phase = Phase::Done;
                slot.proof = Some(c.proof.clone());
                slot.proof_bytes = Some(checked.bytes.clone());
                if c.prove_ms > 0 {
                    self.timings
                        .record(node.proof_type, Duration::from_millis(c.prove_ms));
                }
                metrics().job_done(node.proof_type);
                if self.dag.root() == Some(c.idx) {
                    return Ok(Some(RootProof {
                        job: c.job,
                        proof: c.proof,
                        proof_bytes: checked.bytes,
                        l1_proof: checked.l1_proof,
                        public_inputs: slot.expected.clone(),
                        jobs: self.dag.len(),
                        elapsed: self.started.elapsed(),
                    }));
                }
                if let Some(p) = node.parent {
                    self.try_schedule(p)?;
                }
                Ok(None)
            }
            Err(Rejection::Bad(reason)) => {
                warn!(%epoch, job = %c.job.short(), proof_type = %node.proof_type, node = %node.key, %reason, "proof rejected; proving the job again");
                self.redo(c.idx, Redo::Rejected(reason)).map(|()| None)
            }
            Err(Rejection::Store(source)) => Err(EpochError::Store {
                epoch,
                job: c.job.to_hex(),
                source: Box::new(source),
            }),
            Err(Rejection::Verifier(reason)) => Err(EpochError::Verifier {
                epoch,
                job: c.job.to_hex(),
                reason,
            }),
        }
    }

    pub(super) fn on_status(&mut self, s: &JobStatus) {
        if let Some(&idx) = self.by_job.get(&s.id) {
            let slot = &mut self.slots[idx];
            if slot.job == Some(s.id) && slot.phase == Phase::Queued {
                slot.in_flight = s.state == JobState::Proving;
            }
        }
    }
}

/// A proof that passed its check.
pub(super) struct CheckedProof {
    /// As stored.
    pub bytes: Bytes,
    /// What L1's verifier takes (the stored proof; bb's proof bytes for a real proof).
    pub l1_proof: Bytes,
}

/// Fetches a reported proof (hash-checked against the result's reference) and checks it
/// is the proof of `job` over `public_inputs` (simulated: bound to the job; real: of the
/// node's circuit, over those public inputs, and verified). Store outages are retried for
/// a few seconds and then fail the epoch, as does a verifier that cannot run; anything
/// else means the proof is bad.
async fn check_proof(
    store: &ProofStore,
    proofs: &Proofs,
    node: NodeKey,
    proof: &ProofRef,
    job: &JobId,
    public_inputs: &[FieldBytes],
) -> Result<CheckedProof, Rejection> {
    let bytes = (|| store.get_verified(proof))
        .retry(
            ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(100))
                .with_max_delay(Duration::from_secs(1))
                .with_max_times(4),
        )
        .when(StoreError::is_transient)
        .await
        .map_err(|e| {
            if e.is_transient() {
                Rejection::Store(e)
            } else {
                Rejection::Bad(e.to_string())
            }
        })?;
    match proofs {
        Proofs::Simulated => {
            SimulatedProof::verify(&bytes, job, public_inputs)
                .map_err(|e| Rejection::Bad(e.to_string()))?;
            Ok(CheckedProof {
                l1_proof: bytes.clone(),
                bytes,
            })
        }
        Proofs::Real(circuits) => {
            let p = circuits
                .check(node, &bytes, public_inputs)
                .await
                .map_err(|r| match r {
                    RealRejection::Bad(why) => Rejection::Bad(why),
                    RealRejection::Verifier(why) => Rejection::Verifier(why),
                })?;
            Ok(CheckedProof {
                l1_proof: Bytes::from(p.proof),
                bytes,
            })
        }
    }
}
