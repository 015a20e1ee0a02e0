//! The parts of the `provemesh` binary that other crates (integration tests, benchmarks)
//! drive directly.

pub mod synthetic;
