//! Simulated circuit inputs built from the real data of the epoch.
//!
//! Each builder does what the real circuit would: recomputes its outputs from its
//! children's outputs and its own witness, and asserts what the real circuit asserts —
//! state chaining between neighbours, insertion witnesses against tree roots, fees and
//! commitments against the block header, the root's values against L1's epoch public
//! inputs. An assertion that fails makes the simulated backend fail the job
//! deterministically with the assertion's message, which names the circuit and the field.
//!
//! The witness payload carries the real inputs (base rollup, parity, block root inputs),
//! the epoch, the node's place, the retry nonce and each child's job id and proof hash, so
//! every job has its own content-addressed id and a re-proved job (nonce + 1) a new one.

use crate::dag::NodeKey;
use crate::outputs::{
    l1_node, l1_zero_subtree, u64_field, BlockRunOutputs, Outputs, ParityOutputs, TxRunOutputs,
    EPOCH_PUBLIC_INPUTS, EPOCH_PUBLIC_INPUT_NAMES,
};
use bytes::Bytes;
use provemesh_common::circuit::{Constraint, FieldBytes, SimulatedCircuitInputs};
use provemesh_common::codec::{self, CodecError};
use provemesh_common::hash::header::{sha256_merkle_root, sha256_to_field};
use provemesh_common::hash::{
    empty_subtree_root, merkle_hash, merkle_root, root_from_sibling_path, AppendOnlyTreeSnapshot,
    Fr, PartialStateReference,
};
use provemesh_common::tx::{MAX_NULLIFIERS_PER_TX, NOTE_HASH_SUBTREE_HEIGHT};
use provemesh_common::{EpochNumber, JobId};
use provemesh_tx_processor::{
    BaseParityInputs, BaseRollupInputs, BlockConstants, ClientProofVerifier, ProcessedBlock,
    SimulatedClientProofVerifier,
};
use serde::Serialize;

/// A child proof the parent verifies (its recursion input, in simulated form).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ChildProof {
    pub job: JobId,
    pub proof_sha256: FieldBytes,
}

/// Who the job is: part of every witness, so equal circuits of different epochs, places
/// or attempts never share a job id.
#[derive(Debug, Clone, Copy)]
pub struct JobContext {
    pub epoch: EpochNumber,
    pub node: NodeKey,
    /// 0 for the first attempt; each re-proof (failure or rejected proof) adds one.
    pub retry: u32,
}

/// A circuit's inputs and what its proof will say.
#[derive(Debug, Clone)]
pub struct CircuitJob {
    pub inputs: SimulatedCircuitInputs,
    pub outputs: Outputs,
}

#[derive(Serialize)]
struct Witness<'a, T: Serialize> {
    domain: &'static str,
    epoch: u64,
    node: NodeKey,
    retry: u32,
    children: &'a [ChildProof],
    data: T,
}

/// Collects a circuit's assertions; messages read "<circuit>: <left> != <right>".
struct Asserts {
    circuit: &'static str,
    list: Vec<Constraint>,
}

impl Asserts {
    fn new(circuit: &'static str) -> Self {
        Asserts {
            circuit,
            list: Vec::new(),
        }
    }

    fn eq(&mut self, left_name: &str, left: FieldBytes, right_name: &str, right: FieldBytes) {
        self.list.push(Constraint {
            left,
            right,
            message: format!("{}: {left_name} != {right_name}", self.circuit),
        });
    }

    fn fr(&mut self, l: &str, left: Fr, r: &str, right: Fr) {
        self.eq(l, left.to_be_bytes(), r, right.to_be_bytes());
    }

    fn u64(&mut self, l: &str, left: u64, r: &str, right: u64) {
        self.eq(l, u64_field(left), r, u64_field(right));
    }

    fn holds(&mut self, what: &str, ok: bool) {
        self.list.push(Constraint {
            left: u64_field(u64::from(ok)),
            right: u64_field(1),
            message: format!("{}: {what}", self.circuit),
        });
    }

