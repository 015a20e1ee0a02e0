#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test
//! One integration test binary for the whole workspace (one link, shared build): real
//! nats-server, S3 server and anvil processes on 127.0.0.1, started per test and stopped
//! by PID when the test ends.

mod archiver;
mod binaries;
mod cli;
mod dead_letters;
mod deploy;
mod harness;
mod mesh_basics;
mod mesh_chaos;
mod operator_jwt;
mod regions;
mod report;
mod security;
mod spot;
mod store_roles;
mod support;
mod telemetry;
mod tls;
