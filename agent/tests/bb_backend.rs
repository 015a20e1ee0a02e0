//! The `bb` backend (PROVER_REAL_PROOFS=true) on real circuits, with a small INSECURE devnet
//! CRS generated here (2^17 points: the base parity's size): base parity jobs proved for
//! real; a root parity job refused before any proving when a child proof is tampered with
//! or when its inputs fail a circuit assertion (the circuit's message in the error);
//! malformed jobs; a cancelled job leaves no bb process behind. Proving a root parity (a
//! 2^21 recursion) is in the heavy suite (`scripts/real-proofs`).

use bytes::Bytes;
use provemesh_agent::backend::{BackendError, ProvingBackend, ProvingRequest};
use provemesh_agent::{BbBackend, BbBackendConfig};
use provemesh_bb::circuits::source_tree_artifacts;
use provemesh_bb::job::RealJobInputs;
use provemesh_bb::proof::RealProof;
use provemesh_bb::testing::devnet_bb;
use provemesh_common::{EpochNumber, JobId, ProofType};
use std::path::Path;
use std::time::Duration;

fn backend(tmp: &Path) -> BbBackend {
    BbBackend::new(&BbBackendConfig {
        bb: devnet_bb(tmp, 1 << 17),
        circuits_dir: source_tree_artifacts(),
        insecure_devnet: true,
    })
    .expect("backend")
}

fn request(t: ProofType, job: &RealJobInputs) -> ProvingRequest {
    let inputs = job.encode().expect("encode");
    ProvingRequest {
        id: JobId::derive(t, &inputs),
        proof_type: t,
        epoch: EpochNumber(1),
        inputs: Bytes::from(inputs),
    }
}

fn base_job(seed: u64) -> RealJobInputs {
    let msgs: Vec<String> = (0..8).map(|i| (seed * 100 + i).to_string()).collect();
    RealJobInputs {
        circuit: "parity_base".into(),
        inputs_json: serde_json::json!({ "msgs": msgs }).to_string(),
        children: vec![],
        tag: String::new(),
    }
}

/// Processes whose command line mentions `needle` (bb runs with its files under the work dir).
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(needle) && !cmd.contains("bb_backend") {
                out.push(cmd);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base_parity_proved_for_real_and_bad_parents_refused_before_proving() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let b = backend(tmp.path());

    let mut children = Vec::new();
    for seed in [1, 2] {
        let bytes = b
            .prove(request(ProofType::BaseParity, &base_job(seed)))
            .await
            .expect("base parity proves");
        let p = RealProof::decode(&bytes).expect("a real proof");
        assert_eq!(p.circuit, "parity_base");
        assert_eq!(p.public_inputs.len(), 3);
        children.push(p);
    }

    // A failing circuit assertion fails the job deterministically, with the message.
    let parent = |children: Vec<RealProof>, inputs: serde_json::Value| RealJobInputs {
        circuit: "parity_root".into(),
        inputs_json: inputs.to_string(),
        children,
        tag: String::new(),
    };
    let e = b
        .prove(request(
            ProofType::RootParity,
            &parent(
                children.clone(),
                serde_json::json!({ "vk_tree_root": "0x05" }),
            ),
        ))
        .await
        .unwrap_err();
    assert_eq!(
        e,
        BackendError::Assertion(
            "circuit parity_root: child proof was made under another vk tree".into()
        )
    );
    assert!(e.is_deterministic());

    // A tampered child is caught by native verification, before the parent is proved.
    let mut bad = children.clone();
    bad[1].public_inputs[0][31] ^= 1;
    let e = b
        .prove(request(
            ProofType::RootParity,
            &parent(bad, serde_json::json!({})),
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, BackendError::Assertion(m) if m.starts_with("circuit parity_root: child proof 1 (parity_base) does not verify")),
        "{e}"
    );

    // Malformed jobs.
    let mut garbage = request(ProofType::BaseParity, &base_job(3));
    garbage.inputs = Bytes::from_static(b"\xc1");
    assert!(matches!(
        b.prove(garbage).await,
        Err(BackendError::InvalidInput(_))
    ));
    let e = b
        .prove(request(ProofType::RootParity, &base_job(3)))
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("must prove circuit parity_root, not parity_base"),
        "{e}"
    );
    assert_eq!(
        b.prove(request(ProofType::PublicBaseRollup, &base_job(3)))
            .await,
        Err(BackendError::Unsupported(ProofType::PublicBaseRollup))
    );
    let e = b
        .prove(request(
            ProofType::RootParity,
            &parent(children[..1].to_vec(), serde_json::json!({})),
        ))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("1 child proofs for 2 slots"), "{e}");

    // Cancelling a job (dropping its future) kills its bb at once.
    let work = tmp.path().join("work").display().to_string();
    let mut fut = b.prove(request(ProofType::BaseParity, &base_job(4)));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        tokio::select! {
            r = &mut fut => panic!("the job ended before bb was seen running: {r:?}"),
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
        if !processes_mentioning(&work).is_empty() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "bb never started");
    }
    drop(fut);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        processes_mentioning(&work),
        Vec::<String>::new(),
        "bb outlived its job"
    );
    let left: Vec<_> = std::fs::read_dir(tmp.path().join("work"))
        .expect("work")
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

#[test]
fn real_proofs_are_refused_at_start_up_when_bb_or_the_crs_is_missing() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        agent: provemesh_agent::AgentArgs,
    }
    let validate = |args: &[&str]| {
        let mut argv = vec!["agent", "--prover-real-proofs"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).expect("parses").agent.validate()
    };
    let e = validate(&["--bb-binary-path", "/nonexistent/bb"]).unwrap_err();
    assert_eq!(e.variable, "BB_BINARY_PATH", "{e}");
    let tmp = tempfile::tempdir().expect("tempdir");
    let e = validate(&["--crs-path", &tmp.path().display().to_string()]).unwrap_err();
    assert!(
        e.variable == "CRS_PATH" || e.variable == "BB_VERIFIER_PATH",
        "{e}"
    );
    // Simulated proofs need none of it.
    let cfg = Cli::try_parse_from(["agent", "--bb-binary-path", "/nonexistent/bb"])
        .expect("parses")
        .agent
        .validate()
        .expect("simulated");
    assert!(cfg.real_proofs.is_none());
}
