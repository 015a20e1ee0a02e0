//! The devnet's genesis: which fee payers hold fee juice at block 0, and the world state
//! created from it. The Rollup is deployed with this world state's genesis archive as its
//! block 0 archive, so the first proposed block's `lastArchive` matches on L1 — and a
//! prover node that opens its world state with the same [`WorldStateGenesis`] (served by
//! `node_getWorldStateGenesis`) gets the same archive and can check it against L1.

use provemesh_common::hash::leaves::fee_juice_balance_slot;
use provemesh_common::hash::Fr;
use provemesh_p2p::api::{GenesisPublicData, TreeHeightsJson};
use provemesh_p2p::wire::HexFr;
use provemesh_p2p::WorldStateGenesis;
use provemesh_world_state::{TreeHeights, WorldState, WorldStateConfig, WorldStateError};
use std::path::Path;

/// Fee juice of each funded fee payer: enough for any devnet run.
pub const FUNDED_BALANCE: u128 = 1 << 100;
/// Fee juice of each limited fee payer (for the load generator's overdraft txs).
pub const LIMITED_BALANCE: u64 = 100;

/// Who can pay fees from block 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Genesis {
    /// Fee payers with [`FUNDED_BALANCE`].
    pub funded: Vec<Fr>,
    /// Fee payers with [`LIMITED_BALANCE`].
    pub limited: Vec<Fr>,
    pub heights: TreeHeights,
}

impl Genesis {
    /// `funded` rich payers and `limited` poor ones, at fixed addresses (`0xfee0000 + i`,
    /// `0xf1d0000 + i`), so that every node of a devnet derives the same genesis.
    pub fn devnet(funded: u64, limited: u64, heights: TreeHeights) -> Self {
        Genesis {
            funded: (0..funded).map(|i| Fr::from(0xfee_0000 + i)).collect(),
            limited: (0..limited).map(|i| Fr::from(0xf1d_0000 + i)).collect(),
            heights,
        }
    }

    /// The world state configuration: the fee juice balances as genesis public data.
    pub fn world_state_config(&self) -> WorldStateConfig {
        let mut data: Vec<(Fr, Fr)> = self
            .funded
            .iter()
            .map(|p| (fee_juice_balance_slot(*p), Fr::from(FUNDED_BALANCE)))
            .chain(
                self.limited
                    .iter()
                    .map(|p| (fee_juice_balance_slot(*p), Fr::from(LIMITED_BALANCE))),
            )
            .collect();
        // Sorted: the genesis does not depend on the order payers were listed in.
        data.sort();
        data.dedup_by(|a, b| a.0 == b.0);
        WorldStateConfig {
            heights: self.heights,
            genesis_public_data: data,
            ..WorldStateConfig::default()
        }
    }

    /// Opens (or creates) the world state in `dir`.
    pub fn open_world_state(&self, dir: &Path) -> Result<WorldState, WorldStateError> {
        WorldState::open(dir, self.world_state_config())
    }
}

/// The genesis archive root (block 0's archive) of `ws`.
pub fn genesis_archive(ws: &WorldState) -> Result<Fr, WorldStateError> {
    Ok(ws.snapshot(0)?.record().archive.root)
}

/// The JSON form served by `node_getWorldStateGenesis`.
pub fn describe(config: &WorldStateConfig, genesis_archive: Fr) -> WorldStateGenesis {
    let h = config.heights;
    WorldStateGenesis {
        heights: TreeHeightsJson {
            note_hash: h.note_hash,
            nullifier: h.nullifier,
            public_data: h.public_data,
            l1_to_l2_message: h.l1_to_l2_message,
            archive: h.archive,
        },
        nullifier_prefill: config.nullifier_prefill,
        public_data_prefill: config.public_data_prefill,
        public_data: config
            .genesis_public_data
            .iter()
            .map(|(slot, value)| GenesisPublicData {
                slot: HexFr(*slot),
                value: HexFr(*value),
            })
            .collect(),
        genesis_archive: alloy::primitives::B256::from(genesis_archive.to_be_bytes()),
    }
}
