//! Circuit inputs from the node's own data, for the rollup circuit tests: the tx
//! processor's outputs (node/tx-processor) mapped field for field onto the Noir ABI. This
//! mapping is what the proving orchestrator does when it enqueues real-proof jobs.

#![allow(dead_code, clippy::unwrap_used)]

use provemesh_common::hash::header::sha256_to_field;
use provemesh_common::hash::poseidon2_hash;
use provemesh_common::hash::{
    AppendOnlyTreeSnapshot, Fr, GlobalVariables, MembershipWitness, NullifierLeafPreimage,
    PartialStateReference, PublicDataLeafPreimage,
};
use provemesh_common::tx::TxPublicOutputs;
use provemesh_tx_processor::{BaseRollupInputs, PublicDataWriteHint};
use provemesh_world_state::LowLeafWitness;
use serde_json::{json, Value};

pub const PUBLIC_DATA_HINTS: usize = 9;

pub fn hx(f: Fr) -> Value {
    Value::String(f.to_hex())
}

pub fn snapshot(s: &AppendOnlyTreeSnapshot) -> Value {
    json!({ "root": hx(s.root), "next_available_leaf_index": s.next_available_leaf_index })
}

pub fn partial(p: &PartialStateReference) -> Value {
    json!({
        "note_hash_tree": snapshot(&p.note_hash_tree),
        "nullifier_tree": snapshot(&p.nullifier_tree),
        "public_data_tree": snapshot(&p.public_data_tree),
    })
}

pub fn global_variables(g: &GlobalVariables) -> Value {
    json!({
        "chain_id": hx(g.chain_id), "version": hx(g.version), "block_number": g.block_number,
        "slot_number": g.slot_number, "timestamp": g.timestamp, "coinbase": hx(g.coinbase),
        "fee_recipient": hx(g.fee_recipient),
    })
}

fn padded(xs: &[Fr], n: usize) -> Value {
    let mut v: Vec<Value> = xs.iter().map(|x| hx(*x)).collect();
    v.resize(n, hx(Fr::ZERO));
    Value::Array(v)
}

pub fn tx_outputs(o: &TxPublicOutputs) -> Value {
    let mut writes: Vec<Value> = o
        .public_data_writes
        .iter()
        .map(|w| json!({ "contract_address": hx(w.contract_address), "storage_slot": hx(w.storage_slot), "value": hx(w.value) }))
        .collect();
    writes.resize(
        8,
        json!({ "contract_address": "0", "storage_slot": "0", "value": "0" }),
    );
    let mut msgs: Vec<Value> = o
        .l2_to_l1_messages
        .iter()
        .map(|m| json!({ "recipient": hx(m.recipient), "content": hx(m.content) }))
        .collect();
    msgs.resize(4, json!({ "recipient": "0", "content": "0" }));
    json!({
        "note_hashes": padded(&o.note_hashes, 8), "num_note_hashes": o.note_hashes.len(),
        "nullifiers": padded(&o.nullifiers, 8), "num_nullifiers": o.nullifiers.len(),
        "public_data_writes": writes, "num_public_data_writes": o.public_data_writes.len(),
        "l2_to_l1_messages": msgs, "num_l2_to_l1_messages": o.l2_to_l1_messages.len(),
        "fee_payer": hx(o.fee_payer), "fee": hx(o.fee),
    })
}

pub fn witness(w: &MembershipWitness, height: usize) -> Value {
    json!({ "leaf_index": w.leaf_index, "sibling_path": padded(&w.sibling_path, height) })
}

fn zero_witness(height: usize) -> Value {
    witness(&MembershipWitness::default(), height)
}

fn nullifier_leaf(l: &NullifierLeafPreimage) -> Value {
    json!({ "nullifier": hx(l.nullifier), "next_nullifier": hx(l.next_nullifier), "next_index": l.next_index })
}

fn public_leaf(l: &PublicDataLeafPreimage) -> Value {
    json!({ "slot": hx(l.slot), "value": hx(l.value), "next_slot": hx(l.next_slot), "next_index": l.next_index })
}

fn public_hint(h: &PublicDataWriteHint) -> Value {
    json!({
        "low_leaf": public_leaf(&h.hint.low_leaf.preimage),
        "low_leaf_witness": witness(&h.hint.low_leaf.witness, 24),
        "is_update": h.hint.insertion.is_none(),
        "insertion_witness": h.hint.insertion.as_ref().map(|w| witness(w, 24)).unwrap_or_else(|| zero_witness(24)),
    })
}

fn zero_public_hint() -> Value {
    json!({
        "low_leaf": public_leaf(&PublicDataLeafPreimage::default()),
        "low_leaf_witness": zero_witness(24),
        "is_update": false,
        "insertion_witness": zero_witness(24),
    })
}

