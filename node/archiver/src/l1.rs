//! The archiver's view of L1: the `ETHEREUM_HOSTS` URLs in order, one of them in use at a
//! time, each call bounded by a timeout, each error scrubbed of the URL's credentials.
//!
//! Failover is sticky: the archiver stays on the host that works; a failed sync round
//! moves it to the next URL (wrapping around), and a host is asked for its chain id the
//! first time it is used — one on another chain stops the archiver. A whole round runs on
//! one host, so the blocks, hashes and logs it combines come from one node's view of the
//! chain.
//!
//! URLs often carry API keys (in the path, query or user info): only
//! [`redact_url`]'s scheme, host and port ever reach a log line, a metric or an error.

use crate::error::ArchiverError;
use alloy::primitives::{Address, B256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::{BlockNumberOrTag, Filter, Log};
use std::future::{Future, IntoFuture};
use std::time::Duration;
use url::Url;

/// `scheme://host[:port]` of `url`: what may be logged about an L1 endpoint.
pub fn redact_url(url: &Url) -> String {
    let host = url.host_str().unwrap_or("?");
    match url.port() {
        Some(p) => format!("{}://{host}:{p}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    }
}

/// One L1 endpoint.
pub(crate) struct Endpoint {
    /// [`redact_url`] of the URL.
    pub host: String,
    /// The parts of the URL that must not appear in messages.
    secrets: Vec<String>,
    provider: DynProvider,
    timeout: Duration,
    /// Its chain id was checked.
    pub checked: bool,
}

impl Endpoint {
    fn new(url: &Url, timeout: Duration) -> Self {
        let mut secrets = vec![url.as_str().to_string()];
        let bare = url.as_str().trim_end_matches('/').to_string();
        secrets.push(bare);
        if let Some(p) = url.password() {
            secrets.push(p.to_string());
        }
        if !url.username().is_empty() {
            secrets.push(url.username().to_string());
        }
        if url.path().len() > 1 {
            secrets.push(url.path().to_string());
        }
        if let Some(q) = url.query() {
            secrets.push(q.to_string());
        }
        secrets.retain(|s| !s.is_empty());
        // Longest first, so the whole URL goes before its parts.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Endpoint {
            host: redact_url(url),
            secrets,
            provider: provemesh_l1::read_provider(url.clone()),
            timeout,
            checked: false,
        }
    }

    /// `text` with every credential-bearing part of the URL replaced.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            out = out.replace(s.as_str(), "[redacted]");
        }
        out
    }

    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// Runs an RPC call with this endpoint's timeout, mapping failures to transient
    /// errors that name the host and the call.
    pub async fn call<T, E: std::fmt::Display>(
        &self,
        call: &'static str,
        fut: impl Future<Output = Result<T, E>>,
    ) -> Result<T, ArchiverError> {
        match tokio::time::timeout(self.timeout, fut).await {
            Err(_) => Err(ArchiverError::Timeout {
                host: self.host.clone(),
                call,
                after: self.timeout,
            }),
            Ok(Err(e)) => Err(ArchiverError::Rpc {
                host: self.host.clone(),
                call,
                reason: self.scrub(&e.to_string()),
            }),
            Ok(Ok(v)) => Ok(v),
        }
    }

    pub async fn chain_id(&self) -> Result<u64, ArchiverError> {
        self.call("eth_chainId", self.provider.get_chain_id().into_future())
            .await
    }

    pub async fn latest_block(&self) -> Result<u64, ArchiverError> {
        self.call(
            "eth_blockNumber",
            self.provider.get_block_number().into_future(),
        )
        .await
    }

    /// The hash of the node's canonical block `number` (`None` past its head).
    pub async fn block_hash(&self, number: u64) -> Result<Option<B256>, ArchiverError> {
        let block = self
            .call(
                "eth_getBlockByNumber",
                self.provider
                    .get_block_by_number(BlockNumberOrTag::Number(number))
                    .into_future(),
            )
            .await?;
        match block {
            None => Ok(None),
            Some(b) if b.header.number != number => Err(ArchiverError::BadAnswer {
                host: self.host.clone(),
                what: format!("asked for L1 block {number}, got block {}", b.header.number),
            }),
            Some(b) => Ok(Some(b.header.hash)),
        }
    }

    pub async fn has_code(&self, address: Address) -> Result<bool, ArchiverError> {
        let code = self
            .call(
                "eth_getCode",
                self.provider.get_code_at(address).into_future(),
            )
            .await?;
        Ok(!code.is_empty())
    }

    /// The logs of `addresses` in L1 blocks `from..=to`, checked to lie in that range.
    pub async fn logs(
        &self,
        addresses: Vec<Address>,
        from: u64,
        to: u64,
    ) -> Result<Vec<Log>, ArchiverError> {
        let filter = Filter::new()
            .address(addresses)
            .from_block(from)
            .to_block(to);
        let logs = self
            .call("eth_getLogs", self.provider.get_logs(&filter))
            .await?;
        if let Some(l) = logs.iter().find(|l| {
            l.removed || l.block_number.is_none_or(|n| n < from || n > to) || l.block_hash.is_none()
        }) {
            return Err(ArchiverError::BadAnswer {
                host: self.host.clone(),
                what: format!(
                    "eth_getLogs for L1 blocks {from}..={to} returned a log of block {:?} (removed: {})",
                    l.block_number, l.removed
                ),
            });
        }
        Ok(logs)
    }
}

/// The configured endpoints and the one in use.
pub(crate) struct Endpoints {
    list: Vec<Endpoint>,
    current: usize,
}

impl Endpoints {
    pub fn new(urls: &[Url], timeout: Duration) -> Self {
        Endpoints {
            list: urls.iter().map(|u| Endpoint::new(u, timeout)).collect(),
            current: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn current(&mut self) -> &mut Endpoint {
        // `list` is never empty: the configuration requires at least one URL.
        &mut self.list[self.current]
    }

    /// Moves to the next URL (after the current one failed).
    pub fn rotate(&mut self) {
        self.current = (self.current + 1) % self.list.len().max(1);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn redaction_keeps_only_scheme_host_and_port() {
        let u: Url = "https://user:pa55word@eth.example.org:8443/v3/0123456789abcdef?key=zzz"
            .parse()
            .unwrap();
        assert_eq!(redact_url(&u), "https://eth.example.org:8443");
        let u: Url = "http://127.0.0.1:8545".parse().unwrap();
        assert_eq!(redact_url(&u), "http://127.0.0.1:8545");
        let u: Url = "https://mainnet.infura.io/v3/abcdef".parse().unwrap();
        assert_eq!(redact_url(&u), "https://mainnet.infura.io");
    }

    #[test]
    fn scrub_removes_credentials_from_messages() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let u: Url = "https://user:pa55word@eth.example.org/v3/0123456789abcdef?key=zzz"
            .parse()
            .unwrap();
        let e = Endpoint::new(&u, Duration::from_secs(1));
        let msg = format!(
            "error sending request for url ({u}): connection refused; path {}",
            u.path()
        );
        let s = e.scrub(&msg);
        for secret in ["pa55word", "0123456789abcdef", "key=zzz", "user:"] {
            assert!(!s.contains(secret), "{s}");
        }
        assert!(s.contains("connection refused"), "{s}");
    }
}
