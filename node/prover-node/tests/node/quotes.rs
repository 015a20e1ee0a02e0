//! The epoch monitor against a real rollup: anvil, the devnet sequencer building a block
//! per slot from a load generator's txs, and an archiver the monitor reads the epochs'
//! blocks from. 3-slot epochs of 2-second slots and a 2-slot claim window: the first
//! epoch with a block ends within seconds, and its claim window follows at once.

use crate::support::*;
use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::Eip712Domain;
use jsonrpsee::core::client::Error as ClientError;
use jsonrpsee::http_client::HttpClient;
use jsonrpsee::server::{RpcModule, Server, ServerHandle};
use jsonrpsee::types::ErrorObjectOwned;
use provemesh_archiver::{Archiver, ArchiverConfig, L2BlockSource};
use provemesh_l1::bindings::TestERC20;
use provemesh_l1::{quote_domain, sign_quote, Deployment, EpochProofQuote, SignedEpochProofQuote};
use provemesh_p2p::wire::SignedQuoteJson;
use provemesh_p2p::{FormatValidator, NoTxs, NodeApiClient, P2pConfig, Topic};
use provemesh_prover_node::quotes::{
    expected_reward, EpochMonitor, MonitorConfig, MonitorEvent, MonitorHandle, QuoteFate,
    QuotePolicy, QuoteRoute, SkipReason,
};
use provemesh_sequencer::loadgen::{LoadConfig, LoadGenerator, TxFactory};
use provemesh_sequencer::{SequencerEvent, SequencerHandle};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

const TIMING: Timing = Timing {
    epoch: 3,
    claim_window: 2,
    // The Rollup's most: a claimed, unproven epoch is pruned (its bond slashed) 6 s into
    // the next epoch's, after the assertions on the bond.
    proof_window: 3,
};
const BOND: u64 = 1_000;
const FEE_BPS: u32 = 1_000;

fn policy() -> QuotePolicy {
    QuotePolicy {
        basis_point_fee: FEE_BPS,
        bond_amount: U256::from(BOND),
        // A block of one tx (fee 10) at 10% earns 1: every epoch with a block passes.
        min_fee_reward: U256::from(1),
        max_parallel_epochs: 1,
        validity_slots: 4,
        auto_deposit: false,
    }
}

/// The servers of one test; all stop with `shutdown`.
struct Bid {
    chain: Chain,
    seq: SequencerHandle,
    seq_events: broadcast::Receiver<SequencerEvent>,
    archiver: Archiver,
    shutdown: CancellationToken,
}

impl Bid {
    /// A rollup with `fund` done before the sequencer starts (see [`Chain::fund`]), the
    /// sequencer (with P2P when `p2p`), one tx a second sent to it, and an archiver.
    async fn start(p2p: bool, fund: &[(usize, u64, bool)]) -> Bid {
        let (chain, ws) = Chain::start(TIMING).await;
        for &(who, amount, deposit) in fund {
            chain.fund(who, amount, deposit).await;
        }
        let shutdown = CancellationToken::new();
        let mut config = chain.sequencer_config();
        if p2p {
            config.p2p = Some(P2pConfig::loopback(vec![]));
        }
        let seq = sequencer(config, ws, &shutdown).await;
        let seq_events = seq.subscribe();
        let load = LoadGenerator::new(
            LoadConfig {
                rpc_url: seq.rpc_url(),
                tps: 1.0,
                invalid_every: None,
                max_txs: None,
            },
            TxFactory::new(&genesis(), 7),
        );
        tokio::spawn(load.run(shutdown.clone()));

        let mut a = ArchiverConfig::for_deployment(
            vec![chain.url()],
            &chain.deployment,
            &chain.dir.path().join("node"),
        );
        a.polling_interval = Duration::from_millis(200);
        let archiver = Archiver::open(a).expect("archive");
        let (run, stop) = (archiver.clone(), shutdown.clone());
        tokio::spawn(async move { run.run(stop).await });
        Bid {
            chain,
            seq,
            seq_events,
            archiver,
            shutdown,
        }
    }

