//! The circuits below the block root: parities over a block's L1→L2 messages, the base
//! rollup of each tx, and merges of consecutive tx runs.

use super::{
    assemble, constants_hash, effects_chain, sha_pair, Asserts, ChildProof, CircuitJob, JobContext,
};
use crate::outputs::{Outputs, ParityOutputs, TxRunOutputs};
use provemesh_common::codec::CodecError;
use provemesh_common::hash::header::sha256_merkle_root;
use provemesh_common::hash::{
    empty_subtree_root, merkle_hash, merkle_root, root_from_sibling_path, Fr,
};
use provemesh_common::tx::{MAX_NULLIFIERS_PER_TX, NOTE_HASH_SUBTREE_HEIGHT};
use provemesh_tx_processor::{
    BaseParityInputs, BaseRollupInputs, ClientProofVerifier, SimulatedClientProofVerifier,
};

/// The private base rollup of one tx; `effects_chain_start` is the block's effects chain
/// before it ([`super::effects_chain_before`]).
pub fn base_rollup(
    ctx: &JobContext,
    b: &BaseRollupInputs,
    effects_chain_start: Fr,
) -> Result<CircuitJob, CodecError> {
    let mut a = Asserts::new("private_base_rollup");
    let o = &b.tx.outputs;
    let proof_ok = SimulatedClientProofVerifier.verify(&b.tx);
    a.holds(
        &match &proof_ok {
            Ok(()) => "client proof verifies against the tx's outputs".to_string(),
            Err(e) => format!("client proof does not verify: {e}"),
        },
        proof_ok.is_ok(),
    );
    let f = &b.fee_payment;
    a.fr(
        "fee_payment.fee_payer",
        f.fee_payer,
        "tx.fee_payer",
        o.fee_payer,
    );
    a.fr(
        "fee_payment.balance_before - tx.fee",
        f.balance_before - o.fee,
        "fee_payment.balance_after",
        f.balance_after,
    );
    a.holds(
        "fee_payment.balance_before >= tx.fee",
        f.balance_before >= o.fee,
    );
    match b.public_data_writes.last() {
        Some(w) => {
            a.fr(
                "last public data write.slot",
                w.leaf_slot,
                "fee_payment.balance_slot",
                f.balance_slot,
            );
            a.fr(
                "last public data write.value",
                w.value,
                "fee_payment.balance_after",
                f.balance_after,
            );
        }
        None => a.holds("the fee payment write is present", false),
    }
    // The note hash subtree goes in at the start index, over an empty subtree.
    let (start_nh, end_nh) = (&b.start.note_hash_tree, &b.end.note_hash_tree);
    let width = 1u64 << NOTE_HASH_SUBTREE_HEIGHT;
    let at = start_nh.next_available_leaf_index >> NOTE_HASH_SUBTREE_HEIGHT;
    let path = &b.note_hash_subtree_sibling_path;
    a.fr(
        "note hash subtree path over an empty subtree",
        root_from_sibling_path(empty_subtree_root(NOTE_HASH_SUBTREE_HEIGHT), at, path),
        "start.note_hash_tree.root",
        start_nh.root,
    );
    a.fr(
        "note hash subtree path over the tx's note hashes",
        root_from_sibling_path(
            merkle_root(&o.note_hashes, NOTE_HASH_SUBTREE_HEIGHT),
            at,
            path,
        ),
        "end.note_hash_tree.root",
        end_nh.root,
    );
    a.u64(
        "start.note_hash_tree.next_available_leaf_index + subtree",
        start_nh.next_available_leaf_index + width,
        "end.note_hash_tree.next_available_leaf_index",
        end_nh.next_available_leaf_index,
    );
    a.u64(
        "start.nullifier_tree.next_available_leaf_index + subtree",
        b.start.nullifier_tree.next_available_leaf_index + MAX_NULLIFIERS_PER_TX as u64,
        "end.nullifier_tree.next_available_leaf_index",
        b.end.nullifier_tree.next_available_leaf_index,
    );
    let outputs = TxRunOutputs {
        constants_hash: constants_hash(&b.constants),
        start: b.start,
        end: b.end,
        fees: o.fee,
        num_txs: 1,
        effects_chain_start,
        effects_chain_end: effects_chain(effects_chain_start, &o.digest()),
    };
    assemble(
        ctx,
        &[],
        (b, effects_chain_start),
        a,
        Outputs::TxRun(outputs),
    )
}

