//! What the tx processor emits for the orchestrator: per tx the complete base rollup
//! inputs, per block the parity and block root inputs. Everything a proving job needs is
//! in here — the orchestrator never reads the world state again.

use provemesh_common::hash::{
    AppendOnlyTreeSnapshot, BlockHeader, Fr, GlobalVariables, NullifierLeafPreimage,
    PartialStateReference, PublicDataLeafPreimage,
};
use provemesh_common::tx::{Tx, TxHash};
use provemesh_world_state::{BatchInsertionHints, SequentialInsertionHint};
use serde::{Deserialize, Serialize};

/// Values fixed for every tx of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockConstants {
    /// The archive before this block (txs may prove membership of older headers in it).
    pub last_archive: AppendOnlyTreeSnapshot,
    pub global_variables: GlobalVariables,
}

/// One public data write with its witnesses, in application order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicDataWriteHint {
    /// Public data tree key (the siloed storage slot).
    pub leaf_slot: Fr,
    pub value: Fr,
    pub hint: SequentialInsertionHint<PublicDataLeafPreimage>,
}

/// The fee payment: `fee` moves out of the fee payer's fee juice balance. Its write is
/// the last entry of [`BaseRollupInputs::public_data_writes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeePayment {
    pub fee_payer: Fr,
    pub balance_slot: Fr,
    pub balance_before: Fr,
    pub balance_after: Fr,
}

/// Everything the base rollup circuit of one tx takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseRollupInputs {
    /// The tx with its client proof (the circuit verifies the proof).
    pub tx: Tx,
    pub constants: BlockConstants,
    /// State before this tx; `end` is the state after it (the next tx's `start`).
    pub start: PartialStateReference,
    pub end: PartialStateReference,
    /// Sibling path of the tx's note hash subtree, inserted at
    /// `start.note_hash_tree.next_available_leaf_index`.
    pub note_hash_subtree_sibling_path: Vec<Fr>,
    /// Low-leaf witnesses and subtree path of the tx's nullifiers.
    pub nullifier_insertion: BatchInsertionHints<NullifierLeafPreimage>,
    /// The tx's public data writes, then the fee payment write.
    pub public_data_writes: Vec<PublicDataWriteHint>,
    pub fee_payment: FeePayment,
}

/// A tx included in the block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessedTx {
    pub tx_hash: TxHash,
    /// Position in the block's tx list as received.
    pub position: usize,
    pub base_rollup_inputs: BaseRollupInputs,
}

/// One base parity circuit's messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseParityInputs {
    pub l1_to_l2_messages: Vec<Fr>,
}

/// The parity circuits of a block: base parities over groups of messages, and the root
/// parity combining them into the sha256 root (L1's view) and the Poseidon2 subtree root
/// (inserted into the L1→L2 message tree).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParityInputs {
    pub base: Vec<BaseParityInputs>,
    pub sha_root: Fr,
    pub converted_root: Fr,
}

/// Everything the block root rollup circuit takes besides its children's proofs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRootRollupInputs {
    pub constants: BlockConstants,
    /// The previous block's header (the archive's last leaf before this block) and its
    /// sibling path: the block root checks the block continues from it.
    pub previous_header: BlockHeader,
    pub previous_header_sibling_path: Vec<Fr>,
    /// L1→L2 message tree before the block's messages, and the subtree's sibling path.
    pub start_l1_to_l2_message_tree: AppendOnlyTreeSnapshot,
    pub l1_to_l2_messages: Vec<Fr>,
    pub l1_to_l2_message_subtree_sibling_path: Vec<Fr>,
    /// State before the first tx and after the last (equal for an empty block).
    pub start: PartialStateReference,
    pub end: PartialStateReference,
    /// The header the block root produces, and where its hash goes in the archive.
    pub header: BlockHeader,
    pub new_archive_sibling_path: Vec<Fr>,
    pub new_archive: AppendOnlyTreeSnapshot,
    pub tx_hashes: Vec<TxHash>,
}
