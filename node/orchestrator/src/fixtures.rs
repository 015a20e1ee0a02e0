//! Epochs of real blocks for tests and benchmarks: generated txs (simulated client
//! proofs, funded fee payers, an L2→L1 message every other tx, two L1→L2 messages per
//! block) executed by the tx processor on a fresh world state, block after block — what
//! the orchestrator gets from the proving job, without L1 or a sequencer.

use provemesh_common::hash::leaves::fee_juice_balance_slot;
use provemesh_common::hash::{poseidon2_hash, Fr, GlobalVariables};
use provemesh_common::tx::{
    L2ToL1Message, PublicDataWrite, SimulatedClientProof, Tx, TxPublicOutputs,
};
use provemesh_tx_processor::{
    process_block, BlockToProcess, ProcessError, ProcessedBlock, SimulatedClientProofVerifier,
};
use provemesh_world_state::{TreeHeights, WorldState, WorldStateConfig, WorldStateError};
use std::path::Path;

/// Fee payers funded at genesis (txs pay from them in turn).
const FEE_PAYERS: u64 = 64;

/// A generated epoch could not be executed.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error("world state: {0}")]
    WorldState(#[from] WorldStateError),
    #[error(transparent)]
    Process(#[from] ProcessError),
    #[error("block {block}: generated tx rejected: {reason}")]
    Rejected { block: u64, reason: String },
}

/// Generated tx number `seq` (1-based; unique nullifiers and note hashes per `seq`).
pub fn generated_tx(seq: u64) -> Tx {
    let f = |tag: u64, i: u64| poseidon2_hash(&[Fr::from(tag), Fr::from(seq), Fr::from(i)]);
    let outputs = TxPublicOutputs {
        note_hashes: (0..2).map(|i| f(1, i)).collect(),
        nullifiers: (0..2).map(|i| f(2, i)).collect(),
        public_data_writes: vec![PublicDataWrite {
            contract_address: Fr::from(0x1234u64),
            storage_slot: Fr::from(seq % 4096),
            value: Fr::from(seq),
        }],
        l2_to_l1_messages: if seq.is_multiple_of(2) {
            vec![L2ToL1Message {
                recipient: Fr::from(0xbeefu64),
                content: f(3, 0),
            }]
        } else {
            vec![]
        },
        fee_payer: Fr::from(1000 + seq % FEE_PAYERS),
        fee: Fr::from(seq % 7 + 1),
    };
    Tx {
        proof: SimulatedClientProof::create(&outputs),
        outputs,
    }
}

/// Executes blocks of `txs_per_block[i]` generated txs (block numbers from 1) on a fresh
/// world state in `dir` with tree `heights`, handing each block to `each` as soon as it is
/// committed. Deterministic: the same arguments give the same blocks.
pub fn execute_epoch(
    dir: &Path,
    heights: TreeHeights,
    txs_per_block: &[usize],
    mut each: impl FnMut(&ProcessedBlock),
) -> Result<Vec<ProcessedBlock>, FixtureError> {
    let config = WorldStateConfig {
        heights,
        genesis_public_data: (0..FEE_PAYERS)
            .map(|p| {
                (
                    fee_juice_balance_slot(Fr::from(1000 + p)),
                    Fr::from(1u64 << 60),
                )
            })
            .collect(),
        ..WorldStateConfig::default()
    };
    let mut ws = WorldState::open(dir, config)?;
    let mut seq = 0u64;
    let mut out = Vec::with_capacity(txs_per_block.len());
    for (i, &n) in txs_per_block.iter().enumerate() {
        let number = i as u64 + 1;
        let txs = (0..n)
            .map(|_| {
                seq += 1;
                generated_tx(seq)
            })
            .collect();
        let block = BlockToProcess {
            global_variables: GlobalVariables {
                block_number: number,
                slot_number: number,
                timestamp: 1_700_000_000 + number,
                ..GlobalVariables::default()
            },
            txs,
            l1_to_l2_messages: vec![Fr::from(number * 10 + 1), Fr::from(number * 10 + 2)],
        };
        let processed = process_block(&mut ws, &SimulatedClientProofVerifier, &block)?;
        if let Some(r) = processed.rejected.first() {
            return Err(FixtureError::Rejected {
                block: number,
                reason: r.reason.to_string(),
            });
        }
        ws.commit_block(&processed.header)?;
        each(&processed);
        out.push(processed);
    }
    Ok(out)
}
