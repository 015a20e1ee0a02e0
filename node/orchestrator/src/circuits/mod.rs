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

mod blocks;
mod txs;

pub use blocks::{block_merge_rollup, block_root, root_rollup};
pub use txs::{base_parity, base_rollup, merge_rollup, root_parity};

use crate::dag::NodeKey;
use crate::outputs::{u64_field, Outputs};
use bytes::Bytes;
use provemesh_common::circuit::{Constraint, FieldBytes, SimulatedCircuitInputs};
use provemesh_common::codec::{self, CodecError};
use provemesh_common::hash::header::sha256_to_field;
use provemesh_common::hash::{AppendOnlyTreeSnapshot, Fr, PartialStateReference};
use provemesh_common::{EpochNumber, JobId};
use provemesh_tx_processor::{BlockConstants, ProcessedBlock};
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

/// One step of a block's tx-effects chain: the chain after `digest` (a tx's effects
/// digest) follows `previous` (0 before the block's first tx).
pub fn effects_chain(previous: Fr, digest: &[u8; 32]) -> Fr {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(&previous.to_be_bytes());
    buf[32..].copy_from_slice(digest);
    sha256_to_field(&buf)
}

/// The chain of `block` before its tx `tx` (after all txs for `tx == txs.len()`).
pub fn effects_chain_before(block: &ProcessedBlock, tx: usize) -> Fr {
    block.txs.iter().take(tx).fold(Fr::ZERO, |c, t| {
        effects_chain(c, &t.base_rollup_inputs.tx.outputs.digest())
    })
}
