//! What can go wrong publishing: each variant names the epoch and, for L1 trouble, the
//! call and the (redacted) endpoint, so a log line says what to look at.

use super::endpoints::CallError;
use alloy::primitives::{Address, B256};
use provemesh_l1::Revert;
use std::path::PathBuf;
use std::time::Duration;

/// Why a publish did not get the proof onto L1.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("L1 publisher configuration: {field}: {reason}")]
    Config { field: &'static str, reason: String },
    /// The Rollup refuses this submission (window closed, wrong public inputs, bad proof):
    /// sending it again would fail the same way, so nothing was sent.
    #[error("epoch {epoch}: the Rollup rejects the root proof submission: {revert}")]
    Rejected { epoch: u64, revert: Box<Revert> },
    /// No endpoint answered (after retries); the journal keeps what was in flight.
    #[error("epoch {epoch}: {call}: no L1 endpoint answered ({hosts}); last error: {last}")]
    Unreachable {
        epoch: u64,
        call: &'static str,
        hosts: String,
        last: String,
    },
    /// An endpoint answered with an error other than a contract revert.
    #[error("epoch {epoch}: {call} refused by {host}: {message}")]
    Refused {
        epoch: u64,
        call: &'static str,
        host: String,
        message: String,
    },
    /// The transaction was mined and reverted (L1 changed between the estimate and the
    /// block); its nonce is spent, so a new publish starts afresh.
    #[error("epoch {epoch}: root proof transaction {tx_hash} reverted on chain")]
    FailedOnChain { epoch: u64, tx_hash: B256 },
    /// Every allowed transaction stayed unmined; the journal keeps them, and a later
    /// publish resumes with the same nonce.
    #[error(
        "epoch {epoch}: nonce {nonce} not mined after {attempts} transactions (last {last_tx}, \
         {timeout:?} each); a later publish resumes them"
    )]
    NotMined {
        epoch: u64,
        nonce: u64,
        attempts: u32,
        last_tx: B256,
        timeout: Duration,
    },
    /// A transaction this publisher did not send took the journaled nonce (the key is used
    /// elsewhere too); the journal was dropped, a new publish picks a new nonce.
    #[error("epoch {epoch}: nonce {nonce} of {sender} was used by a transaction this publisher did not send")]
    NonceTaken {
        epoch: u64,
        nonce: u64,
        sender: Address,
    },
    /// Building or signing the transaction failed.
    #[error("epoch {epoch}: signing the root proof transaction: {message}")]
    Sign { epoch: u64, message: String },
    #[error("L1 publisher journal {path}: {source}")]
    Journal {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A journal that does not parse: what was in flight is unknown, so nothing is sent
    /// until an operator looks (the account's pending transactions) and removes the file.
    #[error("L1 publisher journal {path} is unreadable ({reason}); check the prover account's pending transactions and remove it")]
    JournalCorrupt { path: PathBuf, reason: String },
    /// The caller cancelled; a transaction already broadcast may still land, and the
    /// journal lets the next publish find it.
    #[error("epoch {epoch}: publishing cancelled")]
    Cancelled { epoch: u64 },
}

impl PublishError {
    pub(super) fn from_call(epoch: u64, call: &'static str, e: CallError) -> Self {
        match e {
            CallError::Reverted(revert) => PublishError::Rejected { epoch, revert },
            CallError::Refused { host, message } => PublishError::Refused {
                epoch,
                call,
                host,
                message,
            },
            CallError::Unreachable { hosts, last } => PublishError::Unreachable {
                epoch,
                call,
                hosts,
                last,
            },
            CallError::Cancelled => PublishError::Cancelled { epoch },
        }
    }
}
