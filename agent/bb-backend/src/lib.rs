//! Real proofs with Barretenberg, below the agent's `bb` backend.
//!
//! - [`crs`]: the INSECURE devnet CRS (powers of a publicly known τ) and its file format;
//! - [`patch`]: the INSECURE devnet copy of `bb` that verifies against that CRS;
//! - [`artifact`], [`abi`], [`circuits`]: the compiled Noir circuits of `circuits/artifacts`;
//! - [`witness`]: witness generation in Rust with Noir's ACVM;
//! - [`job`], [`proof`]: what a real-proof job carries and what it stores;
//! - [`bb`]: `bb` processes (prove, verify, write_vk, gates);
//! - `testing` (feature `testing`): the bootstrapped bb and a small devnet setup for tests.
//!
//! Txs' client proofs (the private kernel tail) are node-side: `provemesh-client-proofs`.

pub mod abi;
pub mod artifact;
pub mod bb;
pub mod circuits;
pub mod crs;
pub mod job;
pub mod patch;
pub mod proof;
#[cfg(feature = "testing")]
pub mod testing;
pub mod witness;
