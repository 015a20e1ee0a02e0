//! Leaf preimages of the indexed trees (nullifier tree, public data tree) and how public
//! storage slots become public data tree keys.
//!
//! An indexed Merkle tree keeps its leaves in insertion order but links them into a list
//! sorted by key: each leaf stores the next larger key and that leaf's index (0 and 0 for
//! the largest). Non-membership of `k` is shown by the "low leaf" with
//! `low.key < k < low.next_key` (or `low.next_key == 0`); inserting `k` re-points the low
//! leaf at `k`. A leaf's hash is Poseidon2 of its fields in declaration order, except that
//! the all-zero preimage (an unused slot) hashes to 0 so that empty subtrees stay empty.

use super::field::Fr;
use super::poseidon2::{poseidon2_hash, poseidon2_hash_with_separator};
use serde::{Deserialize, Serialize};

/// Domain separators of provemesh's hashes (the first element hashed).
pub mod separator {
    /// Public data tree key of a contract's storage slot.
    pub const PUBLIC_LEAF_INDEX: u32 = 23;
    /// Block header hash (the archive tree's leaf).
    pub const BLOCK_HASH: u32 = 28;
    /// A tx's first nullifier, derived from its sender's secret and a nonce (the private
    /// kernel tail checks the derivation).
    pub const TX_NULLIFIER: u32 = 41;
}

/// The fee juice contract whose public storage holds fee balances (protocol address 5,
/// as in Aztec). Txs may not write its storage: balances change only by fee payment.
pub const FEE_JUICE_ADDRESS: u64 = 5;
/// Storage slot of the fee juice contract's `balances` map.
pub const FEE_JUICE_BALANCES_SLOT: u64 = 1;

/// What the indexed trees need from a leaf preimage.
pub trait IndexedLeafPreimage:
    Copy + std::fmt::Debug + PartialEq + Send + Sync + Serialize + serde::de::DeserializeOwned
{
    /// The sort key: the nullifier, or the public data leaf slot.
    fn key(&self) -> Fr;
    fn next_key(&self) -> Fr;
    fn next_index(&self) -> u64;
    /// The stored value (0 for nullifiers, which have none).
    fn value(&self) -> Fr;
    /// A leaf from its parts (`value` is ignored by trees without values).
    fn from_parts(key: Fr, value: Fr, next_key: Fr, next_index: u64) -> Self;
    /// The same leaf linked to a different successor.
    fn with_next(&self, next_key: Fr, next_index: u64) -> Self;
    /// The same leaf holding another value (unchanged for trees without values).
    fn with_value(&self, value: Fr) -> Self;
    /// The leaf value of this preimage in the tree (0 for the empty preimage).
    fn leaf_hash(&self) -> Fr;
    /// The prefilled leaf `i` of a fresh tree: key `i`, linked to `i + 1` (the last to 0).
    fn prefill(i: u64, count: u64) -> Self;
}

/// A nullifier tree leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct NullifierLeafPreimage {
    pub nullifier: Fr,
    pub next_nullifier: Fr,
    pub next_index: u64,
}

impl IndexedLeafPreimage for NullifierLeafPreimage {
    fn key(&self) -> Fr {
        self.nullifier
    }
    fn next_key(&self) -> Fr {
        self.next_nullifier
    }
    fn next_index(&self) -> u64 {
        self.next_index
    }
    fn value(&self) -> Fr {
        Fr::ZERO
    }
    fn from_parts(key: Fr, _value: Fr, next_key: Fr, next_index: u64) -> Self {
        Self {
            nullifier: key,
            next_nullifier: next_key,
            next_index,
        }
    }
    fn with_value(&self, _value: Fr) -> Self {
        *self
    }
    fn with_next(&self, next_key: Fr, next_index: u64) -> Self {
        Self {
            next_nullifier: next_key,
            next_index,
            ..*self
        }
    }
    fn leaf_hash(&self) -> Fr {
        if *self == Self::default() {
            return Fr::ZERO;
        }
        poseidon2_hash(&[
            self.nullifier,
            self.next_nullifier,
            Fr::from(self.next_index),
        ])
    }
    fn prefill(i: u64, count: u64) -> Self {
        let last = i + 1 == count;
        Self {
            nullifier: Fr::from(i),
            next_nullifier: if last { Fr::ZERO } else { Fr::from(i + 1) },
            next_index: if last { 0 } else { i + 1 },
        }
    }
}

/// A public data tree leaf: a storage slot's current value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct PublicDataLeafPreimage {
    pub slot: Fr,
    pub value: Fr,
    pub next_slot: Fr,
    pub next_index: u64,
}

impl IndexedLeafPreimage for PublicDataLeafPreimage {
    fn key(&self) -> Fr {
        self.slot
    }
    fn next_key(&self) -> Fr {
        self.next_slot
    }
    fn next_index(&self) -> u64 {
        self.next_index
    }
    fn value(&self) -> Fr {
        self.value
    }
    fn from_parts(key: Fr, value: Fr, next_key: Fr, next_index: u64) -> Self {
        Self {
            slot: key,
            value,
            next_slot: next_key,
            next_index,
        }
    }
    fn with_value(&self, value: Fr) -> Self {
        Self { value, ..*self }
    }
    fn with_next(&self, next_key: Fr, next_index: u64) -> Self {
        Self {
            next_slot: next_key,
            next_index,
            ..*self
        }
    }
    fn leaf_hash(&self) -> Fr {
        if *self == Self::default() {
            return Fr::ZERO;
        }
        poseidon2_hash(&[
            self.slot,
            self.value,
            self.next_slot,
            Fr::from(self.next_index),
        ])
    }
    fn prefill(i: u64, count: u64) -> Self {
        let last = i + 1 == count;
        Self {
            slot: Fr::from(i),
            value: Fr::ZERO,
            next_slot: if last { Fr::ZERO } else { Fr::from(i + 1) },
            next_index: if last { 0 } else { i + 1 },
        }
    }
}

/// The public data tree key of `contract`'s storage slot `storage_slot` (siloing, so
/// that contracts cannot write each other's storage).
pub fn public_data_leaf_slot(contract: Fr, storage_slot: Fr) -> Fr {
    poseidon2_hash_with_separator(&[contract, storage_slot], separator::PUBLIC_LEAF_INDEX)
}

/// The public data tree key holding `fee_payer`'s fee juice balance.
pub fn fee_juice_balance_slot(fee_payer: Fr) -> Fr {
    let map_slot = poseidon2_hash(&[Fr::from(FEE_JUICE_BALANCES_SLOT), fee_payer]);
    public_data_leaf_slot(Fr::from(FEE_JUICE_ADDRESS), map_slot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_preimages_hash_to_zero() {
        assert_eq!(NullifierLeafPreimage::default().leaf_hash(), Fr::ZERO);
        assert_eq!(PublicDataLeafPreimage::default().leaf_hash(), Fr::ZERO);
        let n = NullifierLeafPreimage::prefill(0, 2);
        assert_eq!(n.next_index, 1);
        assert_ne!(n.leaf_hash(), Fr::ZERO);
        assert_eq!(
            NullifierLeafPreimage::prefill(1, 2).next_nullifier,
            Fr::ZERO
        );
    }

    #[test]
    fn slots_are_siloed_per_contract() {
        let s = Fr::from(1u64);
        assert_ne!(
            public_data_leaf_slot(Fr::from(10u64), s),
            public_data_leaf_slot(Fr::from(11u64), s)
        );
        assert_ne!(
            fee_juice_balance_slot(Fr::from(1u64)),
            fee_juice_balance_slot(Fr::from(2u64))
        );
    }
}
