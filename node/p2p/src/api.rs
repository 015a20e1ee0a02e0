//! The node's JSON-RPC API (the seed's AZTEC_NODE_URL and PROVER_COORDINATION_NODE_URL):
//! what a prover node asks of the node that sequences the chain — contract addresses, the
//! chain tip, txs by hash — and how it hands over epoch proof quotes when P2P is off.
//!
//! Defined once with `jsonrpsee`'s `rpc` macro: the devnet sequencer implements
//! [`NodeApiServer`], a prover node calls it through [`NodeApiClient`] on an HTTP client
//! ([`http_client`]). Method names follow Aztec's (`node_getTxByHash`,
//! `prover_submitEpochProofQuote`, …).
//!
//! Errors are JSON-RPC errors: malformed parameters get the standard `-32602` (invalid
//! params) with what was wrong; refusals get the codes in [`codes`] with a message naming
//! the reason and, in `data`, a stable `kind`.

use crate::wire::{HexFr, HexTx, HexTxHash, SignedQuoteJson};
use alloy::primitives::{Address, B256};
use jsonrpsee::core::RpcResult;
use jsonrpsee::proc_macros::rpc;
use jsonrpsee::types::ErrorObjectOwned;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// JSON-RPC error codes of refusals (the server-error range -32000..-32099).
pub mod codes {
    /// The tx was refused: malformed, bad client proof, double spend, fee not payable.
    pub const TX_REJECTED: i32 = -32000;
    /// The tx pool is full; try later.
    pub const TX_POOL_FULL: i32 = -32001;
    /// The epoch proof quote was refused: bad signature, wrong or past epoch, expired,
    /// bond below the minimum, fee above 100%.
    pub const QUOTE_REJECTED: i32 = -32002;
    /// The node could not read L1 to answer.
    pub const L1_UNAVAILABLE: i32 = -32003;
    /// Too many items in one request.
    pub const TOO_MANY_ITEMS: i32 = -32004;
    /// Something failed inside the node (see its log).
    pub const INTERNAL: i32 = -32603;
}

/// At most this many hashes per `node_getTxsByHash`.
pub const MAX_HASHES_PER_REQUEST: usize = 1024;

/// A refusal: `code`, a message, and `{"kind": kind}` as data.
pub fn rpc_error(code: i32, kind: &str, message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(
        code,
        message.into(),
        Some(serde_json::json!({ "kind": kind })),
    )
}

/// The L1 contracts of the rollup the node follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct L1ContractAddresses {
    pub rollup_address: Address,
    pub inbox_address: Address,
    pub outbox_address: Address,
    /// The ERC-20 that pays fees and bonds (`TestERC20` on devnets).
    pub fee_juice_address: Address,
    pub proof_commitment_escrow_address: Address,
    pub verifier_address: Address,
    /// L1 block of the Rollup's deployment: where an archiver starts reading events.
    pub rollup_l1_block: u64,
}

/// What the node is and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeInfo {
    pub node_version: String,
    pub l1_chain_id: u64,
    pub rollup_version: u64,
    pub l1_contract_addresses: L1ContractAddresses,
    /// The node's libp2p peer id, when P2P is on.
    pub peer_id: Option<String>,
    /// Multiaddrs (with `/p2p/<peer id>`) to use as BOOT_NODE_URL.
    pub p2p_addresses: Vec<String>,
}

/// Where a tx stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxStatus {
    /// In the pool, waiting for a block.
    Pending,
    /// In a block proposed to L1 (pending chain).
    Mined,
    /// Refused (at submission or when its block was built); `error` says why.
    Rejected,
    /// Never seen by this node.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TxReceipt {
    pub tx_hash: HexTxHash,
    pub status: TxStatus,
    /// The L2 block holding the tx, when mined.
    pub block_number: Option<u64>,
    /// Why the tx was rejected.
    pub error: Option<String>,
    /// A stable short name of the rejection (`client_proof`, `nullifier_in_state`, …).
    pub error_kind: Option<String>,
}