/// A merge of two consecutive tx runs of one block.
pub fn merge_rollup(
    ctx: &JobContext,
    children: &[ChildProof],
    left: &TxRunOutputs,
    right: &TxRunOutputs,
) -> Result<CircuitJob, CodecError> {
    let mut a = Asserts::new("merge_rollup");
    a.fr(
        "left.constants",
        left.constants_hash,
        "right.constants",
        right.constants_hash,
    );
    a.partial("left.end", &left.end, "right.start", &right.start);
    a.fr(
        "left.effects_chain_end",
        left.effects_chain_end,
        "right.effects_chain_start",
        right.effects_chain_start,
    );
    let outputs = TxRunOutputs {
        constants_hash: left.constants_hash,
        start: left.start,
        end: right.end,
        fees: left.fees + right.fees,
        num_txs: left.num_txs + right.num_txs,
        effects_chain_start: left.effects_chain_start,
        effects_chain_end: right.effects_chain_end,
    };
    assemble(ctx, children, (), a, Outputs::TxRun(outputs))
}

/// A base parity over a power-of-two run of L1→L2 messages.
pub fn base_parity(ctx: &JobContext, p: &BaseParityInputs) -> Result<CircuitJob, CodecError> {
    let mut a = Asserts::new("base_parity");
    let n = p.l1_to_l2_messages.len();
    a.holds("message count is a power of two", n.is_power_of_two());
    let height = n.max(1).trailing_zeros() as u8;
    let outputs = ParityOutputs {
        sha_root: sha256_merkle_root(&p.l1_to_l2_messages),
        converted_root: merkle_root(&p.l1_to_l2_messages, height),
        height,
    };
    assemble(ctx, &[], p, a, Outputs::Parity(outputs))
}

/// The root parity over a block's base parities (a power of two of equal heights).
pub fn root_parity(
    ctx: &JobContext,
    children: &[ChildProof],
    parts: &[ParityOutputs],
) -> Result<CircuitJob, CodecError> {
    let mut a = Asserts::new("root_parity");
    a.holds(
        "base parity count is a power of two",
        parts.len().is_power_of_two(),
    );
    let h0 = parts.first().map_or(0, |p| p.height);
    for (i, p) in parts.iter().enumerate() {
        a.u64(
            &format!("children[{i}].height"),
            p.height.into(),
            "children[0].height",
            h0.into(),
        );
    }
    let mut sha: Vec<Fr> = parts.iter().map(|p| p.sha_root).collect();
    let mut conv: Vec<Fr> = parts.iter().map(|p| p.converted_root).collect();
    let mut height = h0;
    while sha.len() > 1 {
        sha = sha
            .chunks(2)
            .map(|c| sha_pair(c[0], c.get(1).copied().unwrap_or(Fr::ZERO)))
            .collect();
        conv = conv
            .chunks(2)
            .map(|c| merkle_hash(c[0], c.get(1).copied().unwrap_or(Fr::ZERO)))
            .collect();
        height += 1;
    }
    let outputs = ParityOutputs {
        sha_root: sha.first().copied().unwrap_or(Fr::ZERO),
        converted_root: conv.first().copied().unwrap_or(Fr::ZERO),
        height,
    };
    assemble(ctx, children, (), a, Outputs::Parity(outputs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dag::NodeKey;
    use provemesh_common::hash::PartialStateReference;
    use provemesh_common::EpochNumber;

    fn run(start: u64, end: u64) -> TxRunOutputs {
        let at = |v: u64| {
            let mut p = PartialStateReference::default();
            p.note_hash_tree.root = Fr::from(v);
            p
        };
        TxRunOutputs {
            constants_hash: Fr::ONE,
            start: at(start),
            end: at(end),
            fees: Fr::from(2u64),
            num_txs: 1,
            effects_chain_start: Fr::from(start),
            effects_chain_end: Fr::from(end),
        }
    }

    #[test]
    fn merge_names_the_field_that_does_not_chain() {
        let ctx = JobContext {
            epoch: EpochNumber(3),
            node: NodeKey::Merge {
                block: 0,
                level: 1,
                index: 0,
            },
            retry: 0,
        };
        let ok = merge_rollup(&ctx, &[], &run(1, 2), &run(2, 3)).unwrap();
        assert_eq!(ok.inputs.check(), Ok(()));
        match ok.outputs {
            Outputs::TxRun(o) => {
                assert_eq!((o.start, o.end), (run(1, 1).start, run(3, 3).end));
                assert_eq!((o.num_txs, o.fees), (2, Fr::from(4u64)));
                assert_eq!(o.effects_chain_end, Fr::from(3u64));
            }
            o => panic!("{o:?}"),
        }
        let bad = merge_rollup(&ctx, &[], &run(1, 2), &run(5, 6)).unwrap();
        assert_eq!(
            bad.inputs.check().unwrap_err().message,
            "merge_rollup: left.end.note_hash_tree.root != right.start.note_hash_tree.root"
        );
        // The retry nonce is part of the witness: a re-proof is another job.
        let again =
            merge_rollup(&JobContext { retry: 1, ..ctx }, &[], &run(1, 2), &run(2, 3)).unwrap();
        assert_ne!(again.inputs.payload, ok.inputs.payload);
        assert_eq!(again.inputs.public_inputs, ok.inputs.public_inputs);
    }
}
