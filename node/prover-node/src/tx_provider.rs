//! The tx provider: the txs of a block, by hash, for re-execution.
//!
//! L1 records a block's tx hashes, not its txs, so before the world state can re-execute a
//! block the node must fetch every tx from somewhere that still has it: the node that
//! sequences the chain (its JSON-RPC, AZTEC_NODE_URL) or the pools of P2P peers. Sources
//! are asked in the order given (the operator's preference) for what is still missing,
//! in batches of at most [`MAX_HASHES_PER_REQUEST`]; the txs still missing after a round
//! are asked again of every source after a pause, until the caller's deadline.
//!
//! Nothing a source answers is trusted: a tx counts only if it hashes to the hash it was
//! asked for (a hostile or buggy node could answer another valid tx, which would make the
//! re-executed block differ from L1's and the epoch look unprovable). A wrong answer is
//! dropped, logged naming the source, and the tx asked of the other sources. A source that
//! errors or times out is skipped for the round; only the deadline ends the search.
//!
//! Source URLs often carry API keys: only their scheme, host and port
//! ([`redact_url`]) reach logs, metrics and errors.
//!
//! Metrics (global meter, stable names):
//! - `provemesh.tx_provider.txs.fetched` [source]: txs taken from a source;
//! - `provemesh.tx_provider.txs.missed` [source]: txs asked of a source it did not have;
//! - `provemesh.tx_provider.answers.rejected` [source]: txs answered that were not the ones
//!   asked for (wrong hash), and answers of the wrong length;
//! - `provemesh.tx_provider.requests.failed` [source, reason]: requests that errored or
//!   timed out.

use backon::{ConstantBuilder, Retryable};
use jsonrpsee::http_client::HttpClient;
use opentelemetry::metrics::Counter;
use opentelemetry::{global, KeyValue};
use provemesh_archiver::l1::redact_url;
use provemesh_common::tx::{Tx, TxHash};
use provemesh_p2p::api::MAX_HASHES_PER_REQUEST;
use provemesh_p2p::wire::HexTxHash;
use provemesh_p2p::{NodeApiClient, P2pHandle};
use std::fmt;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};
use url::Url;

/// How many missing hashes an error message lists before "and N more".
const HASHES_SHOWN: usize = 3;

/// Where txs can be fetched from.
pub enum TxSource {
    /// A node's JSON-RPC (`node_getTxsByHash`), e.g. AZTEC_NODE_URL.
    Node { url: Url, client: HttpClient },
    /// The pools of connected libp2p peers (request-response, `/provemesh/req/txs/1`).
    P2p(P2pHandle),
}

impl TxSource {
    /// A node's JSON-RPC at `url`, each request bounded by `request_timeout`.
    pub fn node(url: Url, request_timeout: Duration) -> Result<Self, TxProviderError> {
        let client = provemesh_p2p::http_client(url.as_str(), request_timeout).map_err(|e| {
            TxProviderError::Client {
                url: redact_url(&url),
                reason: scrub(&e.to_string(), &url),
            }
        })?;
        Ok(TxSource::Node { url, client })
    }

    /// The source as logs and errors name it (credentials removed).
    pub fn name(&self) -> String {
        match self {
            TxSource::Node { url, .. } => format!("node {}", redact_url(url)),
            TxSource::P2p(h) => format!("p2p {}", h.peer_id()),
        }
    }

    /// The metric label.
    fn kind(&self) -> &'static str {
        match self {
            TxSource::Node { .. } => "node",
            TxSource::P2p(_) => "p2p",
        }
    }

    /// Asks for `hashes` (at most [`MAX_HASHES_PER_REQUEST`]); one entry per hash, `None`
    /// where the source does not have it. The error message is free of credentials.
    async fn fetch(&self, hashes: &[TxHash]) -> Result<Vec<Option<Tx>>, String> {
        match self {
            TxSource::Node { url, client } => {
                let asked = hashes.iter().copied().map(HexTxHash).collect();
                client
                    .txs_by_hash(asked)
                    .await
                    .map(|txs| txs.into_iter().map(|t| t.map(|t| t.0)).collect())
                    .map_err(|e| scrub(&e.to_string(), url))
            }
            TxSource::P2p(handle) => handle.fetch_txs(hashes).await.map_err(|e| e.to_string()),
        }
    }
}

/// Removes `url` (whole, and without its trailing slash) from `message`: client errors may
/// quote the URL they failed on, API key included.
fn scrub(message: &str, url: &Url) -> String {
    let whole = url.as_str();
    let bare = whole.trim_end_matches('/');
    message
        .replace(whole, &redact_url(url))
        .replace(bare, &redact_url(url))
}

/// How hard the provider tries.
#[derive(Debug, Clone, Copy)]
pub struct TxProviderConfig {
    /// Bound of one request to one source; a source slower than this is skipped for the
    /// round.
    pub request_timeout: Duration,
    /// Pause between rounds when txs are still missing (they may reach a pool meanwhile).
    pub retry_interval: Duration,
}

