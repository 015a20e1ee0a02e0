//! The publisher's configuration, checked once at start-up with errors that name the
//! field. Its `Debug` shows the signer's address and the endpoints' hosts only.

use super::PublishError;
use alloy::primitives::Address;
use alloy::signers::local::PrivateKeySigner;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

/// Geth refuses a replacement that raises the fees by less than 10%, other clients by less
/// than 12.5%; 13% clears both.
pub const MIN_FEE_BUMP_PERCENT: u64 = 13;

/// How the publisher reaches L1 and pays for the submission.
#[derive(Clone)]
pub struct PublisherConfig {
    /// L1 JSON-RPC endpoints (`ETHEREUM_HOSTS`), tried in order; the one that last answered
    /// is used first.
    pub l1_urls: Vec<Url>,
    /// The Rollup contract.
    pub rollup: Address,
    /// Signs the submissions and pays for them. Never printed: [`fmt::Debug`] shows its
    /// address only.
    pub signer: PrivateKeySigner,
    /// Where the per-epoch journals live (inside `DATA_DIRECTORY`): what a restarted node
    /// reads to find the transactions it had in flight.
    pub journal_dir: PathBuf,
    /// How long a transaction may stay unmined before it is replaced with higher fees.
    pub confirmation_timeout: Duration,
    /// How much each replacement raises both fees, in percent (at least
    /// [`MIN_FEE_BUMP_PERCENT`]).
    pub fee_bump_percent: u64,
    /// The most the publisher pays per gas (max fee and priority fee), in wei; `None`: no cap.
    pub max_fee_per_gas: Option<u128>,
    /// Transactions one publish sends (the first and its replacements) before it gives up;
    /// a round in which the cap leaves no room for a bump counts as one.
    pub max_attempts: u32,
    /// How often a pending transaction's receipt is looked for.
    pub poll_interval: Duration,
}

impl PublisherConfig {
    /// A configuration with defaults for a 12-second L1: replacement after four blocks
    /// unmined, 20% bumps, three transactions, no fee cap.
    pub fn new(
        l1_urls: Vec<Url>,
        rollup: Address,
        signer: PrivateKeySigner,
        journal_dir: PathBuf,
    ) -> Self {
        PublisherConfig {
            l1_urls,
            rollup,
            signer,
            journal_dir,
            confirmation_timeout: Duration::from_secs(48),
            fee_bump_percent: 20,
            max_fee_per_gas: None,
            max_attempts: 3,
            poll_interval: Duration::from_secs(2),
        }
    }

    /// Checks what start-up can check, naming the field that is wrong.
    pub(super) fn validate(&self) -> Result<(), PublishError> {
        let bad = |field: &'static str, reason: String| Err(PublishError::Config { field, reason });
        if self.l1_urls.is_empty() {
            return bad("l1_urls", "no L1 endpoint given (ETHEREUM_HOSTS)".into());
        }
        for url in &self.l1_urls {
            if !matches!(url.scheme(), "http" | "https") {
                return bad(
                    "l1_urls",
                    format!(
                        "{}: only http and https endpoints are supported",
                        redact(url)
                    ),
                );
            }
        }
        if self.fee_bump_percent < MIN_FEE_BUMP_PERCENT {
            return bad(
                "fee_bump_percent",
                format!(
                    "{}% is below {MIN_FEE_BUMP_PERCENT}%: nodes refuse such replacements",
                    self.fee_bump_percent
                ),
            );
        }
        if self.max_attempts == 0 {
            return bad("max_attempts", "must be at least 1".into());
        }
        if self.max_fee_per_gas == Some(0) {
            return bad("max_fee_per_gas", "a cap of 0 wei pays for nothing".into());
        }
        for (field, d) in [
            ("confirmation_timeout", self.confirmation_timeout),
            ("poll_interval", self.poll_interval),
        ] {
            if d.is_zero() {
                return bad(field, "must be longer than zero".into());
            }
        }
        Ok(())
    }
}

impl fmt::Debug for PublisherConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let urls: Vec<String> = self.l1_urls.iter().map(redact).collect();
        f.debug_struct("PublisherConfig")
            .field("l1_urls", &urls)
            .field("rollup", &self.rollup)
            .field("signer", &self.signer.address())
            .field("journal_dir", &self.journal_dir)
            .field("confirmation_timeout", &self.confirmation_timeout)
            .field("fee_bump_percent", &self.fee_bump_percent)
            .field("max_fee_per_gas", &self.max_fee_per_gas)
            .field("max_attempts", &self.max_attempts)
            .field("poll_interval", &self.poll_interval)
            .finish()
    }
}

/// `scheme://host[:port]`: what may be said about an L1 endpoint (its user, password, path
/// and query can hold API keys).
pub(super) fn redact(url: &Url) -> String {
    provemesh_archiver::l1::redact_url(url)
}
