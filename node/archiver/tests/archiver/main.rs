#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test
//! The archiver against a real L1 (anvil) with the rollup contracts deployed: it follows a
//! chain of several proven epochs, resumes after a restart where it stopped, rolls back L1
//! reorgs and applies L2 prunes (and reorgs that undo them), fails over between L1 URLs,
//! and refuses a wrong chain. Each test has its own anvil and archive directory.

mod support;

mod failover;
mod reorg;
mod sync;
