//! The tx provider against real nodes: the devnet sequencer's JSON-RPC on a real anvil,
//! libp2p peers on loopback, and hostile JSON-RPC nodes (jsonrpsee servers in the test)
//! that answer the wrong tx, the wrong number of txs, or nothing in time.

use crate::support::*;
use jsonrpsee::core::{async_trait, RpcResult};
use jsonrpsee::server::{Server, ServerHandle};
use provemesh_common::hash::Fr;
use provemesh_common::tx::{Tx, TxHash};
use provemesh_p2p::api::{codes, rpc_error};
use provemesh_p2p::wire::{HexTx, HexTxHash, SignedQuoteJson};
use provemesh_p2p::{
    FormatValidator, L1ContractAddresses, NoTxs, NodeApiClient, NodeApiServer, NodeInfo, P2pConfig,
    P2pHandle, TxReceipt, WorldStateGenesis,
};
use provemesh_prover_node::tx_provider::{TxProvider, TxProviderConfig, TxProviderError, TxSource};
use provemesh_sequencer::loadgen::TxFactory;
use provemesh_sequencer::{SequencerEvent, SequencerHandle};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use url::Url;

const TIMING: Timing = Timing {
    epoch: 32,
    claim_window: 16,
    proof_window: 32,
};

fn provider_config() -> TxProviderConfig {
    TxProviderConfig {
        request_timeout: Duration::from_millis(500),
        retry_interval: Duration::from_millis(200),
    }
}

fn node(url: &str) -> TxSource {
    TxSource::node(url.parse().unwrap(), provider_config().request_timeout).unwrap()
}

/// A URL nothing listens on (the port was free a moment ago): requests fail at once.
async fn dead_url() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    drop(l);
    url
}

/// A libp2p node as a prover node runs it (serves no txs), booted from `seq`, once
/// connected to it.
async fn p2p_peer(seq: &SequencerHandle, shutdown: &CancellationToken) -> P2pHandle {
    let boot = seq.p2p().expect("sequencer has P2P").listen_addrs()[0].clone();
    let (handle, _events) = provemesh_p2p::start(
        P2pConfig::loopback(vec![boot]),
        Arc::new(FormatValidator),
        Arc::new(NoTxs),
        shutdown.clone(),
    )
    .await
    .unwrap();
    let h = handle.clone();
    eventually(15, "the P2P peer connected to the sequencer", move || {
        let h = h.clone();
        async move { (!h.connected_peers().await.unwrap().is_empty()).then_some(()) }
    })
    .await;
    handle
}

