//! The sequencer's JSON-RPC server: `provemesh_p2p::api::NodeApi` over HTTP (and
//! WebSocket), with refusals as JSON-RPC errors carrying the codes of
//! `provemesh_p2p::api::codes` and the reason's `kind` as data.

use crate::admission::Refusal;
use crate::error::SequencerError;
use crate::node::Shared;
use crate::pool::{Added, PoolError, PoolStatus};
use jsonrpsee::core::{async_trait, RpcResult};
use jsonrpsee::server::{Server, ServerConfig};
use provemesh_l1::SignedEpochProofQuote;
use provemesh_p2p::api::{codes, rpc_error, MAX_HASHES_PER_REQUEST};
use provemesh_p2p::wire::{HexTx, HexTxHash, SignedQuoteJson};
use provemesh_p2p::{
    L1ContractAddresses, NodeApiServer, NodeInfo, TxReceipt, TxStatus, WorldStateGenesis,
};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Largest request body: a batch of txs (64 KiB each, hex-encoded).
const MAX_REQUEST_BYTES: u32 = 4 * 1024 * 1024;
/// Largest response body: `node_getTxsByHash` of [`MAX_HASHES_PER_REQUEST`] large txs.
const MAX_RESPONSE_BYTES: u32 = 160 * 1024 * 1024;

struct Rpc(Arc<Shared>);

fn refusal_error(r: &Refusal) -> jsonrpsee::types::ErrorObjectOwned {
    let code = match r {
        Refusal::Pool(PoolError::Full { .. }) => codes::TX_POOL_FULL,
        Refusal::State(_) => codes::INTERNAL,
        _ => codes::TX_REJECTED,
    };
    rpc_error(code, r.kind(), format!("tx rejected: {r}"))
}

impl Rpc {
    fn addresses(&self) -> L1ContractAddresses {
        let d = &self.0.deployment;
        L1ContractAddresses {
            rollup_address: d.rollup,
            inbox_address: d.inbox,
            outbox_address: d.outbox,
            fee_juice_address: d.token,
            proof_commitment_escrow_address: d.escrow,
            verifier_address: d.verifier,
            rollup_l1_block: d.rollup_l1_block,
        }
    }
}

#[async_trait]
impl NodeApiServer for Rpc {
    async fn node_info(&self) -> RpcResult<NodeInfo> {
        let p2p = self.0.p2p.get();
        Ok(NodeInfo {
            node_version: env!("CARGO_PKG_VERSION").to_string(),
            l1_chain_id: self.0.deployment.chain_id,
            rollup_version: crate::header::ROLLUP_VERSION,
            l1_contract_addresses: self.addresses(),
            peer_id: p2p.map(|p| p.peer_id().to_string()),
            p2p_addresses: p2p
                .map(|p| p.listen_addrs().iter().map(|a| a.to_string()).collect())
                .unwrap_or_default(),
        })
    }

    async fn l1_contract_addresses(&self) -> RpcResult<L1ContractAddresses> {
        Ok(self.addresses())
    }

    async fn block_number(&self) -> RpcResult<u64> {
        Ok(self.0.tip.load(Ordering::Acquire))
    }

    async fn proven_block_number(&self) -> RpcResult<u64> {
        self.0
            .rollup_read
            .tips()
            .await
            .map(|t| t.proven)
            .map_err(|e| rpc_error(codes::L1_UNAVAILABLE, "l1_unavailable", e.to_string()))
    }

    async fn send_tx(&self, tx: HexTx) -> RpcResult<HexTxHash> {
        match self.0.submit_tx(tx.0, false).await {
            Ok(Added::New(h)) | Ok(Added::Known(h, _)) => Ok(HexTxHash(h)),
            Err(r) => Err(refusal_error(&r)),
        }
    }

    async fn tx_by_hash(&self, hash: HexTxHash) -> RpcResult<Option<HexTx>> {
        Ok(self.0.pool.get_many(&[hash.0]).pop().flatten().map(HexTx))
    }

    async fn txs_by_hash(&self, hashes: Vec<HexTxHash>) -> RpcResult<Vec<Option<HexTx>>> {
        if hashes.len() > MAX_HASHES_PER_REQUEST {
            return Err(rpc_error(
                codes::TOO_MANY_ITEMS,
                "too_many_hashes",
                format!(
                    "{} hashes, at most {MAX_HASHES_PER_REQUEST} per call",
                    hashes.len()
                ),
            ));
        }
        let hashes: Vec<_> = hashes.into_iter().map(|h| h.0).collect();
        Ok(self
            .0
            .pool
            .get_many(&hashes)
            .into_iter()
            .map(|t| t.map(HexTx))
            .collect())
    }

    async fn tx_receipt(&self, hash: HexTxHash) -> RpcResult<TxReceipt> {
        let status = self.0.pool.status(&hash.0);
        let mut r = TxReceipt {
            tx_hash: hash,
            status: TxStatus::Unknown,
            block_number: None,
            error: None,
            error_kind: None,
        };
        match status {
            None => {}
            Some(PoolStatus::Pending) => r.status = TxStatus::Pending,
            Some(PoolStatus::Mined { block }) => {
                r.status = TxStatus::Mined;
                r.block_number = Some(block);
            }
            Some(PoolStatus::Rejected { kind, reason }) => {
                r.status = TxStatus::Rejected;
                r.error = Some(reason);
                r.error_kind = Some(kind);
            }
        }
        Ok(r)
    }

    async fn pending_tx_count(&self) -> RpcResult<u64> {
        Ok(self.0.pool.pending_count() as u64)
    }

    async fn world_state_genesis(&self) -> RpcResult<WorldStateGenesis> {
        Ok(self.0.genesis.clone())
    }

    async fn submit_epoch_proof_quote(&self, quote: SignedQuoteJson) -> RpcResult<()> {
        let quote = SignedEpochProofQuote::from(quote);
        self.0
            .submit_quote(quote, false)
            .await
            .map(|_| ())
            .map_err(|r| {
                rpc_error(
                    codes::QUOTE_REJECTED,
                    r.kind(),
                    format!("epoch proof quote rejected: {r}"),
                )
            })
    }
}

/// Starts the server on `listen`; it stops when `shutdown` is cancelled (a task in
/// `tasks` waits for that). Returns the bound address.
pub(crate) async fn serve(
    listen: SocketAddr,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    tasks: &mut JoinSet<Result<(), SequencerError>>,
) -> Result<SocketAddr, SequencerError> {
    let err = |reason: String| SequencerError::Rpc {
        addr: listen.to_string(),
        reason,
    };
    let config = ServerConfig::builder()
        .max_request_body_size(MAX_REQUEST_BYTES)
        .max_response_body_size(MAX_RESPONSE_BYTES)
        .max_connections(256)
        .build();
    let server = Server::builder()
        .set_config(config)
        .build(listen)
        .await
        .map_err(|e| err(e.to_string()))?;
    let addr = server.local_addr().map_err(|e| err(e.to_string()))?;
    let handle = server.start(Rpc(shared).into_rpc());
    tasks.spawn(async move {
        shutdown.cancelled().await;
        let _ = handle.stop();
        handle.stopped().await;
        Ok(())
    });
    Ok(addr)
}
