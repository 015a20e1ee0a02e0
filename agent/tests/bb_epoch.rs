//! Heavy (ignored by `cargo test`; run by `scripts/real-proofs`): a whole epoch proved for
//! real through the `bb` backend, as agents prove it on the mesh — one block of two txs
//! (each with its real client proof, the private kernel tail, checked with bb by the tx
//! processor) made by the node's tx processor on a devnet world state: two base rollups
//! (each verifying its tx's client proof recursively), a merge, two
//! base parities and the root parity, the block root, the root rollup (for L1). Each job
//! carries only its own parameters and its children's stored proofs; the backend verifies
//! the children natively before proving. Prints gates, times and peak memory per proof.
//! With PROVEMESH_WRITE_ROOT_FIXTURE=1 it writes the root proof to
//! agent/bb-backend/tests/fixtures/root_rollup_proof.json, which the L1 verifier test
//! (CI) checks on anvil.

#[path = "../bb-backend/tests/support/mod.rs"]
mod support;

use bytes::Bytes;
use provemesh_agent::backend::ProvingRequest;
use provemesh_agent::{BbArgs, BbBackend, ProveStats};
use provemesh_bb::circuits::CircuitSet;
use provemesh_bb::job::RealJobInputs;
use provemesh_bb::proof::RealProof;
use provemesh_client_proofs::{base_rollup_client_proof, ClientProver, ClientVerifier};
use provemesh_common::hash::header::sha256_merkle_root;
use provemesh_common::hash::leaves::fee_juice_balance_slot;
use provemesh_common::hash::{Fr, GlobalVariables};
use provemesh_common::tx::{tx_nullifier, L2ToL1Message, PublicDataWrite, Tx, TxPublicOutputs};
use provemesh_common::{EpochNumber, JobId, ProofType};
use provemesh_tx_processor::{process_block, BlockToProcess};
use provemesh_world_state::{WorldState, WorldStateConfig};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::*;

fn report(s: &ProveStats) {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    eprintln!(
        "| {} | {} | {:.0} ms | {:.0} ms | {:.1} s | {} MiB | {:.0} ms | {:.1} s |",
        s.circuit,
        s.gates,
        ms(s.children_verify),
        ms(s.witness),
        s.prove.as_secs_f64(),
        s.prove_peak_rss >> 20,
        ms(s.self_verify),
        s.total.as_secs_f64()
    );
}

async fn prove(
    b: &BbBackend,
    t: ProofType,
    circuit: &str,
    inputs: Value,
    children: Vec<RealProof>,
) -> RealProof {
    let job = RealJobInputs {
        circuit: circuit.into(),
        inputs_json: inputs.to_string(),
        children,
        tag: String::new(),
    };
    let bytes = job.encode().expect("encode");
    let req = ProvingRequest {
        id: JobId::derive(t, &bytes),
        proof_type: t,
        epoch: EpochNumber(1),
        inputs: Bytes::from(bytes),
    };
    let (proof, stats) = b
        .prove_with_stats(req)
        .await
        .unwrap_or_else(|e| panic!("{circuit}: {e}"));
    report(&stats);
    RealProof::decode(&proof).expect("a real proof")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "heavy (several minutes, ~2.5 GB): scripts/real-proofs"]
