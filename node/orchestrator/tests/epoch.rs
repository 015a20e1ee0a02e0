//! Epochs of real blocks proved on a real mesh: a nats-server, a file proof store and
//! in-process agents with small simulated proving times. Each test is bounded.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use provemesh_common::circuit::SimulatedProof;
use provemesh_common::hash::Fr;
use provemesh_common::{EpochNumber, FailureKind, JobId, ProofType};
use provemesh_orchestrator::circuits::{self, JobContext};
use provemesh_orchestrator::outputs::l1_node;
use provemesh_orchestrator::{EpochError, EpochProver, EpochState, NodeKey};
use provemesh_store::ProofStore;
use std::future::Future;
use std::time::Duration;
use support::*;

const MS: Duration = Duration::from_millis(1);

async fn bounded<T>(secs: u64, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("test timed out")
}

/// Jobs of a block with `t` txs: 2 base parities, root parity, t bases, t − 1 merges,
/// block root.
fn block_jobs(t: usize) -> usize {
    2 + 1 + t + t.saturating_sub(1) + 1
}

#[tokio::test]
async fn two_blocks_of_three_txs_prove_l1s_public_inputs() {
    bounded(40, async {
        let blocks = blocks(&[3, 3]);
        let m = mesh().await;
        let a = agents(&m, 3, 5 * MS, &[]).await;
        let cfg = config(7, &blocks);
        let expected = cfg.expected_root_public_inputs.clone().unwrap();
        let root = EpochProver::prove(m.broker.clone(), cfg, blocks.clone())
            .await
            .unwrap();

        // L1's values, computed here from the blocks independently of the orchestrator.
        let field = |v: u64| Fr::from(v).to_be_bytes();
        let outs: Vec<[u8; 32]> = blocks
            .iter()
            .map(|b| b.header.content_commitment.out_hash.to_be_bytes())
            .collect();
        assert_eq!(
            expected,
            vec![
                blocks[0]
                    .block_root
                    .constants
                    .last_archive
                    .root
                    .to_be_bytes(),
                blocks[1].block_root.new_archive.root.to_be_bytes(),
                l1_node(&outs[0], &outs[1]),
                (blocks[0].header.total_fees + blocks[1].header.total_fees).to_be_bytes(),
                PROVER,
                field(7),
                field(2),
            ]
        );
        assert_ne!(outs[0], [0u8; 32], "the blocks send L2→L1 messages");
        assert_eq!(root.public_inputs, expected);
        SimulatedProof::verify(&root.proof_bytes, &root.job, &expected).unwrap();
        assert_eq!(root.jobs, 2 * block_jobs(3) + 1 + 1);
        assert_eq!(a.proved(), root.jobs as u64, "each job proved once");
        a.stop().await;
    })
    .await;
}

#[tokio::test]
async fn proving_starts_before_the_last_block_is_in() {
    bounded(40, async {
        let blocks = blocks(&[3, 0, 1]);
        let m = mesh().await;
        let a = agents(&m, 2, 5 * MS, &[]).await;
        // The L1 public inputs may come only with the seal.
        let mut cfg = config(3, &blocks);
        let expected = cfg.expected_root_public_inputs.take().unwrap();
        let h = EpochProver::start(m.broker.clone(), cfg).await.unwrap();
        h.add_block(blocks[0].clone()).unwrap();
        let mut w = h.watch_progress();
        bounded(
            10,
            w.wait_for(|p| p.per_type.get(&ProofType::BlockRootRollup).map(|t| t.done) == Some(1)),
        )
        .await
        .unwrap();
        let p = h.progress();
        assert_eq!(p.blocks, 1);
        assert!(!p.sealed);
        assert_eq!(p.per_type[&ProofType::PrivateBaseRollup].done, 3);
        // A block without txs, then one with a single tx (passed up without a merge).
        h.add_block(blocks[1].clone()).unwrap();
        tokio::time::sleep(20 * MS).await;
        h.add_block(blocks[2].clone()).unwrap();
        assert!(
            h.seal_with(vec![[0; 32]; 3]).is_err(),
            "L1 has 7 public inputs"
        );
        h.seal_with(expected.clone()).unwrap();
        assert!(h.add_block(blocks[0].clone()).is_err(), "sealed");
        let root = h.finish().await.unwrap();
        assert_eq!(
            root.jobs,
            block_jobs(3) + block_jobs(0) + block_jobs(1) + 2 + 1
        );
        assert_eq!(root.public_inputs, expected);
        a.stop().await;
    })
    .await;
}

