//! The devnet sequencer against a real anvil: blocks of generated txs on L1, txs by hash
//! over JSON-RPC and libp2p, quotes collected and the best valid one claimed, prunes
//! followed. One test binary; each test starts its own anvil on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod blocks;
mod claims;
mod governance;
mod p2p;
mod prune;
mod startup;
mod support;