/// One public storage value set at genesis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenesisPublicData {
    pub slot: HexFr,
    pub value: HexFr,
}

/// How the node's world state was created: a prover node opens its own with the same
/// values and compares the genesis archive with the Rollup's block 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorldStateGenesis {
    pub heights: TreeHeightsJson,
    pub nullifier_prefill: u64,
    pub public_data_prefill: u64,
    pub public_data: Vec<GenesisPublicData>,
    pub genesis_archive: B256,
}

/// Tree heights (the fields of `provemesh_world_state::TreeHeights`, which this crate
/// does not depend on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TreeHeightsJson {
    pub note_hash: u8,
    pub nullifier: u8,
    pub public_data: u8,
    pub l1_to_l2_message: u8,
    pub archive: u8,
}

#[rpc(server, client)]
pub trait NodeApi {
    /// Version, chain, contract addresses and P2P addresses.
    #[method(name = "node_getNodeInfo")]
    async fn node_info(&self) -> RpcResult<NodeInfo>;

    /// The rollup's L1 contracts (what a prover uses when their addresses are not set).
    #[method(name = "node_getL1ContractAddresses")]
    async fn l1_contract_addresses(&self) -> RpcResult<L1ContractAddresses>;

    /// The node's L2 tip (last block it proposed and L1 accepted).
    #[method(name = "node_getBlockNumber")]
    async fn block_number(&self) -> RpcResult<u64>;

    /// The proven tip, read from L1.
    #[method(name = "node_getProvenBlockNumber")]
    async fn proven_block_number(&self) -> RpcResult<u64>;

    /// Submits a tx; returns its hash once the pool took it.
    #[method(name = "node_sendTx")]
    async fn send_tx(&self, tx: HexTx) -> RpcResult<HexTxHash>;

    /// The tx with `hash` (pending or mined), or null.
    #[method(name = "node_getTxByHash")]
    async fn tx_by_hash(&self, hash: HexTxHash) -> RpcResult<Option<HexTx>>;

    /// The txs with `hashes`, in order, null where unknown.
    #[method(name = "node_getTxsByHash")]
    async fn txs_by_hash(&self, hashes: Vec<HexTxHash>) -> RpcResult<Vec<Option<HexTx>>>;

    /// Where the tx stands (pending, mined in block n, rejected and why, unknown).
    #[method(name = "node_getTxReceipt")]
    async fn tx_receipt(&self, hash: HexTxHash) -> RpcResult<TxReceipt>;

    /// Txs waiting in the pool.
    #[method(name = "node_getPendingTxCount")]
    async fn pending_tx_count(&self) -> RpcResult<u64>;

    /// How the node's world state was created (heights, prefill, genesis public data).
    #[method(name = "node_getWorldStateGenesis")]
    async fn world_state_genesis(&self) -> RpcResult<WorldStateGenesis>;

    /// Hands an EIP-712-signed epoch proof quote to the sequencer (the HTTP route; with
    /// P2P on, provers gossip quotes instead). Checked at once: signature, epoch, expiry,
    /// bond, fee.
    #[method(name = "prover_submitEpochProofQuote")]
    async fn submit_epoch_proof_quote(&self, quote: SignedQuoteJson) -> RpcResult<()>;
}

/// An HTTP JSON-RPC client of a node at `url` (e.g. AZTEC_NODE_URL), each call bounded by
/// `timeout`. Call the API through [`NodeApiClient`].
pub fn http_client(
    url: &str,
    timeout: Duration,
) -> Result<jsonrpsee::http_client::HttpClient, jsonrpsee::core::client::Error> {
    jsonrpsee::http_client::HttpClientBuilder::default()
        .request_timeout(timeout)
        .max_request_size(8 * 1024 * 1024)
        .max_response_size(64 * 1024 * 1024)
        .build(url)
}
