//! How a signed quote reaches the sequencer: the coordination node's JSON-RPC
//! (PROVER_COORDINATION_NODE_URL), or gossip when P2P is on. Transport failures are
//! retried with backoff; a refusal (a JSON-RPC error: the node checked the quote and said
//! no) is final, and its reason is kept.

use super::record::QuoteFate;
use backon::{ExponentialBuilder, Retryable};
use jsonrpsee::core::client::Error as ClientError;
use jsonrpsee::http_client::HttpClient;
use jsonrpsee::types::ErrorObjectOwned;
use provemesh_l1::SignedEpochProofQuote;
use provemesh_p2p::wire::SignedQuoteJson;
use provemesh_p2p::{NodeApiClient, P2pHandle};
use std::time::Duration;
use tracing::{debug, warn};

/// Where quotes go.
#[derive(Clone)]
pub enum QuoteRoute {
    /// `prover_submitEpochProofQuote` on the coordination node (each call bounded by the
    /// client's request timeout).
    Http(HttpClient),
    /// Gossiped on the quotes topic (queued by the network until a peer subscribes).
    P2p(P2pHandle),
}

impl std::fmt::Debug for QuoteRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl QuoteRoute {
    /// `http` or `p2p` (records, logs, metrics).
    pub fn name(&self) -> &'static str {
        match self {
            QuoteRoute::Http(_) => "http",
            QuoteRoute::P2p(_) => "p2p",
        }
    }

    /// Delivers `signed`, trying at most `attempts` times; the fate when it was not taken.
    /// Unbounded in time only through the client's timeouts: the caller bounds it.
    pub(super) async fn deliver(
        &self,
        signed: &SignedEpochProofQuote,
        attempts: usize,
    ) -> Result<(), QuoteFate> {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(200))
            .with_max_delay(Duration::from_secs(2))
            .with_max_times(attempts.saturating_sub(1));
        let epoch = signed.quote.epochToProve.saturating_to::<u64>();
        match self {
            QuoteRoute::Http(client) => {
                let json = SignedQuoteJson::from(signed);
                let attempt = || client.submit_epoch_proof_quote(json.clone());
                attempt
                    .retry(backoff)
                    .when(|e| !matches!(e, ClientError::Call(_)))
                    .notify(|e, after| {
                        warn!(
                            epoch,
                            ?after,
                            "sending the epoch proof quote: {e} (retrying)"
                        )
                    })
                    .await
                    .map_err(|e| match e {
                        ClientError::Call(refusal) => QuoteFate::Refused {
                            reason: refusal_reason(&refusal),
                        },
                        other => QuoteFate::Undelivered {
                            reason: other.to_string(),
                        },
                    })
            }
            QuoteRoute::P2p(p2p) => {
                let attempt = || p2p.publish_quote(signed);
                attempt
                    .retry(backoff)
                    .notify(|e, after| {
                        warn!(
                            epoch,
                            ?after,
                            "gossiping the epoch proof quote: {e} (retrying)"
                        )
                    })
                    .await
                    .map(|outcome| debug!(epoch, ?outcome, "epoch proof quote gossiped"))
                    .map_err(|e| QuoteFate::Undelivered {
                        reason: e.to_string(),
                    })
            }
        }
    }
}

/// A refusal as the coordination node put it: its message, stable kind and code.
fn refusal_reason(e: &ErrorObjectOwned) -> String {
    let kind = e
        .data()
        .and_then(|d| serde_json::from_str::<serde_json::Value>(d.get()).ok())
        .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_owned));
    match kind {
        Some(kind) => format!("{} ({kind}, code {})", e.message(), e.code()),
        None => format!("{} (code {})", e.message(), e.code()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use provemesh_p2p::api::{codes, rpc_error};

    #[test]
    fn a_refusal_keeps_the_nodes_reason_and_kind() {
        let e = rpc_error(codes::QUOTE_REJECTED, "expired", "quote expired: slot 9");
        assert_eq!(
            refusal_reason(&e),
            "quote expired: slot 9 (expired, code -32002)"
        );
        let bare = ErrorObjectOwned::owned(-32603, "boom", None::<()>);
        assert_eq!(refusal_reason(&bare), "boom (code -32603)");
    }
}
