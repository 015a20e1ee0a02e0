//! The prover node against real servers: anvil with the rollup deployed, the devnet
//! sequencer, nats-server with JetStream, a proof store and simulated agents. One test
//! binary; each test starts its own servers on 127.0.0.1 and stops them by PID.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod binary;
mod epochs;
mod publisher;
mod quotes;
mod rpc;
mod support;
mod system;
mod tx_provider;
