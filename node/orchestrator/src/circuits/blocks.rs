//! The circuits from the block root up: each block checked against its header, runs of
//! blocks merged, and the root rollup against L1's epoch public inputs.

use super::{
    assemble, constants_hash, effects_chain_before, Asserts, ChildProof, CircuitJob, JobContext,
};
use crate::outputs::{
    l1_node, l1_zero_subtree, u64_field, BlockRunOutputs, Outputs, ParityOutputs, TxRunOutputs,
    EPOCH_PUBLIC_INPUTS, EPOCH_PUBLIC_INPUT_NAMES,
};
use provemesh_common::circuit::FieldBytes;
use provemesh_common::codec::CodecError;
use provemesh_common::hash::header::{sha256_merkle_root, sha256_to_field};
use provemesh_common::hash::{empty_subtree_root, root_from_sibling_path, Fr};
use provemesh_tx_processor::ProcessedBlock;
use serde::Serialize;

#[derive(Serialize)]
struct BlockRootWitness<'a> {
    block_root: &'a provemesh_tx_processor::BlockRootRollupInputs,
    tx_effects: Vec<[u8; 32]>,
    out_leaves: Vec<Fr>,
}

/// The block root over the block's tx run (none for a block without txs) and its root
/// parity, checked against the block's header.
pub fn block_root(
    ctx: &JobContext,
    children: &[ChildProof],
    txs: Option<&TxRunOutputs>,
    parity: &ParityOutputs,
    block: &ProcessedBlock,
) -> Result<CircuitJob, CodecError> {
    let mut a = Asserts::new("block_root_rollup");
    let br = &block.block_root;
    let h = &br.header;
    let cc = &h.content_commitment;
    let digests: Vec<[u8; 32]> = block
        .txs
        .iter()
        .map(|t| t.base_rollup_inputs.tx.outputs.digest())
        .collect();
    match txs {
        Some(t) => {
            a.fr("txs.fees", t.fees, "header.total_fees", h.total_fees);
            a.u64(
                "txs.num_txs",
                t.num_txs,
                "header.content_commitment.num_txs",
                cc.num_txs,
            );
            a.fr(
                "txs.constants",
                t.constants_hash,
                "block constants",
                constants_hash(&br.constants),
            );
            a.partial("txs.start", &t.start, "block.start", &br.start);
            a.partial("txs.end", &t.end, "block.end", &br.end);
            a.fr(
                "txs.effects_chain_start",
                t.effects_chain_start,
                "the empty chain",
                Fr::ZERO,
            );
            a.fr(
                "txs.effects_chain_end",
                t.effects_chain_end,
                "effects chain of the block's txs",
                effects_chain_before(block, block.txs.len()),
            );
        }
        None => {
            a.fr("no txs: fees", Fr::ZERO, "header.total_fees", h.total_fees);
            a.u64(
                "no txs: num_txs",
                0,
                "header.content_commitment.num_txs",
                cc.num_txs,
            );
            a.partial("block.start", &br.start, "block.end", &br.end);
        }
    }
    a.u64(
        "block's txs",
        digests.len() as u64,
        "header.content_commitment.num_txs",
        cc.num_txs,
    );
    a.fr(
        "tx effects hash of the block's txs",
        sha256_to_field(&digests.concat()),
        "header.content_commitment.tx_effects_hash",
        cc.tx_effects_hash,
    );
    a.partial(
        "block.end",
        &br.end,
        "header.state.partial",
        &h.state.partial,
    );
    a.fr(
        "parity.sha_root",
        parity.sha_root,
        "header.content_commitment.in_hash",
        cc.in_hash,
    );
    // The parity's subtree goes into the L1→L2 message tree at the start index.
    let msgs = &br.start_l1_to_l2_message_tree;
    let at = msgs.next_available_leaf_index >> parity.height;
    let path = &br.l1_to_l2_message_subtree_sibling_path;
    a.fr(
        "l1_to_l2 subtree path over an empty subtree",
        root_from_sibling_path(empty_subtree_root(parity.height), at, path),
        "start_l1_to_l2_message_tree.root",
        msgs.root,
    );
    a.fr(
        "l1_to_l2 subtree path over parity.converted_root",
        root_from_sibling_path(parity.converted_root, at, path),
        "header.state.l1_to_l2_message_tree.root",
        h.state.l1_to_l2_message_tree.root,
    );
    a.u64(
        "start_l1_to_l2_message_tree.next_available_leaf_index + subtree",
        msgs.next_available_leaf_index + (1u64 << parity.height),
        "header.state.l1_to_l2_message_tree.next_available_leaf_index",
        h.state.l1_to_l2_message_tree.next_available_leaf_index,
    );
    let out_leaves: Vec<Fr> = block
        .txs
        .iter()
        .flat_map(|t| t.base_rollup_inputs.tx.outputs.l2_to_l1_messages.iter())
        .map(|m| {
            let mut buf = [0u8; 64];
            buf[..32].copy_from_slice(&m.recipient.to_be_bytes());
            buf[32..].copy_from_slice(&m.content.to_be_bytes());
            sha256_to_field(&buf)
        })
        .collect();
    a.fr(
        "out hash of the block's L2→L1 messages",
        sha256_merkle_root(&out_leaves),
        "header.content_commitment.out_hash",
        cc.out_hash,
    );
    // The header hash goes into the archive after the previous one.
    let last = &br.constants.last_archive;
    a.snapshot(
        "constants.last_archive",
        last,
        "header.last_archive",
        &h.last_archive,
    );
    a.fr(
        "archive path over an empty leaf",
        root_from_sibling_path(
            Fr::ZERO,
            last.next_available_leaf_index,
            &br.new_archive_sibling_path,
        ),
        "constants.last_archive.root",
        last.root,
    );
    a.fr(
        "archive path over the header hash",
        root_from_sibling_path(
            h.hash(),
            last.next_available_leaf_index,
            &br.new_archive_sibling_path,
        ),
        "new_archive.root",
        br.new_archive.root,
    );
    a.u64(
        "constants.last_archive.next_available_leaf_index + 1",
        last.next_available_leaf_index + 1,
        "new_archive.next_available_leaf_index",
        br.new_archive.next_available_leaf_index,
    );
    let number = h.global_variables.block_number;
    let outputs = BlockRunOutputs {
        previous_archive: *last,
        new_archive: br.new_archive,
        start_block: number,
        end_block: number,
        fees: h.total_fees,
        out_hash: cc.out_hash.to_be_bytes(),
        out_height: 0,
    };
    let witness = BlockRootWitness {
        block_root: br,
        tx_effects: digests,
        out_leaves,
    };
    assemble(ctx, children, witness, a, Outputs::BlockRun(outputs))
}

