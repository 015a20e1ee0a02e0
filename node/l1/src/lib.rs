//! provemesh's L1 contracts from Rust.
//!
//! The rollup lives on L1: the sequencer proposes blocks to `Rollup`, provers quote and
//! get claimed, the prover node submits epoch root proofs, the archiver follows the
//! events. This crate is the one place that speaks the contracts' ABI, so those
//! components share one typed view of it:
//!
//! - [`bindings`]: the `sol!` bindings generated from the checked-in artifacts;
//! - [`connect`]: providers that survive reverted transactions (no nonce gaps);
//! - [`deploy`]: [`deploy_all`] puts a whole rollup on a chain (token, escrow, verifier,
//!   rollup, Inbox, Outbox, GovernanceProposer), for devnets and tests;
//! - [`quote`]: EIP-712 epoch proof quotes — the prover signs, anyone verifies;
//! - [`rollup`], [`messages`], [`governance`]: thin typed wrappers over the calls and events the node,
//!   the sequencer and the archiver use;
//! - [`public_inputs`], [`hash`]: the epoch proof's public-input layout and the hashes
//!   (sha256-to-field, Merkle roots, Inbox rolling hash) the contracts compute, mirrored
//!   so the L2 side produces what L1 checks;
//! - [`dev_chain`]: anvil time control for devnets and tests.
//!
//! Errors say which contract and call failed and decode the revert into the contract's
//! named custom error ([`Revert`]).

pub mod bindings;
pub mod connect;
pub mod deploy;
pub mod dev_chain;
mod error;
pub mod governance;
pub mod hash;
mod honk;
pub mod messages;
pub mod public_inputs;
pub mod quote;
pub mod rollup;

pub use bindings::Rollup::{
    BlockHeader, BlockLog, ChainTips, ContentCommitment, EpochProofPublicInputs, EpochProofQuote,
    GlobalVariables, ProofClaim, ProposeArgs, Signature, SignedEpochProofQuote, StateReference,
    TreeSnapshot,
};
pub use connect::{
    fallback_read_provider, fallback_wallet_provider, read_provider, wallet_provider,
};
pub use deploy::{deploy_all, DeployConfig, Deployment, VerifierChoice};
pub use error::{L1Error, Revert};
pub use governance::{governance_revert, GovernanceProposerContract, Vote};
pub use honk::deploy_honk_verifier;
pub use messages::{InboxContract, OutboxContract, SentMessage};
pub use quote::{quote_domain, recover_quote_signer, sign_quote};
pub use rollup::{L1Log, RollupContract, RollupTiming, Tips};
