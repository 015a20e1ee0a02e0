//! Why a tx was left out of a block. Each reason names the offending value; the block
//! goes on without the tx.

use provemesh_common::hash::Fr;
use provemesh_common::tx::{ClientProofError, TxFormatError, TxHash};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxRejection {
    #[error("encoded tx is {size} bytes, at most {max} allowed")]
    TooLarge { size: usize, max: usize },
    #[error("malformed tx: {0}")]
    Format(#[from] TxFormatError),
    #[error("client proof rejected: {0}")]
    ClientProof(#[from] ClientProofError),
    #[error("nullifier {nullifier} is already in the nullifier tree (double spend)")]
    NullifierInState { nullifier: Fr },
    #[error("nullifier {nullifier} was already emitted by tx {by} earlier in this block")]
    NullifierInBlock { nullifier: Fr, by: TxHash },
    #[error("fee payer {fee_payer} has balance {balance}, cannot pay fee {fee}")]
    FeeNotPayable { fee_payer: Fr, balance: Fr, fee: Fr },
}

impl TxRejection {
    /// A stable short name for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            TxRejection::TooLarge { .. } => "too_large",
            TxRejection::Format(_) => "format",
            TxRejection::ClientProof(_) => "client_proof",
            TxRejection::NullifierInState { .. } => "nullifier_in_state",
            TxRejection::NullifierInBlock { .. } => "nullifier_in_block",
            TxRejection::FeeNotPayable { .. } => "fee_not_payable",
        }
    }
}

/// A tx left out, with where it was and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedTx {
    pub position: usize,
    /// `None` for a tx without nullifiers (it has no hash).
    pub tx_hash: Option<TxHash>,
    #[serde(serialize_with = "as_display")]
    pub reason: TxRejection,
}

fn as_display<S: serde::Serializer>(r: &TxRejection, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&r.to_string())
}
