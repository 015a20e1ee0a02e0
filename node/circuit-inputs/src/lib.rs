//! The node's data mapped onto the Noir rollup circuits' parameters (`circuits/`), as
//! noir_js-style JSON: what the orchestrator puts in a real-proof job besides the child
//! proofs (the prover completes those slots from its own circuit set).
//!
//! Sizes are the circuits' (`circuits/types/src/constants.nr`); data that does not fit is
//! refused with [`InputsError`] naming the limit, so a block the circuits cannot take fails
//! its job building with the reason instead of a witness failure on an agent a minute later.

use provemesh_common::hash::header::sha256_to_field;
use provemesh_common::hash::poseidon2_hash;
use provemesh_common::hash::{
    AppendOnlyTreeSnapshot, BlockHeader, Fr, GlobalVariables, MembershipWitness,
    NullifierLeafPreimage, PartialStateReference, PublicDataLeafPreimage,
};
use provemesh_common::tx::TxPublicOutputs;
use provemesh_tx_processor::{BaseRollupInputs, BlockRootRollupInputs, PublicDataWriteHint};
use serde_json::{json, Value};

/// Per-tx and per-block limits of the circuits.
pub const MAX_NOTE_HASHES_PER_TX: usize = 8;
pub const MAX_NULLIFIERS_PER_TX: usize = 8;
pub const MAX_PUBLIC_DATA_WRITES_PER_TX: usize = 8;
pub const MAX_L2_TO_L1_MSGS_PER_TX: usize = 4;
/// The tx's writes and the fee payment's.
pub const PUBLIC_DATA_HINTS: usize = MAX_PUBLIC_DATA_WRITES_PER_TX + 1;
pub const MAX_TXS_PER_BLOCK: usize = 8;
pub const MAX_BLOCKS_PER_EPOCH: usize = 16;
pub use provemesh_common::hash::header::L1_TO_L2_MESSAGES_PER_BASE_PARITY;
const TREE_HEIGHT: usize = 24;
const SUBTREE_SIBLING_PATH: usize = 21;
const ARCHIVE_HEIGHT: usize = 20;
const L1_TO_L2_MESSAGE_SUBTREE_SIBLING_PATH: usize = 16;

/// Data the circuits cannot take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputsError {
    #[error("{what}: {got}, the circuits take at most {max}")]
    TooMany {
        what: &'static str,
        got: usize,
        max: usize,
    },
    #[error("{what}: {got}, the circuits take at least {min}")]
    TooFew {
        what: &'static str,
        got: usize,
        min: usize,
    },
    #[error("{0}")]
    Inconsistent(String),
}

fn at_most(what: &'static str, got: usize, max: usize) -> Result<(), InputsError> {
    if got > max {
        return Err(InputsError::TooMany { what, got, max });
    }
    Ok(())
}

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

/// `xs` zero-padded to `n` (longer input is refused by the callers' limit checks first).
fn padded(what: &'static str, xs: &[Fr], n: usize) -> Result<Value, InputsError> {
    at_most(what, xs.len(), n)?;
    let mut v: Vec<Value> = xs.iter().map(|x| hx(*x)).collect();
    v.resize(n, hx(Fr::ZERO));
    Ok(Value::Array(v))
}

/// A tx's public outputs (`TxPublicOutputs` in `circuits/types/src/tx.nr`).
pub fn tx_outputs(o: &TxPublicOutputs) -> Result<Value, InputsError> {
    at_most(
        "public data writes of a tx",
        o.public_data_writes.len(),
        MAX_PUBLIC_DATA_WRITES_PER_TX,
    )?;
    at_most(
        "L2 to L1 messages of a tx",
        o.l2_to_l1_messages.len(),
        MAX_L2_TO_L1_MSGS_PER_TX,
    )?;
    let mut writes: Vec<Value> = o
        .public_data_writes
        .iter()
        .map(|w| json!({ "contract_address": hx(w.contract_address), "storage_slot": hx(w.storage_slot), "value": hx(w.value) }))
        .collect();
    writes.resize(
        MAX_PUBLIC_DATA_WRITES_PER_TX,
        json!({ "contract_address": "0", "storage_slot": "0", "value": "0" }),
    );
    let mut msgs: Vec<Value> = o
        .l2_to_l1_messages
        .iter()
        .map(|m| json!({ "recipient": hx(m.recipient), "content": hx(m.content) }))
        .collect();
    msgs.resize(
        MAX_L2_TO_L1_MSGS_PER_TX,
        json!({ "recipient": "0", "content": "0" }),
    );
    Ok(json!({
        "note_hashes": padded("note hashes of a tx", &o.note_hashes, MAX_NOTE_HASHES_PER_TX)?,
        "num_note_hashes": o.note_hashes.len(),
        "nullifiers": padded("nullifiers of a tx", &o.nullifiers, MAX_NULLIFIERS_PER_TX)?,
        "num_nullifiers": o.nullifiers.len(),
        "public_data_writes": writes, "num_public_data_writes": o.public_data_writes.len(),
        "l2_to_l1_messages": msgs, "num_l2_to_l1_messages": o.l2_to_l1_messages.len(),
        "fee_payer": hx(o.fee_payer), "fee": hx(o.fee),
    }))
}

