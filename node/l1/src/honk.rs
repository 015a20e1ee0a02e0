//! The root rollup's generated Honk verifier (`contracts/generated/HonkVerifier.sol`, from
//! the root rollup's verification key; compiled by `scripts/contracts` into
//! `contracts/out/` with the two libraries it links against), deployed for
//! PROVER_REAL_PROOFS=true: the libraries first, their addresses linked into the
//! verifier's bytecode at the offsets solc reported.

use crate::error::L1Error;
use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, Bytes};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use serde_json::Value;

const VERIFIER: &str = include_str!("../../../contracts/out/HonkVerifier.json");
const LIBRARIES: [(&str, &str); 2] = [
    (
        "RelationsLib",
        include_str!("../../../contracts/out/RelationsLib.json"),
    ),
    (
        "ZKTranscriptLib",
        include_str!("../../../contracts/out/ZKTranscriptLib.json"),
    ),
];

fn bad(reason: String) -> L1Error {
    L1Error::Artifact {
        contract: "HonkVerifier",
        reason,
    }
}

/// solc's bytecode hex; link placeholders (`__$…$__`) become zeros, overwritten when linked.
fn bytecode(contract: &str, artifact: &str) -> Result<Vec<u8>, L1Error> {
    let v: Value =
        serde_json::from_str(artifact).map_err(|e| bad(format!("{contract}.json: {e}")))?;
    let hex = v["bytecode"]
        .as_str()
        .ok_or_else(|| bad(format!("{contract}.json has no bytecode")))?
        .trim_start_matches("0x");
    Ok((0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap_or(0))
        .collect())
}

async fn deploy<P: Provider>(
    provider: &P,
    contract: &'static str,
    code: Vec<u8>,
) -> Result<Address, L1Error> {
    let tx = TransactionRequest::default().with_deploy_code(Bytes::from(code));
    let receipt = provider
        .send_transaction(tx)
        .await
        .map_err(|e| L1Error::from_contract(contract, "deploy", e.into()))?
        .get_receipt()
        .await
        .map_err(|e| L1Error::from_contract(contract, "deploy", e.into()))?;
    if !receipt.status() {
        return Err(L1Error::FailedOnChain {
            contract,
            call: "deploy",
            tx_hash: receipt.transaction_hash,
        });
    }
    receipt
        .contract_address
        .ok_or(L1Error::NotDeployed { contract })
}

/// Deploys the libraries and the linked verifier from the provider's default sender;
/// returns the verifier's address (`verify(bytes, bytes32[])`).
pub async fn deploy_honk_verifier<P: Provider>(provider: &P) -> Result<Address, L1Error> {
    let artifact: Value =
        serde_json::from_str(VERIFIER).map_err(|e| bad(format!("HonkVerifier.json: {e}")))?;
    let mut code = bytecode("HonkVerifier", VERIFIER)?;
    let links = artifact["linkReferences"]
        .as_object()
        .ok_or_else(|| bad("HonkVerifier.json has no linkReferences".into()))?;
    for libs in links.values() {
        let libs = libs
            .as_object()
            .ok_or_else(|| bad("malformed linkReferences".into()))?;
        for (lib, refs) in libs {
            let (name, lib_artifact) = LIBRARIES
                .iter()
                .find(|(n, _)| n == lib)
                .ok_or_else(|| bad(format!("links unknown library {lib}")))?;
            let address = deploy(provider, name, bytecode(name, lib_artifact)?).await?;
            for r in refs.as_array().into_iter().flatten() {
                let start = r["start"].as_u64().unwrap_or(u64::MAX) as usize;
                let slot = code
                    .get_mut(start..start.saturating_add(20))
                    .filter(|_| r["length"].as_u64() == Some(20))
                    .ok_or_else(|| bad(format!("link reference of {lib} out of the bytecode")))?;
                slot.copy_from_slice(address.as_slice());
            }
        }
    }
    deploy(provider, "HonkVerifier", code).await
}
