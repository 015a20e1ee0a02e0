//! The checked-in circuits (circuits/artifacts) against the Rust side: witness generation
//! with the ACVM equals noir_js's on every recorded case (valid ones give the same witness
//! and return value, invalid ones fail with the same assertion message), and the circuits
//! hash exactly as `provemesh_common::hash` does.

use acir::native_types::WitnessStack;
use acir::FieldElement;
use base64::Engine as _;
use provemesh_bb::circuits::{source_tree_artifacts, CircuitSet};
use provemesh_bb::job::{prepare, RealJobInputs};
use provemesh_bb::witness::{execute, WitnessError};
use provemesh_common::hash::header::{sha256_merkle_root, sha256_to_field};
use provemesh_common::hash::{merkle_hash, merkle_root, Fr};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
struct Case {
    case: String,
    inputs: Value,
    return_value: Option<Value>,
    witness_gz_base64: Option<String>,
    error: Option<String>,
}

fn set() -> CircuitSet {
    CircuitSet::load(&source_tree_artifacts())
        .expect("circuits/artifacts loads (run scripts/circuits)")
}

fn cases(name: &str) -> Vec<Case> {
    let p = source_tree_artifacts()
        .join("cases")
        .join(format!("{name}.json"));
    serde_json::from_slice(&std::fs::read(&p).expect("cases file")).expect("cases parse")
}

fn fr(v: &Value) -> Fr {
    v.as_str().expect("hex string").parse().expect("field")
}

/// noir_js prints fields as minimal hex; compare values, not spellings.
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => match (x.parse::<Fr>(), y.parse::<Fr>()) {
            (Ok(x), Ok(y)) => x == y,
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_value(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_value(v, w)))
        }
        _ => a == b,
    }
}

#[test]
fn acvm_witnesses_equal_noir_js_on_every_recorded_case() {
    let set = set();
    let mut checked = 0;
    for c in set.iter() {
        for case in cases(&c.name) {
            let what = format!("{}/{}", c.name, case.case);
            let got = execute(&c.artifact, &case.inputs);
            match (&case.error, got) {
                (None, Ok(exec)) => {
                    let want_gz = base64::engine::general_purpose::STANDARD
                        .decode(case.witness_gz_base64.as_deref().expect("witness"))
                        .expect("base64");
                    let want = WitnessStack::<FieldElement>::deserialize(&want_gz)
                        .expect("noir_js witness");
                    let ours = WitnessStack::<FieldElement>::deserialize(&exec.witness_gz)
                        .expect("our witness");
                    assert_eq!(ours, want, "{what}: witness differs from noir_js");
                    assert_eq!(
                        exec.witness_gz, want_gz,
                        "{what}: same witness, other gzip bytes"
                    );
                    // A circuit without a return value (the private kernel tail) has none
                    // in noir_js's record either.
                    let rv = case.return_value.clone().unwrap_or(Value::Null);
                    assert!(
                        same_value(&exec.return_value, &rv),
                        "{what}: {} vs {rv}",
                        exec.return_value
                    );
                }
                (Some(msg), Err(WitnessError::Assertion { message, circuit })) => {
                    assert_eq!(circuit, c.name);
                    assert!(
                        msg.contains(&message),
                        "{what}: noir_js says {msg:?}, we say {message:?}"
                    );
                }
                (want, got) => panic!("{what}: noir_js {want:?}, ACVM {got:?}"),
            }
            checked += 1;
        }
    }
    assert!(checked >= 6, "only {checked} cases");
}

#[test]
fn parity_circuits_hash_as_common_does() {
    let set = set();
    for case in cases("parity_base") {
        let msgs: Vec<Fr> = case.inputs["msgs"]
            .as_array()
            .expect("msgs")
            .iter()
            .map(fr)
            .collect();
        let rv = case.return_value.expect("return value");
        assert_eq!(
            fr(&rv["sha_root"]),
            sha256_merkle_root(&msgs),
            "{}",
            case.case
        );
        assert_eq!(
            fr(&rv["converted_root"]),
            merkle_root(&msgs, 3),
            "{}",
            case.case
        );
        assert_eq!(fr(&rv["vk_tree_root"]), set.vk_tree_root);
    }
    for case in cases("parity_root")
        .into_iter()
        .filter(|c| c.error.is_none())
    {
        let ch = case.inputs["children"].as_array().expect("children");
        let rv = case.return_value.expect("return value");
        let pair = |a: Fr, b: Fr| {
            let mut buf = [0u8; 64];
            buf[..32].copy_from_slice(&a.to_be_bytes());
            buf[32..].copy_from_slice(&b.to_be_bytes());
            sha256_to_field(&buf)
        };
        assert_eq!(
            fr(&rv["sha_root"]),
            pair(fr(&ch[0]["sha_root"]), fr(&ch[1]["sha_root"]))
        );
        assert_eq!(
            fr(&rv["converted_root"]),
            merkle_hash(fr(&ch[0]["converted_root"]), fr(&ch[1]["converted_root"]))
        );
    }
    // Two base parities of 8 messages make the block's 16: the root parity's roots are the
    // block's roots over all 16 (what the tx processor computes).
    let msgs: Vec<Fr> = (1..=16u64).map(|i| Fr::from(i * 1_000_003)).collect();
    let halves = [&msgs[..8], &msgs[8..]];
    let shas: Vec<Fr> = halves.iter().map(|h| sha256_merkle_root(h)).collect();
    assert_eq!(sha256_merkle_root(&shas), sha256_merkle_root(&msgs));
    let convs: Vec<Fr> = halves.iter().map(|h| merkle_root(h, 3)).collect();
    assert_eq!(merkle_hash(convs[0], convs[1]), merkle_root(&msgs, 4));
}

