//! The L1 publisher against a real anvil: an epoch is proposed and claimed directly on L1
//! (no sequencer node), and its simulated root proof published — once, across a restart,
//! with a fee-bumped replacement, through a failover, refused before paying, and with every
//! endpoint down.

use crate::support::{within, Chain, Timing, CHAIN_ID, PROVER, SEQUENCER, SLOT};
use alloy::primitives::{Bytes, B256, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::signers::local::PrivateKeySigner;
use provemesh_common::circuit::{SimulatedCircuitInputs, SimulatedProof};
use provemesh_common::{JobId, ProofType};
use provemesh_l1::bindings::Rollup::{RollupErrors, RollupEvents};
use provemesh_l1::hash::{merkle_root, txs_effects_hash};
use provemesh_l1::public_inputs::{prover_id, verifier_public_input_fields};
use provemesh_l1::{
    dev_chain, quote_domain, sign_quote, BlockHeader, ContentCommitment, EpochProofPublicInputs,
    EpochProofQuote, GlobalVariables, InboxContract, ProposeArgs, Revert, RollupContract,
    StateReference, TreeSnapshot,
};
use provemesh_prover_node::publisher::{
    EpochSubmission, L1Publisher, PublishError, Published, PublisherConfig,
};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use url::Url;

/// The proof window (64 s of L1 time after the claim) outlasts every test unless warped.
const TIMING: Timing = Timing {
    epoch: 32,
    claim_window: 2,
    proof_window: 32,
};
const BOND: u64 = 100;

/// Proposes two blocks in the next whole epoch, claims it for the prover, and returns the
/// epoch's valid simulated root proof submission.
async fn claimed_epoch(chain: &Chain) -> EpochSubmission {
    chain.fund(PROVER, BOND, true).await;
    let seq = chain.wallet(SEQUENCER);
    let rollup = RollupContract::new(chain.deployment.rollup, seq.clone());
    let inbox = InboxContract::new(chain.deployment.inbox, seq.clone());
    let timing = rollup.timing().await.expect("timing");
    let epoch = rollup.current_slot().await.expect("slot") / TIMING.epoch + 1;
    let warp = |slot: u64| {
        let seq = seq.clone();
        async move {
            dev_chain::warp_to(&seq, timing.timestamp_for_slot(slot))
                .await
                .expect("warp")
        }
    };
    let genesis = rollup.block(0).await.expect("genesis").archive;
    let (mut parent, mut out_hashes, mut fees) = (genesis, Vec::new(), 0u64);
    for (i, number) in [1u64, 2].into_iter().enumerate() {
        let slot = epoch * TIMING.epoch + i as u64;
        warp(slot).await;
        let body = Bytes::from(format!("effects of block {number}").into_bytes());
        let archive = B256::from(U256::from(0xA000 + number));
        let out_hash = B256::from(U256::from(0xB000 + number));
        let (in_hash, _) = inbox.bucket(number).await.expect("bucket");
        let snapshot = |i: u8| TreeSnapshot {
            root: B256::repeat_byte(i),
            nextAvailableLeafIndex: 0,
        };
        let header = BlockHeader {
            lastArchive: TreeSnapshot {
                root: parent,
                nextAvailableLeafIndex: number as u32,
            },
            contentCommitment: ContentCommitment {
                numTxs: U256::ZERO,
                txsEffectsHash: txs_effects_hash(&body),
                inHash: in_hash,
                outHash: out_hash,
            },
            state: StateReference {
                l1ToL2MessageTree: snapshot(1),
                noteHashTree: snapshot(2),
                nullifierTree: snapshot(3),
                publicDataTree: snapshot(4),
            },
            globalVariables: GlobalVariables {
                chainId: U256::from(CHAIN_ID),
                version: U256::from(1),
                blockNumber: U256::from(number),
                slotNumber: U256::from(slot),
                timestamp: U256::from(timing.timestamp_for_slot(slot)),
                coinbase: chain.keys[SEQUENCER].address(),
                feeRecipient: B256::ZERO,
            },
            totalFees: U256::from(10 * number),
        };
        let args = ProposeArgs {
            header,
            archive,
            txHashes: vec![],
            body,
        };
        rollup.propose(args).await.expect("propose");
        (parent, fees) = (archive, fees + 10 * number);
        out_hashes.push(out_hash);
    }
    warp((epoch + 1) * TIMING.epoch).await;
    let prover = &chain.keys[PROVER];
    let quote = EpochProofQuote {
        epochToProve: U256::from(epoch),
        validUntilSlot: U256::from((epoch + 1) * TIMING.epoch + 1),
        bondAmount: U256::from(BOND),
        basisPointFee: 2_500,
        prover: prover.address(),
    };
    let domain = quote_domain(CHAIN_ID, chain.deployment.rollup);
    let signed = sign_quote(prover, quote, &domain).await.expect("sign");
    rollup.claim_epoch_proof_right(signed).await.expect("claim");

    let args = EpochProofPublicInputs {
        previousArchive: genesis,
        endArchive: parent,
        outHash: merkle_root(&out_hashes),
        totalFees: U256::from(fees),
        proverId: prover_id(prover.address()),
    };
    let inputs = SimulatedCircuitInputs {
        public_inputs: verifier_public_input_fields(&args, epoch, 2),
        payload: ::bytes::Bytes::from_static(b"root rollup witness"),
        ..Default::default()
    };
    let id = JobId::derive(ProofType::RootRollup, &inputs.encode().expect("encode"));
    EpochSubmission {
        epoch,
        end_block: 2,
        args,
        proof: Bytes::from(SimulatedProof::create(&id, &inputs, 512)),
    }
}

/// A publisher for the prover with test-sized timings.
fn config(chain: &Chain, urls: Vec<Url>, journal: &Path) -> PublisherConfig {
    let mut c = PublisherConfig::new(
        urls,
        chain.deployment.rollup,
        chain.keys[PROVER].clone(),
        journal.to_path_buf(),
    );
    c.confirmation_timeout = Duration::from_secs(2);
    c.poll_interval = Duration::from_millis(100);
    c
}

async fn proven_tip(chain: &Chain) -> u64 {
    chain.rollup.tips().await.expect("tips").proven
}

/// The prover's mined and pending nonces.
async fn nonces(chain: &Chain) -> (u64, u64) {
    let p = chain.wallet(SEQUENCER);
    let a = chain.keys[PROVER].address();
    let mined = p.get_transaction_count(a).latest().await.expect("nonce");
    let pending = p.get_transaction_count(a).pending().await.expect("nonce");
    (mined, pending)
}

async fn set_automine(p: &DynProvider, on: bool) {
    p.raw_request::<_, serde_json::Value>("evm_setAutomine".into(), (on,))
        .await
        .expect("evm_setAutomine");
}

async fn epoch_proven_events(chain: &Chain) -> usize {
    let head = chain
        .wallet(SEQUENCER)
        .get_block_number()
        .await
        .expect("head");
    chain
        .rollup
        .events(0, head)
        .await
        .expect("events")
        .iter()
        .filter(|l| matches!(l.event, RollupEvents::EpochProven(_)))
        .count()
}

/// Waits until the journal of `epoch` records `n` transactions; returns them.
async fn journaled(p: &L1Publisher, epoch: u64, n: usize) -> Vec<B256> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let flight = p.in_flight(epoch).await.expect("journal");
        if let Some(f) = flight.filter(|f| f.sent.len() >= n) {
            return f.sent.iter().map(|t| t.tx_hash).collect();
        }
        assert!(
            Instant::now() < deadline,
            "no {n} journaled transactions in time"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A loopback URL nobody listens on.
fn dead_url() -> Url {
    format!("http://127.0.0.1:{}", provemesh_harness::free_port())
        .parse()
        .expect("url")
}

#[tokio::test]
async fn a_claimed_epochs_proof_is_published_once() {
    within(60, async {
        let (chain, _ws) = Chain::start(TIMING).await;
        let s = claimed_epoch(&chain).await;
        let journal = chain.dir.path().join("publisher");
        let p = L1Publisher::new(config(&chain, vec![chain.url()], &journal)).expect("publisher");
        assert_eq!(p.address(), chain.keys[PROVER].address());
        let (before, _) = nonces(&chain).await;

        let out = p
            .publish(&s, &CancellationToken::new())
            .await
            .expect("publish");
        let Published::Submitted {
            tx_hash, attempts, ..
        } = out
        else {
            panic!("expected a submission, got {out:?}");
        };
        assert_eq!(attempts, 1);
        assert_eq!(proven_tip(&chain).await, s.end_block);
        let receipt = chain
            .wallet(SEQUENCER)
            .get_transaction_receipt(tx_hash)
            .await
            .expect("receipt")
            .expect("mined");
        assert!(receipt.status());
        assert_eq!(receipt.from, chain.keys[PROVER].address());
        assert_eq!(nonces(&chain).await, (before + 1, before + 1));
        assert_eq!(p.in_flight(s.epoch).await.expect("journal"), None);

        // A restarted node (a new publisher on the same journal) sends nothing.
        let again = L1Publisher::new(config(&chain, vec![chain.url()], &journal)).expect("new");
        let out = again
            .publish(&s, &CancellationToken::new())
            .await
            .expect("publish again");
        assert_eq!(
            out,
            Published::AlreadyProven {
                proven_tip: s.end_block
            }
        );
        assert_eq!(nonces(&chain).await, (before + 1, before + 1));
        assert_eq!(epoch_proven_events(&chain).await, 1);
    })
    .await;
}

/// Automine off, publishes `s` until its transaction is journaled and in anvil's pool,
/// then cancels, as a node dying mid-publish would; returns the transaction's hash.
async fn die_mid_publish(chain: &Chain, cfg: &PublisherConfig, s: &EpochSubmission) -> B256 {
    let l1 = chain.wallet(SEQUENCER);
    set_automine(&l1, false).await;
    let p = Arc::new(L1Publisher::new(cfg.clone()).expect("publisher"));
    let cancel = CancellationToken::new();
    let task = {
        let (p, s, cancel) = (p.clone(), s.clone(), cancel.clone());
        tokio::spawn(async move { p.publish(&s, &cancel).await })
    };
    let sent = journaled(&p, s.epoch, 1).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while l1
        .get_transaction_by_hash(sent[0])
        .await
        .expect("tx")
        .is_none()
    {
        assert!(
            Instant::now() < deadline,
            "the transaction never reached anvil"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cancel.cancel();
    let r = task.await.expect("task");
    assert!(matches!(r, Err(PublishError::Cancelled { .. })), "{r:?}");
    sent[0]
}

/// A publisher with no replacement within the test.
fn patient_config(chain: &Chain) -> PublisherConfig {
    let mut cfg = config(
        chain,
        vec![chain.url()],
        &chain.dir.path().join("publisher"),
    );
    cfg.confirmation_timeout = Duration::from_secs(30);
    cfg
}

#[tokio::test]
async fn a_restarted_publisher_finds_its_mined_journaled_transaction() {
    within(60, async {
        let (chain, _ws) = Chain::start(TIMING).await;
        let s = claimed_epoch(&chain).await;
        let cfg = patient_config(&chain);
        let (before, _) = nonces(&chain).await;
        let sent = die_mid_publish(&chain, &cfg, &s).await;

        // Mined while the node was down.
        let l1 = chain.wallet(SEQUENCER);
        set_automine(&l1, true).await;
        dev_chain::mine(&l1).await.expect("mine");
        assert_eq!(nonces(&chain).await, (before + 1, before + 1));

        let restarted = L1Publisher::new(cfg).expect("restarted");
        let out = restarted
            .publish(&s, &CancellationToken::new())
            .await
            .expect("publish after restart");
        assert!(
            matches!(out, Published::Submitted { tx_hash, attempts: 1, .. } if tx_hash == sent),
            "{out:?}"
        );
        assert_eq!(
            nonces(&chain).await,
            (before + 1, before + 1),
            "a new tx was sent"
        );
        assert_eq!(proven_tip(&chain).await, s.end_block);
        assert_eq!(restarted.in_flight(s.epoch).await.expect("journal"), None);
    })
    .await;
}

#[tokio::test]
async fn a_restarted_publisher_waits_on_its_pending_journaled_transaction() {
    within(60, async {
        let (chain, _ws) = Chain::start(TIMING).await;
        let s = claimed_epoch(&chain).await;
        let cfg = patient_config(&chain);
        let (before, _) = nonces(&chain).await;
        let sent = die_mid_publish(&chain, &cfg, &s).await;

        // Restarted while the transaction still waits in the pool.
        let restarted = Arc::new(L1Publisher::new(cfg).expect("restarted"));
        let task = {
            let (p, s) = (restarted.clone(), s.clone());
            tokio::spawn(async move { p.publish(&s, &CancellationToken::new()).await })
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(!task.is_finished(), "{:?}", task.await);
        assert_eq!(
            nonces(&chain).await,
            (before, before + 1),
            "a new tx was sent"
        );
        let flight = restarted.in_flight(s.epoch).await.expect("journal");
        assert_eq!(flight.map(|f| f.sent.len()), Some(1));

        let l1 = chain.wallet(SEQUENCER);
        dev_chain::mine(&l1).await.expect("mine");
        let out = task.await.expect("task").expect("publish after restart");
        assert!(
            matches!(out, Published::Submitted { tx_hash, attempts: 1, .. } if tx_hash == sent),
            "{out:?}"
        );
        set_automine(&l1, true).await;
        assert_eq!(nonces(&chain).await, (before + 1, before + 1));
        assert_eq!(proven_tip(&chain).await, s.end_block);
        assert_eq!(epoch_proven_events(&chain).await, 1);
    })
    .await;
}

#[tokio::test]
async fn a_stuck_transaction_is_replaced_with_higher_fees_and_lands_once() {
    within(60, async {
        let (chain, _ws) = Chain::start(TIMING).await;
        let s = claimed_epoch(&chain).await;
        let l1 = chain.wallet(SEQUENCER);
        let mut cfg = config(
            &chain,
            vec![chain.url()],
            &chain.dir.path().join("publisher"),
        );
        cfg.confirmation_timeout = Duration::from_secs(1);
        cfg.max_attempts = 2;
        let bump = u128::from(cfg.fee_bump_percent);
        let p = Arc::new(L1Publisher::new(cfg).expect("publisher"));
        let (before, _) = nonces(&chain).await;

        set_automine(&l1, false).await;
        let task = {
            let (p, s) = (p.clone(), s.clone());
            tokio::spawn(async move { p.publish(&s, &CancellationToken::new()).await })
        };
        let first = journaled(&p, s.epoch, 1).await[0];
        let tx1 = l1
            .get_transaction_by_hash(first)
            .await
            .expect("tx")
            .expect("the first tx in the pool");
        let sent = journaled(&p, s.epoch, 2).await;
        let tx2 = l1
            .get_transaction_by_hash(sent[1])
            .await
            .expect("tx")
            .expect("the replacement in the pool");
        dev_chain::mine(&l1).await.expect("mine");

        use alloy::consensus::Transaction as _;
        assert_eq!(tx2.nonce(), tx1.nonce());
        assert_eq!(tx1.nonce(), before);
        assert!(
            tx2.max_fee_per_gas() * 100 >= tx1.max_fee_per_gas() * (100 + bump),
            "max fee {} → {}",
            tx1.max_fee_per_gas(),
            tx2.max_fee_per_gas()
        );
        let (p1, p2) = (
            tx1.max_priority_fee_per_gas().expect("eip-1559"),
            tx2.max_priority_fee_per_gas().expect("eip-1559"),
        );
        assert!(p2 * 100 >= p1 * (100 + bump), "priority fee {p1} → {p2}");

        let out = task.await.expect("task").expect("publish");
        assert!(
            matches!(out, Published::Submitted { tx_hash, attempts: 2, .. } if tx_hash == sent[1]),
            "{out:?}"
        );
        set_automine(&l1, true).await;
        assert_eq!(proven_tip(&chain).await, s.end_block);
        assert_eq!(epoch_proven_events(&chain).await, 1);
        assert_eq!(nonces(&chain).await, (before + 1, before + 1));
        let replaced = l1.get_transaction_receipt(first).await.expect("receipt");
        assert!(replaced.is_none(), "the replaced transaction was mined too");
    })
    .await;
}

#[tokio::test]
async fn a_dead_first_endpoint_fails_over_to_the_next() {
    within(60, async {
        let (chain, _ws) = Chain::start(TIMING).await;
        let s = claimed_epoch(&chain).await;
        let urls = vec![dead_url(), chain.url()];
        let p = L1Publisher::new(config(&chain, urls, &chain.dir.path().join("publisher")))
            .expect("publisher");
        let out = p
            .publish(&s, &CancellationToken::new())
            .await
            .expect("publish through the second endpoint");
        assert!(
            matches!(out, Published::Submitted { attempts: 1, .. }),
            "{out:?}"
        );
        assert_eq!(proven_tip(&chain).await, s.end_block);
    })
    .await;
}

#[tokio::test]
async fn a_submission_the_rollup_refuses_is_rejected_without_a_transaction() {
    within(60, async {
        let (chain, _ws) = Chain::start(TIMING).await;
        let s = claimed_epoch(&chain).await;
        let p = L1Publisher::new(config(
            &chain,
            vec![chain.url()],
            &chain.dir.path().join("publisher"),
        ))
        .expect("publisher");
        let before = nonces(&chain).await;

        let mut wrong = s.clone();
        wrong.args.endArchive = B256::repeat_byte(0xEE);
        let e = p
            .publish(&wrong, &CancellationToken::new())
            .await
            .expect_err("wrong public inputs");
        match &e {
            PublishError::Rejected { epoch, revert } => {
                assert_eq!(*epoch, s.epoch);
                assert!(
                    matches!(
                        **revert,
                        Revert::Rollup(RollupErrors::Rollup__InvalidEndArchive(_))
                    ),
                    "{e}"
                );
            }
            _ => panic!("expected Rejected, got {e}"),
        }
        assert!(e.to_string().contains("Rollup__InvalidEndArchive"), "{e}");

        // Past the proof window.
        let l1 = chain.wallet(SEQUENCER);
        dev_chain::increase_time(&l1, (TIMING.proof_window + 1) * SLOT)
            .await
            .expect("warp");
        let e = p
            .publish(&s, &CancellationToken::new())
            .await
            .expect_err("window closed");
        assert!(
            matches!(&e, PublishError::Rejected { revert, .. }
                if matches!(**revert, Revert::Rollup(RollupErrors::Rollup__ProofWindowClosed(_)))),
            "{e}"
        );
        assert!(e.to_string().contains("Rollup__ProofWindowClosed"), "{e}");

        assert_eq!(nonces(&chain).await, before, "a transaction was sent");
        assert_eq!(p.in_flight(s.epoch).await.expect("journal"), None);
        assert_eq!(proven_tip(&chain).await, 0);
    })
    .await;
}

#[tokio::test]
async fn with_every_endpoint_down_the_error_is_clear_and_keeps_secrets() {
    within(30, async {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = PrivateKeySigner::random();
        let key_hex = alloy::hex::encode(key.to_bytes());
        let secret_url: Url = format!(
            "http://operator:hunter2@127.0.0.1:{}/v1/PATHKEY?apikey=QUERYKEY",
            provemesh_harness::free_port()
        )
        .parse()
        .expect("url");
        let first = dead_url();
        let cfg = PublisherConfig::new(
            vec![first.clone(), secret_url.clone()],
            alloy::primitives::Address::repeat_byte(0x11),
            key.clone(),
            dir.path().join("publisher"),
        );
        let p = L1Publisher::new(cfg.clone()).expect("publisher");
        let s = EpochSubmission {
            epoch: 3,
            end_block: 7,
            args: EpochProofPublicInputs {
                previousArchive: B256::ZERO,
                endArchive: B256::ZERO,
                outHash: B256::ZERO,
                totalFees: U256::ZERO,
                proverId: B256::ZERO,
            },
            proof: Bytes::from_static(b"proof"),
        };

        let started = Instant::now();
        let e = p
            .publish(&s, &CancellationToken::new())
            .await
            .expect_err("nothing answers");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "took {:?}",
            started.elapsed()
        );
        assert!(
            matches!(e, PublishError::Unreachable { epoch: 3, .. }),
            "{e:?}"
        );
        let (display, debug) = (e.to_string(), format!("{e:?}"));
        let port = secret_url.port().expect("port");
        assert!(
            display.contains(&format!("http://127.0.0.1:{port}")),
            "{display}"
        );
        assert!(
            display.contains(first.as_str().trim_end_matches('/')),
            "{display}"
        );
        let printed = [display, debug, format!("{cfg:?}"), format!("{p:?}")];
        for text in &printed {
            for secret in [
                key_hex.as_str(),
                "hunter2",
                "operator",
                "PATHKEY",
                "QUERYKEY",
            ] {
                assert!(!text.contains(secret), "{secret} printed in {text}");
            }
        }

        // A bad setting is refused at start-up, naming it.
        let mut bad = cfg.clone();
        bad.fee_bump_percent = 10;
        let e = L1Publisher::new(bad).expect_err("a 10% bump");
        assert!(e.to_string().contains("fee_bump_percent"), "{e}");
        let mut bad = cfg;
        bad.l1_urls.clear();
        let e = L1Publisher::new(bad).expect_err("no endpoint");
        assert!(e.to_string().contains("l1_urls"), "{e}");
    })
    .await;
}
