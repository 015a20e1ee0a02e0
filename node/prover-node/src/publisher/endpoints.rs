//! The publisher's L1 endpoints (`ETHEREUM_HOSTS`) with failover: a request goes to the
//! endpoint that last answered, then to the others in order; a round in which none
//! answers is retried with backoff a few times before the request fails. Only a transport
//! fault moves on — an endpoint that *answers* with an error (a revert, "nonce too low")
//! would be answered the same by the others.
//!
//! Error texts from the HTTP client quote the full URL, user, password and query included
//! (where providers put API keys), so every message is scrubbed of them before it leaves.

use super::metrics::metrics;
use alloy::providers::DynProvider;
use alloy::transports::RpcError;
use backon::{ExponentialBuilder, Retryable};
use provemesh_l1::Revert;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::warn;
use url::Url;

/// Rounds over every endpoint after the first, and the pause before the first of them
/// (doubling): ~0.25 + 0.5 + 1 s, enough for a restarting node, short enough that a
/// caller hears of a real outage soon (and retries the publish, which resumes).
const RETRY_ROUNDS: usize = 3;
const RETRY_MIN_DELAY: Duration = Duration::from_millis(250);

/// How long one request may take before the next endpoint is tried: far above any
/// healthy answer (the largest is a root proof's `eth_estimateGas`), and bounded so that a
/// blackholed endpoint costs seconds, not a hung publish.
const RPC_TIMEOUT: Duration = Duration::from_secs(10);

/// How an L1 request failed.
#[derive(Debug)]
pub(super) enum CallError {
    /// The chain rejected the call with a revert.
    Reverted(Box<Revert>),
    /// An endpoint answered with another error; `message` is scrubbed.
    Refused {
        host: String,
        message: String,
    },
    /// No endpoint answered in any round; `last` is the last failure, scrubbed.
    Unreachable {
        hosts: String,
        last: String,
    },
    Cancelled,
}

struct Endpoint {
    /// `scheme://host[:port]`.
    host: String,
    /// Parts of the URL that must not appear in messages, longest first.
    secrets: Vec<String>,
    provider: DynProvider,
}

impl Endpoint {
    fn new(url: &Url) -> Self {
        // reqwest (under alloy's HTTP transport) panics without a process-wide TLS
        // provider, even for http URLs; installing fails harmlessly when one is there.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut secrets = vec![
            url.as_str().to_string(),
            url.as_str().trim_end_matches('/').to_string(),
        ];
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
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Endpoint {
            host: super::config::redact(url),
            secrets,
            provider: provemesh_l1::read_provider(url.clone()),
        }
    }

    fn scrub(&self, text: &str) -> String {
        self.secrets
            .iter()
            .filter(|s| !s.is_empty())
            .fold(text.to_string(), |t, s| t.replace(s.as_str(), "[redacted]"))
    }
}

/// The endpoints, and which one answered last.
pub(super) struct Endpoints {
    list: Vec<Endpoint>,
    current: AtomicUsize,
}

/// One failed round: the last endpoint's failure.
struct RoundFailed(String);

impl Endpoints {
    /// `urls` must not be empty (the configuration checks).
    pub fn new(urls: &[Url]) -> Self {
        Endpoints {
            list: urls.iter().map(Endpoint::new).collect(),
            current: AtomicUsize::new(0),
        }
    }

    /// The endpoints as they may be printed.
    pub fn hosts(&self) -> String {
        self.list
            .iter()
            .map(|e| e.host.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Runs `request` against the endpoints until one answers.
    pub async fn call<T, F, Fut>(
        &self,
        cancel: &CancellationToken,
        request: F,
    ) -> Result<T, CallError>
    where
        F: Fn(DynProvider) -> Fut,
        Fut: Future<Output = Result<T, alloy::contract::Error>>,
    {
        let rounds = (|| self.round(&request))
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(RETRY_MIN_DELAY)
                    .with_max_times(RETRY_ROUNDS),
            )
            .sleep(tokio::time::sleep)
            .when(|e: &Result<CallError, RoundFailed>| e.is_err());
        let outcome = tokio::select! {
            r = rounds => r,
            () = cancel.cancelled() => return Err(CallError::Cancelled),
        };
        match outcome {
            Ok(v) => Ok(v),
            Err(Ok(answered)) => Err(answered),
            Err(Err(RoundFailed(last))) => Err(CallError::Unreachable {
                hosts: self.hosts(),
                last,
            }),
        }
    }

    /// Every endpoint once, starting with the current one. `Err(Ok(_))`: an endpoint
    /// answered with an error (final); `Err(Err(_))`: none answered.
    async fn round<T, F, Fut>(&self, request: &F) -> Result<T, Result<CallError, RoundFailed>>
    where
        F: Fn(DynProvider) -> Fut,
        Fut: Future<Output = Result<T, alloy::contract::Error>>,
    {
        let n = self.list.len();
        let first = self.current.load(Ordering::Relaxed);
        let mut last = String::from("no endpoint");
        for k in 0..n {
            let i = (first + k) % n;
            let ep = &self.list[i];
            let failure =
                match tokio::time::timeout(RPC_TIMEOUT, request(ep.provider.clone())).await {
                    Ok(Ok(v)) => {
                        if i != first {
                            warn!(host = %ep.host, "L1 requests now go to this endpoint");
                        }
                        self.current.store(i, Ordering::Relaxed);
                        return Ok(v);
                    }
                    Ok(Err(e)) => match classify(e) {
                        Classified::Reverted(r) => return Err(Ok(CallError::Reverted(r))),
                        Classified::Answered(message) => {
                            return Err(Ok(CallError::Refused {
                                host: ep.host.clone(),
                                message: ep.scrub(&message),
                            }))
                        }
                        Classified::Unanswered(message) => ep.scrub(&message),
                    },
                    Err(_) => format!("no answer within {:?}", RPC_TIMEOUT),
                };
            warn!(host = %ep.host, error = %failure, "L1 endpoint failed; trying the next");
            metrics().l1_error(&ep.host);
            last = format!("{}: {failure}", ep.host);
        }
        Err(Err(RoundFailed(last)))
    }
}

enum Classified {
    Reverted(Box<Revert>),
    /// The endpoint answered: another one would say the same.
    Answered(String),
    /// A transport fault, a malformed or empty answer: another endpoint may do better.
    Unanswered(String),
}

fn classify(e: alloy::contract::Error) -> Classified {
    if let Some(data) = e.as_revert_data() {
        return Classified::Reverted(Box::new(Revert::decode(&data)));
    }
    match &e {
        alloy::contract::Error::TransportError(RpcError::ErrorResp(payload)) => {
            Classified::Answered(payload.to_string())
        }
        alloy::contract::Error::TransportError(_) => Classified::Unanswered(e.to_string()),
        // Undecodable return data or no contract at the address: the same everywhere.
        _ => Classified::Answered(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_removes_credentials_and_queries() {
        let url: Url = "https://user:s3cret@rpc.example:8545/v3/KEY123?apikey=QWERTY"
            .parse()
            .unwrap();
        let ep = Endpoint::new(&url);
        assert_eq!(ep.host, "https://rpc.example:8545");
        let text = format!("error sending request for url ({url}): connection refused");
        let scrubbed = ep.scrub(&text);
        for secret in ["s3cret", "user", "KEY123", "QWERTY"] {
            assert!(!scrubbed.contains(secret), "{secret} in {scrubbed}");
        }
        assert!(scrubbed.contains("connection refused"));
    }
}
