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
