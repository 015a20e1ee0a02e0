//! Heavy (ignored by `cargo test`; run by `scripts/real-proofs`): recursion for real with
//! the INSECURE devnet CRS of scripts/crs (2^21 points) and the patched bb. Two base
//! parity proofs, then a root parity proof verifying both inside the circuit (a 2^21
//! recursion), verified natively; and the soundness check the vk tree relies on: bb binds
//! a child's verification key to the key hash the circuit pins — a child verified under
//! another circuit's key with the expected hash does not give a valid parent proof.
//! Prints what each proof cost.

use bytes::Bytes;
use provemesh_agent::backend::ProvingRequest;
use provemesh_agent::{BbArgs, BbBackend, ProveStats};
use provemesh_bb::job::{prepare, RealJobInputs};
use provemesh_bb::proof::{fields_hex, RealProof};
use provemesh_bb::witness::execute;
use provemesh_common::{EpochNumber, JobId, ProofType};
use std::time::Duration;

fn request(t: ProofType, job: &RealJobInputs) -> ProvingRequest {
    let inputs = job.encode().expect("encode");
    ProvingRequest {
        id: JobId::derive(t, &inputs),
        proof_type: t,
        epoch: EpochNumber(1),
        inputs: Bytes::from(inputs),
    }
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "heavy (minutes, ~2 GB): scripts/real-proofs"]
async fn root_parity_verifies_two_base_parity_proofs_recursively() {
    let cfg = BbArgs::default()
        .validate()
        .expect("bb, the devnet CRS and the patched bb (scripts/crs)");
    let b = BbBackend::new(&cfg).expect("backend");
    eprintln!("| circuit | gates | verify children | witness | bb prove | bb peak RSS | verify | job total |");
    eprintln!("|---|---|---|---|---|---|---|---|");
    let mut children = Vec::new();
    for seed in [1u64, 2] {
        let msgs: Vec<String> = (0..8).map(|i| (seed * 1000 + i).to_string()).collect();
        let job = RealJobInputs {
            circuit: "parity_base".into(),
            inputs_json: serde_json::json!({ "msgs": msgs }).to_string(),
            children: vec![],
            tag: String::new(),
        };
        let (bytes, stats) = b
            .prove_with_stats(request(ProofType::BaseParity, &job))
            .await
            .expect("base parity");
        report(&stats);
        children.push(RealProof::decode(&bytes).expect("proof"));
    }
    let parent = RealJobInputs {
        circuit: "parity_root".into(),
        inputs_json: "{}".into(),
        children: children.clone(),
        tag: String::new(),
    };
    let (bytes, stats) = b
        .prove_with_stats(request(ProofType::RootParity, &parent))
        .await
        .expect("root parity");
    report(&stats);
    let root = RealProof::decode(&bytes).expect("proof");
    assert_eq!(root.circuit, "parity_root");
    // sha_root, converted_root, vk_tree_root.
    assert_eq!(root.public_inputs.len(), 3);
    assert_eq!(
        root.public_inputs[2],
        b.circuits().vk_tree_root.to_be_bytes()
    );

    // Soundness of the vk pinning: child 0 verified under parity_root's key while the
    // circuit sees parity_base's hash (a member of the tree at the accepted index). The
    // ACVM does not check proofs; bb must refuse to make a valid proof of this.
    let set = b.circuits();
    let mut p = prepare(set, &parent).expect("prepare");
    let other = set.get("parity_root").expect("parity_root");
    p.inputs["proofs"][0]["vk"] = serde_json::json!(fields_hex(&other.vk));
    let exec = execute(&p.circuit.artifact, &p.inputs).expect("the ACVM does not check proofs");
    let c = &p.circuit;
    match cfg
        .bb
        .prove(
            &c.name,
            &c.artifact_path,
            c.gates,
            &c.vk,
            &exec.witness_gz,
            c.target,
        )
        .await
    {
        Err(e) => eprintln!("vk/hash mismatch: bb refused to prove: {e}"),
        Ok(out) => {
            let v = cfg
                .bb
                .verify(&c.name, &c.vk, &out.proof, &out.public_inputs, c.target)
                .await
                .expect("verify runs");
            assert!(
                !v.is_valid(),
                "a proof verifying a child under a mismatched vk verified"
            );
            eprintln!("vk/hash mismatch: bb proved, the proof does not verify: {v:?}");
        }
    }
}
