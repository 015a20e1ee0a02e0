//! Epochs of real blocks for tests and benchmarks: generated txs (simulated client
//! proofs, or real private kernel tail proofs made with [`real_client_proofs`]; funded fee
//! payers, an L2→L1 message every other tx, two L1→L2 messages per block) executed by the
//! tx processor on a fresh world state, block after block — what the orchestrator gets
//! from the proving job, without L1 or a sequencer.

use provemesh_common::hash::leaves::fee_juice_balance_slot;
use provemesh_common::hash::{poseidon2_hash, Fr, GlobalVariables};
use provemesh_common::tx::{
    tx_nullifier, ClientProof, L2ToL1Message, PublicDataWrite, SimulatedClientProof, Tx,
    TxPublicOutputs,
};
use provemesh_tx_processor::{
    process_block, BlockToProcess, ClientProofVerifier, ProcessError, ProcessedBlock,
    SimulatedClientProofVerifier,
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
    #[error("generated tx {0} has no real client proof (prove as many as the epoch holds)")]
    NotProved(u64),
}

/// The sender's (secret, nonce) of generated tx number `seq`: its first nullifier is
/// `tx_nullifier(secret, nonce)`, so a real client proof can be made for it.
pub fn generated_sender(seq: u64) -> (Fr, Fr) {
    (
        poseidon2_hash(&[Fr::from(4u64), Fr::from(seq)]),
        Fr::from(seq),
    )
}

/// Generated tx number `seq` (1-based; unique nullifiers and note hashes per `seq`).
pub fn generated_tx(seq: u64) -> Tx {
    let f = |tag: u64, i: u64| poseidon2_hash(&[Fr::from(tag), Fr::from(seq), Fr::from(i)]);
    let (secret, nonce) = generated_sender(seq);
    let outputs = TxPublicOutputs {
        note_hashes: (0..2).map(|i| f(1, i)).collect(),
        nullifiers: vec![tx_nullifier(secret, nonce), f(2, 1)],
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

/// Real client proofs of generated txs 1..=n, and the verifier that checks them.
pub struct RealClientProofs {
    proofs: Vec<ClientProof>,
    verifier: provemesh_client_proofs::ClientVerifier,
}

/// Proves the private kernel tail of generated txs 1..=`txs` with `circuits` (about half a
/// second each), for [`execute_epoch_with`].
pub async fn real_client_proofs(
    circuits: &crate::RealCircuits,
    txs: u64,
) -> Result<RealClientProofs, String> {
    let prover = circuits.client_prover()?;
    let mut proofs = Vec::with_capacity(txs as usize);
    for seq in 1..=txs {
        let (secret, nonce) = generated_sender(seq);
        let proof = prover
            .prove(&generated_tx(seq).outputs, secret, nonce)
            .await
            .map_err(|e| format!("generated tx {seq}: {e}"))?;
        proofs.push(proof);
    }
    Ok(RealClientProofs {
        proofs,
        verifier: circuits.client_verifier()?,
    })
}

/// Executes blocks of `txs_per_block[i]` generated txs (block numbers from 1) on a fresh
/// world state in `dir` with tree `heights`, handing each block to `each` as soon as it is
/// committed. Deterministic: the same arguments give the same blocks.
pub fn execute_epoch(
    dir: &Path,
    heights: TreeHeights,
    txs_per_block: &[usize],
    each: impl FnMut(&ProcessedBlock),
) -> Result<Vec<ProcessedBlock>, FixtureError> {
    execute_epoch_with(dir, heights, txs_per_block, None, each)
}

/// [`execute_epoch`], the txs carrying `real` client proofs (checked with bb as the node
/// checks them) instead of simulated ones.
pub fn execute_epoch_with(
    dir: &Path,
    heights: TreeHeights,
    txs_per_block: &[usize],
    real: Option<&RealClientProofs>,
    mut each: impl FnMut(&ProcessedBlock),
) -> Result<Vec<ProcessedBlock>, FixtureError> {
    let verifier: &dyn ClientProofVerifier = match real {
        Some(r) => &r.verifier,
        None => &SimulatedClientProofVerifier,
    };
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
        let mut txs = Vec::with_capacity(n);
        for _ in 0..n {
            seq += 1;
            let mut tx = generated_tx(seq);
            if let Some(r) = real {
                tx.proof = r
                    .proofs
                    .get(seq as usize - 1)
                    .cloned()
                    .ok_or(FixtureError::NotProved(seq))?;
            }
            txs.push(tx);
        }
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
        let processed = process_block(&mut ws, verifier, &block)?;
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
