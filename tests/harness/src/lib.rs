//! Starts and stops the real servers provemesh runs against — `nats-server` (single and
//! clustered JetStream), the `s3s-fs` S3-compatible store, `moto` (an S3 server enforcing
//! per-key IAM policies) and `anvil` — for integration tests and for `provemesh devnet`.
//!
//! Every server listens on 127.0.0.1 on ports chosen free at start, logs to a file in its
//! own temporary directory, and is killed by PID when its handle drops (also while a test
//! panics, when the tail of its log is printed to help the failure's reader). The binaries
//! come from the repo-local `.tools/` that `scripts/bootstrap` fills.

mod anvil;
pub mod jwt;
mod link;
pub mod moto;
mod nats;
pub mod process;
mod s3;

pub use anvil::Anvil;
pub use link::LinkProxy;
pub use moto::{MotoS3, S3Keys};
pub use nats::{NatsCluster, NatsOptions, NatsServer, Supercluster, HUB_DOMAIN};
pub use process::{free_port, ServerProcess};
pub use s3::S3Server;

use std::path::PathBuf;

/// The harness could not provide a server.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error(
        "{tool} not found at {path}: run scripts/bootstrap (it installs every tool into .tools/)"
    )]
    ToolMissing { tool: String, path: String },
    #[error("cannot start {name}: {source}")]
    Spawn {
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{name} did not become ready within {secs}s; its log ({log}) ends with:\n{tail}")]
    NotReady {
        name: String,
        secs: u64,
        log: String,
        tail: String,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Starts a server, again on fresh ports when a start fails its readiness check: another
/// process may take a port between [`free_port`] choosing it and the server binding it.
pub(crate) fn with_port_retries<T>(
    mut start: impl FnMut() -> Result<T, HarnessError>,
) -> Result<T, HarnessError> {
    let mut attempt = 1;
    loop {
        match start() {
            Err(HarnessError::NotReady { .. }) if attempt < 3 => attempt += 1,
            other => return other,
        }
    }
}

/// The directory holding the bootstrapped tools: `$PROVEMESH_TOOLS_DIR`, else `.tools/` at
/// the workspace root (found from this crate's location at build time, or the current
/// directory's ancestors at run time).
pub fn tools_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("PROVEMESH_TOOLS_DIR") {
        return PathBuf::from(d);
    }
    let built = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.tools");
    if built.join("bin").is_dir() {
        return built;
    }
    let mut here = std::env::current_dir().unwrap_or_default();
    loop {
        if here.join(".tools/bin").is_dir() {
            return here.join(".tools");
        }
        if !here.pop() {
            return built;
        }
    }
}

/// Path of a bootstrapped tool, or a clear error telling how to install it.
pub fn tool(name: &str) -> Result<PathBuf, HarnessError> {
    let p = tools_dir().join("bin").join(name);
    if p.is_file() {
        Ok(p)
    } else {
        Err(HarnessError::ToolMissing {
            tool: name.into(),
            path: p.display().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn not_ready() -> HarnessError {
        HarnessError::NotReady {
            name: "x".into(),
            secs: 1,
            log: "l".into(),
            tail: String::new(),
        }
    }

    #[test]
    fn port_retries_retry_readiness_failures_only_and_at_most_three_times() {
        let mut calls = 0;
        let r = with_port_retries(|| {
            calls += 1;
            if calls < 3 {
                Err(not_ready())
            } else {
                Ok(calls)
            }
        });
        assert_eq!(r.unwrap(), 3);

        let mut calls = 0;
        let r: Result<(), _> = with_port_retries(|| {
            calls += 1;
            Err(not_ready())
        });
        assert!(matches!(r, Err(HarnessError::NotReady { .. })) && calls == 3);

        let mut calls = 0;
        let r: Result<(), _> = with_port_retries(|| {
            calls += 1;
            Err(HarnessError::ToolMissing {
                tool: "t".into(),
                path: "p".into(),
            })
        });
        assert!(
            matches!(r, Err(HarnessError::ToolMissing { .. })) && calls == 1,
            "not retried"
        );
    }
}
