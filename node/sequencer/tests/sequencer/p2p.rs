//! Over libp2p on loopback, between nodes in separate tokio runtimes: a tx sent to one
//! node's pool is gossiped to the sequencer, which proposes it; a tx sent to the sequencer
//! reaches the other node; a prover-like node fetches txs by hash from the sequencer's
//! pool and gossips quotes, of which the collector keeps the valid one.

use crate::support::*;
use alloy::primitives::U256;
use provemesh_common::hash::Fr;
use provemesh_common::tx::TxHash;
use provemesh_l1::{quote_domain, sign_quote, EpochProofQuote};
use provemesh_p2p::wire::{HexTx, HexTxHash};
use provemesh_p2p::{FormatValidator, NoTxs, NodeApiClient, P2pConfig, Topic, TxStatus};
use provemesh_sequencer::loadgen::TxFactory;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn txs_and_quotes_travel_between_nodes_over_libp2p() {
    within(60, async {
        let (chain, ws) = Chain::start(32, 16, 32).await;
        let shutdown = CancellationToken::new();
        let mut config = chain.config(true);
        config.p2p = Some(P2pConfig::loopback(vec![]));
        let a = sequencer(config, ws, &shutdown).await;
        let a_addr = a.p2p().unwrap().listen_addrs()[0].clone();

        // Node B: a pool-and-relay node (no sequencer key) with its own world state, in a
        // runtime of its own on another thread, booting from A.
        let mut b_config = chain.config(false);
        b_config.p2p = Some(P2pConfig::loopback(vec![a_addr.clone()]));
        let b_dir = chain.dir.path().join("b");
        let b_stop = CancellationToken::new();
        let (url_tx, url_rx) = std::sync::mpsc::channel();
        let stop = b_stop.clone();
        let b_thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let ws = genesis().open_world_state(&b_dir).unwrap();
                let b = provemesh_sequencer::start(b_config, ws, stop.clone())
                    .await
                    .unwrap();
                url_tx.send(b.rpc_url()).unwrap();
                stop.cancelled().await;
                b.wait().await.unwrap();
            });
        });
        let b_url =
            tokio::task::spawn_blocking(move || url_rx.recv_timeout(Duration::from_secs(20)))
                .await
                .unwrap()
                .expect("node B started");
        let to_a = provemesh_p2p::http_client(&a.rpc_url(), Duration::from_secs(5)).unwrap();
        let to_b = provemesh_p2p::http_client(&b_url, Duration::from_secs(5)).unwrap();

        // Node C: what a prover node runs — P2P only, booting from A.
        let (c, _c_events) = provemesh_p2p::start(
            P2pConfig::loopback(vec![a_addr]),
            Arc::new(FormatValidator),
            Arc::new(NoTxs),
            shutdown.clone(),
        )
        .await
        .unwrap();
        let a_p2p = a.p2p().unwrap().clone();
        eventually(15, "B and C subscribed at A", || {
            let a_p2p = a_p2p.clone();
            async move {
                let peers = a_p2p.topic_peers(Topic::Txs).await.unwrap();
                let quotes = a_p2p.topic_peers(Topic::Quotes).await.unwrap();
                (peers.len() >= 2 && quotes.len() >= 2).then_some(())
            }
        })
        .await;

        let mut factory = TxFactory::new(&genesis(), 3);
        // To B, mined by A.
        let via_b = factory.valid();
        let h1 = via_b.hash().unwrap();
        to_b.send_tx(HexTx(via_b.clone())).await.unwrap();
        let mined = eventually(20, "the tx sent to B mined by A", || {
            let to_a = to_a.clone();
            async move {
                let r = to_a.tx_receipt(HexTxHash(h1)).await.unwrap();
                (r.status == TxStatus::Mined).then_some(r.block_number)
            }
        })
        .await;
        assert!(mined.is_some());
        assert_eq!(
            to_a.tx_by_hash(HexTxHash(h1)).await.unwrap(),
            Some(HexTx(via_b.clone()))
        );

        // To A, seen by B.
        let via_a = factory.valid();
        let h2 = via_a.hash().unwrap();
        to_a.send_tx(HexTx(via_a.clone())).await.unwrap();
        let at_b = eventually(10, "the tx sent to A in B's pool", || {
            let to_b = to_b.clone();
            async move { to_b.tx_by_hash(HexTxHash(h2)).await.unwrap() }
        })
        .await;
        assert_eq!(at_b.0, via_a);

        // C fetches both from the pools by hash; an unknown hash comes back empty.
        let unknown = TxHash(Fr::from(424242u64));
        let fetched = c.fetch_txs(&[h1, unknown, h2]).await.unwrap();
        assert_eq!(fetched, vec![Some(via_b), None, Some(via_a)]);

        // C gossips quotes as a prover would: A and B collect the valid one, not the forged.
        let slot = provemesh_sequencer::l1_now(&provemesh_l1::read_provider(
            chain.anvil.url().parse().unwrap(),
        ))
        .await
        .unwrap();
        let epoch = a.timing().epoch_at_slot(a.timing().slot_at(slot));
        let domain = quote_domain(CHAIN_ID, chain.deployment.rollup);
        let q = |prover: usize, fee: u32| EpochProofQuote {
            epochToProve: U256::from(epoch),
            validUntilSlot: U256::from(10_000),
            bondAmount: U256::from(MIN_BOND),
            basisPointFee: fee,
            prover: chain.keys[prover].address(),
        };
        let forged = sign_quote(&chain.keys[4], q(1, 10), &domain).await.unwrap();
        let valid = sign_quote(&chain.keys[1], q(1, 900), &domain)
            .await
            .unwrap();
        c.publish_quote(&forged).await.unwrap();
        c.publish_quote(&valid).await.unwrap();
        eventually(10, "the gossiped quote at A", || {
            let got = a.quotes_for(epoch);
            async move { (!got.is_empty()).then_some(()) }
        })
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            a.quotes_for(epoch),
            vec![valid.clone()],
            "only the valid quote collected"
        );

        b_stop.cancel();
        tokio::task::spawn_blocking(move || b_thread.join().unwrap())
            .await
            .unwrap();
        shutdown.cancel();
        a.wait().await.unwrap();
    })
    .await
}
