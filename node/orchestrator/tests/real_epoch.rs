//! Heavy (ignored by `cargo test`; run by `scripts/real-proofs`): an epoch proved for real
//! through the orchestrator and the mesh — a nats-server, a proof store on a local
//! S3-compatible server, an agent with the `bb` backend — exactly as the prover node proves
//! one with PROVER_REAL_PROOFS=true: two blocks (two txs, each with its real client proof;
//! then none) made by the tx processor on devnet-height trees, so every
//! circuit of the tree is proved (base parities, root parities, base rollups, a merge, a
//! block root and an empty block root, a block merge, the root). The node checks each proof (circuit, verification
//! key, public inputs, `bb verify`) before a parent is built on it; the root's public
//! inputs must be L1's, and its L1 proof must verify natively.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use provemesh_agent::{Agent, AgentConfig, BbArgs, BbBackend};
use provemesh_bb::bb::Verdict;
use provemesh_bb::circuits::CircuitSet;
use provemesh_bb::proof::RealProof;
use provemesh_nats::{Topology, TopologyConfig};
use provemesh_orchestrator::fixtures::{execute_epoch, execute_epoch_with, real_client_proofs};
use provemesh_orchestrator::{EpochError, EpochProver, Proofs, RealCircuits};
use provemesh_world_state::TreeHeights;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "heavy (minutes, ~2.5 GB per bb process): scripts/real-proofs"]
async fn an_epoch_of_two_blocks_proved_for_real_through_the_mesh() {
    let started = Instant::now();
    let bb = BbArgs::default()
        .validate()
        .expect("bb, the devnet CRS and the patched bb (scripts/crs)");
    let set = Arc::new(CircuitSet::load(&bb.circuits_dir).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let real = Arc::new(RealCircuits::new(set.clone(), Some(bb.bb.clone())));
    // The txs carry real client proofs (private kernel tail), checked with bb by the tx
    // processor and verified again inside each base rollup.
    let client = real_client_proofs(&real, 2).await.unwrap();
    // Block 2 has no txs (its L1→L2 messages only): it closes with the empty block root.
    let blocks = execute_epoch_with(
        dir.path(),
        TreeHeights::DEVNET,
        &[2, 0],
        Some(&client),
        |_| {},
    )
    .unwrap();

    // Proofs through the mesh into S3 (a local S3-compatible server), as a farm shares them.
    let m = mesh_on_s3().await;
    let shutdown = CancellationToken::new();
    let cfg = AgentConfig::new("bb-agent", &[], 1);
    let topo = Topology::bind(
        js(&m.url).await,
        TopologyConfig::default(),
        &cfg.proof_types,
    )
    .await
    .unwrap();
    let agent = Agent::new(
        cfg,
        topo,
        m.store.clone(),
        Arc::new(BbBackend::new(&bb).unwrap()),
    )
    .unwrap();
    let stats = agent.stats();
    let task = tokio::spawn(agent.run(shutdown.clone()));

    let mut c = config(5, &blocks);
    let expected = c.expected_root_public_inputs.clone().unwrap();
    c.proofs = Proofs::Real(real);
    let root = tokio::time::timeout(
        Duration::from_secs(1800),
        EpochProver::prove(m.broker.clone(), c, blocks.clone()),
    )
    .await
    .expect("bounded")
    .unwrap();

    // 2 blocks × (2 base parities + root parity + block root or empty block root) + 2 bases
    // + 1 merge + block merge + root.
    assert_eq!(root.jobs, 2 * 4 + 2 + 1 + 1 + 1);
    assert_eq!(
        stats.proved.load(std::sync::atomic::Ordering::Relaxed),
        root.jobs as u64,
        "each job proved once"
    );
    assert_eq!(root.public_inputs, expected, "L1's epoch public inputs");
    let proof = RealProof::decode(&root.proof_bytes).unwrap();
    assert_eq!(proof.circuit, "root_rollup");
    assert_eq!(proof.public_inputs, expected);
    assert_eq!(
        root.l1_proof.as_ref(),
        proof.proof.as_slice(),
        "L1 takes bb's proof bytes"
    );
    let c = set.get("root_rollup").unwrap();
    let verdict = bb
        .bb
        .verify(
            &c.name,
            &c.vk,
            &proof.proof,
            &proof.public_inputs_bytes(),
            c.target,
        )
        .await
        .unwrap();
    assert_eq!(verdict, Verdict::Valid);
    eprintln!(
        "epoch of {} jobs proved for real in {:.0} s",
        root.jobs,
        started.elapsed().as_secs_f64()
    );

    // A block the circuits cannot take (9 txs) fails the epoch at once, naming why.
    let big = execute_epoch(
        tempfile::tempdir().unwrap().path(),
        TreeHeights::DEVNET,
        &[9],
        |_| {},
    )
    .unwrap();
    let mut c = config(6, &big);
    c.proofs = Proofs::Real(Arc::new(RealCircuits::new(set, None)));
    let e = EpochProver::prove(m.broker.clone(), c, big)
        .await
        .unwrap_err();
    assert!(
        matches!(e, EpochError::InvalidBlock { .. }) && e.to_string().contains("at most 8 txs"),
        "{e}"
    );

    shutdown.cancel();
    let _ = task.await;
}
