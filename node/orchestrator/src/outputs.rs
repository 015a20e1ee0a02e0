//! What each circuit of the epoch proves: its public inputs, typed, and their layout as
//! the 32-byte fields a proof commits to. A parent's inputs are built from its children's
//! outputs, and each child's proof is checked against exactly these fields.
//!
//! Also the L1 side of the root: the epoch out hash is a Merkle root over the blocks' out
//! hashes with the contracts' hashing (`Hash.sol`: sha256 shifted right by a byte, leaves
//! zero-padded to a power of two), and [`l1_epoch_public_inputs`] gives the seven values
//! `Rollup.getEpochProofPublicInputs` returns for a run of blocks.

use provemesh_common::circuit::FieldBytes;
use provemesh_common::hash::{AppendOnlyTreeSnapshot, Fr, PartialStateReference};
use provemesh_common::EpochNumber;
use provemesh_tx_processor::ProcessedBlock;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Number of the root rollup's public inputs (`Constants.EPOCH_PROOF_PUBLIC_INPUTS`).
pub const EPOCH_PUBLIC_INPUTS: usize = 7;

/// Names of the root rollup's public inputs, in L1's order.
pub const EPOCH_PUBLIC_INPUT_NAMES: [&str; EPOCH_PUBLIC_INPUTS] = [
    "previous_archive",
    "end_archive",
    "out_hash",
    "total_fees",
    "prover_id",
    "epoch",
    "end_block_number",
];

pub(crate) fn u64_field(v: u64) -> FieldBytes {
    Fr::from(v).to_be_bytes()
}

fn push_snapshot(f: &mut Vec<FieldBytes>, s: &AppendOnlyTreeSnapshot) {
    f.push(s.root.to_be_bytes());
    f.push(u64_field(s.next_available_leaf_index));
}

fn push_partial(f: &mut Vec<FieldBytes>, s: &PartialStateReference) {
    push_snapshot(f, &s.note_hash_tree);
    push_snapshot(f, &s.nullifier_tree);
    push_snapshot(f, &s.public_data_tree);
}

/// A base or merge rollup's public inputs: a run of consecutive txs of one block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TxRunOutputs {
    /// Hash of the block constants (last archive, global variables) every tx of the run
    /// was executed under.
    pub constants_hash: Fr,
    pub start: PartialStateReference,
    pub end: PartialStateReference,
    pub fees: Fr,
    pub num_txs: u64,
    /// The block's running tx-effects chain before the run's first tx and after its
    /// last (0 before the block's first tx), as the real circuits keep it.
    pub effects_chain_start: Fr,
    pub effects_chain_end: Fr,
}

impl TxRunOutputs {
    pub fn fields(&self) -> Vec<FieldBytes> {
        let mut f = Vec::with_capacity(17);
        f.push(self.constants_hash.to_be_bytes());
        push_partial(&mut f, &self.start);
        push_partial(&mut f, &self.end);
        f.push(self.fees.to_be_bytes());
        f.push(u64_field(self.num_txs));
        f.push(self.effects_chain_start.to_be_bytes());
        f.push(self.effects_chain_end.to_be_bytes());
        f
    }
}

/// A parity circuit's public inputs over a power-of-two run of L1→L2 messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ParityOutputs {
    /// sha256 Merkle root (what the header's `in_hash` holds).
    pub sha_root: Fr,
    /// Poseidon2 root of the same messages (the subtree inserted into the message tree).
    pub converted_root: Fr,
    /// Levels of the subtree (log2 of the messages covered).
    pub height: u8,
}

impl ParityOutputs {
    pub fn fields(&self) -> Vec<FieldBytes> {
        vec![
            self.sha_root.to_be_bytes(),
            self.converted_root.to_be_bytes(),
            u64_field(u64::from(self.height)),
        ]
    }
}

/// A block root or block merge's public inputs: a run of consecutive blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BlockRunOutputs {
    pub previous_archive: AppendOnlyTreeSnapshot,
    pub new_archive: AppendOnlyTreeSnapshot,
    pub start_block: u64,
    pub end_block: u64,
    pub fees: Fr,
    /// L1 Merkle root of the run's block out hashes, padded to `out_height` levels.
    pub out_hash: FieldBytes,
    pub out_height: u32,
}

