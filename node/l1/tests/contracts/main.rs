#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test
//! The L1 contracts on a real chain (anvil), driven through provemesh-l1's bindings:
//! proposing, claiming on EIP-712 quotes, proving with simulated proofs, pruning and
//! slashing, and the Inbox/Outbox commitments. Each test deploys a fresh rollup on its
//! own anvil and moves L1 time with anvil's time control.

mod support;

mod deploy;
mod governance;
mod messages;
mod proofs;
mod propose;
mod prune;
mod quotes;