/// A membership witness with its sibling path padded to `height`.
pub fn witness(w: &MembershipWitness, height: usize) -> Result<Value, InputsError> {
    Ok(
        json!({ "leaf_index": w.leaf_index, "sibling_path": padded("sibling path", &w.sibling_path, height)? }),
    )
}

fn zero_witness(height: usize) -> Result<Value, InputsError> {
    witness(&MembershipWitness::default(), height)
}

fn nullifier_leaf(l: &NullifierLeafPreimage) -> Value {
    json!({ "nullifier": hx(l.nullifier), "next_nullifier": hx(l.next_nullifier), "next_index": l.next_index })
}

fn public_leaf(l: &PublicDataLeafPreimage) -> Value {
    json!({ "slot": hx(l.slot), "value": hx(l.value), "next_slot": hx(l.next_slot), "next_index": l.next_index })
}

fn public_hint(h: &PublicDataWriteHint) -> Result<Value, InputsError> {
    Ok(json!({
        "low_leaf": public_leaf(&h.hint.low_leaf.preimage),
        "low_leaf_witness": witness(&h.hint.low_leaf.witness, TREE_HEIGHT)?,
        "is_update": h.hint.insertion.is_none(),
        "insertion_witness": match &h.hint.insertion {
            Some(w) => witness(w, TREE_HEIGHT)?,
            None => zero_witness(TREE_HEIGHT)?,
        },
    }))
}

fn zero_public_hint() -> Result<Value, InputsError> {
    Ok(json!({
        "low_leaf": public_leaf(&PublicDataLeafPreimage::default()),
        "low_leaf_witness": zero_witness(TREE_HEIGHT)?,
        "is_update": false,
        "insertion_witness": zero_witness(TREE_HEIGHT)?,
    }))
}

/// The private base rollup's parameters for one processed tx (`vk_tree_root` is left to
/// the prover). `effects_chain_start` is the block's effects chain before the tx
/// ([`effects_chain`]).
pub fn base_rollup(b: &BaseRollupInputs, effects_chain_start: Fr) -> Result<Value, InputsError> {
    let o = &b.tx.outputs;
    let h = &b.nullifier_insertion;
    if h.sorted_keys.len() != o.nullifiers.len() || h.low_leaves.len() != o.nullifiers.len() {
        return Err(InputsError::Inconsistent(format!(
            "nullifier insertion hints for {} nullifiers ({} low leaves) on a tx with {}",
            h.sorted_keys.len(),
            h.low_leaves.len(),
            o.nullifiers.len()
        )));
    }
    let writes = o.public_data_writes.len();
    at_most(
        "public data writes of a tx",
        writes,
        MAX_PUBLIC_DATA_WRITES_PER_TX,
    )?;
    // The tx's writes, then the fee payment's (the last hint slot).
    if b.public_data_writes.len() != writes + 1 {
        return Err(InputsError::Inconsistent(format!(
            "{} public data write hints for {writes} writes and the fee payment",
            b.public_data_writes.len()
        )));
    }
    let mut low_leaves: Vec<Value> = h
        .low_leaves
        .iter()
        .map(|l| nullifier_leaf(&l.preimage))
        .collect();
    low_leaves.resize(
        MAX_NULLIFIERS_PER_TX,
        nullifier_leaf(&NullifierLeafPreimage::default()),
    );
    let mut low_witnesses = Vec::with_capacity(MAX_NULLIFIERS_PER_TX);
    for l in &h.low_leaves {
        low_witnesses.push(witness(&l.witness, TREE_HEIGHT)?);
    }
    low_witnesses.resize(MAX_NULLIFIERS_PER_TX, zero_witness(TREE_HEIGHT)?);
    let mut idx: Vec<Value> = h.sorted_key_indexes.iter().map(|i| json!(i)).collect();
    idx.resize(MAX_NULLIFIERS_PER_TX, json!(0));
    let mut hints = vec![zero_public_hint()?; PUBLIC_DATA_HINTS];
    for (i, w) in b.public_data_writes[..writes].iter().enumerate() {
        hints[i] = public_hint(w)?;
    }
    hints[PUBLIC_DATA_HINTS - 1] = public_hint(&b.public_data_writes[writes])?;
    Ok(json!({
        "tx": tx_outputs(o)?,
        "last_archive": snapshot(&b.constants.last_archive),
        "global_variables": global_variables(&b.constants.global_variables),
        "start": partial(&b.start),
        "effects_chain_start": hx(effects_chain_start),
        "note_hash_subtree_sibling_path": padded("note hash subtree sibling path", &b.note_hash_subtree_sibling_path, SUBTREE_SIBLING_PATH)?,
        "nullifier_hints": {
            "sorted_nullifiers": padded("nullifiers of a tx", &h.sorted_keys, MAX_NULLIFIERS_PER_TX)?,
            "sorted_indexes": idx,
            "low_leaves": low_leaves,
            "low_leaf_witnesses": low_witnesses,
            "subtree_sibling_path": padded("nullifier subtree sibling path", &h.subtree_sibling_path, SUBTREE_SIBLING_PATH)?,
        },
        "public_data_hints": hints,
    }))
}

