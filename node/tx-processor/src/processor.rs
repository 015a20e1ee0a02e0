//! Processing one block: validate every tx against the state and the block so far,
//! apply the valid ones in order, and emit the proving inputs.
//!
//! Validation runs first and alone (cheap lookups: proofs, double spends, fee balances,
//! tracked across the block in memory), so that application can then update the three
//! tx trees on two threads at once — their per-tx hashing is independent, and Poseidon2
//! hashing is where the time goes. Outputs depend only on the state and the block, never
//! on timing or map order: processing the same block twice gives identical outputs.

use crate::inputs::{
    BaseParityInputs, BaseRollupInputs, BlockConstants, BlockRootRollupInputs, FeePayment,
    ParityInputs, ProcessedTx, PublicDataWriteHint,
};
use crate::rejection::{RejectedTx, TxRejection};
use crate::verifier::ClientProofVerifier;
use provemesh_common::hash::header::{
    sha256_merkle_root, sha256_to_field, L1_TO_L2_MESSAGES_PER_BASE_PARITY,
    L1_TO_L2_MESSAGES_PER_BLOCK, L1_TO_L2_MESSAGE_SUBTREE_HEIGHT,
};
use provemesh_common::hash::leaves::fee_juice_balance_slot;
use provemesh_common::hash::{
    merkle_root, BlockHeader, ContentCommitment, Fr, GlobalVariables, PartialStateReference,
};
use provemesh_common::hash::{AppendOnlyTreeSnapshot, NullifierLeafPreimage};
use provemesh_common::tx::{
    Tx, TxHash, MAX_TX_SIZE_BYTES, NOTE_HASH_SUBTREE_HEIGHT, NULLIFIER_SUBTREE_HEIGHT,
};
use provemesh_world_state::{BatchInsertionHints, WorldState, WorldStateError};
use serde::Serialize;
use std::collections::HashMap;

/// A block to process: its global variables, txs in order, and L1→L2 messages.
#[derive(Debug, Clone)]
pub struct BlockToProcess {
    pub global_variables: GlobalVariables,
    pub txs: Vec<Tx>,
    pub l1_to_l2_messages: Vec<Fr>,
}

/// The result of processing a block (its state changes are pending in the world state
/// until [`WorldState::commit_block`] with `header`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcessedBlock {
    pub header: BlockHeader,
    pub txs: Vec<ProcessedTx>,
    pub rejected: Vec<RejectedTx>,
    pub parity: ParityInputs,
    pub block_root: BlockRootRollupInputs,
}

/// A block could not be processed at all (as opposed to a tx being rejected).
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("block {block}: {count} L1→L2 messages, at most {max} per block")]
    TooManyMessages {
        block: u64,
        count: usize,
        max: usize,
    },
    #[error("block {block}: world state: {source}")]
    WorldState {
        block: u64,
        #[source]
        source: WorldStateError,
    },
    #[error("block {block}: the tree update thread panicked")]
    ThreadPanicked { block: u64 },
}

/// A tx that passed validation, with its fee payment worked out.
struct Accepted<'a> {
    position: usize,
    tx: &'a Tx,
    hash: TxHash,
    fee: FeePayment,
}

/// Validates and applies `block` on top of `ws`'s committed tip. On error the working
/// state is rolled back.
pub fn process_block(
    ws: &mut WorldState,
    verifier: &dyn ClientProofVerifier,
    block: &BlockToProcess,
) -> Result<ProcessedBlock, ProcessError> {
    let number = block.global_variables.block_number;
    let result = process_inner(ws, verifier, block);
    if result.is_err() {
        // Best effort: the caller sees the original error either way.
        let _ = ws.rollback();
    }
    result.map_err(|e| match e {
        Inner::Ws(source) => ProcessError::WorldState {
            block: number,
            source,
        },
        Inner::Process(p) => p,
    })
}

enum Inner {
    Ws(WorldStateError),
    Process(ProcessError),
}

impl From<WorldStateError> for Inner {
    fn from(e: WorldStateError) -> Self {
        Inner::Ws(e)
    }
}

fn validate<'a>(
    ws: &WorldState,
    verifier: &dyn ClientProofVerifier,
    txs: &'a [Tx],
) -> Result<(Vec<Accepted<'a>>, Vec<RejectedTx>), WorldStateError> {
    let mut accepted = Vec::with_capacity(txs.len());
    let mut rejected = Vec::new();
    let mut spent: HashMap<Fr, TxHash> = HashMap::new();
    let mut balances: HashMap<Fr, Fr> = HashMap::new();
    for (position, tx) in txs.iter().enumerate() {
        let hash = tx.hash();
        match check_tx(ws, verifier, tx, &spent, &mut balances)? {
            Ok(fee) => {
                let hash = hash.unwrap_or(TxHash(Fr::ZERO));
                for n in &tx.outputs.nullifiers {
                    spent.insert(*n, hash);
                }
                balances.insert(fee.balance_slot, fee.balance_after);
                accepted.push(Accepted {
                    position,
                    tx,
                    hash,
                    fee,
                });
            }
            Err(reason) => {
                tracing::debug!(position, kind = reason.kind(), %reason, "tx rejected");
                rejected.push(RejectedTx {
                    position,
                    tx_hash: hash,
                    reason,
                });
            }
        }
    }
    Ok((accepted, rejected))
}