/// A merge of two consecutive runs of blocks. The right run may be a lone block passed up
/// the pairwise tree; its out hash is padded with zero subtrees to the left's height, as
/// L1's zero-padded Merkle tree over the epoch's blocks has it.
pub fn block_merge_rollup(
    ctx: &JobContext,
    children: &[ChildProof],
    left: &BlockRunOutputs,
    right: &BlockRunOutputs,
) -> Result<CircuitJob, CodecError> {
    let mut a = Asserts::new("block_merge_rollup");
    a.snapshot(
        "left.new_archive",
        &left.new_archive,
        "right.previous_archive",
        &right.previous_archive,
    );
    a.u64(
        "left.end_block + 1",
        left.end_block + 1,
        "right.start_block",
        right.start_block,
    );
    a.holds(
        "right.out_height <= left.out_height",
        right.out_height <= left.out_height,
    );
    let right_out = (right.out_height..left.out_height)
        .fold(right.out_hash, |acc, h| l1_node(&acc, &l1_zero_subtree(h)));
    let outputs = BlockRunOutputs {
        previous_archive: left.previous_archive,
        new_archive: right.new_archive,
        start_block: left.start_block,
        end_block: right.end_block,
        fees: left.fees + right.fees,
        out_hash: l1_node(&left.out_hash, &right_out),
        out_height: left.out_height + 1,
    };
    assemble(ctx, children, (), a, Outputs::BlockRun(outputs))
}

