//! The hashes the contracts compute, mirrored in Rust so the L2 side (sequencer, circuits,
//! archiver) produces exactly what L1 checks: `Hash.sol`'s sha256-to-field and Merkle trees,
//! the Inbox's per-block rolling hash and the message leaves. Tests in `tests/` compare
//! each with the contracts on a real chain.

use crate::bindings::Outbox::L2ToL1Msg;
use alloy::primitives::B256;
use alloy::sol_types::SolValue;
use sha2::{Digest, Sha256};

/// sha256 shifted right by one byte (top byte zero): a BN254 field element.
pub fn sha256_to_field(data: &[u8]) -> B256 {
    let digest: [u8; 32] = Sha256::digest(data).into();
    let mut out = [0u8; 32];
    out[1..].copy_from_slice(&digest[..31]);
    B256::from(out)
}

fn node(left: &B256, right: &B256) -> B256 {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(left.as_slice());
    buf[32..].copy_from_slice(right.as_slice());
    sha256_to_field(&buf)
}

/// Levels of the tree over `leaves` zero-padded to a power of two, leaves first.
fn levels(leaves: &[B256]) -> Vec<Vec<B256>> {
    let width = leaves.len().next_power_of_two();
    let mut level: Vec<B256> = leaves.to_vec();
    level.resize(width, B256::ZERO);
    let mut out = vec![level];
    while out.last().map_or(0, Vec::len) > 1 {
        let below = out.last().map(Vec::as_slice).unwrap_or_default();
        let up = below.chunks(2).map(|p| node(&p[0], &p[1])).collect();
        out.push(up);
    }
    out
}

/// Merkle root as `Hash.merkleRoot`: zero for no leaves, the leaf itself for one.
pub fn merkle_root(leaves: &[B256]) -> B256 {
    if leaves.is_empty() {
        return B256::ZERO;
    }
    levels(leaves)
        .last()
        .and_then(|l| l.first().copied())
        .unwrap_or_default()
}

/// The sibling path of leaf `index` (leaf level first), as `Hash.rootFromPath` takes it;
/// `None` when `index` is out of range.
pub fn merkle_path(leaves: &[B256], index: usize) -> Option<Vec<B256>> {
    if index >= leaves.len() {
        return None;
    }
    let levels = levels(leaves);
    let mut i = index;
    let mut path = Vec::new();
    for level in &levels[..levels.len() - 1] {
        path.push(level[i ^ 1]);
        i >>= 1;
    }
    Some(path)
}

/// The root `Hash.rootFromPath` computes from a leaf, its index and its sibling path.
pub fn root_from_path(leaf: B256, index: u64, path: &[B256]) -> B256 {
    path.iter().enumerate().fold(leaf, |acc, (level, sibling)| {
        if (index >> level) & 1 == 1 {
            node(sibling, &acc)
        } else {
            node(&acc, sibling)
        }
    })
}

/// The Inbox commitment of one block's messages: h_0 = 0, h_i = sha256ToField(h_{i-1} ‖ leaf_i).
pub fn inbox_rolling_hash(leaves: &[B256]) -> B256 {
    leaves.iter().fold(B256::ZERO, |acc, leaf| node(&acc, leaf))
}

/// The L1→L2 message as the Inbox hashes it (`DataStructures.sol`; not in any contract's
/// ABI, since the Inbox only takes its parts).
pub mod l1_to_l2 {
    alloy::sol! {
        #[derive(Debug, PartialEq, Eq)]
        struct L1Actor { address actor; uint256 chainId; }
        #[derive(Debug, PartialEq, Eq)]
        struct L2Actor { bytes32 actor; uint256 version; }
        #[derive(Debug, PartialEq, Eq)]
        struct L1ToL2Msg { L1Actor sender; L2Actor recipient; bytes32 content; bytes32 secretHash; uint256 index; }
    }
}
pub use l1_to_l2::L1ToL2Msg;

/// The leaf of an L1→L2 message (sha256ToField of its ABI encoding), as the Inbox emits it.
pub fn l1_to_l2_message_leaf(msg: &L1ToL2Msg) -> B256 {
    sha256_to_field(&msg.abi_encode())
}

/// The leaf of an L2→L1 message, as the Outbox checks it.
pub fn l2_to_l1_message_leaf(msg: &L2ToL1Msg) -> B256 {
    sha256_to_field(&msg.abi_encode())
}

/// A block header's `txsEffectsHash` for its body.
pub fn txs_effects_hash(body: &[u8]) -> B256 {
    sha256_to_field(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(i: u8) -> B256 {
        B256::repeat_byte(i)
    }

    #[test]
    fn sha256_to_field_drops_the_last_byte_and_zeroes_the_top() {
        let h = sha256_to_field(b"abc");
        let full: [u8; 32] = Sha256::digest(b"abc").into();
        assert_eq!(h[0], 0);
        assert_eq!(&h[1..], &full[..31]);
    }

    #[test]
    fn merkle_root_edge_cases() {
        assert_eq!(merkle_root(&[]), B256::ZERO);
        assert_eq!(merkle_root(&[leaf(1)]), leaf(1));
        assert_eq!(merkle_root(&[leaf(1), leaf(2)]), node(&leaf(1), &leaf(2)));
        let padded = node(&node(&leaf(1), &leaf(2)), &node(&leaf(3), &B256::ZERO));
        assert_eq!(merkle_root(&[leaf(1), leaf(2), leaf(3)]), padded);
    }

    #[test]
    fn every_path_leads_to_the_root() {
        for n in 1..=9u8 {
            let leaves: Vec<B256> = (1..=n).map(leaf).collect();
            let root = merkle_root(&leaves);
            for (i, l) in leaves.iter().enumerate() {
                let path = merkle_path(&leaves, i).expect("in range");
                assert_eq!(root_from_path(*l, i as u64, &path), root, "n={n} i={i}");
            }
            assert!(merkle_path(&leaves, n as usize).is_none());
        }
    }

    #[test]
    fn rolling_hash_chains_in_order() {
        assert_eq!(inbox_rolling_hash(&[]), B256::ZERO);
        let one = node(&B256::ZERO, &leaf(1));
        assert_eq!(inbox_rolling_hash(&[leaf(1)]), one);
        assert_eq!(
            inbox_rolling_hash(&[leaf(1), leaf(2)]),
            node(&one, &leaf(2))
        );
        assert_ne!(
            inbox_rolling_hash(&[leaf(1), leaf(2)]),
            inbox_rolling_hash(&[leaf(2), leaf(1)])
        );
    }
}
