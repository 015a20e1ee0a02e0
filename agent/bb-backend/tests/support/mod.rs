//! Circuit inputs from the node's own data, for the rollup circuit tests: the mapping the
//! orchestrator uses (`provemesh-circuit-inputs`), unwrapped, plus decoders of return
//! values and placeholder child proofs for execution-only tests.

#![allow(dead_code, unused_imports, clippy::unwrap_used)]

use provemesh_common::hash::{
    AppendOnlyTreeSnapshot, Fr, MembershipWitness, PartialStateReference,
};
use provemesh_common::tx::TxPublicOutputs;
use provemesh_tx_processor::BaseRollupInputs;
use serde_json::{json, Value};

use provemesh_circuit_inputs as inputs;
pub use provemesh_circuit_inputs::{effects_chain, hx};

pub fn tx_outputs(o: &TxPublicOutputs) -> Value {
    inputs::tx_outputs(o).unwrap()
}

pub fn witness(w: &MembershipWitness, height: usize) -> Value {
    inputs::witness(w, height).unwrap()
}

/// The private base rollup's inputs for one processed tx (without `vk_tree_root`, which the
/// prover fills in).
pub fn base_rollup(b: &BaseRollupInputs, effects_chain_start: Fr) -> Value {
    inputs::base_rollup(b, effects_chain_start).unwrap()
}

/// The effects record of a tx as the block root takes it.
pub fn effects_record(o: &TxPublicOutputs) -> Value {
    inputs::effects_record(o).unwrap()
}

/// The block root's inputs besides its child slots (`rollup`, `parity` and their proofs);
/// the previous header and its archive path, which the tests compute from the world state
/// themselves, must be the ones the tx processor recorded.
pub fn block_root(
    b: &provemesh_tx_processor::BlockRootRollupInputs,
    previous_header: &provemesh_common::hash::BlockHeader,
    previous_header_sibling_path: &[Fr],
    txs: &[&TxPublicOutputs],
    out_hash_chain_start: Fr,
) -> Value {
    assert_eq!(&b.previous_header, previous_header, "previous header");
    assert_eq!(
        b.previous_header_sibling_path, previous_header_sibling_path,
        "previous header's archive path"
    );
    inputs::block_root(b, txs, out_hash_chain_start).unwrap()
}

/// A field of a decoded return value.
pub fn field(v: &Value) -> Fr {
    v.as_str().expect("hex").parse().expect("field")
}

pub fn u64_of(v: &Value) -> u64 {
    field(v).to_u64().expect("u64")
}

/// A snapshot from a decoded return value.
pub fn snapshot_of(v: &Value) -> AppendOnlyTreeSnapshot {
    AppendOnlyTreeSnapshot {
        root: field(&v["root"]),
        next_available_leaf_index: u64_of(&v["next_available_leaf_index"]),
    }
}

pub fn partial_of(v: &Value) -> PartialStateReference {
    PartialStateReference {
        note_hash_tree: snapshot_of(&v["note_hash_tree"]),
        nullifier_tree: snapshot_of(&v["nullifier_tree"]),
        public_data_tree: snapshot_of(&v["public_data_tree"]),
    }
}

/// A child proof slot with a placeholder proof but the real verification key, hash and vk
/// tree path of `circuit` (execution does not check proofs; bb does).
pub fn placeholder_proof(set: &provemesh_bb::circuits::CircuitSet, circuit: &str) -> Value {
    let c = set.get(circuit).expect("circuit");
    let i = c.vk_index.expect("in the vk tree");
    let (_, path) = set.vk_path(i).expect("path");
    json!({
        "proof": vec!["0"; 410],
        "vk": provemesh_bb::proof::fields_hex(&c.vk),
        "vk_hash": c.vk_hash.to_hex(),
        "vk_index": i,
        "vk_path": path.iter().map(|p| p.to_hex()).collect::<Vec<_>>(),
    })
}