    fn http(&self) -> QuoteRoute {
        QuoteRoute::Http(http(&self.seq.rpc_url()))
    }

    /// Starts the prover's epoch monitor; its handle and events.
    fn monitor(
        &self,
        route: QuoteRoute,
        policy: QuotePolicy,
    ) -> (MonitorHandle, broadcast::Receiver<MonitorEvent>) {
        self.monitor_on(CHAIN_ID, route, policy)
    }

    /// [`Bid::monitor`], signing for chain `chain_id`.
    fn monitor_on(
        &self,
        chain_id: u64,
        route: QuoteRoute,
        policy: QuotePolicy,
    ) -> (MonitorHandle, broadcast::Receiver<MonitorEvent>) {
        let m = EpochMonitor::new(MonitorConfig {
            rollup: self.chain.rollup.clone(),
            wallet: self.chain.wallet(PROVER),
            deployment: Deployment {
                chain_id,
                ..self.chain.deployment
            },
            signer: self.chain.keys[PROVER].clone(),
            policy,
            route,
            source: Arc::new(self.archiver.clone()),
            in_progress: Arc::new(|| 0),
            unprovable: Arc::new(|| None),
            provers: provemesh_prover_node::quotes::fixed_provers(vec![
                provemesh_prover_node::quotes::full_agent("simulated", 4),
            ]),
            backend: "simulated",
            poll_interval: Duration::from_millis(200),
        });
        let (handle, events) = (m.handle(), m.subscribe());
        let stop = self.shutdown.clone();
        tokio::spawn(async move { m.run(stop).await.expect("monitor runs") });
        (handle, events)
    }

    /// The epoch of the first block the sequencer proposes.
    async fn first_block_epoch(&mut self) -> u64 {
        let slot = next_event(&mut self.seq_events, 20, |e| match e {
            SequencerEvent::BlockProposed { slot, .. } => Some(*slot),
            _ => None,
        })
        .await;
        slot / TIMING.epoch
    }

    fn prover(&self) -> Address {
        self.chain.keys[PROVER].address()
    }

    fn rival(&self) -> Address {
        self.chain.keys[RIVAL].address()
    }

    async fn token_balance(&self, who: Address) -> U256 {
        let p = self.chain.wallet(SEQUENCER);
        TestERC20::new(self.chain.deployment.token, &p)
            .balanceOf(who)
            .call()
            .await
            .expect("balanceOf")
    }

    /// Waits until `epoch`'s claim window has closed on L1.
    async fn window_closed(&self, epoch: u64) {
        let deadline = (epoch + 1) * TIMING.epoch + TIMING.claim_window;
        let rollup = self.chain.rollup.clone();
        eventually(15, "the claim window closed", || {
            let rollup = rollup.clone();
            async move {
                let slot = rollup.current_slot().await.unwrap();
                (slot >= deadline).then_some(())
            }
        })
        .await;
    }
}