impl Default for TxProviderConfig {
    fn default() -> Self {
        TxProviderConfig {
            request_timeout: Duration::from_secs(5),
            retry_interval: Duration::from_secs(1),
        }
    }
}

/// Why txs could not be provided.
#[derive(Debug, thiserror::Error)]
pub enum TxProviderError {
    /// Some txs were not found in any source by the deadline.
    #[error(
        "{} tx(s) not found by the deadline ({}); sources tried: {}",
        .missing.len(),
        shown(.missing),
        sources_list(.sources)
    )]
    Unavailable {
        /// The hashes still missing, in the order asked.
        missing: Vec<TxHash>,
        /// The sources, as [`TxSource::name`] gives them.
        sources: Vec<String>,
    },
    /// The caller cancelled the request.
    #[error("tx request cancelled")]
    Cancelled,
    /// A node source could not be set up.
    #[error("tx source {url}: {reason}")]
    Client { url: String, reason: String },
}

fn shown(missing: &[TxHash]) -> String {
    let mut s = missing
        .iter()
        .take(HASHES_SHOWN)
        .map(|h| h.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    if missing.len() > HASHES_SHOWN {
        s.push_str(&format!(" and {} more", missing.len() - HASHES_SHOWN));
    }
    s
}

fn sources_list(sources: &[String]) -> String {
    if sources.is_empty() {
        "none configured".to_string()
    } else {
        sources.join(", ")
    }
}

/// Fetches txs by hash from its sources, checking each answer (see the module docs).
pub struct TxProvider {
    sources: Vec<TxSource>,
    cfg: TxProviderConfig,
}

impl fmt::Debug for TxProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self.sources.iter().map(TxSource::name).collect();
        f.debug_struct("TxProvider")
            .field("sources", &names)
            .field("cfg", &self.cfg)
            .finish()
    }
}

/// A round ended with txs still missing (the retry's error: try again).
#[derive(Debug)]
struct Incomplete(usize);

impl TxProvider {
    /// A provider asking `sources` in this order of preference.
    pub fn new(sources: Vec<TxSource>, cfg: TxProviderConfig) -> Self {
        TxProvider { sources, cfg }
    }

    /// All txs of `hashes`, in order, or an error naming the missing ones and the sources
    /// tried. Returns by `deadline` (give or take a scheduling tick) and as soon as
    /// `cancel` fires; no single source's failure ends the search early.
    #[tracing::instrument(name = "tx_provider", skip_all, fields(txs = hashes.len()))]
    pub async fn txs(
        &self,
        hashes: &[TxHash],
        deadline: Instant,
        cancel: &CancellationToken,
    ) -> Result<Vec<Tx>, TxProviderError> {
        let found: Mutex<Vec<Option<Tx>>> = Mutex::new(vec![None; hashes.len()]);
        let search = (|| self.round(hashes, &found))
            .retry(
                ConstantBuilder::new()
                    .with_delay(self.cfg.retry_interval)
                    .without_max_times(),
            )
            .notify(|Incomplete(n), pause| {
                debug!(missing = n, ?pause, "txs still missing, asking again")
            });
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(TxProviderError::Cancelled),
            // Timing out leaves `found` as the last round left it.
            _ = tokio::time::timeout_at(deadline, search) => {}
        }
        let found = found.into_inner().unwrap_or_else(|p| p.into_inner());
        let missing: Vec<TxHash> = hashes
            .iter()
            .zip(&found)
            .filter(|(_, t)| t.is_none())
            .map(|(h, _)| *h)
            .collect();
        match found.into_iter().collect::<Option<Vec<Tx>>>() {
            Some(txs) => Ok(txs),
            None => {
                let sources = self.sources.iter().map(TxSource::name).collect();
                let e = TxProviderError::Unavailable { missing, sources };
                warn!("{e}");
                Err(e)
            }
        }
    }

    /// Asks every source, in order, for what is still missing in `found`.
    async fn round(
        &self,
        hashes: &[TxHash],
        found: &Mutex<Vec<Option<Tx>>>,
    ) -> Result<(), Incomplete> {
        let missing_now = || -> Vec<usize> {
            let f = found.lock().unwrap_or_else(|p| p.into_inner());
            (0..hashes.len()).filter(|&i| f[i].is_none()).collect()
        };
        for source in &self.sources {
            let missing = missing_now();
            if missing.is_empty() {
                break;
            }
            for chunk in missing.chunks(MAX_HASHES_PER_REQUEST) {
                let asked: Vec<TxHash> = chunk.iter().map(|&i| hashes[i]).collect();
                let Some(answer) = self.ask(source, &asked).await else {
                    // Skip the source for this round: its other batches would likely fail
                    // the same way and only delay the next source.
                    break;
                };
                let mut f = found.lock().unwrap_or_else(|p| p.into_inner());
                for (j, tx) in answer {
                    f[chunk[j]] = Some(tx);
                }
            }
        }
        match missing_now().len() {
            0 => Ok(()),
            n => Err(Incomplete(n)),
        }
    }

    /// One request: the txs of `asked` the source had and that hash right (index into
    /// `asked`, tx); `None` when the request failed or the answer was unusable.
    async fn ask(&self, source: &TxSource, asked: &[TxHash]) -> Option<Vec<(usize, Tx)>> {
        let kind = source.kind();
        let m = metrics();
        let answer = match tokio::time::timeout(self.cfg.request_timeout, source.fetch(asked)).await
        {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => {
                m.failed(kind, "error");
                debug!(source = %source.name(), "tx request failed: {e}");
                return None;
            }
            Err(_) => {
                m.failed(kind, "timeout");
                debug!(
                    source = %source.name(),
                    timeout = ?self.cfg.request_timeout,
                    "tx request timed out"
                );
                return None;
            }
        };
        if answer.len() != asked.len() {
            m.rejected(kind, 1);
            warn!(
                source = %source.name(),
                asked = asked.len(),
                answered = answer.len(),
                "tx answer of the wrong length dropped"
            );
            return None;
        }
        let mut good = Vec::new();
        let mut missed = 0;
        for (i, (want, tx)) in asked.iter().zip(answer).enumerate() {
            match tx {
                None => missed += 1,
                Some(tx) if tx.hash() == Some(*want) => good.push((i, tx)),
                Some(tx) => {
                    m.rejected(kind, 1);
                    let got = tx.hash().map_or("none".to_string(), |h| h.to_string());
                    warn!(
                        source = %source.name(),
                        asked = %want,
                        got,
                        "tx answered is not the one asked for; dropped"
                    );
                }
            }
        }
        m.fetched(kind, good.len());
        m.missed(kind, missed);
        Some(good)
    }
}