/// The root rollup: its public inputs are L1's epoch public inputs (`expected`), and it
/// asserts each against the value it computes from the epoch's blocks.
pub fn root_rollup(
    ctx: &JobContext,
    children: &[ChildProof],
    top: &BlockRunOutputs,
    prover_id: FieldBytes,
    expected: &[FieldBytes],
) -> Result<CircuitJob, CodecError> {
    let mut a = Asserts::new("root_rollup");
    let computed: [FieldBytes; EPOCH_PUBLIC_INPUTS] = [
        top.previous_archive.root.to_be_bytes(),
        top.new_archive.root.to_be_bytes(),
        top.out_hash,
        top.fees.to_be_bytes(),
        prover_id,
        u64_field(ctx.epoch.0),
        u64_field(top.end_block),
    ];
    a.u64(
        "public input count",
        expected.len() as u64,
        "EPOCH_PROOF_PUBLIC_INPUTS",
        EPOCH_PUBLIC_INPUTS as u64,
    );
    for (i, name) in EPOCH_PUBLIC_INPUT_NAMES.iter().enumerate() {
        a.eq(
            &format!("{name} computed from the epoch's blocks"),
            computed[i],
            &format!("L1 epoch public input {name}"),
            expected.get(i).copied().unwrap_or_default(),
        );
    }
    #[derive(Serialize)]
    struct RootWitness {
        prover_id: FieldBytes,
    }
    assemble(
        ctx,
        children,
        RootWitness { prover_id },
        a,
        Outputs::Epoch(expected.to_vec()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dag::{Dag, NodeKey};
    use crate::outputs::l1_merkle_root;
    use provemesh_common::hash::AppendOnlyTreeSnapshot;
    use provemesh_common::EpochNumber;

    /// The block merge tree's out hash, with lone blocks padded up, is L1's Merkle root
    /// over the epoch's block out hashes, and archives chain across the epoch.
    #[test]
    fn block_merges_compute_l1s_epoch_out_hash() {
        for n in 1..=17usize {
            let mut dag = Dag::new();
            for _ in 0..n {
                dag.add_block(0, 1).unwrap();
            }
            dag.seal().unwrap();
            let leaf = |b: usize| {
                let mut h = [0u8; 32];
                h[1] = b as u8 + 1;
                h
            };
            let snap = |i: u64| AppendOnlyTreeSnapshot {
                root: Fr::from(1000 + i),
                next_available_leaf_index: i,
            };
            let mut outs: Vec<Option<BlockRunOutputs>> = vec![None; dag.len()];
            for (i, node) in dag.nodes().iter().enumerate() {
                let ctx = JobContext {
                    epoch: EpochNumber(1),
                    node: node.key,
                    retry: 0,
                };
                outs[i] = match node.key {
                    NodeKey::BlockRoot { block } => Some(BlockRunOutputs {
                        previous_archive: snap(block as u64),
                        new_archive: snap(block as u64 + 1),
                        start_block: block as u64 + 1,
                        end_block: block as u64 + 1,
                        fees: Fr::from(block as u64),
                        out_hash: leaf(block),
                        out_height: 0,
                    }),
                    NodeKey::BlockMerge { .. } => {
                        let (l, r) = (node.children[0], node.children[1]);
                        let job = block_merge_rollup(
                            &ctx,
                            &[],
                            outs[l].as_ref().unwrap(),
                            outs[r].as_ref().unwrap(),
                        )
                        .unwrap();
                        assert!(
                            job.inputs.check().is_ok(),
                            "n = {n}: {:?}",
                            job.inputs.check()
                        );
                        match job.outputs {
                            Outputs::BlockRun(o) => Some(o),
                            _ => unreachable!(),
                        }
                    }
                    _ => None,
                };
            }
            let top = dag.node(dag.root().unwrap()).children[0];
            let top = outs[top].unwrap();
            let leaves: Vec<[u8; 32]> = (0..n).map(leaf).collect();
            assert_eq!(top.out_hash, l1_merkle_root(&leaves), "n = {n}");
            assert_eq!((top.start_block, top.end_block), (1, n as u64));
            assert_eq!(top.previous_archive, snap(0));
            assert_eq!(top.new_archive, snap(n as u64));
        }
    }
}