#[test]
fn vk_tree_is_common_merkle_tree_of_the_vk_hashes() {
    let set = set();
    let leaves: Vec<Fr> = set
        .manifest
        .vk_tree
        .leaves
        .iter()
        .map(|l| l.parse().expect("leaf"))
        .collect();
    assert_eq!(
        merkle_root(&leaves, set.manifest.vk_tree.height as u8),
        set.vk_tree_root
    );
    for c in set.iter() {
        // Circuits in the tree are verified inside Noir: their vks are 115 fields.
        if let Some(i) = c.vk_index {
            assert_eq!(leaves[i as usize], c.vk_hash, "{}", c.name);
            assert_eq!(c.vk.len(), 115 * 32, "{}: vk size", c.name);
        }
    }
}

#[test]
fn prepared_parent_inputs_fill_children_from_their_proofs() {
    let set = set();
    let base = set.get("parity_base").expect("parity_base");
    let child = |sha: u64| provemesh_bb::proof::RealProof {
        circuit: "parity_base".into(),
        vk_hash: base.vk_hash.to_be_bytes(),
        public_inputs: vec![
            Fr::from(sha).to_be_bytes(),
            Fr::from(sha + 1).to_be_bytes(),
            set.vk_tree_root.to_be_bytes(),
        ],
        proof: vec![0; 410 * 32],
    };
    let job = RealJobInputs {
        circuit: "parity_root".into(),
        inputs_json: "{}".into(),
        children: vec![child(10), child(20)],
        tag: String::new(),
    };
    let p = prepare(&set, &job).expect("prepare");
    assert_eq!(
        p.inputs["children"][1]["sha_root"],
        json!(Fr::from(20u64).to_hex())
    );
    assert_eq!(
        p.inputs["proofs"][0]["vk_hash"],
        json!(base.vk_hash.to_hex())
    );
    assert_eq!(
        p.inputs["proofs"][0]["vk"].as_array().map(Vec::len),
        Some(115)
    );
    assert_eq!(p.inputs["vk_tree_root"], json!(set.vk_tree_root.to_hex()));
    // The prepared inputs execute (proofs are not checked by the ACVM; bb checks them).
    let exec = execute(&p.circuit.artifact, &p.inputs).expect("executes");
    assert_eq!(fr(&exec.return_value["vk_tree_root"]), set.vk_tree_root);

    // A child of another circuit, the wrong number of children, or a foreign vk hash are
    // refused before any proving.
    let mut wrong = job.clone();
    wrong.children[0].circuit = "parity_root".into();
    assert!(prepare(&set, &wrong)
        .unwrap_err()
        .to_string()
        .contains("does not take"));
    let mut short = job.clone();
    short.children.pop();
    assert!(prepare(&set, &short)
        .unwrap_err()
        .to_string()
        .contains("1 child proofs for 2 slots"));
    let mut foreign = job.clone();
    foreign.children[1].vk_hash = [1; 32];
    assert!(prepare(&set, &foreign)
        .unwrap_err()
        .to_string()
        .contains("vk hash"));
    let mut few = job;
    few.children[0].public_inputs.pop();
    assert!(prepare(&set, &few)
        .unwrap_err()
        .to_string()
        .contains("2 public inputs"));
}

#[test]
fn bad_inputs_fail_with_the_parameter_named() {
    let set = set();
    let base = set.get("parity_base").expect("parity_base");
    let e = execute(&base.artifact, &json!({"msgs": ["1"], "vk_tree_root": "0"})).unwrap_err();
    assert!(
        e.to_string()
            .contains("circuit parity_base: input `msgs`: expected 8 elements"),
        "{e}"
    );
    let e = execute(&base.artifact, &json!({"msgs": vec!["1"; 8]})).unwrap_err();
    assert!(e.to_string().contains("`vk_tree_root`: missing"), "{e}");
}