impl Drop for Bid {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn http(url: &str) -> HttpClient {
    provemesh_p2p::http_client(url, Duration::from_secs(5)).unwrap()
}

/// The next monitor event `pred` picks (panics after `secs`).
async fn next<T>(
    rx: &mut broadcast::Receiver<MonitorEvent>,
    secs: u64,
    mut pred: impl FnMut(&MonitorEvent) -> Option<T>,
) -> T {
    let wait = async {
        loop {
            match rx.recv().await {
                Ok(e) => {
                    if let Some(t) = pred(&e) {
                        return t;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("monitor events ended: {e}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(secs), wait)
        .await
        .expect("the expected monitor event did not come in time")
}

/// The first claim the monitor reports: (epoch, prover, ours, bond, fee).
async fn claimed(rx: &mut broadcast::Receiver<MonitorEvent>) -> (u64, Address, bool, U256, u32) {
    next(rx, 30, |e| match e {
        MonitorEvent::Claimed {
            epoch,
            prover,
            ours,
            bond,
            basis_point_fee,
        } => Some((*epoch, *prover, *ours, *bond, *basis_point_fee)),
        _ => None,
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quote_the_sequencer_claims_is_won_and_its_bond_staked() {
    within(60, async {
        let mut bid = Bid::start(false, &[(PROVER, 5 * BOND, true)]).await;
        let (handle, mut events) = bid.monitor(bid.http(), policy());
        let epoch = bid.first_block_epoch().await;

        let sent = next(&mut events, 20, |e| match e {
            MonitorEvent::QuoteSent {
                epoch,
                basis_point_fee,
                bond,
                ..
            } => Some((*epoch, *basis_point_fee, *bond)),
            _ => None,
        })
        .await;
        assert_eq!(sent, (epoch, FEE_BPS, U256::from(BOND)));
        let claim = claimed(&mut events).await;
        assert_eq!(
            claim,
            (epoch, bid.prover(), true, U256::from(BOND), FEE_BPS)
        );

        let q = handle.quotes();
        assert_eq!(q.len(), 1, "{q:?}");
        assert_eq!((q[0].epoch, q[0].route), (epoch, "http"));
        assert_eq!(q[0].fate, QuoteFate::Won);
        let on_l1 = bid.chain.rollup.proof_claim().await.unwrap().unwrap();
        assert_eq!(on_l1.prover, bid.prover());
        assert_eq!(on_l1.epochToProve, U256::from(epoch));
        // The bond moved from the free deposit to bonded.
        assert_eq!(bid.chain.bonded(bid.prover()).await, U256::from(BOND));
        assert_eq!(
            bid.chain.deposited(bid.prover()).await,
            U256::from(4 * BOND)
        );
    })
    .await
}

/// An HTTP coordination node in front of the sequencer that, on our quote, first hands the
/// sequencer a cheaper quote of the rival for the same epoch: whenever the sequencer
/// claims, the rival's quote is there and better.
async fn outbidding_proxy(
    to: HttpClient,
    rival: PrivateKeySigner,
    domain: Eip712Domain,
) -> (String, ServerHandle) {
    struct Proxy {
        to: HttpClient,
        rival: PrivateKeySigner,
        domain: Eip712Domain,
    }
    let mut module = RpcModule::new(Proxy { to, rival, domain });
    module
        .register_async_method("prover_submitEpochProofQuote", |params, p, _| async move {
            let ours: SignedQuoteJson = params.one()?;
            let ours_signed = SignedEpochProofQuote::from(ours.clone());
            let cheaper = EpochProofQuote {
                basisPointFee: ours_signed.quote.basisPointFee / 2,
                prover: p.rival.address(),
                ..ours_signed.quote
            };
            let signed = sign_quote(&p.rival, cheaper, &p.domain).await.unwrap();
            p.to.submit_epoch_proof_quote(SignedQuoteJson::from(&signed))
                .await
                .expect("the sequencer takes the rival's quote");
            p.to.submit_epoch_proof_quote(ours)
                .await
                .map_err(|e| match e {
                    ClientError::Call(e) => e,
                    other => ErrorObjectOwned::owned(-32603, other.to_string(), None::<()>),
                })
        })
        .unwrap();
    let server = Server::builder().build("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", server.local_addr().unwrap());
    (url, server.start(module))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_better_rival_quote_wins_and_ours_is_lost() {
    within(60, async {
        let mut bid = Bid::start(false, &[(PROVER, BOND, true), (RIVAL, BOND, true)]).await;
        let domain = quote_domain(CHAIN_ID, bid.chain.deployment.rollup);
        let (proxy, _server) = outbidding_proxy(
            http(&bid.seq.rpc_url()),
            bid.chain.keys[RIVAL].clone(),
            domain,
        )
        .await;
        let (handle, mut events) = bid.monitor(QuoteRoute::Http(http(&proxy)), policy());
        let epoch = bid.first_block_epoch().await;

        let claim = claimed(&mut events).await;
        assert_eq!(
            claim,
            (epoch, bid.rival(), false, U256::from(BOND), FEE_BPS / 2)
        );
        let q = handle.quotes();
        assert_eq!(q.len(), 1, "{q:?}");
        assert_eq!(q[0].epoch, epoch);
        assert_eq!(
            q[0].fate,
            QuoteFate::Lost {
                winner: bid.rival(),
                winner_basis_point_fee: FEE_BPS / 2,
            }
        );
        // The rival's bond is staked, ours is still free.
        assert_eq!(bid.chain.bonded(bid.rival()).await, U256::from(BOND));
        assert_eq!(bid.chain.bonded(bid.prover()).await, U256::ZERO);
        assert_eq!(bid.chain.deposited(bid.prover()).await, U256::from(BOND));
        // Never reported as ours.
        while let Ok(e) = events.try_recv() {
            assert!(
                !matches!(e, MonitorEvent::Claimed { ours: true, .. }),
                "{e:?}"
            );
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_bond_in_tokens_no_quote_is_sent() {
    within(60, async {
        // 50 tokens, not deposited; the bond is 1000.
        let mut bid = Bid::start(false, &[(PROVER, 50, false)]).await;
        let p = QuotePolicy {
            auto_deposit: true,
            ..policy()
        };
        let (handle, mut events) = bid.monitor(bid.http(), p);
        let epoch = bid.first_block_epoch().await;

        let short = next(&mut events, 20, |e| match e {
            MonitorEvent::FundsShort { epoch, need, have } => Some((*epoch, *need, *have)),
            MonitorEvent::QuoteSent { .. } => panic!("quoted without the funds: {e:?}"),
            _ => None,
        })
        .await;
        assert_eq!(short, (epoch, U256::from(BOND), U256::from(50)));

        // Through the end of the claim window: nothing sent, nothing claimed.
        bid.window_closed(epoch).await;
        assert!(handle.quotes().is_empty(), "{:?}", handle.quotes());
        assert!(bid.seq.quotes_for(epoch).is_empty());
        assert!(bid.chain.rollup.proof_claim().await.unwrap().is_none());
        assert_eq!(bid.chain.deposited(bid.prover()).await, U256::ZERO);
        assert_eq!(bid.token_balance(bid.prover()).await, U256::from(50));
        while let Ok(e) = events.try_recv() {
            assert!(!matches!(e, MonitorEvent::QuoteSent { .. }), "{e:?}");
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_held_are_deposited_to_cover_the_bond_before_quoting() {
    within(60, async {
        let mut bid = Bid::start(false, &[(PROVER, 3 * BOND, false)]).await;
        let p = QuotePolicy {
            auto_deposit: true,
            ..policy()
        };
        let (handle, mut events) = bid.monitor(bid.http(), p);
        let epoch = bid.first_block_epoch().await;

        let claim = claimed(&mut events).await;
        assert_eq!(claim.0, epoch);
        assert!(claim.2, "claimed by {}, not us", claim.1);
        assert_eq!(handle.quotes()[0].fate, QuoteFate::Won);
        // Exactly the shortfall was deposited, then staked.
        assert_eq!(bid.token_balance(bid.prover()).await, U256::from(2 * BOND));
        assert_eq!(bid.chain.deposited(bid.prover()).await, U256::ZERO);
        assert_eq!(bid.chain.bonded(bid.prover()).await, U256::from(BOND));
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_epoch_below_the_minimum_reward_is_skipped_with_the_reason() {
    within(60, async {
        let mut bid = Bid::start(false, &[(PROVER, BOND, true)]).await;
        let fee_bps = 5_000;
        let p = QuotePolicy {
            basis_point_fee: fee_bps,
            min_fee_reward: U256::from(1_000_000),
            ..policy()
        };
        let (handle, mut events) = bid.monitor(bid.http(), p);
        let epoch = bid.first_block_epoch().await;

        let (skipped, reason) = next(&mut events, 20, |e| match e {
            MonitorEvent::QuoteSkipped { epoch, reason } => Some((*epoch, reason.clone())),
            MonitorEvent::QuoteSent { .. } => panic!("quoted below the minimum: {e:?}"),
            _ => None,
        })
        .await;
        assert_eq!(skipped, epoch);
        // The expected share is what the Rollup would pay for the epoch's blocks.
        let fees = bid
            .archiver
            .blocks_of_epoch(epoch)
            .await
            .unwrap()
            .into_iter()
            .map(|b| b.header.totalFees);
        let fees: Vec<U256> = fees.collect();
        assert!(fees.iter().all(|f| *f > U256::ZERO), "{fees:?}");
        assert_eq!(
            reason,
            SkipReason::BelowMinimumReward {
                expected: expected_reward(fees, fee_bps),
                minimum: U256::from(1_000_000),
            }
        );
        assert!(reason
            .to_string()
            .contains("below the minimum reward 1000000"));
        assert!(handle.quotes().is_empty());
        assert!(bid.seq.quotes_for(epoch).is_empty());
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quote_the_node_refuses_is_recorded_with_its_reason() {
    within(60, async {
        let mut bid = Bid::start(false, &[(PROVER, BOND, true)]).await;
        // Signed for another chain: the signature recovers to someone else.
        let (handle, mut events) = bid.monitor_on(1, bid.http(), policy());
        let epoch = bid.first_block_epoch().await;

        let q = eventually(20, "the quote's fate", || {
            let handle = handle.clone();
            async move { handle.quotes().into_iter().next() }
        })
        .await;
        assert_eq!(q.epoch, epoch);
        let QuoteFate::Refused { reason } = &q.fate else {
            panic!("not refused: {q:?}");
        };
        assert!(reason.contains("bad_signature"), "{reason}");
        // Not sent again, not claimed.
        bid.window_closed(epoch).await;
        assert_eq!(handle.quotes().len(), 1);
        assert!(bid.seq.quotes_for(epoch).is_empty());
        assert!(bid.chain.rollup.proof_claim().await.unwrap().is_none());
        while let Ok(e) = events.try_recv() {
            assert!(!matches!(e, MonitorEvent::QuoteSent { .. }), "{e:?}");
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_p2p_the_gossiped_quote_is_claimed() {
    within(60, async {
        let mut bid = Bid::start(true, &[(PROVER, BOND, true)]).await;
        let boot = bid.seq.p2p().expect("P2P on").listen_addrs()[0].clone();
        let (p2p, _inbound) = provemesh_p2p::start(
            P2pConfig::loopback(vec![boot]),
            Arc::new(FormatValidator),
            Arc::new(NoTxs),
            bid.shutdown.clone(),
        )
        .await
        .unwrap();
        let seq_p2p = bid.seq.p2p().unwrap().clone();
        eventually(
            15,
            "the prover subscribed to quotes at the sequencer",
            || {
                let seq_p2p = seq_p2p.clone();
                async move {
                    (!seq_p2p.topic_peers(Topic::Quotes).await.unwrap().is_empty()).then_some(())
                }
            },
        )
        .await;
        let (handle, mut events) = bid.monitor(QuoteRoute::P2p(p2p), policy());
        let epoch = bid.first_block_epoch().await;

        let claim = claimed(&mut events).await;
        assert_eq!(
            claim,
            (epoch, bid.prover(), true, U256::from(BOND), FEE_BPS)
        );
        let q = handle.quotes();
        assert_eq!((q[0].route, &q[0].fate), ("p2p", &QuoteFate::Won));
    })
    .await
}
