//! Which trees the world state holds and how tall they are.

use crate::error::{Result, WorldStateError};
use provemesh_common::tx::MAX_NULLIFIERS_PER_TX;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The five trees of Aztec's world state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TreeId {
    NoteHash = 0,
    Nullifier = 1,
    PublicData = 2,
    L1ToL2Message = 3,
    Archive = 4,
}

impl TreeId {
    pub const ALL: [TreeId; 5] = [
        TreeId::NoteHash,
        TreeId::Nullifier,
        TreeId::PublicData,
        TreeId::L1ToL2Message,
        TreeId::Archive,
    ];
}

impl fmt::Display for TreeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TreeId::NoteHash => "note hash",
            TreeId::Nullifier => "nullifier",
            TreeId::PublicData => "public data",
            TreeId::L1ToL2Message => "L1→L2 message",
            TreeId::Archive => "archive",
        })
    }
}

/// Tree heights. They are part of the protocol (the rollup circuits are compiled for
/// them) and are fixed when a world state is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeHeights {
    pub note_hash: u8,
    pub nullifier: u8,
    pub public_data: u8,
    pub l1_to_l2_message: u8,
    pub archive: u8,
}

impl TreeHeights {
    /// Devnet defaults: 2^24 note hash and nullifier slots (2M txs at 8 per tx), 2^24
    /// public storage slots, 2^20 L1→L2 messages and 2^20 blocks.
    pub const DEVNET: TreeHeights = TreeHeights {
        note_hash: 24,
        nullifier: 24,
        public_data: 24,
        l1_to_l2_message: 20,
        archive: 20,
    };

    /// Every tree `height` tall (benchmarks, tests).
    pub const fn uniform(height: u8) -> TreeHeights {
        TreeHeights {
            note_hash: height,
            nullifier: height,
            public_data: height,
            l1_to_l2_message: height,
            archive: height,
        }
    }

    pub fn of(&self, tree: TreeId) -> u8 {
        match tree {
            TreeId::NoteHash => self.note_hash,
            TreeId::Nullifier => self.nullifier,
            TreeId::PublicData => self.public_data,
            TreeId::L1ToL2Message => self.l1_to_l2_message,
            TreeId::Archive => self.archive,
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        for tree in TreeId::ALL {
            let height = self.of(tree);
            // Subtrees of the per-tx inserts need at least 4 levels below the root.
            if !(4..=63).contains(&height) {
                return Err(WorldStateError::UnsupportedHeight { tree, height });
            }
        }
        Ok(())
    }
}

impl Default for TreeHeights {
    fn default() -> Self {
        TreeHeights::DEVNET
    }
}

/// How a world state is created and cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorldStateConfig {
    pub heights: TreeHeights,
    /// Leaves prefilled into the nullifier tree (keys 0..n); a multiple of the per-tx
    /// nullifier subtree so that tx subtrees stay aligned.
    pub nullifier_prefill: u64,
    /// Leaves prefilled into the public data tree (slots 0..n, value 0).
    pub public_data_prefill: u64,
    /// Public storage set at genesis (slot, value), e.g. fee juice balances.
    pub genesis_public_data: Vec<(provemesh_common::hash::Fr, provemesh_common::hash::Fr)>,
    /// The top this many levels of each tree are kept in memory (2^n nodes at most).
    pub cached_levels: u8,
}

impl Default for WorldStateConfig {
    fn default() -> Self {
        WorldStateConfig {
            heights: TreeHeights::DEVNET,
            nullifier_prefill: MAX_NULLIFIERS_PER_TX as u64,
            public_data_prefill: 2,
            genesis_public_data: Vec::new(),
            cached_levels: 18,
        }
    }
}