struct TxProviderMetrics {
    fetched: Counter<u64>,
    missed: Counter<u64>,
    rejected: Counter<u64>,
    failed: Counter<u64>,
}

/// The instruments, created on first use (after the binary installed its meter provider).
fn metrics() -> &'static TxProviderMetrics {
    static M: OnceLock<TxProviderMetrics> = OnceLock::new();
    M.get_or_init(|| {
        let m = global::meter("provemesh");
        TxProviderMetrics {
            fetched: m
                .u64_counter("provemesh.tx_provider.txs.fetched")
                .with_description("Txs fetched by hash, per source kind (node, p2p)")
                .build(),
            missed: m
                .u64_counter("provemesh.tx_provider.txs.missed")
                .with_description("Txs asked of a source that did not have them")
                .build(),
            rejected: m
                .u64_counter("provemesh.tx_provider.answers.rejected")
                .with_description(
                    "Answers dropped: a tx other than the one asked for, or a wrong-length answer",
                )
                .build(),
            failed: m
                .u64_counter("provemesh.tx_provider.requests.failed")
                .with_description("Tx requests to a source that errored or timed out")
                .build(),
        }
    })
}

impl TxProviderMetrics {
    fn fetched(&self, source: &'static str, n: usize) {
        if n > 0 {
            self.fetched
                .add(n as u64, &[KeyValue::new("source", source)]);
        }
    }

    fn missed(&self, source: &'static str, n: usize) {
        if n > 0 {
            self.missed
                .add(n as u64, &[KeyValue::new("source", source)]);
        }
    }

    fn rejected(&self, source: &'static str, n: u64) {
        self.rejected.add(n, &[KeyValue::new("source", source)]);
    }

    fn failed(&self, source: &'static str, reason: &'static str) {
        self.failed.add(
            1,
            &[
                KeyValue::new("source", source),
                KeyValue::new("reason", reason),
            ],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use provemesh_common::hash::Fr;

    #[test]
    fn unavailable_names_the_first_missing_hashes_and_the_sources() {
        let missing: Vec<TxHash> = (1..=5u64).map(|i| TxHash(Fr::from(i))).collect();
        let e = TxProviderError::Unavailable {
            missing: missing.clone(),
            sources: vec!["node http://10.0.0.1:8080".into(), "p2p 12D3".into()],
        };
        let s = e.to_string();
        assert!(s.starts_with("5 tx(s) not found"), "{s}");
        for h in &missing[..HASHES_SHOWN] {
            assert!(s.contains(&h.to_string()), "{s}");
        }
        assert!(!s.contains(&missing[4].to_string()), "{s}");
        assert!(s.contains("and 2 more"), "{s}");
        assert!(s.contains("node http://10.0.0.1:8080, p2p 12D3"), "{s}");
        let none = TxProviderError::Unavailable {
            missing: missing[..1].to_vec(),
            sources: vec![],
        };
        assert!(none.to_string().ends_with("sources tried: none configured"));
    }

    #[test]
    fn node_sources_are_named_without_credentials() {
        let url: Url = "https://user:secret@rpc.example:8443/key/abc?apikey=xyz"
            .parse()
            .unwrap();
        let s = TxSource::node(url.clone(), Duration::from_secs(1)).unwrap();
        assert_eq!(s.name(), "node https://rpc.example:8443");
        let scrubbed = scrub(&format!("request to {url} failed"), &url);
        assert!(
            !scrubbed.contains("secret") && !scrubbed.contains("xyz"),
            "{scrubbed}"
        );
    }
}