/// The private base rollup's inputs for one processed tx (without `vk_tree_root`, which the
/// prover fills in).
pub fn base_rollup(b: &BaseRollupInputs, effects_chain_start: Fr) -> Value {
    let o = &b.tx.outputs;
    let h = &b.nullifier_insertion;
    let n = h.sorted_keys.len();
    let mut low_leaves: Vec<Value> = h
        .low_leaves
        .iter()
        .map(|l: &LowLeafWitness<_>| nullifier_leaf(&l.preimage))
        .collect();
    low_leaves.resize(8, nullifier_leaf(&NullifierLeafPreimage::default()));
    let mut low_witnesses: Vec<Value> = h
        .low_leaves
        .iter()
        .map(|l| witness(&l.witness, 24))
        .collect();
    low_witnesses.resize(8, zero_witness(24));
    let mut idx: Vec<Value> = h.sorted_key_indexes.iter().map(|i| json!(i)).collect();
    idx.resize(8, json!(0));
    let writes = o.public_data_writes.len();
    let mut hints: Vec<Value> = (0..PUBLIC_DATA_HINTS).map(|_| zero_public_hint()).collect();
    for (i, w) in b.public_data_writes[..writes].iter().enumerate() {
        hints[i] = public_hint(w);
    }
    hints[PUBLIC_DATA_HINTS - 1] = public_hint(&b.public_data_writes[writes]);
    assert_eq!(n, o.nullifiers.len());
    json!({
        "tx": tx_outputs(o),
        "last_archive": snapshot(&b.constants.last_archive),
        "global_variables": global_variables(&b.constants.global_variables),
        "start": partial(&b.start),
        "effects_chain_start": hx(effects_chain_start),
        "note_hash_subtree_sibling_path": padded(&b.note_hash_subtree_sibling_path, 21),
        "nullifier_hints": {
            "sorted_nullifiers": padded(&h.sorted_keys, 8),
            "sorted_indexes": idx,
            "low_leaves": low_leaves,
            "low_leaf_witnesses": low_witnesses,
            "subtree_sibling_path": padded(&h.subtree_sibling_path, 21),
        },
        "public_data_hints": hints,
    })
}

/// The tx's L2→L1 message leaves (as the tx processor computes them for the out hash).
pub fn out_leaves(o: &TxPublicOutputs) -> Vec<Fr> {
    o.l2_to_l1_messages
        .iter()
        .map(|m| {
            let mut buf = [0u8; 64];
            buf[..32].copy_from_slice(&m.recipient.to_be_bytes());
            buf[32..].copy_from_slice(&m.content.to_be_bytes());
            sha256_to_field(&buf)
        })
        .collect()
}

/// The effects chain after `o` (types::tx::TxEffectsRecord::chain).
pub fn effects_chain(previous: Fr, o: &TxPublicOutputs) -> Fr {
    let d = o.digest();
    let hi = Fr::from_be_bytes_reduce(&d[..16]);
    let lo = Fr::from_be_bytes_reduce(&d[16..]);
    let mut leaves = out_leaves(o);
    let n = leaves.len();
    leaves.resize(4, Fr::ZERO);
    poseidon2_hash(&[
        previous,
        hi,
        lo,
        Fr::from(n as u64),
        leaves[0],
        leaves[1],
        leaves[2],
        leaves[3],
    ])
}

/// The effects record of a tx as the block root takes it.
pub fn effects_record(o: &TxPublicOutputs) -> Value {
    let d = o.digest();
    let words: Vec<Value> = d
        .chunks(4)
        .map(|c| json!(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
        .collect();
    let leaves = out_leaves(o);
    json!({ "digest": words, "num_out": leaves.len(), "out_leaves": padded(&leaves, 4) })
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

pub fn header(h: &provemesh_common::hash::BlockHeader) -> Value {
    let c = &h.content_commitment;
    json!({
        "last_archive": snapshot(&h.last_archive),
        "content_commitment": { "num_txs": c.num_txs, "tx_effects_hash": hx(c.tx_effects_hash), "in_hash": hx(c.in_hash), "out_hash": hx(c.out_hash) },
        "l1_to_l2_message_tree": snapshot(&h.state.l1_to_l2_message_tree),
        "partial": partial(&h.state.partial),
        "global_variables": global_variables(&h.global_variables),
        "total_fees": hx(h.total_fees),
    })
}

/// The block root's inputs besides its child slots (`rollup`, `parity` and their proofs).
pub fn block_root(
    b: &provemesh_tx_processor::BlockRootRollupInputs,
    previous_header: &provemesh_common::hash::BlockHeader,
    previous_header_sibling_path: &[Fr],
    txs: &[&TxPublicOutputs],
    out_hash_chain_start: Fr,
) -> Value {
    let mut records: Vec<Value> = txs.iter().map(|o| effects_record(o)).collect();
    records.resize(8, json!({ "digest": [0, 0, 0, 0, 0, 0, 0, 0], "num_out": 0, "out_leaves": ["0", "0", "0", "0"] }));
    json!({
        "previous_header": header(previous_header),
        "previous_header_sibling_path": padded(previous_header_sibling_path, 20),
        "txs": records,
        "start_l1_to_l2_message_tree": snapshot(&b.start_l1_to_l2_message_tree),
        "l1_to_l2_message_subtree_sibling_path": padded(&b.l1_to_l2_message_subtree_sibling_path, 16),
        "new_archive_sibling_path": padded(&b.new_archive_sibling_path, 20),
        "out_hash_chain_start": hx(out_hash_chain_start),
    })
}
