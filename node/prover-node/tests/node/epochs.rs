//! The prover node end to end: quotes won, epochs re-executed, proved on the mesh and
//! verified on L1; a lost bid; agents and the node itself crashing mid-epoch; an L1 URL
//! down.

use crate::support::{within, MIN_BOND, PROVER, RIVAL};
use crate::system::{AgentProcess, System, SLOW_TIMING, TIMING};
use alloy::primitives::U256;
use provemesh_archiver::L2BlockSource;
use provemesh_common::EpochNumber;
use provemesh_l1::{quote_domain, sign_quote, EpochProofQuote};
use provemesh_p2p::wire::SignedQuoteJson;
use provemesh_p2p::NodeApiClient as _;
use provemesh_prover_node::epochs::{EpochEvent, Published};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// The next `Published` event (panics on a failed epoch or after `secs`).
async fn next_published(rx: &mut broadcast::Receiver<EpochEvent>, secs: u64) -> (u64, Published) {
    let wait = async {
        loop {
            match rx.recv().await {
                Ok(EpochEvent::Published { epoch, published }) => return (epoch, published),
                Ok(EpochEvent::Failed { epoch, error }) => panic!("epoch {epoch} failed: {error}"),
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("node events ended: {e}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(secs), wait)
        .await
        .expect("no epoch published in time")
}

/// The `Published` event of `epoch` (panics if that epoch fails, or after `secs`); other
/// epochs' events pass by (under load a later epoch may miss its own short window).
async fn published_of(
    rx: &mut broadcast::Receiver<EpochEvent>,
    epoch: u64,
    secs: u64,
) -> Published {
    let wait = async {
        loop {
            match rx.recv().await {
                Ok(EpochEvent::Published {
                    epoch: e,
                    published,
                }) if e == epoch => return published,
                Ok(EpochEvent::Failed { epoch: e, error }) if e == epoch => {
                    panic!("epoch {epoch} failed: {error}")
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("node events ended: {e}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(secs), wait)
        .await
        .unwrap_or_else(|_| panic!("epoch {epoch} not published in time"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claimed_epochs_are_proven_and_verified_on_l1() {
    within(180, async {
        let sys = System::start(TIMING, 4, Duration::from_millis(20), 6.0, 4).await;
        let dir = tempfile::tempdir().unwrap();
        let stop = CancellationToken::new();
        let node = sys.node(sys.node_config(dir.path()), &stop).await;
        let mut events = node.subscribe();
        let prover = sys.chain.keys[PROVER].address();

        // Until three epochs of ≥ 2 blocks of ≥ 4 txs each are proven (at most 8 epochs).
        let mut full = Vec::new();
        let mut last_end = 0;
        for _ in 0..8 {
            let (epoch, published) = next_published(&mut events, 60).await;
            assert!(
                matches!(published, Published::Submitted { .. }),
                "epoch {epoch} was submitted by us: {published:?}"
            );
            let blocks = node.archiver.blocks_of_epoch(epoch).await.unwrap();
            let end = blocks.last().unwrap().number;
            assert!(end > last_end);
            last_end = end;
            let tips = sys.chain.rollup.tips().await.unwrap();
            assert!(tips.proven >= end, "L1's proven tip passed epoch {epoch}");
            if blocks.len() >= 2 && blocks.iter().all(|b| b.tx_hashes.len() >= 4) {
                full.push(epoch);
            }
            if full.len() >= 3 {
                break;
            }
        }
        assert!(full.len() >= 3, "three full epochs proven: {full:?}");
        // Every bond came back; the fees were paid.
        assert_eq!(
            sys.chain.bonded(prover).await,
            U256::ZERO,
            "no bond left staked"
        );
        assert!(sys.chain.deposited(prover).await >= U256::from(MIN_BOND));
        let fees = sys.chain.rollup.fees_of(prover).await.unwrap();
        assert!(fees > U256::ZERO, "the prover earned its share of the fees");
        // Each job of the proven epochs was proved once.
        for e in &full {
            let statuses = sys
                .mesh
                .broker
                .epoch_statuses(EpochNumber(*e))
                .await
                .unwrap();
            assert!(!statuses.is_empty());
            let rec = node.epochs.get(*e).unwrap();
            assert_eq!(
                rec.jobs,
                Some(statuses.len()),
                "epoch {e}: jobs of the DAG = jobs on the mesh"
            );
        }
        stop.cancel();
        node.wait().await.unwrap();
        sys.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_bid_proves_nothing() {
    within(120, async {
        let sys = System::start(TIMING, 2, Duration::from_millis(10), 4.0, 1).await;
        sys.chain.fund(RIVAL, 10 * MIN_BOND, true).await;
        let rival = sys.chain.keys[RIVAL].clone();
        let dir = tempfile::tempdir().unwrap();
        let stop = CancellationToken::new();
        let node = sys.node(sys.node_config(dir.path()), &stop).await;
        let mut events = node.subscribe();
        // A cheaper quote for epoch 0, sent to the sequencer before the claim window.
        let client =
            provemesh_p2p::http_client(&sys.seq.rpc_url(), Duration::from_secs(5)).unwrap();
        let quote = EpochProofQuote {
            epochToProve: U256::from(0u64),
            validUntilSlot: U256::from(1_000u64),
            bondAmount: U256::from(MIN_BOND),
            basisPointFee: 1,
            prover: rival.address(),
        };
        let signed = sign_quote(
            &rival,
            quote,
            &quote_domain(crate::support::CHAIN_ID, sys.chain.deployment.rollup),
        )
        .await
        .unwrap();
        client
            .submit_epoch_proof_quote(SignedQuoteJson::from(&signed))
            .await
            .unwrap();
        // Epoch 0 goes to the rival; epoch 1 (no rival quote) to us.
        let (epoch, _) = next_published(&mut events, 90).await;
        assert!(
            epoch >= 1,
            "our first proven epoch comes after the lost one"
        );
        assert!(
            node.epochs.get(0).is_none(),
            "the node never started epoch 0"
        );
        assert!(
            sys.mesh
                .broker
                .epoch_statuses(EpochNumber(0))
                .await
                .unwrap()
                .is_empty(),
            "no job of epoch 0 reached the mesh"
        );
        stop.cancel();
        node.wait().await.unwrap();
        sys.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_agents_on_the_mesh_the_node_does_not_bid_until_one_joins() {
    within(150, async {
        use provemesh_prover_node::quotes::{MonitorEvent, SkipReason};
        let mut sys = System::start(TIMING, 0, Duration::from_millis(10), 4.0, 1).await;
        let dir = tempfile::tempdir().unwrap();
        let stop = CancellationToken::new();
        let node = sys.node(sys.node_config(dir.path()), &stop).await;
        let mut events = node.subscribe();
        let mut quotes = node.subscribe_quotes();
        // An ended epoch and nobody to prove it: no quote, and the reason says why.
        let (skipped, reason) = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                match quotes.recv().await {
                    Ok(MonitorEvent::QuoteSkipped {
                        epoch,
                        reason: r @ SkipReason::NoProvers { .. },
                    }) => return (epoch, r),
                    Ok(MonitorEvent::QuoteSent { epoch, .. }) => {
                        panic!("quoted for epoch {epoch} with no agent on the mesh")
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(e) => panic!("quote events: {e}"),
                }
            }
        })
        .await
        .expect("an epoch skipped for want of agents");
        assert!(
            reason.to_string().contains("no agents on the mesh"),
            "{reason}"
        );
        assert!(node.epochs.get(skipped).is_none());
        // An agent announces itself: the node bids again (for the skipped epoch too while
        // its claim window lasts: skips for want of agents are re-checked every round) and
        // its epochs are proven.
        sys.agents
            .push(sys.mesh.agent("late", Duration::from_millis(10)).await);
        crate::support::eventually(10, "the agent's presence on the mesh", || {
            let b = sys.mesh.broker.clone();
            async move {
                let present = b.agents().await.ok()?;
                (present.len() == 1 && present[0].backend == "simulated").then_some(())
            }
        })
        .await;
        let (epoch, _) = next_published(&mut events, 90).await;
        assert!(epoch >= skipped, "proven once the agent joined");
        stop.cancel();
        node.wait().await.unwrap();
        sys.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_the_agents_crash_mid_epoch_and_the_epoch_still_lands() {
    within(180, async {
        // Four agent processes with slow proofs, so the kills land while jobs are in
        // flight.
        let sys = System::start(SLOW_TIMING, 0, Duration::ZERO, 2.0, 2).await;
        let mut agents: Vec<AgentProcess> = (0..4)
            .map(|i| {
                AgentProcess::start(&sys.mesh, &format!("agent-{i}"), Duration::from_millis(250))
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let stop = CancellationToken::new();
        let node = sys.node(sys.node_config(dir.path()), &stop).await;
        let mut events = node.subscribe();
        let started = loop {
            if let EpochEvent::Started { epoch } = events.recv().await.unwrap() {
                break epoch;
            }
        };
        // Wait for the first proofs, then two agents vanish (kill -9).
        crate::support::eventually(60, "first proofs of the epoch", || {
            let b = sys.mesh.broker.clone();
            async move {
                let s = b.epoch_statuses(EpochNumber(started)).await.ok()?;
                s.iter()
                    .any(|s| s.state == provemesh_common::JobState::Proved)
                    .then_some(())
            }
        })
        .await;
        agents[0].kill9();
        agents[1].kill9();
        let published = published_of(&mut events, started, 120).await;
        let epoch = started;
        assert!(matches!(published, Published::Submitted { .. }));
        let tips = sys.chain.rollup.tips().await.unwrap();
        let end = node
            .archiver
            .blocks_of_epoch(epoch)
            .await
            .unwrap()
            .last()
            .unwrap()
            .number;
        assert!(tips.proven >= end);
        stop.cancel();
        node.wait().await.unwrap();
        sys.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_crashed_mid_epoch_and_restarted_publishes_once_and_proves_nothing_twice() {
    restart_mid_epoch(false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_stopped_mid_epoch_and_restarted_publishes_once_and_proves_nothing_twice() {
    // A graceful stop (an operator's restart) must leave the epoch on the mesh: cancelling
    // it there would be final, and the restarted node could never prove it.
    restart_mid_epoch(true).await
}

async fn restart_mid_epoch(graceful: bool) {
    within(180, async {
        let sys = System::start(SLOW_TIMING, 2, Duration::from_millis(150), 2.0, 2).await;
        let dir = tempfile::tempdir().unwrap();
        let stop = CancellationToken::new();
        let node = sys.node(sys.node_config(dir.path()), &stop).await;
        let mut events = node.subscribe();
        let epoch = loop {
            if let EpochEvent::Started { epoch } = events.recv().await.unwrap() {
                break epoch;
            }
        };
        crate::support::eventually(60, "first proofs", || {
            let p = sys.proved();
            async move { (p > 0).then_some(()) }
        })
        .await;
        if graceful {
            stop.cancel();
            node.wait().await.unwrap();
        } else {
            // Gone without a goodbye: every task aborted mid-flight.
            node.crash().await;
        }
        let proved_before = sys.proved();

        let stop2 = CancellationToken::new();
        let node = sys.node(sys.node_config(dir.path()), &stop2).await;
        let mut events = node.subscribe();
        // The restarted node finishes the epoch it was proving.
        let published = published_of(&mut events, epoch, 120).await;
        assert!(
            matches!(published, Published::Submitted { .. }),
            "{published:?}"
        );
        // One submission: one EpochProven for the epoch on L1.
        let proven = sys.chain.proven_events(epoch).await;
        assert_eq!(proven, 1, "exactly one EpochProven for epoch {epoch}");
        // Nothing proved twice: every job of the epoch proved once in all.
        let jobs = node.epochs.get(epoch).unwrap().jobs.unwrap() as u64;
        assert!(
            proved_before < jobs,
            "the crash came before the epoch was done"
        );
        assert_eq!(sys.proved(), jobs, "proofs made = jobs of the epoch");
        stop2.cancel();
        node.wait().await.unwrap();
        sys.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_l1_url_down_fails_over_to_the_next() {
    within(120, async {
        let sys = System::start(TIMING, 2, Duration::from_millis(10), 4.0, 1).await;
        let dir = tempfile::tempdir().unwrap();
        let stop = CancellationToken::new();
        let mut config = sys.node_config(dir.path());
        // First URL: a port nothing listens on.
        let dead = provemesh_harness::free_port();
        config.l1_urls = vec![
            format!("http://127.0.0.1:{dead}").parse().unwrap(),
            sys.chain.url(),
        ];
        let node = sys.node(config, &stop).await;
        let mut events = node.subscribe();
        let (_, published) = next_published(&mut events, 90).await;
        assert!(matches!(published, Published::Submitted { .. }));
        stop.cancel();
        node.wait().await.unwrap();
        sys.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_l1_reorg_that_drops_a_block_of_the_epoch_being_proven_stops_it_and_nothing_is_submitted(
) {
    within(180, async {
        use std::collections::BTreeMap;
        // Slow proofs, so the reorg lands while the epoch is on the mesh.
        let mut sys = System::start(SLOW_TIMING, 2, Duration::from_millis(200), 2.0, 1).await;
        let dir = tempfile::tempdir().unwrap();
        let stop = CancellationToken::new();
        let node = sys.node(sys.node_config(dir.path()), &stop).await;
        let mut events = node.subscribe();
        let mut proposed = sys.seq.subscribe();
        // L1 as it was right after each proposed block: where a reorg can go back to.
        let mut after_block: BTreeMap<u64, U256> = BTreeMap::new();
        let epoch = tokio::time::timeout(Duration::from_secs(90), async {
            loop {
                tokio::select! {
                    ev = proposed.recv() => {
                        if let Ok(provemesh_sequencer::SequencerEvent::BlockProposed { number, .. }) = ev {
                            after_block.insert(number, sys.chain.snapshot().await);
                        }
                    }
                    ev = events.recv() => {
                        if let Ok(EpochEvent::Started { epoch }) = ev {
                            return epoch;
                        }
                    }
                }
            }
        })
        .await
        .expect("an epoch claimed with our quote");
        let blocks = node.archiver.blocks_of_epoch(epoch).await.unwrap();
        let last = blocks.last().unwrap().number;
        let back_to = *after_block
            .get(&(last - 1))
            .expect("a snapshot from before the epoch's last block");
        // Mid-epoch: some proofs in, the root not yet.
        crate::support::eventually(30, "first proofs of the epoch", || {
            let b = sys.mesh.broker.clone();
            async move {
                let s = b.epoch_statuses(EpochNumber(epoch)).await.ok()?;
                s.iter()
                    .any(|s| s.state == provemesh_common::JobState::Proved)
                    .then_some(())
            }
        })
        .await;
        assert!(sys.chain.proven_events(epoch).await == 0);
        // The agents go, so the epoch stays on the mesh however slow this machine is (with
        // them, a loaded machine can run it past its proof window before the reorg is seen,
        // and the epoch then fails on its deadline instead).
        for a in std::mem::take(&mut sys.agents) {
            a.stop().await;
        }
        // The sequencer goes (it would re-propose on a chain it no longer knows), then L1
        // reorganises: the epoch's last block and the claim after it are gone.
        sys.shutdown.cancel();
        sys.chain.revert(back_to, 3).await;

        let stopped = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                match events.recv().await {
                    Ok(EpochEvent::Cancelled { epoch: e }) if e == epoch => return,
                    Ok(EpochEvent::Published { epoch: e, .. }) if e == epoch => {
                        panic!("epoch {epoch} was published after the reorg dropped its block")
                    }
                    Ok(EpochEvent::Failed { epoch: e, error }) if e == epoch => {
                        panic!("the reorg should stop the epoch, not fail it: {error}")
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(e) => panic!("node events ended: {e}"),
                }
            }
        })
        .await;
        assert!(stopped.is_ok(), "the node stopped proving epoch {epoch} after the reorg");
        let rec = node.epochs.get(epoch).unwrap();
        assert_eq!(rec.phase, provemesh_prover_node::epochs::EpochPhase::Cancelled);
        // The node's view follows L1: the dropped block is no longer executed.
        crate::support::eventually(30, "the world state unwound below the dropped block", || {
            let tip = node.executed.state().tip;
            async move { (tip < last).then_some(()) }
        })
        .await;
        // Nothing reaches L1 for it: the claim went with the reorg.
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(sys.chain.proven_events(epoch).await, 0);
        assert!(sys.chain.rollup.proof_claim().await.unwrap().is_none());
        stop.cancel();
        node.wait().await.unwrap();
        sys.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tx_with_an_invalid_client_proof_makes_its_epoch_unprovable_and_the_node_does_not_bid() {
    within(150, async {
        use provemesh_prover_node::quotes::{MonitorEvent, SkipReason};
        use provemesh_sequencer::loadgen::{InvalidKind, TxFactory};
        // A dishonest sequencer: it includes a tx whose client proof does not verify.
        let sys = System::start_with(TIMING, 2, Duration::from_millis(10), 2.0, 1, |c| {
            c.include_invalid_client_proofs = true
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        let stop = CancellationToken::new();
        let node = sys.node(sys.node_config(dir.path()), &stop).await;
        let mut events = node.subscribe();
        let mut quotes = node.subscribe_quotes();
        let mut proposed = sys.seq.subscribe();

        // After the node proved a first epoch, the bad tx goes in.
        let (first, _) = next_published(&mut events, 90).await;
        let bad =
            TxFactory::new(&crate::support::genesis(), 4242).invalid(InvalidKind::BadClientProof);
        let bad_hash = bad[0].hash().expect("a well-formed tx has a hash");
        let client =
            provemesh_p2p::http_client(&sys.seq.rpc_url(), Duration::from_secs(5)).unwrap();
        for tx in bad {
            client
                .send_tx(provemesh_p2p::wire::HexTx(tx))
                .await
                .expect("the dishonest sequencer pools it");
        }
        let block = crate::support::next_event(&mut proposed, 30, |e| match e {
            provemesh_sequencer::SequencerEvent::BlockProposed { number, txs, .. }
                if txs.contains(&bad_hash) =>
            {
                Some(*number)
            }
            _ => None,
        })
        .await;
        let epoch: u64 = sys
            .chain
            .rollup
            .instance()
            .getEpochForBlock(U256::from(block))
            .call()
            .await
            .unwrap()
            .saturating_to();
        assert!(epoch > first);

        // The node refuses to bid for it, naming the block and the client proof.
        let reason = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                match quotes.recv().await {
                    Ok(MonitorEvent::QuoteSkipped {
                        epoch: e,
                        reason: r @ SkipReason::Unprovable { .. },
                    }) if e == epoch => return r,
                    Ok(MonitorEvent::QuoteSent { epoch: e, .. }) if e == epoch => {
                        panic!(
                            "the node bid for epoch {epoch}, whose block {block} it cannot execute"
                        )
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(e) => panic!("quote events ended: {e}"),
                }
            }
        })
        .await
        .expect("the node said why it does not bid");
        let SkipReason::Unprovable { block: at, reason } = reason else {
            unreachable!()
        };
        assert_eq!(at, block);
        assert!(reason.contains("client_proof"), "{reason}");
        assert!(reason.contains(&bad_hash.to_string()), "{reason}");
        // Nothing of that epoch was proved or submitted.
        assert!(node.epochs.get(epoch).is_none());
        assert_eq!(sys.chain.proven_events(epoch).await, 0);
        assert!(sys
            .mesh
            .broker
            .epoch_statuses(EpochNumber(epoch))
            .await
            .unwrap()
            .is_empty());
        stop.cancel();
        node.wait().await.unwrap();
        sys.stop().await;
    })
    .await
}
