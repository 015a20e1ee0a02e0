//! A real proof of a small circuit (parity_base, 67k gates): witness by the ACVM, proof by
//! the pinned bb with a freshly generated INSECURE devnet CRS (2^17 points, generated here),
//! verified natively by the patched copy of bb (the pristine one refuses it: its G2 is the
//! ceremony's), and refused when a public input or the proof is tampered with. Also the
//! error paths of the bb steps. Needs the bootstrapped bb (`scripts/bootstrap bb`).

use provemesh_bb::bb::{BbConfig, BbError, Target};
use provemesh_bb::circuits::{source_tree_artifacts, CircuitSet};
use provemesh_bb::crs::{insecure_devnet_tau, write_crs};
use provemesh_bb::job::{prepare, RealJobInputs};
use provemesh_bb::proof::split_fields;
use provemesh_bb::testing::{devnet_bb, pristine_bb};
use provemesh_bb::witness::execute;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parity_base_proves_and_verifies_natively_with_the_devnet_crs() {
    let set = CircuitSet::load(&source_tree_artifacts()).expect("circuits load");
    let tmp = tempfile::tempdir().expect("tempdir");
    let circuit = set.get("parity_base").expect("parity_base").clone();
    let points = provemesh_bb::bb::crs_points_needed(circuit.gates);
    let bb = devnet_bb(tmp.path(), points);

    let msgs: Vec<String> = (1..=8).map(|i: u64| format!("{}", i * 7919)).collect();
    let job = RealJobInputs {
        circuit: "parity_base".into(),
        inputs_json: serde_json::json!({ "msgs": msgs }).to_string(),
        children: vec![],
        tag: String::new(),
    };
    let p = prepare(&set, &job).expect("prepare");
    let exec = execute(&p.circuit.artifact, &p.inputs).expect("witness");
    let out = bb
        .prove(
            "parity_base",
            &circuit.artifact_path,
            circuit.gates,
            &circuit.vk,
            &exec.witness_gz,
            Target::NoirRecursiveNoZk,
        )
        .await
        .expect("bb prove");
    eprintln!(
        "parity_base: {} gates proved in {:?}",
        circuit.gates, out.elapsed
    );
    assert_eq!(out.proof.len(), 410 * 32);
    // bb's public inputs are the ACVM's, in order.
    let pis = split_fields(&out.public_inputs).expect("whole fields");
    let ours: Vec<[u8; 32]> = exec
        .public_inputs
        .iter()
        .map(|f| {
            use acir::AcirField;
            let mut a = [0u8; 32];
            a.copy_from_slice(&f.to_be_bytes());
            a
        })
        .collect();
    assert_eq!(pis, ours);

    let t = Target::NoirRecursiveNoZk;
    assert!(bb
        .verify(
            "parity_base",
            &circuit.vk,
            &out.proof,
            &out.public_inputs,
            t
        )
        .await
        .expect("verify")
        .is_valid());
    let pristine = BbConfig {
        verifier: pristine_bb(),
        ..bb.clone()
    };
    assert!(
        !pristine
            .verify(
                "parity_base",
                &circuit.vk,
                &out.proof,
                &out.public_inputs,
                t
            )
            .await
            .expect("verify")
            .is_valid(),
        "the pristine bb's ceremony G2 must refuse a devnet-CRS proof"
    );
    let mut pi = out.public_inputs.clone();
    pi[31] ^= 1;
    assert!(!bb
        .verify("parity_base", &circuit.vk, &out.proof, &pi, t)
        .await
        .expect("verify")
        .is_valid());
    let mut proof = out.proof.clone();
    proof[32 * 20 + 31] ^= 1;
    let v = bb
        .verify("parity_base", &circuit.vk, &proof, &out.public_inputs, t)
        .await
        .expect("verify");
    assert!(!v.is_valid(), "{v:?}");
    // A proof whose commitment is valid but whose evaluation is not.
    let mut proof = out.proof.clone();
    let last = proof.len() - 1;
    proof[last] ^= 1;
    let v = bb
        .verify("parity_base", &circuit.vk, &proof, &out.public_inputs, t)
        .await
        .expect("verify");
    assert!(!v.is_valid(), "{v:?}");

    // A CRS too small for the circuit is refused before bb runs (bb would try to download).
    let small = tmp.path().join("small");
    write_crs(&small, 1024, insecure_devnet_tau()).expect("crs");
    let e = BbConfig {
        crs_dir: small,
        ..bb.clone()
    }
    .prove(
        "parity_base",
        &circuit.artifact_path,
        circuit.gates,
        &circuit.vk,
        &exec.witness_gz,
        t,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            e,
            BbError::CrsTooSmall {
                have: 1024,
                need: 131072,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("scripts/crs --points 131072"), "{e}");

    // A missing bb, and bb failing (a witness that is not one), name circuit and step.
    let e = BbConfig {
        prover: tmp.path().join("nope"),
        ..bb.clone()
    }
    .prove(
        "parity_base",
        &circuit.artifact_path,
        circuit.gates,
        &circuit.vk,
        &exec.witness_gz,
        t,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, BbError::Spawn { .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with("circuit parity_base: bb prove: cannot run"),
        "{e}"
    );
    let e = bb
        .prove(
            "parity_base",
            &circuit.artifact_path,
            circuit.gates,
            &circuit.vk,
            b"not a witness",
            t,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, BbError::Failed { .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with("circuit parity_base: bb prove: bb exited"),
        "{e}"
    );

    // Every step cleaned up its temporary directory.
    let left: Vec<_> = std::fs::read_dir(tmp.path().join("work"))
        .expect("work dir")
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
