//! From a processed L2 block to the Rollup's `propose` arguments.
//!
//! The world state's header (`provemesh_common::hash::BlockHeader`, whose Poseidon2 hash
//! is the archive leaf) and the Rollup's `BlockHeader` carry the same fields. Two
//! commitments are checked by `propose` against values the L2 side computes differently,
//! so they are mapped, not copied:
//!
//! | field | L2 header (tx processor) | L1 header (what `propose` checks) |
//! |---|---|---|
//! | `txsEffectsHash` | `sha256(body)` with its top byte zeroed (`common::hash::header::sha256_to_field`) | `sha256(body) >> 8` (`Hash.sha256ToField`) |
//! | `inHash` | sha256 Merkle root of the block's 16 (zero-padded) L1→L2 message leaves | the Inbox's rolling hash of the block's bucket |
//!
//! The body is the concatenation of each included tx's `TxPublicOutputs::digest()` in
//! block order (32 bytes per tx): both effects hashes are truncations of the same sha256,
//! and a node that fetches the txs by hash checks each one's outputs against it.
//!
//! Everything else is copied: state snapshots, last archive, global variables (the L2
//! coinbase is the L1 address as a field), total fees, `outHash`, and `archive` = the
//! archive root after the block. Block 0's archive on L1 is the world state's genesis
//! archive. `outHash` is copied because the epoch proof's `outHash` public input is L1's
//! Merkle root over the blocks' `outHash`es and the rollup circuits build it from the L2
//! headers' `out_hash` (the orchestrator's block merges). Known gap: the tx processor's
//! L2→L1 leaf (`sha256_to_field(recipient ‖ content)`, top-byte truncation) is not the
//! Outbox's (`sha256ToField(abi.encode(L2ToL1Msg))`, `>> 8`), so a message in a proven
//! epoch cannot be consumed on L1 until the two agree.
//!
//! [`l2_global_variables`] is the inverse mapping: a node re-executing a block from its
//! `L2BlockProposed` event gets the same header and archive (tested).

use alloy::primitives::{Address, Bytes, B256, U256};
use provemesh_common::hash::{AppendOnlyTreeSnapshot, Fr};
use provemesh_common::tx::Tx;
use provemesh_l1::hash::{inbox_rolling_hash, txs_effects_hash};
use provemesh_l1::{
    BlockHeader, ContentCommitment, GlobalVariables, ProposeArgs, StateReference, TreeSnapshot,
};
use provemesh_tx_processor::ProcessedBlock;

/// The rollup version blocks and messages carry (`Constants.ROLLUP_VERSION`).
pub const ROLLUP_VERSION: u64 = 1;

pub fn b256(f: Fr) -> B256 {
    B256::from(f.to_be_bytes())
}

pub fn u256(f: Fr) -> U256 {
    U256::from_be_bytes(f.to_be_bytes())
}

/// An L1 address as the field the L2 header carries.
pub fn address_field(a: Address) -> Fr {
    Fr::from_be_bytes_reduce(a.into_word().as_slice())
}

/// The L1 address in a field's low 20 bytes, if the rest is zero.
pub fn field_address(f: Fr) -> Option<Address> {
    let b = f.to_be_bytes();
    b[..12]
        .iter()
        .all(|x| *x == 0)
        .then(|| Address::from_slice(&b[12..]))
}

fn snapshot(s: AppendOnlyTreeSnapshot) -> TreeSnapshot {
    TreeSnapshot {
        root: b256(s.root),
        // Tree heights are at most 32 on the devnet; saturate rather than wrap otherwise.
        nextAvailableLeafIndex: u32::try_from(s.next_available_leaf_index).unwrap_or(u32::MAX),
    }
}

/// The block body: each tx's public-outputs digest, in block order.
pub fn body<'a>(txs: impl IntoIterator<Item = &'a Tx>) -> Vec<u8> {
    txs.into_iter().flat_map(|t| t.outputs.digest()).collect()
}

/// `propose`'s arguments for `block`, whose L1→L2 messages have the Inbox leaves
/// `message_leaves` (in Inbox order).
pub fn propose_args(block: &ProcessedBlock, message_leaves: &[B256]) -> ProposeArgs {
    let h = &block.header;
    let txs: Vec<&Tx> = block.txs.iter().map(|t| &t.base_rollup_inputs.tx).collect();
    let body = body(txs.iter().copied());
    let g = h.global_variables;
    ProposeArgs {
        header: BlockHeader {
            lastArchive: snapshot(h.last_archive),
            contentCommitment: ContentCommitment {
                numTxs: U256::from(block.txs.len()),
                txsEffectsHash: txs_effects_hash(&body),
                inHash: inbox_rolling_hash(message_leaves),
                outHash: b256(h.content_commitment.out_hash),
            },
            state: StateReference {
                l1ToL2MessageTree: snapshot(h.state.l1_to_l2_message_tree),
                noteHashTree: snapshot(h.state.partial.note_hash_tree),
                nullifierTree: snapshot(h.state.partial.nullifier_tree),
                publicDataTree: snapshot(h.state.partial.public_data_tree),
            },
            globalVariables: GlobalVariables {
                chainId: u256(g.chain_id),
                version: u256(g.version),
                blockNumber: U256::from(g.block_number),
                slotNumber: U256::from(g.slot_number),
                timestamp: U256::from(g.timestamp),
                coinbase: field_address(g.coinbase).unwrap_or_default(),
                feeRecipient: b256(g.fee_recipient),
            },
            totalFees: u256(h.total_fees),
        },
        archive: b256(block.block_root.new_archive.root),
        txHashes: block.txs.iter().map(|t| b256(t.tx_hash.0)).collect(),
        body: Bytes::from(body),
    }
}

/// The L2 global variables of a block proposed to L1 (the inverse of the mapping above):
/// what a node re-executing the block from its `L2BlockProposed` event passes to the tx
/// processor. `None` for a header no sequencer of this rollup would produce (a field
/// value at or above the BN254 modulus).
pub fn l2_global_variables(
    header: &BlockHeader,
) -> Option<provemesh_common::hash::GlobalVariables> {
    let g = &header.globalVariables;
    let fr = |v: U256| Fr::from_be_bytes(&v.to_be_bytes::<32>()).ok();
    Some(provemesh_common::hash::GlobalVariables {
        chain_id: fr(g.chainId)?,
        version: fr(g.version)?,
        block_number: u64::try_from(g.blockNumber).ok()?,
        slot_number: u64::try_from(g.slotNumber).ok()?,
        timestamp: u64::try_from(g.timestamp).ok()?,
        coinbase: address_field(g.coinbase),
        fee_recipient: Fr::from_be_bytes(&g.feeRecipient.0).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use provemesh_common::hash::header::sha256_to_field;

    #[test]
    fn addresses_round_trip_through_fields() {
        let a = Address::repeat_byte(0xab);
        assert_eq!(field_address(address_field(a)), Some(a));
        assert_eq!(
            field_address(Fr::from(u128::MAX) * Fr::from(u128::MAX)),
            None
        );
    }

    #[test]
    fn both_effects_hashes_come_from_the_same_sha256() {
        let body = b"two truncations of one digest".to_vec();
        let l1 = txs_effects_hash(&body);
        let l2 = sha256_to_field(&body).to_be_bytes();
        use sha2::Digest;
        let full: [u8; 32] = sha2::Sha256::digest(&body).into();
        assert_eq!(&l1[1..], &full[..31], "L1: sha256 >> 8");
        assert_eq!(&l2[1..], &full[1..], "L2: top byte zeroed");
    }
}