async fn an_epoch_of_one_block_with_two_txs_proved_for_real() {
    let started = Instant::now();
    let cfg = BbArgs::default()
        .validate()
        .expect("bb, the devnet CRS and the patched bb (scripts/crs)");
    let b = BbBackend::new(&cfg).expect("backend");

    let dir = tempfile::tempdir().expect("tempdir");
    let payer = Fr::from(1000u64);
    let mut ws = WorldState::open(
        dir.path(),
        WorldStateConfig {
            genesis_public_data: vec![(fee_juice_balance_slot(payer), Fr::from(1_000_000u64))],
            ..WorldStateConfig::default()
        },
    )
    .expect("world state");
    let genesis_archive = ws.tip_record().archive;
    let previous_header = ws.tip_record().header;
    let previous_path = ws
        .trees_mut()
        .archive
        .sibling_path(genesis_archive.next_available_leaf_index - 1)
        .expect("path");
    let set = CircuitSet::load(&cfg.circuits_dir).expect("circuits");
    let client = ClientProver::new(&set, cfg.bb.clone()).expect("client prover");
    let mut txs = Vec::new();
    for seed in 1..=2u64 {
        let f = |i: u64| Fr::from(seed * 1_000_000 + i);
        // The sender's secret and nonce: the first nullifier derives from them.
        let (secret, nonce) = (f(9), Fr::from(seed));
        let o = TxPublicOutputs {
            note_hashes: vec![f(1), f(2)],
            nullifiers: vec![tx_nullifier(secret, nonce), f(4)],
            public_data_writes: vec![PublicDataWrite {
                contract_address: Fr::from(77u64),
                storage_slot: f(5),
                value: f(6),
            }],
            l2_to_l1_messages: vec![L2ToL1Message {
                recipient: f(7),
                content: f(8),
            }],
            fee_payer: payer,
            fee: Fr::from(10 + seed),
        };
        let t = Instant::now();
        let proof = client.prove(&o, secret, nonce).await.expect("client proof");
        eprintln!(
            "client proof (private kernel tail) of tx {seed}: {:.0} ms",
            t.elapsed().as_secs_f64() * 1e3
        );
        txs.push(Tx { proof, outputs: o });
    }
    let verifier = ClientVerifier::new(&set, cfg.bb.clone()).expect("client verifier");
    let block = process_block(
        &mut ws,
        &verifier,
        &BlockToProcess {
            global_variables: GlobalVariables {
                block_number: 1,
                slot_number: 1,
                timestamp: 1001,
                ..GlobalVariables::default()
            },
            txs,
            l1_to_l2_messages: vec![Fr::from(11u64), Fr::from(12u64)],
        },
    )
    .expect("process");
    assert!(block.rejected.is_empty());

    eprintln!("| circuit | gates | verify children | witness | bb prove | bb peak RSS | verify | job total |");
    eprintln!("|---|---|---|---|---|---|---|---|");
    let mut chain = Fr::ZERO;
    let mut bases = Vec::new();
    for t in &block.txs {
        let mut inputs = base_rollup(&t.base_rollup_inputs, chain);
        inputs["client_proof"] =
            base_rollup_client_proof(&set, &t.base_rollup_inputs.tx).expect("client proof");
        chain = effects_chain(chain, &t.base_rollup_inputs.tx.outputs);
        bases.push(
            prove(
                &b,
                ProofType::PrivateBaseRollup,
                "private_base_rollup",
                inputs,
                vec![],
            )
            .await,
        );
    }
    let merge = prove(&b, ProofType::MergeRollup, "merge_rollup", json!({}), bases).await;
    let mut parities = Vec::new();
    for c in block.block_root.l1_to_l2_messages.chunks(8) {
        let msgs: Vec<String> = c.iter().map(|m| m.to_hex()).collect();
        parities.push(
            prove(
                &b,
                ProofType::BaseParity,
                "parity_base",
                json!({ "msgs": msgs }),
                vec![],
            )
            .await,
        );
    }
    let parity = prove(
        &b,
        ProofType::RootParity,
        "parity_root",
        json!({}),
        parities,
    )
    .await;
    let outputs: Vec<&TxPublicOutputs> = block
        .txs
        .iter()
        .map(|t| &t.base_rollup_inputs.tx.outputs)
        .collect();
    let inputs = support::block_root(
        &block.block_root,
        &previous_header,
        &previous_path,
        &outputs,
        Fr::ZERO,
    );
    let block_root = prove(
        &b,
        ProofType::BlockRootRollup,
        "block_root_rollup",
        inputs,
        vec![merge, parity],
    )
    .await;
    assert_eq!(
        block_root.public_inputs[2],
        block.block_root.new_archive.root.to_be_bytes(),
        "new archive root"
    );

    let out_hash = block.header.content_commitment.out_hash;
    let mut hashes = vec![out_hash.to_hex()];
    hashes.resize(16, Fr::ZERO.to_hex());
    let prover_id = "0x00000000000000000000000070997970c51812dc3a010c7d01b50e0d17dc79c8";
    let inputs = json!({ "block_out_hashes": hashes, "prover_id": prover_id, "epoch": "0" });
    let root = prove(
        &b,
        ProofType::RootRollup,
        "root_rollup",
        inputs,
        vec![block_root],
    )
    .await;

    let want = [
        genesis_archive.root,
        block.block_root.new_archive.root,
        sha256_merkle_root(&[out_hash]),
        block.header.total_fees,
        prover_id.parse().expect("prover id"),
        Fr::ZERO,
        Fr::from(1u64),
    ];
    let got: Vec<Fr> = root
        .public_inputs
        .iter()
        .map(|p| Fr::from_be_bytes(p).expect("field"))
        .collect();
    assert_eq!(got, want, "the root proof's public inputs are L1's");
    eprintln!("epoch proved in {:.0} s", started.elapsed().as_secs_f64());

    if std::env::var("PROVEMESH_WRITE_ROOT_FIXTURE").is_ok_and(|v| v == "1") {
        let fixture = json!({
            "generated_by": "scripts/real-proofs --fixture (agent/tests/bb_epoch.rs)",
            "circuit": root.circuit,
            "vk_hash": format!("0x{}", hex_of(&root.vk_hash)),
            "public_inputs": root.public_inputs.iter().map(|p| format!("0x{}", hex_of(p))).collect::<Vec<_>>(),
            "proof": format!("0x{}", hex_of(&root.proof)),
        });
        let path = provemesh_bb::circuits::source_tree_artifacts()
            .join("../../agent/bb-backend/tests/fixtures/root_rollup_proof.json");
        std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&fixture).expect("json") + "\n",
        )
        .expect("write fixture");
        eprintln!("wrote {}", path.display());
    }
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