/// A base parity's parameters: its run of L1→L2 messages.
pub fn base_parity(messages: &[Fr]) -> Result<Value, InputsError> {
    if messages.len() != L1_TO_L2_MESSAGES_PER_BASE_PARITY {
        return Err(InputsError::Inconsistent(format!(
            "a base parity takes {L1_TO_L2_MESSAGES_PER_BASE_PARITY} messages, not {}",
            messages.len()
        )));
    }
    Ok(json!({ "msgs": messages.iter().map(|m| hx(*m)).collect::<Vec<_>>() }))
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

/// The block's effects chain after `o` (`TxEffectsRecord::chain` in the circuits): what
/// base and merge rollups carry as `effects_chain_start`/`_end`, opened by the block root.
pub fn effects_chain(previous: Fr, o: &TxPublicOutputs) -> Fr {
    let d = o.digest();
    let hi = Fr::from_be_bytes_reduce(&d[..16]);
    let lo = Fr::from_be_bytes_reduce(&d[16..]);
    let mut leaves = out_leaves(o);
    let n = leaves.len();
    leaves.resize(MAX_L2_TO_L1_MSGS_PER_TX.max(n), Fr::ZERO);
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

/// The epoch's out hash chain after a block with `out_hash` (`chain' = poseidon2(chain,
/// out_hash)`): what block roots and merges carry, opened by the root rollup.
pub fn out_hash_chain(previous: Fr, out_hash: Fr) -> Fr {
    poseidon2_hash(&[previous, out_hash])
}

/// The effects record of a tx as the block root takes it.
pub fn effects_record(o: &TxPublicOutputs) -> Result<Value, InputsError> {
    let d = o.digest();
    let words: Vec<Value> = d
        .chunks(4)
        .map(|c| json!(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
        .collect();
    let leaves = out_leaves(o);
    Ok(
        json!({ "digest": words, "num_out": leaves.len(), "out_leaves": padded("L2 to L1 messages of a tx", &leaves, MAX_L2_TO_L1_MSGS_PER_TX)? }),
    )
}

pub fn header(h: &BlockHeader) -> Value {
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

/// The empty block root's parameters: a block without txs (the root parity completes
/// them). `out_hash_chain_start` is the epoch's chain over its earlier blocks' out hashes
/// ([`out_hash_chain`]).
pub fn empty_block_root(
    b: &BlockRootRollupInputs,
    out_hash_chain_start: Fr,
) -> Result<Value, InputsError> {
    if b.start != b.end || !b.tx_hashes.is_empty() {
        return Err(InputsError::Inconsistent(format!(
            "a block of {} txs is not empty",
            b.tx_hashes.len()
        )));
    }
    Ok(json!({
        "last_archive": snapshot(&b.constants.last_archive),
        "global_variables": global_variables(&b.constants.global_variables),
        "previous_header": header(&b.previous_header),
        "previous_header_sibling_path": padded("archive sibling path", &b.previous_header_sibling_path, ARCHIVE_HEIGHT)?,
        "start_l1_to_l2_message_tree": snapshot(&b.start_l1_to_l2_message_tree),
        "l1_to_l2_message_subtree_sibling_path": padded("L1 to L2 message subtree sibling path", &b.l1_to_l2_message_subtree_sibling_path, L1_TO_L2_MESSAGE_SUBTREE_SIBLING_PATH)?,
        "new_archive_sibling_path": padded("archive sibling path", &b.new_archive_sibling_path, ARCHIVE_HEIGHT)?,
        "out_hash_chain_start": hx(out_hash_chain_start),
    }))
}

/// The block root's parameters besides its child slots: the previous header it extends,
/// the txs' effects records, the message and archive insertion paths, and the epoch's out
/// hash chain before this block ([`out_hash_chain`]).
pub fn block_root(
    b: &BlockRootRollupInputs,
    txs: &[&TxPublicOutputs],
    out_hash_chain_start: Fr,
) -> Result<Value, InputsError> {
    if txs.is_empty() {
        return Err(InputsError::TooFew {
            what: "txs in a block",
            got: 0,
            min: 1,
        });
    }
    at_most("txs in a block", txs.len(), MAX_TXS_PER_BLOCK)?;
    let mut records = Vec::with_capacity(MAX_TXS_PER_BLOCK);
    for o in txs {
        records.push(effects_record(o)?);
    }
    records.resize(
        MAX_TXS_PER_BLOCK,
        json!({ "digest": [0, 0, 0, 0, 0, 0, 0, 0], "num_out": 0, "out_leaves": ["0", "0", "0", "0"] }),
    );
    Ok(json!({
        "previous_header": header(&b.previous_header),
        "previous_header_sibling_path": padded("archive sibling path", &b.previous_header_sibling_path, ARCHIVE_HEIGHT)?,
        "txs": records,
        "start_l1_to_l2_message_tree": snapshot(&b.start_l1_to_l2_message_tree),
        "l1_to_l2_message_subtree_sibling_path": padded("L1 to L2 message subtree sibling path", &b.l1_to_l2_message_subtree_sibling_path, L1_TO_L2_MESSAGE_SUBTREE_SIBLING_PATH)?,
        "new_archive_sibling_path": padded("archive sibling path", &b.new_archive_sibling_path, ARCHIVE_HEIGHT)?,
        "out_hash_chain_start": hx(out_hash_chain_start),
    }))
}

/// The root rollup's parameters: every block's out hash (in order), the prover and the
/// epoch, as L1 takes them.
pub fn root_rollup(
    block_out_hashes: &[Fr],
    prover_id: Fr,
    epoch: u64,
) -> Result<Value, InputsError> {
    if block_out_hashes.is_empty() {
        return Err(InputsError::TooFew {
            what: "blocks in an epoch",
            got: 0,
            min: 1,
        });
    }
    Ok(json!({
        "block_out_hashes": padded("blocks in an epoch", block_out_hashes, MAX_BLOCKS_PER_EPOCH)?,
        "prover_id": hx(prover_id),
        "epoch": hx(Fr::from(epoch)),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use provemesh_common::tx::L2ToL1Message;

    fn outputs(msgs: usize) -> TxPublicOutputs {
        TxPublicOutputs {
            note_hashes: vec![Fr::from(1u64)],
            nullifiers: vec![Fr::from(2u64)],
            public_data_writes: vec![],
            l2_to_l1_messages: (0..msgs)
                .map(|i| L2ToL1Message {
                    recipient: Fr::from(i as u64),
                    content: Fr::from(9u64),
                })
                .collect(),
            fee_payer: Fr::from(3u64),
            fee: Fr::from(4u64),
        }
    }

    #[test]
    fn over_the_circuit_limits_is_refused_by_name() {
        let e = tx_outputs(&outputs(5)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "L2 to L1 messages of a tx: 5, the circuits take at most 4"
        );
        let hashes = vec![Fr::from(1u64); 17];
        let e = root_rollup(&hashes, Fr::ZERO, 1).unwrap_err();
        assert_eq!(
            e.to_string(),
            "blocks in an epoch: 17, the circuits take at most 16"
        );
        assert!(matches!(
            root_rollup(&[], Fr::ZERO, 1),
            Err(InputsError::TooFew { .. })
        ));
        assert!(base_parity(&[Fr::ZERO; 3]).is_err());
    }

    #[test]
    fn padding_is_to_the_circuit_sizes() {
        let v = tx_outputs(&outputs(2)).unwrap();
        assert_eq!(v["note_hashes"].as_array().unwrap().len(), 8);
        assert_eq!(v["num_note_hashes"], 1);
        assert_eq!(v["l2_to_l1_messages"].as_array().unwrap().len(), 4);
        assert_eq!(v["num_l2_to_l1_messages"], 2);
        let r = effects_record(&outputs(2)).unwrap();
        assert_eq!(r["digest"].as_array().unwrap().len(), 8);
        assert_eq!(r["num_out"], 2);
        let root = root_rollup(&[Fr::from(7u64)], Fr::from(1u64), 3).unwrap();
        assert_eq!(root["block_out_hashes"].as_array().unwrap().len(), 16);
        assert_eq!(root["epoch"], hx(Fr::from(3u64)));
    }

    #[test]
    fn the_effects_chain_depends_on_order_and_out_messages() {
        let (a, b) = (outputs(0), outputs(1));
        let ab = effects_chain(effects_chain(Fr::ZERO, &a), &b);
        let ba = effects_chain(effects_chain(Fr::ZERO, &b), &a);
        assert_ne!(ab, ba);
        assert_ne!(effects_chain(Fr::ZERO, &a), effects_chain(Fr::ZERO, &b));
    }
}
