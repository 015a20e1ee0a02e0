//! Time control on an anvil dev chain, for devnets and tests: L2 slots follow L1 time, and
//! waiting real seconds for an epoch to pass would make every test minutes long. These are
//! anvil's own RPC methods (`evm_increaseTime`, `anvil_setNextBlockTimestamp`, `evm_mine`);
//! a real L1 refuses them.

use crate::error::L1Error;
use alloy::providers::Provider;

const DEV: &str = "anvil";

fn rpc(call: &'static str) -> impl FnOnce(alloy::transports::TransportError) -> L1Error {
    move |e| L1Error::from_contract(DEV, call, e.into())
}

/// Mines one block now.
pub async fn mine<P: Provider>(provider: &P) -> Result<(), L1Error> {
    provider
        .raw_request::<_, serde_json::Value>("evm_mine".into(), ())
        .await
        .map_err(rpc("evm_mine"))?;
    Ok(())
}

/// Moves the chain's clock `seconds` forward and mines a block there.
pub async fn increase_time<P: Provider>(provider: &P, seconds: u64) -> Result<(), L1Error> {
    provider
        .raw_request::<_, serde_json::Value>("evm_increaseTime".into(), (seconds,))
        .await
        .map_err(rpc("evm_increaseTime"))?;
    mine(provider).await
}

/// Mines a block at exactly `timestamp` (later than the latest block's); the chain's clock
/// carries on from there.
pub async fn warp_to<P: Provider>(provider: &P, timestamp: u64) -> Result<(), L1Error> {
    provider
        .raw_request::<_, serde_json::Value>("anvil_setNextBlockTimestamp".into(), (timestamp,))
        .await
        .map_err(rpc("anvil_setNextBlockTimestamp"))?;
    mine(provider).await
}