/// Sends `txs` to the node at `url`.
async fn send(url: &str, txs: &[Tx]) {
    let client = provemesh_p2p::http_client(url, Duration::from_secs(5)).unwrap();
    for tx in txs {
        client.send_tx(HexTx(tx.clone())).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mined_blocks_txs_come_in_order_from_the_sequencers_json_rpc() {
    within(60, async {
        let (chain, ws) = Chain::start(TIMING).await;
        let shutdown = CancellationToken::new();
        let mut config = chain.sequencer_config();
        config.min_txs_per_block = 3;
        let seq = sequencer(config, ws, &shutdown).await;
        let mut events = seq.subscribe();

        let mut factory = TxFactory::new(&genesis(), 1);
        let sent: Vec<Tx> = (0..3).map(|_| factory.valid()).collect();
        send(&seq.rpc_url(), &sent).await;
        let block_txs = next_event(&mut events, 30, |e| match e {
            SequencerEvent::BlockProposed { txs, .. } if !txs.is_empty() => Some(txs.clone()),
            _ => None,
        })
        .await;
        assert_eq!(block_txs.len(), 3);

        // A node that is down comes first: skipped, not fatal.
        let provider = TxProvider::new(
            vec![node(&dead_url().await), node(&seq.rpc_url())],
            provider_config(),
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        let got = provider
            .txs(&block_txs, deadline, &CancellationToken::new())
            .await
            .unwrap();
        let by_hash = |h: &TxHash| sent.iter().find(|t| t.hash() == Some(*h)).unwrap().clone();
        let want: Vec<Tx> = block_txs.iter().map(by_hash).collect();
        assert_eq!(got, want, "the block's txs, in the block's order");

        // The order is the order asked, whatever it is.
        let reversed: Vec<TxHash> = block_txs.iter().rev().copied().collect();
        let got = provider
            .txs(&reversed, deadline, &CancellationToken::new())
            .await
            .unwrap();
        assert_eq!(got, reversed.iter().map(by_hash).collect::<Vec<_>>());

        shutdown.cancel();
        seq.wait().await.unwrap();
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tx_the_remote_node_never_saw_comes_from_a_p2p_peers_pool() {
    within(60, async {
        let (chain, ws) = Chain::start(TIMING).await;
        let shutdown = CancellationToken::new();
        // The sequencer, with P2P: its pool answers peers' tx requests.
        let mut config = chain.sequencer_config();
        config.p2p = Some(P2pConfig::loopback(vec![]));
        let seq = sequencer(config, ws, &shutdown).await;
        // The remote node the prover asks first: a pool-and-relay node without P2P, so
        // it never sees txs sent elsewhere.
        let mut remote_config = chain.sequencer_config();
        remote_config.sequencer_key = None;
        let remote_ws = genesis()
            .open_world_state(&chain.dir.path().join("remote"))
            .unwrap();
        let remote = sequencer(remote_config, remote_ws, &shutdown).await;
        let peer = p2p_peer(&seq, &shutdown).await;

        let tx = TxFactory::new(&genesis(), 2).valid();
        let h = tx.hash().unwrap();
        send(&seq.rpc_url(), std::slice::from_ref(&tx)).await;

        let provider = TxProvider::new(
            vec![node(&remote.rpc_url()), TxSource::P2p(peer)],
            provider_config(),
        );
        let got = provider
            .txs(
                &[h],
                Instant::now() + Duration::from_secs(10),
                &CancellationToken::new(),
            )
            .await
            .unwrap();
        assert_eq!(got, vec![tx]);
        // So it came from P2P: the remote node still does not have it.
        let to_remote =
            provemesh_p2p::http_client(&remote.rpc_url(), Duration::from_secs(5)).unwrap();
        assert_eq!(to_remote.tx_by_hash(HexTxHash(h)).await.unwrap(), None);

        shutdown.cancel();
        remote.wait().await.unwrap();
        seq.wait().await.unwrap();
    })
    .await
}

/// How a hostile node answers `node_getTxsByHash`.
#[derive(Clone, Copy)]
enum Lie {
    /// Another valid tx for every hash asked.
    WrongTx,
    /// One entry fewer than asked.
    WrongLength,
    /// Nothing for 10 s (past any request timeout).
    Stall,
}

/// A node that answers tx requests dishonestly and refuses everything else.
struct Hostile {
    lie: Lie,
    factory: Mutex<TxFactory>,
    asked: Arc<AtomicUsize>,
}

fn not_served<T>() -> RpcResult<T> {
    Err(rpc_error(codes::INTERNAL, "hostile", "not served"))
}

#[async_trait]
impl NodeApiServer for Hostile {
    async fn node_info(&self) -> RpcResult<NodeInfo> {
        not_served()
    }
    async fn l1_contract_addresses(&self) -> RpcResult<L1ContractAddresses> {
        not_served()
    }
    async fn block_number(&self) -> RpcResult<u64> {
        not_served()
    }
    async fn proven_block_number(&self) -> RpcResult<u64> {
        not_served()
    }
    async fn send_tx(&self, _tx: HexTx) -> RpcResult<HexTxHash> {
        not_served()
    }
    async fn tx_by_hash(&self, _hash: HexTxHash) -> RpcResult<Option<HexTx>> {
        not_served()
    }
    async fn txs_by_hash(&self, hashes: Vec<HexTxHash>) -> RpcResult<Vec<Option<HexTx>>> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        let mut answer: Vec<Option<HexTx>> = {
            let mut f = self.factory.lock().unwrap();
            hashes.iter().map(|_| Some(HexTx(f.valid()))).collect()
        };
        match self.lie {
            Lie::WrongTx => {}
            Lie::WrongLength => {
                answer.pop();
            }
            Lie::Stall => tokio::time::sleep(Duration::from_secs(10)).await,
        }
        Ok(answer)
    }
    async fn tx_receipt(&self, _hash: HexTxHash) -> RpcResult<TxReceipt> {
        not_served()
    }
    async fn pending_tx_count(&self) -> RpcResult<u64> {
        not_served()
    }
    async fn world_state_genesis(&self) -> RpcResult<WorldStateGenesis> {
        not_served()
    }
    async fn submit_epoch_proof_quote(&self, _quote: SignedQuoteJson) -> RpcResult<()> {
        not_served()
    }
}

/// Starts a hostile node on loopback: its URL, how many tx requests it got, its handle.
async fn hostile(lie: Lie, seed: u64) -> (String, Arc<AtomicUsize>, ServerHandle) {
    let server = Server::builder().build("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", server.local_addr().unwrap());
    let asked = Arc::new(AtomicUsize::new(0));
    let h = Hostile {
        lie,
        factory: Mutex::new(TxFactory::new(&genesis(), seed)),
        asked: asked.clone(),
    };
    (url, asked, server.start(h.into_rpc()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_nodes_wrong_answers_are_dropped_and_the_tx_taken_elsewhere() {
    within(60, async {
        let (chain, ws) = Chain::start(TIMING).await;
        let shutdown = CancellationToken::new();
        let seq = sequencer(chain.sequencer_config(), ws, &shutdown).await;
        let tx = TxFactory::new(&genesis(), 3).valid();
        let h = tx.hash().unwrap();
        send(&seq.rpc_url(), std::slice::from_ref(&tx)).await;

        let (wrong_tx, wrong_tx_asked, s1) = hostile(Lie::WrongTx, 100).await;
        let (short, short_asked, s2) = hostile(Lie::WrongLength, 200).await;
        let (stall, stall_asked, s3) = hostile(Lie::Stall, 300).await;
        let never = CancellationToken::new();

        // The liars come first; the honest sequencer last.
        let provider = TxProvider::new(
            vec![
                node(&wrong_tx),
                node(&short),
                node(&stall),
                node(&seq.rpc_url()),
            ],
            provider_config(),
        );
        let got = provider
            .txs(&[h], Instant::now() + Duration::from_secs(10), &never)
            .await
            .unwrap();
        assert_eq!(got, vec![tx.clone()], "the honest node's tx, not a liar's");
        for (what, n) in [
            ("wrong tx", &wrong_tx_asked),
            ("wrong length", &short_asked),
            ("stall", &stall_asked),
        ] {
            // Once: the honest node answered in the first round, so there was no retry.
            assert_eq!(
                n.load(Ordering::SeqCst),
                1,
                "the {what} node was asked once"
            );
        }

        // With only a liar, the tx is unavailable: never its wrong answer.
        let provider = TxProvider::new(vec![node(&wrong_tx)], provider_config());
        let err = provider
            .txs(&[h], Instant::now() + Duration::from_secs(1), &never)
            .await
            .unwrap_err();
        match &err {
            TxProviderError::Unavailable { missing, sources } => {
                assert_eq!(missing, &vec![h]);
                assert_eq!(sources.len(), 1);
                assert!(sources[0].contains(wrong_tx.trim_start_matches("http://")));
            }
            other => panic!("expected Unavailable, got {other}"),
        }
        assert!(
            wrong_tx_asked.load(Ordering::SeqCst) > 2,
            "asked again each round"
        );

        // Not waiting for them to stop: the stalling one would hold on to its call.
        for s in [s1, s2, s3] {
            s.stop().unwrap();
        }
        shutdown.cancel();
        seq.wait().await.unwrap();
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hash_no_source_has_is_unavailable_by_the_deadline_and_cancel_ends_the_wait() {
    within(60, async {
        let (chain, ws) = Chain::start(TIMING).await;
        let shutdown = CancellationToken::new();
        let mut config = chain.sequencer_config();
        config.p2p = Some(P2pConfig::loopback(vec![]));
        let seq = sequencer(config, ws, &shutdown).await;
        let peer = p2p_peer(&seq, &shutdown).await;
        let rpc = seq.rpc_url();
        let provider = TxProvider::new(
            vec![node(&rpc), TxSource::P2p(peer.clone())],
            provider_config(),
        );

        let unknown = TxHash(Fr::from(424_242u64));
        let started = Instant::now();
        let err = provider
            .txs(
                &[unknown],
                started + Duration::from_secs(2),
                &CancellationToken::new(),
            )
            .await
            .unwrap_err();
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(1900) && took < Duration::from_millis(2500),
            "kept asking until the 2 s deadline, then stopped: {took:?}"
        );
        let TxProviderError::Unavailable { missing, sources } = &err else {
            panic!("expected Unavailable, got {err}");
        };
        assert_eq!(missing, &vec![unknown]);
        let host = Url::parse(&rpc).unwrap();
        assert_eq!(
            sources,
            &vec![
                format!(
                    "node http://{}:{}",
                    host.host_str().unwrap(),
                    host.port().unwrap()
                ),
                format!("p2p {}", peer.peer_id()),
            ]
        );
        let msg = err.to_string();
        assert!(msg.contains(&unknown.to_string()), "{msg}");

        // Cancelled long before its deadline: returns at once.
        let cancel = CancellationToken::new();
        let c = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            c.cancel();
        });
        let started = Instant::now();
        let err = provider
            .txs(&[unknown], started + Duration::from_secs(30), &cancel)
            .await
            .unwrap_err();
        assert!(matches!(err, TxProviderError::Cancelled), "{err}");
        assert!(started.elapsed() < Duration::from_secs(1));

        shutdown.cancel();
        seq.wait().await.unwrap();
    })
    .await
}
