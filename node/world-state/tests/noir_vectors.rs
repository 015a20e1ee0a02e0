//! Poseidon2 and tree roots equal what the Noir program in `circuits/vectors` computes
//! (vectors written by `scripts/noir-vectors`, checked in next to the program).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use provemesh_common::hash::leaves::public_data_leaf_slot;
use provemesh_common::hash::{
    empty_subtree_root, merkle_root, poseidon2_hash, poseidon2_permutation, Fr,
    IndexedLeafPreimage, NullifierLeafPreimage, PublicDataLeafPreimage,
};
use provemesh_world_state::{TreeHeights, WorldState, WorldStateConfig};
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../circuits/vectors/vectors.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("vectors.json")).expect("json")
}

fn fr(v: &Value) -> Fr {
    v.as_str().expect("hex string").parse().expect("field")
}

fn frs(v: &Value) -> Vec<Fr> {
    v.as_array().expect("array").iter().map(fr).collect()
}

#[test]
fn poseidon2_permutation_and_sponge_match_noir() {
    let v = vectors();
    let p = &v["poseidon2_permutation"];
    let input: [Fr; 4] = frs(&p["input"]).try_into().unwrap();
    assert_eq!(poseidon2_permutation(input).to_vec(), frs(&p["output"]));
    for case in v["poseidon2_hash"].as_array().unwrap() {
        let inputs = frs(&case["inputs"]);
        assert_eq!(
            poseidon2_hash(&inputs),
            fr(&case["output"]),
            "{} inputs",
            inputs.len()
        );
    }
    let s = &v["public_data_leaf_slot"];
    assert_eq!(
        public_data_leaf_slot(fr(&s["contract_address"]), fr(&s["storage_slot"])),
        fr(&s["output"])
    );
}

#[test]
fn empty_and_append_only_roots_match_noir() {
    let v = vectors();
    for (h, z) in frs(&v["empty_subtree_roots"]).into_iter().enumerate() {
        assert_eq!(empty_subtree_root(h as u8), z, "Z({h})");
    }
    let a = &v["append_only"];
    let leaves = frs(&a["leaves"]);
    assert_eq!(merkle_root(&leaves, 3), fr(&a["root_height_3"]));
    assert_eq!(merkle_root(&leaves, 4), fr(&a["root_height_4"]));
}

/// The world state's own trees (height 4 here: the smallest the world state allows; the
/// Noir trees are height 3, so compare one level up via the empty sibling).
fn small_world(dir: &std::path::Path) -> WorldState {
    let config = WorldStateConfig {
        heights: TreeHeights::uniform(4),
        nullifier_prefill: 2,
        public_data_prefill: 2,
        ..WorldStateConfig::default()
    };
    WorldState::open(dir, config).unwrap()
}

#[test]
fn indexed_tree_roots_match_noir() {
    let v = vectors();
    let dir = tempfile::tempdir().unwrap();
    let mut ws = small_world(dir.path());
    let z3 = empty_subtree_root(3);

    let n = &v["nullifier_tree"];
    let trees = ws.trees_mut();
    for k in frs(&n["inserted"]) {
        trees
            .nullifier
            .sequential_insert(k, Fr::ZERO, false)
            .unwrap();
    }
    let hashes: Vec<Fr> = (0..5)
        .map(|i| {
            trees
                .nullifier
                .leaf_preimage(i)
                .unwrap()
                .unwrap()
                .leaf_hash()
        })
        .collect();
    assert_eq!(hashes, frs(&n["leaf_hashes"]));
    let root3 = fr(&n["root"]);
    assert_eq!(
        trees.nullifier.merkle().root().unwrap(),
        provemesh_common::hash::merkle_hash(root3, z3)
    );
    let _: Option<NullifierLeafPreimage> = trees.nullifier.leaf_preimage(0).unwrap();

    let p = &v["public_data_tree"];
    for (s, val) in frs(&p["slots"]).into_iter().zip(frs(&p["values"])) {
        trees.public_data.sequential_insert(s, val, true).unwrap();
    }
    let hashes: Vec<Fr> = (0..5)
        .map(|i| {
            trees
                .public_data
                .leaf_preimage(i)
                .unwrap()
                .unwrap()
                .leaf_hash()
        })
        .collect();
    assert_eq!(hashes, frs(&p["leaf_hashes"]));
    assert_eq!(
        trees.public_data.merkle().root().unwrap(),
        provemesh_common::hash::merkle_hash(fr(&p["root"]), z3)
    );
    let _: Option<PublicDataLeafPreimage> = trees.public_data.leaf_preimage(0).unwrap();
}
