//! The Tx Processor: takes a block's txs (with their client proofs) and L1→L2 messages,
//! validates each tx — size, format, client proof, double spends against the state and
//! within the block, fee payable from the fee payer's fee juice balance — applies the
//! valid ones in order to the world state, and emits the complete proving inputs: per tx
//! the base rollup inputs (tx, start/end snapshots, low-leaf preimages and witnesses,
//! subtree sibling paths), per block the parity and block root inputs. Rejected txs are
//! reported with a typed reason and the rest of the block goes on.
//!
//! A crate of its own rather than a module of the world state: it knows the tx format,
//! fees and the circuits' input shapes, none of which the trees need, and the
//! orchestrator depends on its output types without pulling in the database.

pub mod inputs;
pub mod processor;
pub mod rejection;
pub mod verifier;

pub use inputs::{
    BaseParityInputs, BaseRollupInputs, BlockConstants, BlockRootRollupInputs, FeePayment,
    ParityInputs, ProcessedTx, PublicDataWriteHint,
};
pub use processor::{process_block, BlockToProcess, ProcessError, ProcessedBlock};
pub use rejection::{RejectedTx, TxRejection};
pub use verifier::{ClientProofVerifier, SimulatedClientProofVerifier};