fn check_tx(
    ws: &WorldState,
    verifier: &dyn ClientProofVerifier,
    tx: &Tx,
    spent: &HashMap<Fr, TxHash>,
    balances: &mut HashMap<Fr, Fr>,
) -> Result<Result<FeePayment, TxRejection>, WorldStateError> {
    let size = tx.encode().map(|b| b.len()).unwrap_or(usize::MAX);
    if size > MAX_TX_SIZE_BYTES {
        return Ok(Err(TxRejection::TooLarge {
            size,
            max: MAX_TX_SIZE_BYTES,
        }));
    }
    if let Err(e) = tx.check_format() {
        return Ok(Err(e.into()));
    }
    if let Err(e) = verifier.verify(tx) {
        return Ok(Err(e.into()));
    }
    for n in &tx.outputs.nullifiers {
        if let Some(by) = spent.get(n) {
            return Ok(Err(TxRejection::NullifierInBlock {
                nullifier: *n,
                by: *by,
            }));
        }
        if ws.nullifier_exists(*n)? {
            return Ok(Err(TxRejection::NullifierInState { nullifier: *n }));
        }
    }
    let o = &tx.outputs;
    let slot = fee_juice_balance_slot(o.fee_payer);
    let balance = match balances.get(&slot) {
        Some(b) => *b,
        None => ws.public_data_value(slot)?,
    };
    if balance < o.fee {
        return Ok(Err(TxRejection::FeeNotPayable {
            fee_payer: o.fee_payer,
            balance,
            fee: o.fee,
        }));
    }
    Ok(Ok(FeePayment {
        fee_payer: o.fee_payer,
        balance_slot: slot,
        balance_before: balance,
        balance_after: balance - o.fee,
    }))
}

type NullifierRun = Vec<(
    AppendOnlyTreeSnapshot,
    BatchInsertionHints<NullifierLeafPreimage>,
    AppendOnlyTreeSnapshot,
)>;
type NoteHashRun = Vec<(AppendOnlyTreeSnapshot, Vec<Fr>, AppendOnlyTreeSnapshot)>;
type PublicDataRun = Vec<(
    AppendOnlyTreeSnapshot,
    Vec<PublicDataWriteHint>,
    AppendOnlyTreeSnapshot,
)>;