impl BlockRunOutputs {
    pub fn fields(&self) -> Vec<FieldBytes> {
        let mut f = Vec::with_capacity(10);
        push_snapshot(&mut f, &self.previous_archive);
        push_snapshot(&mut f, &self.new_archive);
        f.push(u64_field(self.start_block));
        f.push(u64_field(self.end_block));
        f.push(self.fees.to_be_bytes());
        f.push(self.out_hash);
        f.push(u64_field(u64::from(self.out_height)));
        f
    }
}

/// The public inputs of any circuit of the epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
// One per DAG node (a few thousand at most): boxing the tx run would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Outputs {
    TxRun(TxRunOutputs),
    Parity(ParityOutputs),
    BlockRun(BlockRunOutputs),
    /// The root rollup: exactly L1's epoch public inputs.
    Epoch(Vec<FieldBytes>),
}

impl Outputs {
    /// The fields a proof of this circuit commits to.
    pub fn public_inputs(&self) -> Vec<FieldBytes> {
        match self {
            Outputs::TxRun(o) => o.fields(),
            Outputs::Parity(o) => o.fields(),
            Outputs::BlockRun(o) => o.fields(),
            Outputs::Epoch(f) => f.clone(),
        }
    }
}

/// `Hash.sha256ToField`: sha256 shifted right by one byte.
pub fn l1_sha256_to_field(data: &[u8]) -> FieldBytes {
    let d: [u8; 32] = Sha256::digest(data).into();
    let mut out = [0u8; 32];
    out[1..].copy_from_slice(&d[..31]);
    out
}

/// A node of L1's sha256 Merkle trees.
pub fn l1_node(left: &FieldBytes, right: &FieldBytes) -> FieldBytes {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(left);
    buf[32..].copy_from_slice(right);
    l1_sha256_to_field(&buf)
}

/// Root of an all-zero L1 subtree of `height` levels.
pub fn l1_zero_subtree(height: u32) -> FieldBytes {
    (0..height).fold([0u8; 32], |z, _| l1_node(&z, &z))
}

/// `Hash.merkleRoot`: zero for no leaves, the leaf for one, else the root over the
/// leaves zero-padded to a power of two.
pub fn l1_merkle_root(leaves: &[FieldBytes]) -> FieldBytes {
    if leaves.is_empty() {
        return [0u8; 32];
    }
    let mut level = leaves.to_vec();
    level.resize(leaves.len().next_power_of_two(), [0u8; 32]);
    while level.len() > 1 {
        level = level.chunks(2).map(|p| l1_node(&p[0], &p[1])).collect();
    }
    level[0]
}

/// The root rollup's public inputs as L1 computes them for `blocks` (the epoch's blocks
/// in order) proved by `prover_id`: what `Rollup.getEpochProofPublicInputs` returns. The
/// prover node takes these from L1; tests and benchmarks compute them here.
pub fn l1_epoch_public_inputs(
    blocks: &[ProcessedBlock],
    epoch: EpochNumber,
    prover_id: FieldBytes,
) -> Vec<FieldBytes> {
    let (Some(first), Some(last)) = (blocks.first(), blocks.last()) else {
        return Vec::new();
    };
    let outs: Vec<FieldBytes> = blocks
        .iter()
        .map(|b| b.header.content_commitment.out_hash.to_be_bytes())
        .collect();
    let fees = blocks
        .iter()
        .fold(Fr::ZERO, |acc, b| acc + b.header.total_fees);
    vec![
        first.block_root.constants.last_archive.root.to_be_bytes(),
        last.block_root.new_archive.root.to_be_bytes(),
        l1_merkle_root(&outs),
        fees.to_be_bytes(),
        prover_id,
        u64_field(epoch.0),
        u64_field(last.header.global_variables.block_number),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn l1_hashing_matches_hash_sol_edges() {
        let a = [7u8; 32];
        assert_eq!(l1_merkle_root(&[]), [0u8; 32]);
        assert_eq!(l1_merkle_root(&[a]), a);
        assert_eq!(
            l1_merkle_root(&[a, a, a]),
            l1_node(&l1_node(&a, &a), &l1_node(&a, &[0; 32]))
        );
        assert_eq!(l1_sha256_to_field(b"")[0], 0, "top byte is zero");
        assert_eq!(l1_zero_subtree(1), l1_node(&[0; 32], &[0; 32]));
    }
}
