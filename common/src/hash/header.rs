//! The block header: the archive tree's leaf preimage, and the state snapshots it
//! commits to.
//!
//! After a block's txs and L1→L2 messages are applied, its header records the state
//! (every tree's snapshot), the archive as it was before the block, the block's global
//! variables and commitments to its contents. The header hash is appended to the archive
//! tree, so one archive root commits to the whole chain.

use super::field::Fr;
use super::leaves::separator;
use super::merkle::AppendOnlyTreeSnapshot;
use super::poseidon2::poseidon2_hash_with_separator;
use serde::{Deserialize, Serialize};

/// L1→L2 messages inserted per block (padded with zeros): one subtree of this many leaves.
pub const L1_TO_L2_MESSAGES_PER_BLOCK: usize = 16;
/// Height of that subtree (log2 of [`L1_TO_L2_MESSAGES_PER_BLOCK`]).
pub const L1_TO_L2_MESSAGE_SUBTREE_HEIGHT: u8 = 4;
/// Messages per base parity circuit: two base parities per block, as in the Noir circuits
/// (`circuits/types/src/constants.nr`: a root parity is a 2-to-1 recursion).
pub const L1_TO_L2_MESSAGES_PER_BASE_PARITY: usize = 8;

/// Snapshots of the trees that txs change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct PartialStateReference {
    pub note_hash_tree: AppendOnlyTreeSnapshot,
    pub nullifier_tree: AppendOnlyTreeSnapshot,
    pub public_data_tree: AppendOnlyTreeSnapshot,
}

/// The whole L2 state after a block (the archive is committed separately).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct StateReference {
    pub l1_to_l2_message_tree: AppendOnlyTreeSnapshot,
    pub partial: PartialStateReference,
}

/// Per-block values every tx of the block sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct GlobalVariables {
    pub chain_id: Fr,
    pub version: Fr,
    pub block_number: u64,
    pub slot_number: u64,
    pub timestamp: u64,
    /// L1 address receiving the block reward (as a field).
    pub coinbase: Fr,
    /// L2 address receiving the fees.
    pub fee_recipient: Fr,
}

/// Commitments to what the block contains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct ContentCommitment {
    pub num_txs: u64,
    /// sha256 (to field) over the txs' effects in order.
    pub tx_effects_hash: Fr,
    /// sha256 (to field) Merkle root of the block's L1→L2 messages (what L1's inbox holds).
    pub in_hash: Fr,
    /// sha256 (to field) Merkle root of the block's L2→L1 messages (what L1's outbox gets).
    pub out_hash: Fr,
}

/// A block header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct BlockHeader {
    pub last_archive: AppendOnlyTreeSnapshot,
    pub content_commitment: ContentCommitment,
    pub state: StateReference,
    pub global_variables: GlobalVariables,
    pub total_fees: Fr,
}

impl BlockHeader {
    /// The header's fields in circuit order.
    pub fn to_fields(&self) -> Vec<Fr> {
        let s = &self.state;
        let g = &self.global_variables;
        let c = &self.content_commitment;
        let mut f = Vec::with_capacity(22);
        f.extend(self.last_archive.to_fields());
        f.extend([
            Fr::from(c.num_txs),
            c.tx_effects_hash,
            c.in_hash,
            c.out_hash,
        ]);
        f.extend(s.l1_to_l2_message_tree.to_fields());
        f.extend(s.partial.note_hash_tree.to_fields());
        f.extend(s.partial.nullifier_tree.to_fields());
        f.extend(s.partial.public_data_tree.to_fields());
        f.extend([
            g.chain_id,
            g.version,
            Fr::from(g.block_number),
            Fr::from(g.slot_number),
            Fr::from(g.timestamp),
            g.coinbase,
            g.fee_recipient,
        ]);
        f.push(self.total_fees);
        f
    }

    /// The block hash: the leaf this header becomes in the archive tree.
    pub fn hash(&self) -> Fr {
        poseidon2_hash_with_separator(&self.to_fields(), separator::BLOCK_HASH)
    }
}

/// sha256 of `data` as a field: the first byte dropped (248 bits), as Aztec's
/// `sha256_to_field` does, so any digest fits below the modulus.
pub fn sha256_to_field(data: &[u8]) -> Fr {
    use sha2::{Digest, Sha256};
    let d: [u8; 32] = Sha256::digest(data).into();
    let mut b = [0u8; 32];
    b[1..].copy_from_slice(&d[1..]);
    Fr::from_be_bytes_reduce(&b)
}

/// A sha256 Merkle root over `leaves` padded with zeros to a power of two (at least 1),
/// each node `sha256_to_field(left ‖ right)`: the in/out hash shape L1 recomputes.
pub fn sha256_merkle_root(leaves: &[Fr]) -> Fr {
    let n = leaves.len().max(1).next_power_of_two();
    let mut level: Vec<Fr> = leaves.to_vec();
    level.resize(n, Fr::ZERO);
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|p| {
                let mut buf = [0u8; 64];
                buf[..32].copy_from_slice(&p[0].to_be_bytes());
                buf[32..].copy_from_slice(&p[1].to_be_bytes());
                sha256_to_field(&buf)
            })
            .collect();
    }
    level[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_hash_changes_with_any_field() {
        let h = BlockHeader::default();
        let mut h2 = h;
        h2.global_variables.block_number = 1;
        assert_ne!(h.hash(), h2.hash());
        assert_eq!(h.to_fields().len(), 22);
    }

    #[test]
    fn sha_root_pads() {
        let a = Fr::from(1u64);
        assert_eq!(sha256_merkle_root(&[a]), a);
        let three = sha256_merkle_root(&[a, Fr::ZERO, Fr::ZERO]);
        assert_eq!(
            three,
            sha256_merkle_root(&[a, Fr::ZERO, Fr::ZERO, Fr::ZERO])
        );
        assert_ne!(three, sha256_merkle_root(&[a, Fr::ZERO]));
    }
}
