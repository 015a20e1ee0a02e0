//! Configuration pieces shared by the `provemesh` and `provemesh-agent` binaries.
//!
//! Each concern is a `clap::Args` struct: every field is a flag with an `env = "…"` of the
//! seed's (or the mesh's own) variable name, its doc comment is the `--help` text, and its
//! `value_name` is the variable name, so clap's own parse errors name the variable.
//! Checks that need more than one field, or that must not echo the value (secrets), are in
//! `validate` methods returning [`ConfigError`].

mod log;
mod mesh;
mod nats;
mod otel;
mod secret;
mod store;
pub mod values;

pub use log::{LogArgs, LogLevel};
pub use mesh::MeshArgs;
pub use nats::NatsArgs;
pub use otel::OtelArgs;
pub use secret::Secret;
pub use store::{ProofStoreArgs, ProofStoreConfig, ProofStoreLocation};

/// A configuration value is unusable. The message names the variable (and flag) and says
/// what was wrong; for secrets it never contains the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {variable}: {reason}")]
pub struct ConfigError {
    /// The environment variable (or flag, when it has none) at fault.
    pub variable: &'static str,
    pub reason: String,
}

impl ConfigError {
    pub fn new(variable: &'static str, reason: impl Into<String>) -> Self {
        ConfigError {
            variable,
            reason: reason.into(),
        }
    }
}
