//! What can go wrong in the archiver, and which of it is worth retrying.
//!
//! Transient errors (an L1 host down, slow or answering nonsense, the chain moving under a
//! read) make the sync loop try the next `ETHEREUM_HOSTS` URL and back off; everything
//! else stops the archiver with a message naming the variable, L1 block or L2 block at
//! fault. Messages never carry an L1 URL, only its scheme, host and port (URLs can embed
//! API keys).

use std::path::PathBuf;
use std::time::Duration;

/// An archive store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("archive database {path}: {source}")]
    Db {
        path: PathBuf,
        #[source]
        source: Box<redb::Error>,
    },
    #[error("archive database: {what} is unreadable ({reason}); remove the archive directory to rebuild it from L1")]
    Corrupt { what: String, reason: String },
    /// The events read from L1 do not fit the archive (a block that is not the next one);
    /// with a correct start block this cannot happen.
    #[error("L1 block {l1_block}: L2 block {l2_block} was proposed, but the archive's pending chain ends at block {pending}; the archive missed earlier events (is ARCHIVER_L1_START_BLOCK / the deployment's rollup_l1_block after the rollup's first blocks?)")]
    Gap {
        l1_block: u64,
        l2_block: u64,
        pending: u64,
    },
    #[error("the archive's writer task failed: {0}")]
    Task(String),
}

impl StoreError {
    pub(crate) fn db(path: &std::path::Path, e: impl Into<redb::Error>) -> Self {
        StoreError::Db {
            path: path.to_path_buf(),
            source: Box::new(e.into()),
        }
    }
}

/// Why the archiver stopped, or why one sync round failed.
#[derive(Debug, thiserror::Error)]
pub enum ArchiverError {
    /// A configured L1 node is on another chain. Fatal.
    #[error("L1_CHAIN_ID is {expected} but the L1 node at {host} (from ETHEREUM_HOSTS) reports chain id {actual}: point ETHEREUM_HOSTS at chain {expected} or fix L1_CHAIN_ID")]
    ChainIdMismatch {
        host: String,
        expected: u64,
        actual: u64,
    },
    /// The configured rollup address holds no contract on L1. Fatal.
    #[error("no contract at rollup address {address} on the L1 node at {host}: check {variable}")]
    NoRollupCode {
        host: String,
        address: String,
        variable: &'static str,
    },
    /// The data directory holds the archive of another rollup or chain. Fatal.
    #[error("the archive in {path} follows {stored}, but this node is configured for {configured}: point DATA_DIRECTORY elsewhere, or remove {path} to start over")]
    OtherDeployment {
        path: PathBuf,
        stored: String,
        configured: String,
    },
    /// A configuration built in code (not through [`crate::ArchiverArgs`]) is unusable.
    #[error(transparent)]
    Config(#[from] provemesh_common::config::ConfigError),
    #[error("the archiver is already running in this process")]
    AlreadyRunning,
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An L1 RPC call failed (transient: the next host is tried).
    #[error("L1 host {host}: {call} failed: {reason}")]
    Rpc {
        host: String,
        call: &'static str,
        /// The transport's message with the URL's credentials removed.
        reason: String,
    },
    /// An L1 RPC call took too long (transient).
    #[error("L1 host {host}: {call} timed out after {after:?}")]
    Timeout {
        host: String,
        call: &'static str,
        after: Duration,
    },
    /// The L1 node answered something that cannot be right (transient: another host may
    /// do better).
    #[error("L1 host {host}: {what}")]
    BadAnswer { host: String, what: String },
}

impl ArchiverError {
    /// Worth retrying (on another host, after a pause); everything else stops the archiver.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ArchiverError::Rpc { .. }
                | ArchiverError::Timeout { .. }
                | ArchiverError::BadAnswer { .. }
        )
    }
}