fn process_inner(
    ws: &mut WorldState,
    verifier: &dyn ClientProofVerifier,
    block: &BlockToProcess,
) -> Result<ProcessedBlock, Inner> {
    let g = block.global_variables;
    if block.l1_to_l2_messages.len() > L1_TO_L2_MESSAGES_PER_BLOCK {
        return Err(Inner::Process(ProcessError::TooManyMessages {
            block: g.block_number,
            count: block.l1_to_l2_messages.len(),
            max: L1_TO_L2_MESSAGES_PER_BLOCK,
        }));
    }
    let (accepted, rejected) = validate(ws, verifier, &block.txs)?;
    let last_archive = ws.tip_record().archive;
    let previous_header = ws.tip_record().header;
    let previous_header_sibling_path = ws
        .trees_mut()
        .archive
        .sibling_path(last_archive.next_available_leaf_index.saturating_sub(1))?;
    let constants = BlockConstants {
        last_archive,
        global_variables: g,
    };
    let start = ws.partial_state()?;

    let trees = ws.trees_mut();
    let (nullifier_tree, note_hash_tree, public_data_tree) =
        (trees.nullifier, trees.note_hash, trees.public_data);
    let (nullifier_run, note_hash_run, public_data_run) = std::thread::scope(|s| {
        let nullifiers = s.spawn(|| -> Result<NullifierRun, WorldStateError> {
            let mut run = Vec::with_capacity(accepted.len());
            for a in &accepted {
                let before = nullifier_tree.merkle().snapshot()?;
                let hints = nullifier_tree
                    .batch_insert(&a.tx.outputs.nullifiers, NULLIFIER_SUBTREE_HEIGHT)?;
                run.push((before, hints, nullifier_tree.merkle().snapshot()?));
            }
            Ok(run)
        });
        let notes = (|| -> Result<NoteHashRun, WorldStateError> {
            let mut run = Vec::with_capacity(accepted.len());
            for a in &accepted {
                let before = note_hash_tree.snapshot()?;
                let path = note_hash_tree
                    .append_subtree(&a.tx.outputs.note_hashes, NOTE_HASH_SUBTREE_HEIGHT)?;
                run.push((before, path, note_hash_tree.snapshot()?));
            }
            Ok(run)
        })();
        let public = (|| -> Result<PublicDataRun, WorldStateError> {
            let mut run = Vec::with_capacity(accepted.len());
            for a in &accepted {
                let before = public_data_tree.merkle().snapshot()?;
                let mut hints = Vec::with_capacity(a.tx.outputs.public_data_writes.len() + 1);
                let writes =
                    a.tx.outputs
                        .public_data_writes
                        .iter()
                        .map(|w| (w.leaf_slot(), w.value));
                for (leaf_slot, value) in writes.chain([(a.fee.balance_slot, a.fee.balance_after)])
                {
                    let hint = public_data_tree.sequential_insert(leaf_slot, value, true)?;
                    hints.push(PublicDataWriteHint {
                        leaf_slot,
                        value,
                        hint,
                    });
                }
                run.push((before, hints, public_data_tree.merkle().snapshot()?));
            }
            Ok(run)
        })();
        (nullifiers.join(), notes, public)
    });
    let nullifier_run = nullifier_run.map_err(|_| {
        Inner::Process(ProcessError::ThreadPanicked {
            block: g.block_number,
        })
    })??;
    let (note_hash_run, public_data_run) = (note_hash_run?, public_data_run?);

    let mut txs = Vec::with_capacity(accepted.len());
    let mut total_fees = Fr::ZERO;
    let mut effects = Vec::with_capacity(accepted.len() * 32);
    let mut out_leaves = Vec::new();
    for (((a, n), h), p) in accepted
        .iter()
        .zip(nullifier_run)
        .zip(note_hash_run)
        .zip(public_data_run)
    {
        total_fees = total_fees + a.tx.outputs.fee;
        effects.extend_from_slice(&a.tx.outputs.digest());
        for m in &a.tx.outputs.l2_to_l1_messages {
            let mut buf = [0u8; 64];
            buf[..32].copy_from_slice(&m.recipient.to_be_bytes());
            buf[32..].copy_from_slice(&m.content.to_be_bytes());
            out_leaves.push(sha256_to_field(&buf));
        }
        txs.push(ProcessedTx {
            tx_hash: a.hash,
            position: a.position,
            base_rollup_inputs: BaseRollupInputs {
                tx: a.tx.clone(),
                constants,
                start: PartialStateReference {
                    note_hash_tree: h.0,
                    nullifier_tree: n.0,
                    public_data_tree: p.0,
                },
                end: PartialStateReference {
                    note_hash_tree: h.2,
                    nullifier_tree: n.2,
                    public_data_tree: p.2,
                },
                note_hash_subtree_sibling_path: h.1,
                nullifier_insertion: n.1,
                public_data_writes: p.1,
                fee_payment: a.fee,
            },
        });
    }

    let trees = ws.trees_mut();
    let mut messages = block.l1_to_l2_messages.clone();
    messages.resize(L1_TO_L2_MESSAGES_PER_BLOCK, Fr::ZERO);
    let start_l1_to_l2 = trees.l1_to_l2_message.snapshot()?;
    let l1_to_l2_path = trees
        .l1_to_l2_message
        .append_subtree(&messages, L1_TO_L2_MESSAGE_SUBTREE_HEIGHT)?;
    let parity = ParityInputs {
        base: messages
            .chunks(L1_TO_L2_MESSAGES_PER_BASE_PARITY)
            .map(|c| BaseParityInputs {
                l1_to_l2_messages: c.to_vec(),
            })
            .collect(),
        sha_root: sha256_merkle_root(&messages),
        converted_root: merkle_root(&messages, L1_TO_L2_MESSAGE_SUBTREE_HEIGHT),
    };
    let end = ws.partial_state()?;
    let header = BlockHeader {
        last_archive,
        content_commitment: ContentCommitment {
            num_txs: txs.len() as u64,
            tx_effects_hash: sha256_to_field(&effects),
            in_hash: parity.sha_root,
            out_hash: sha256_merkle_root(&out_leaves),
        },
        state: ws.state_reference()?,
        global_variables: g,
        total_fees,
    };
    let archive = ws.trees_mut().archive;
    let new_archive_sibling_path = archive.append_leaf(header.hash())?;
    let new_archive = archive.snapshot()?;
    let block_root = BlockRootRollupInputs {
        constants,
        previous_header,
        previous_header_sibling_path,
        start_l1_to_l2_message_tree: start_l1_to_l2,
        l1_to_l2_messages: messages,
        l1_to_l2_message_subtree_sibling_path: l1_to_l2_path,
        start,
        end,
        header,
        new_archive_sibling_path,
        new_archive,
        tx_hashes: txs.iter().map(|t| t.tx_hash).collect(),
    };
    tracing::debug!(
        block = g.block_number,
        included = txs.len(),
        rejected = rejected.len(),
        "block processed"
    );
    Ok(ProcessedBlock {
        header,
        txs,
        rejected,
        parity,
        block_root,
    })
}