/// The job id of block 0's tx 1 base rollup in `epoch` (first attempt).
fn base_rollup_id(blocks: &[provemesh_tx_processor::ProcessedBlock], epoch: u64) -> JobId {
    let ctx = JobContext {
        epoch: EpochNumber(epoch),
        node: NodeKey::BaseRollup { block: 0, tx: 1 },
        retry: 0,
    };
    let chain = circuits::effects_chain_before(&blocks[0], 1);
    let job = circuits::base_rollup(&ctx, &blocks[0].txs[1].base_rollup_inputs, chain).unwrap();
    JobId::derive(ProofType::PrivateBaseRollup, &job.inputs.encode().unwrap())
}

#[tokio::test]
async fn a_tampered_child_proof_is_rejected_and_proved_again() {
    bounded(40, async {
        let blocks = blocks(&[3]);
        let m = mesh().await;
        // Another job's valid proof sits where the base rollup's proof goes: the agent
        // re-reports it as found in the store, the orchestrator must not accept it.
        for epoch in [4, 5] {
            let id = base_rollup_id(&blocks, epoch);
            let other = JobId::derive(ProofType::PrivateBaseRollup, b"another job");
            let forged = SimulatedProof::create(&other, &Default::default(), 1024);
            m.store
                .put(
                    &ProofStore::proof_key(EpochNumber(epoch), &id),
                    forged.into(),
                )
                .await
                .unwrap();
        }
        let a = agents(&m, 2, 2 * MS, &[]).await;

        let h = EpochProver::start(m.broker.clone(), config(4, &blocks))
            .await
            .unwrap();
        h.add_block(blocks[0].clone()).unwrap();
        h.seal().unwrap();
        let progress = h.watch_progress();
        let root = h.finish().await.unwrap();
        let p = progress.borrow().clone();
        assert_eq!(p.rejected_proofs, 1);
        assert_eq!(p.retries, 1);
        assert_eq!(a.reused(), 1, "the forged proof was re-reported once");
        assert_eq!(
            a.proved(),
            root.jobs as u64,
            "the base rollup was proved anew"
        );

        // With no retries allowed, the epoch fails naming the job.
        let mut cfg = config(5, &blocks);
        cfg.max_job_retries = 0;
        let err = EpochProver::prove(m.broker.clone(), cfg, blocks.clone())
            .await
            .unwrap_err();
        match &err {
            EpochError::BadProof {
                epoch,
                proof_type,
                node,
                job,
                reason,
                ..
            } => {
                assert_eq!(*epoch, EpochNumber(5));
                assert_eq!(*proof_type, ProofType::PrivateBaseRollup);
                assert_eq!(*node, NodeKey::BaseRollup { block: 0, tx: 1 });
                assert_eq!(*job, base_rollup_id(&blocks, 5).to_hex());
                assert!(reason.contains("belongs to job"), "{reason}");
            }
            e => panic!("expected a rejected proof, got {e}"),
        }
        a.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_failing_circuit_fails_the_epoch_naming_job_and_field() {
    bounded(40, async {
        let mut blocks = blocks(&[2]);
        let m = mesh().await;
        let a = agents(&m, 2, 2 * MS, &[]).await;

        // The L1 public inputs say another prover: the root rollup's assertion fails.
        let mut cfg = config(8, &blocks);
        cfg.prover_id = [9; 32];
        let err = EpochProver::prove(m.broker.clone(), cfg, blocks.clone())
            .await
            .unwrap_err();
        match &err {
            EpochError::JobFailed {
                proof_type: ProofType::RootRollup,
                kind: FailureKind::Deterministic,
                error,
                ..
            } => assert!(
                error.contains("root_rollup: prover_id computed from the epoch's blocks != L1 epoch public input prover_id"),
                "{error}"
            ),
            e => panic!("expected the root rollup to fail, got {e}"),
        }

        // Finishing without the seal is an error, not a wait for blocks that never come.
        let h = EpochProver::start(m.broker.clone(), config(10, &blocks))
            .await
            .unwrap();
        h.add_block(blocks[0].clone()).unwrap();
        assert!(matches!(
            h.finish().await,
            Err(EpochError::NotSealed { epoch }) if epoch == EpochNumber(10)
        ));

        // A block whose header claims other fees than its txs paid.
        blocks[0].block_root.header.total_fees = blocks[0].block_root.header.total_fees + Fr::ONE;
        let err = EpochProver::prove(m.broker.clone(), config(9, &blocks), blocks.clone())
            .await
            .unwrap_err();
        match &err {
            EpochError::JobFailed {
                epoch,
                proof_type: ProofType::BlockRootRollup,
                node: NodeKey::BlockRoot { block: 0 },
                kind: FailureKind::Deterministic,
                attempts: 1,
                error,
                job,
            } => {
                assert_eq!(*epoch, EpochNumber(9));
                assert_eq!(job.len(), 64);
                assert!(
                    error.contains("block_root_rollup: txs.fees != header.total_fees"),
                    "{error}"
                );
                assert!(err.to_string().contains(job.as_str()), "{err}");
            }
            e => panic!("expected the block root to fail, got {e}"),
        }
        a.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_restarted_orchestrator_proves_nothing_twice() {
    bounded(50, async {
        let blocks = blocks(&[3, 3]);
        let m = mesh().await;
        let a = agents(&m, 2, 60 * MS, &[]).await;
        let first = EpochProver::start(m.broker.clone(), config(6, &blocks))
            .await
            .unwrap();
        for b in &blocks {
            first.add_block(b.clone()).unwrap();
        }
        first.seal().unwrap();
        let mut w = first.watch_progress();
        bounded(20, w.wait_for(|p| p.jobs_done >= 10))
            .await
            .unwrap();
        drop(first); // as a crash: jobs on the mesh go on without an orchestrator
        tokio::time::sleep(150 * MS).await;

        let second = EpochProver::start(m.broker.clone(), config(6, &blocks))
            .await
            .unwrap();
        for b in &blocks {
            second.add_block(b.clone()).unwrap();
        }
        second.seal().unwrap();
        let root = second.finish().await.unwrap();
        assert_eq!(root.jobs, 2 * block_jobs(3) + 2);
        assert_eq!(a.proved(), root.jobs as u64, "no job proved twice");
        assert_eq!(a.reused(), 0, "no job even re-reported");
        a.stop().await;
    })
    .await;
}

#[tokio::test]
async fn cancelling_stops_the_epoch_and_purges_its_jobs() {
    bounded(40, async {
        let blocks = blocks(&[4, 4]);
        let m = mesh().await;
        let a = agents(&m, 1, 200 * MS, &[]).await;
        let h = EpochProver::start(m.broker.clone(), config(11, &blocks))
            .await
            .unwrap();
        for b in &blocks {
            h.add_block(b.clone()).unwrap();
        }
        h.seal().unwrap();
        let mut w = h.watch_progress();
        bounded(10, w.wait_for(|p| p.jobs_done >= 1)).await.unwrap();
        h.cancel();
        let err = h.finish().await.unwrap_err();
        match err {
            EpochError::Cancelled { epoch, purged } => {
                assert_eq!(epoch, EpochNumber(11));
                assert!(purged > 0, "queued jobs purged");
            }
            e => panic!("expected a cancel, got {e}"),
        }
        assert!(m.broker.is_cancelled(EpochNumber(11)).await.unwrap());
        let left: u64 = m
            .broker
            .queue_depths()
            .await
            .unwrap()
            .iter()
            .filter(|d| d.epoch == EpochNumber(11))
            .map(|d| d.queued)
            .sum();
        assert!(left <= 1, "at most the job in flight is left, got {left}");
        assert_eq!(w.borrow().state, EpochState::Cancelled);
        a.stop().await;
    })
    .await;
}

#[tokio::test]
async fn the_watchdog_reports_an_expected_deadline_miss() {
    bounded(40, async {
        let blocks = blocks(&[3, 3]);
        let m = mesh().await;
        let a = agents(&m, 1, 80 * MS, &[]).await;
        let mut cfg = config(12, &blocks);
        // 24 jobs of 80 ms on one agent cannot finish within 1.2 s.
        cfg.deadline_ms = Some(provemesh_common::unix_millis() + 1_200);
        let h = EpochProver::start(m.broker.clone(), cfg).await.unwrap();
        for b in &blocks {
            h.add_block(b.clone()).unwrap();
        }
        h.seal().unwrap();
        let mut w = h.watch_progress();
        bounded(5, w.wait_for(|p| p.deadline_at_risk))
            .await
            .unwrap();
        let p = h.progress();
        assert!(p.deadline_slack_ms.unwrap() < 0, "{p:?}");
        assert!(p.eta_ms.unwrap() > p.deadline_ms.unwrap());
        assert_eq!(p.state, EpochState::Proving);
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["state"], "proving");
        assert!(
            json["per_type"]["private_base_rollup"]["total"] == 6,
            "{json}"
        );
        h.cancel();
        assert!(h.finish().await.unwrap_err().is_cancelled());
        a.stop().await;
    })
    .await;
}