    fn snapshot(
        &mut self,
        l: &str,
        left: &AppendOnlyTreeSnapshot,
        r: &str,
        right: &AppendOnlyTreeSnapshot,
    ) {
        self.fr(
            &format!("{l}.root"),
            left.root,
            &format!("{r}.root"),
            right.root,
        );
        self.u64(
            &format!("{l}.next_available_leaf_index"),
            left.next_available_leaf_index,
            &format!("{r}.next_available_leaf_index"),
            right.next_available_leaf_index,
        );
    }

    fn partial(
        &mut self,
        l: &str,
        left: &PartialStateReference,
        r: &str,
        right: &PartialStateReference,
    ) {
        for (tree, a, b) in [
            (
                "note_hash_tree",
                &left.note_hash_tree,
                &right.note_hash_tree,
            ),
            (
                "nullifier_tree",
                &left.nullifier_tree,
                &right.nullifier_tree,
            ),
            (
                "public_data_tree",
                &left.public_data_tree,
                &right.public_data_tree,
            ),
        ] {
            self.snapshot(&format!("{l}.{tree}"), a, &format!("{r}.{tree}"), b);
        }
    }
}

fn assemble<T: Serialize>(
    ctx: &JobContext,
    children: &[ChildProof],
    data: T,
    asserts: Asserts,
    outputs: Outputs,
) -> Result<CircuitJob, CodecError> {
    let payload = codec::encode(
        "circuit witness",
        &Witness {
            domain: "provemesh/orchestrator/v1",
            epoch: ctx.epoch.0,
            node: ctx.node,
            retry: ctx.retry,
            children,
            data,
        },
    )?;
    Ok(CircuitJob {
        inputs: SimulatedCircuitInputs {
            public_inputs: outputs.public_inputs(),
            constraints: asserts.list,
            payload: Bytes::from(payload),
        },
        outputs,
    })
}

/// Hash of the constants a block's txs run under.
pub fn constants_hash(c: &BlockConstants) -> Fr {
    let g = &c.global_variables;
    let mut buf = Vec::with_capacity(9 * 32);
    for f in [
        c.last_archive.root,
        Fr::from(c.last_archive.next_available_leaf_index),
        g.chain_id,
        g.version,
        Fr::from(g.block_number),
        Fr::from(g.slot_number),
        Fr::from(g.timestamp),
        g.coinbase,
        g.fee_recipient,
    ] {
        buf.extend_from_slice(&f.to_be_bytes());
    }
    sha256_to_field(&buf)
}

/// A node of the L2 side's sha256 trees (`sha256_to_field(left ‖ right)`, as the tx
/// processor hashes the in and out hashes).
pub fn sha_pair(left: Fr, right: Fr) -> Fr {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(&left.to_be_bytes());
    buf[32..].copy_from_slice(&right.to_be_bytes());
    sha256_to_field(&buf)
}

/// Combines two tx runs' effects hashes (a merge does this, so does the block root when
/// it recomputes the whole tree from the block's txs).
pub fn combine_effects(left: Fr, right: Fr) -> Fr {
    sha_pair(left, right)
}

/// The effects hash of one tx (a base rollup's output).
pub fn tx_effects(digest: &[u8; 32]) -> Fr {
    sha256_to_field(digest)
}

/// The effects hash over `digests` in the pairwise shape of the merge tree.
pub fn effects_tree(digests: &[[u8; 32]]) -> Fr {
    let mut level: Vec<Fr> = digests.iter().map(tx_effects).collect();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|p| match p {
                [l, r] => combine_effects(*l, *r),
                [lone] => *lone,
                _ => Fr::ZERO,
            })
            .collect();
    }
    level.first().copied().unwrap_or(Fr::ZERO)
}

/// The private base rollup of one tx.
pub fn base_rollup(ctx: &JobContext, b: &BaseRollupInputs) -> Result<CircuitJob, CodecError> {
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
        effects: tx_effects(&o.digest()),
    };
    assemble(ctx, &[], b, a, Outputs::TxRun(outputs))
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
    let outputs = TxRunOutputs {
        constants_hash: left.constants_hash,
        start: left.start,
        end: right.end,
        fees: left.fees + right.fees,
        num_txs: left.num_txs + right.num_txs,
        effects: combine_effects(left.effects, right.effects),
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
                "txs.effects",
                t.effects,
                "effects tree of the block's txs",
                effects_tree(&digests),
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
