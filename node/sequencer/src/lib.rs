//! The devnet sequencer: the chain a prover node follows, on a local L1.
//!
//! It accepts txs over JSON-RPC and P2P into a pool ([`pool`], checked by [`admission`]),
//! builds a block per slot from the pool in arrival order with the tx processor on its own
//! world state, proposes it to the Rollup ([`slots`], with the L2→L1 header mapping of
//! [`header`]), consumes L1→L2 messages from the Inbox ([`inbox`]), collects provers'
//! epoch proof quotes and claims the best valid one in the claim window ([`quotes`]),
//! serves contract addresses and txs by hash ([`rpc`]) and gossips txs and quotes
//! ([`provemesh_p2p`]). [`loadgen`] sends txs as wallets would; [`devnet`] wires it all
//! into `provemesh devnet --sequencer`.
//!
//! Devnet only: one sequencer per rollup, simulated client proofs, state in memory except
//! the world state. Not a production path of the prover node.

pub mod admission;
pub mod devnet;
mod error;
pub mod genesis;
pub mod header;
pub mod inbox;
pub mod loadgen;
mod node;
pub mod pool;
pub mod quotes;
mod rpc;
mod slots;
#[cfg(test)]
mod test_support;

pub use error::SequencerError;
pub use genesis::Genesis;
pub use node::{start, ClientProofCheck, SequencerConfig, SequencerEvent, SequencerHandle, Stats};
pub use slots::{l1_now, SLOT_MARGIN_SECS};
