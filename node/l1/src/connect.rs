//! Providers for the wrappers in this crate.
//!
//! alloy's default fillers cache the sender's nonce and take the next one before gas
//! estimation; a call the chain rejects at estimation (any contract revert) then leaves a
//! nonce gap, and the sender's next transaction waits in the pool for ever. Contract
//! reverts are an expected outcome here (a lost claim race, a closed window), so the
//! wallet provider asks the node for the pending nonce on every transaction instead.

use alloy::network::EthereumWallet;
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use alloy::transports::http::reqwest::Url;

/// A provider that signs with `signer`: gas estimation, the pending nonce fetched per
/// transaction, the chain id fetched once.
pub fn wallet_provider(url: Url, signer: PrivateKeySigner) -> DynProvider {
    ProviderBuilder::new()
        .disable_recommended_fillers()
        .with_gas_estimation()
        .with_simple_nonce_management()
        .fetch_chain_id()
        .wallet(EthereumWallet::from(signer))
        .connect_http(url)
        .erased()
}

/// A read-only provider (calls and logs).
pub fn read_provider(url: Url) -> DynProvider {
    ProviderBuilder::new()
        .disable_recommended_fillers()
        .connect_http(url)
        .erased()
}

/// The HTTP transports of `urls` behind alloy's fallback layer: each request goes to the
/// best-ranked URLs (by recent success and latency) and fails over to the others, so one
/// ETHEREUM_HOSTS entry being down costs nothing but a ranking change.
fn fallback_client(urls: &[Url]) -> alloy::rpc::client::RpcClient {
    use alloy::transports::http::Http;
    use alloy::transports::layers::FallbackLayer;
    let transports: Vec<Http<alloy::transports::http::Client>> =
        urls.iter().cloned().map(Http::new).collect();
    let active =
        std::num::NonZeroUsize::new(urls.len().clamp(1, 3)).unwrap_or(std::num::NonZeroUsize::MIN);
    let layer = FallbackLayer::default().with_active_transport_count(active);
    let transport = tower::ServiceBuilder::new()
        .layer(layer)
        .service(transports);
    alloy::rpc::client::RpcClient::builder().transport(transport, false)
}

/// [`read_provider`] over several URLs with failover (ETHEREUM_HOSTS).
pub fn fallback_read_provider(urls: &[Url]) -> DynProvider {
    ProviderBuilder::new()
        .disable_recommended_fillers()
        .connect_client(fallback_client(urls))
        .erased()
}

/// [`wallet_provider`] over several URLs with failover. Transactions are signed locally,
/// so a raw transaction sent to two URLs is one transaction (same hash), never two.
pub fn fallback_wallet_provider(urls: &[Url], signer: PrivateKeySigner) -> DynProvider {
    ProviderBuilder::new()
        .disable_recommended_fillers()
        .with_gas_estimation()
        .with_simple_nonce_management()
        .fetch_chain_id()
        .wallet(EthereumWallet::from(signer))
        .connect_client(fallback_client(urls))
        .erased()
}
