//! Errors of L1 calls: which contract and call failed, and — when the chain reverted — the
//! contract's named custom error, decoded, so a caller can match on it and a log line says
//! `Rollup__QuoteExpired { validUntilSlot: 3, currentSlot: 5 }` rather than hex.

use crate::bindings::{
    Inbox::InboxErrors, Outbox::OutboxErrors, ProofCommitmentEscrow::ProofCommitmentEscrowErrors,
    Rollup::RollupErrors, SimulatedVerifier::SimulatedVerifierErrors, TestERC20::TestERC20Errors,
};
use alloy::primitives::{Bytes, TxHash};
use alloy::sol_types::SolInterface;
use std::fmt;

/// A revert decoded into the custom error of the contract that raised it. A call into the
/// Rollup can revert with another contract's error (the escrow's, the verifier's), which
/// bubbles up unchanged, so every contract's errors are tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revert {
    Rollup(RollupErrors),
    Escrow(ProofCommitmentEscrowErrors),
    Inbox(InboxErrors),
    Outbox(OutboxErrors),
    Verifier(SimulatedVerifierErrors),
    Token(TestERC20Errors),
    /// Revert data no provemesh contract declares (a real Honk verifier's, a panic, …).
    Unknown(Bytes),
}

impl Revert {
    /// Decodes revert data against every provemesh contract's errors.
    pub fn decode(data: &[u8]) -> Self {
        if let Ok(e) = RollupErrors::abi_decode(data) {
            Revert::Rollup(e)
        } else if let Ok(e) = ProofCommitmentEscrowErrors::abi_decode(data) {
            Revert::Escrow(e)
        } else if let Ok(e) = InboxErrors::abi_decode(data) {
            Revert::Inbox(e)
        } else if let Ok(e) = OutboxErrors::abi_decode(data) {
            Revert::Outbox(e)
        } else if let Ok(e) = SimulatedVerifierErrors::abi_decode(data) {
            Revert::Verifier(e)
        } else if let Ok(e) = TestERC20Errors::abi_decode(data) {
            Revert::Token(e)
        } else {
            Revert::Unknown(Bytes::copy_from_slice(data))
        }
    }
}

impl fmt::Display for Revert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The generated enums' Debug reads `Variant(Variant { field: value, .. })`; the inner
        // struct alone says it all.
        fn inner(s: String) -> String {
            match (s.find('('), s.ends_with(')')) {
                (Some(i), true) => s[i + 1..s.len() - 1].to_string(),
                _ => s,
            }
        }
        match self {
            Revert::Rollup(e) => f.write_str(&inner(format!("{e:?}"))),
            Revert::Escrow(e) => f.write_str(&inner(format!("{e:?}"))),
            Revert::Inbox(e) => f.write_str(&inner(format!("{e:?}"))),
            Revert::Outbox(e) => f.write_str(&inner(format!("{e:?}"))),
            Revert::Verifier(e) => f.write_str(&inner(format!("{e:?}"))),
            Revert::Token(e) => f.write_str(&inner(format!("{e:?}"))),
            Revert::Unknown(data) => write!(f, "unknown revert data {data}"),
        }
    }
}

/// An L1 call or transaction failed.
#[derive(Debug, thiserror::Error)]
pub enum L1Error {
    /// The chain rejected the call (during gas estimation, `eth_call`, or a deployment).
    #[error("{contract}.{call}: reverted: {revert}")]
    Reverted {
        contract: &'static str,
        call: &'static str,
        /// Boxed: the decoded error enums are large, and so would every `Result` be.
        revert: Box<Revert>,
    },
    /// The transaction was mined but failed.
    #[error("{contract}.{call}: transaction {tx_hash} failed on chain")]
    FailedOnChain {
        contract: &'static str,
        call: &'static str,
        tx_hash: TxHash,
    },
    /// A deployment's receipt names no contract address.
    #[error("deploying {contract}: the receipt names no contract address")]
    NotDeployed { contract: &'static str },
    /// The RPC endpoint failed (connection, timeout, malformed answer).
    #[error("{contract}.{call}: {source}")]
    Rpc {
        contract: &'static str,
        call: &'static str,
        /// Boxed for the same reason as `revert`.
        #[source]
        source: Box<alloy::contract::Error>,
    },
    /// Signing an epoch proof quote failed.
    #[error("signing the epoch proof quote for epoch {epoch}: {source}")]
    Sign {
        epoch: u64,
        #[source]
        source: alloy::signers::Error,
    },
    /// A signature could not be recovered to an address.
    #[error("epoch proof quote for epoch {epoch}: bad signature: {reason}")]
    BadSignature { epoch: u64, reason: String },
    /// A compiled contract in `contracts/out` is not what the code expects.
    #[error("{contract}: compiled artifact: {reason} (rebuild with scripts/contracts)")]
    Artifact {
        contract: &'static str,
        reason: String,
    },
}

impl L1Error {
    /// Classifies a contract error: a revert with data becomes [`L1Error::Reverted`].
    pub fn from_contract(
        contract: &'static str,
        call: &'static str,
        source: alloy::contract::Error,
    ) -> Self {
        match source.as_revert_data() {
            Some(data) => L1Error::Reverted {
                contract,
                call,
                revert: Box::new(Revert::decode(&data)),
            },
            None => L1Error::Rpc {
                contract,
                call,
                source: Box::new(source),
            },
        }
    }

    /// The decoded revert, when the chain rejected the call.
    pub fn revert(&self) -> Option<&Revert> {
        match self {
            L1Error::Reverted { revert, .. } => Some(revert.as_ref()),
            _ => None,
        }
    }
}
