//! Failure modes of the mesh, each against real servers: agents killed or stopped
//! mid-proof, epochs cancelled mid-flight, the node's broker restarting, a cluster losing
//! its stream leader, the object store going away.

use crate::support::*;
use provemesh_agent::AgentConfig;
use provemesh_broker::BrokerError;
use provemesh_common::{EpochNumber, JobOutcome, JobState, ProofType};
use provemesh_harness::{NatsCluster, NatsServer, S3Server};
use provemesh_nats::TopologyConfig;
use std::time::{Duration, Instant};

/// Waits until `agent` reports job `id` as proving.
async fn wait_proving(
    broker: &provemesh_broker::Broker,
    id: &provemesh_common::JobId,
    agent: &str,
) {
    eventually(
        Duration::from_secs(20),
        &format!("{agent} proving {}", id.short()),
        || async {
            broker
                .job_history(id)
                .await
                .ok()
                .flatten()
                .and_then(|h| h.revisions.last().cloned())
                .is_some_and(|s| {
                    s.state == JobState::Proving && s.agent.as_ref().is_some_and(|a| a.0 == agent)
                })
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_killed_mid_proof_its_job_is_redelivered_and_proved_once() {
    within(Duration::from_secs(240), async {
        let Mesh {
            nats,
            store,
            broker,
            mut results,
            dir: _dir,
        } = Mesh::start(fast_topology()).await;

        let mut slow = AgentProcess::start(
            &nats.url(),
            &store,
            "slow",
            &[("PROVER_SIMULATED_DEFAULT_DELAY", "60s")],
        );
        let j = job(1, ProofType::BlockRootRollup, 1);
        broker.enqueue(j.clone()).await.unwrap();
        wait_proving(&broker, &j.id(), "slow").await;
        slow.kill9();

        let _fast = AgentProcess::start(
            &nats.url(),
            &store,
            "fast",
            &[("PROVER_SIMULATED_DEFAULT_DELAY", "0s")],
        );
        let got = collect(&mut results, 1, Duration::from_secs(30)).await;
        let r = &got[&j.id()];
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].agent.0, "fast");
        assert_eq!(r[0].attempt, 2, "redelivered after the kill");
        assert!(matches!(r[0].outcome, JobOutcome::Proved(_)));
        assert!(next_result(&mut results, Duration::from_secs(1))
            .await
            .is_none());
        assert_eq!(store.store.list("proofs/1").await.unwrap().len(), 1);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_and_hands_the_unfinished_job_over_at_once() {
    within(Duration::from_secs(240), async {
        // A long AckWait: the hand-over must not depend on it.
        let cfg = TopologyConfig {
            ack_wait: Duration::from_secs(60),
            ..Default::default()
        };
        let Mesh {
            nats,
            store,
            broker,
            mut results,
            dir: _dir,
        } = Mesh::start(cfg).await;

        let mut spot = AgentProcess::start(
            &nats.url(),
            &store,
            "spot",
            &[
                ("PROVER_SIMULATED_DEFAULT_DELAY", "120s"),
                ("PROVER_AGENT_DRAIN_DEADLINE", "1s"),
            ],
        );
        let j = job(2, ProofType::RootRollup, 1);
        broker.enqueue(j.clone()).await.unwrap();
        wait_proving(&broker, &j.id(), "spot").await;
        let _other = AgentProcess::start(
            &nats.url(),
            &store,
            "other",
            &[("PROVER_SIMULATED_DEFAULT_DELAY", "0s")],
        );

        let t0 = Instant::now();
        spot.sigterm();
        assert_eq!(
            spot.wait_exit(Duration::from_secs(15)),
            Some(0),
            "drained and exited cleanly"
        );
        let got = collect(&mut results, 1, Duration::from_secs(20)).await;
        let elapsed = t0.elapsed();
        let r = &got[&j.id()][0];
        assert_eq!(r.agent.0, "other");
        assert!(matches!(r.outcome, JobOutcome::Proved(_)));
        assert!(
            elapsed < Duration::from_secs(20),
            "handed over in {elapsed:?}, well before AckWait (60s)"
        );
        assert!(
            spot.log().contains("handing the job back"),
            "{}",
            spot.log()
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_an_epoch_purges_queue_stops_agents_and_silences_results() {
    within(Duration::from_secs(240), async {
        let Mesh {
            nats,
            store,
            broker,
            mut results,
            dir: _dir,
        } = Mesh::start(Default::default()).await;

        let agent = InProcessAgent::start(
            &nats.url(),
            AgentConfig::new("a", &[], 2),
            store.store.clone(),
            sim(Duration::from_millis(1500)),
        )
        .await;
        let doomed: Vec<_> = (0..20)
            .map(|n| job(5, ProofType::PrivateBaseRollup, n))
            .collect();
        let kept: Vec<_> = (0..4)
            .map(|n| job(6, ProofType::PrivateBaseRollup, 100 + n))
            .collect();
        broker.enqueue_many(doomed.clone()).await.unwrap();
        broker.enqueue_many(kept.clone()).await.unwrap();
        eventually(
            Duration::from_secs(10),
            "an epoch-5 job in flight",
            || async { agent.stats.get(|s| &s.started) > 0 },
        )
        .await;

        let report = broker.cancel_epoch(EpochNumber(5)).await.unwrap();
        assert!(report.purged >= 15, "queued jobs purged: {report:?}");
        assert!(matches!(
            broker.enqueue(job(5, ProofType::MergeRollup, 1)).await,
            Err(BrokerError::EpochCancelled(EpochNumber(5)))
        ));

        let got = collect(&mut results, 4, Duration::from_secs(30)).await;
        assert!(
            got.values().all(|r| r[0].epoch == EpochNumber(6)),
            "only epoch 6 results: {got:?}"
        );
        assert_eq!(got.len(), 4, "epoch 6 unaffected");
        assert!(
            next_result(&mut results, Duration::from_secs(2))
                .await
                .is_none(),
            "nothing more arrives"
        );
        let s = agent.stop().await;
        assert!(
            s.get(|s| &s.cancelled) >= 1,
            "in-flight epoch-5 jobs stopped"
        );
        assert!(
            s.get(|s| &s.proved) <= 6,
            "at most the epoch-5 jobs already finished, plus epoch 6"
        );
        let depth: u64 = broker
            .queue_depths()
            .await
            .unwrap()
            .iter()
            .map(|d| d.queued)
            .sum();
        assert_eq!(depth, 0);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_with_jobs_in_flight_loses_nothing_and_proves_nothing_twice() {
    within(Duration::from_secs(240), async {
        let nats = NatsServer::start().expect("nats");
        let dir = tempfile::tempdir().unwrap();
        let store = StoreEnv::file(dir.path());
        let agent = {
            let _topo = topology(&nats.url(), Default::default()).await;
            InProcessAgent::start(
                &nats.url(),
                AgentConfig::new("a", &[], 4),
                store.store.clone(),
                sim(Duration::from_millis(20)),
            )
            .await
        };
        let jobs: Vec<_> = (0..200)
            .map(|n| job(9, ProofType::ALL[n as usize % 8], n))
            .collect();
        let first = {
            // The node's first life: its own connection, enqueue everything, read some results.
            let b1 = broker(
                topology(&nats.url(), Default::default()).await,
                store.store.clone(),
            );
            b1.enqueue_many(jobs.clone()).await.unwrap();
            let mut r1 = b1.results("node", None).await.unwrap();
            collect(&mut r1, 50, Duration::from_secs(30)).await
            // b1, r1 and their connection are dropped here: the node died.
        };
        assert_eq!(first.len(), 50);

        let b2 = broker(
            topology(&nats.url(), Default::default()).await,
            store.store.clone(),
        );
        let mut r2 = b2.results("node", None).await.unwrap();
        // The successor gets everything the first life did not acknowledge. A crash can
        // also lose the last few acks still buffered in the dead connection, so a result
        // may arrive twice across a crash (the node de-duplicates by job id) — but only a
        // few, and every job's result arrives.
        let mut all = first.clone();
        collect_into(&mut r2, &mut all, 200, Duration::from_secs(60)).await;
        assert_eq!(all.len(), 200, "every result received across the restart");
        let again = all.values().filter(|r| r.len() > 1).count();
        assert!(
            again <= 10,
            "{again} results delivered again: more than acks in flight at the crash"
        );
        let stored = stored_results(b2.topology(), 9).await;
        assert!(
            stored.len() == 200 && stored.values().all(|n| *n == 1),
            "one stored result per job"
        );
        let s = agent.stop().await;
        assert_eq!(s.get(|s| &s.proved), 200, "nothing proved twice");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cluster_loses_its_stream_leader_mid_run_and_every_job_completes_once() {
    within(Duration::from_secs(240), async {
        let mut cluster = NatsCluster::start(3).expect("cluster");
        let urls = cluster.urls();
        let dir = tempfile::tempdir().unwrap();
        let store = StoreEnv::file(dir.path());
        let cfg = TopologyConfig {
            replicas: 3,
            ..Default::default()
        };
        let topo = topology(&urls, cfg).await;
        let mut jobs_stream = topo.jobs.clone();
        let leader = jobs_stream
            .info()
            .await
            .unwrap()
            .cluster
            .as_ref()
            .and_then(|c| c.leader.clone())
            .expect("leader");
        let broker = broker(topo, store.store.clone());
        let mut results = broker.results("node", None).await.unwrap();

        let mut agents = Vec::new();
        for i in 0..3 {
            agents.push(
                InProcessAgent::start(
                    &urls,
                    AgentConfig::new(format!("a{i}"), &[], 4),
                    store.store.clone(),
                    sim(Duration::from_millis(30)),
                )
                .await,
            );
        }
        let jobs: Vec<_> = (0..300)
            .map(|n| job(11, ProofType::ALL[n as usize % 8], n))
            .collect();
        broker.enqueue_many(jobs.clone()).await.unwrap();
        let mut got = collect(&mut results, 60, Duration::from_secs(30)).await;
        let idx = cluster.index_of(&leader).expect("leader node");
        cluster.nodes[idx].kill();

        collect_into(&mut results, &mut got, 300, Duration::from_secs(120)).await;
        assert_eq!(
            got.len(),
            300,
            "every job completed after losing leader {leader}"
        );
        // The node may see a result twice (an ack lost in the leader change is redelivered;
        // it de-duplicates by job id), but the mesh holds exactly one result per job.
        let stored = stored_results(broker.topology(), 11).await;
        assert_eq!(stored.len(), 300);
        assert!(
            stored.values().all(|n| *n == 1),
            "one stored result per job: {stored:?}"
        );
        let proved = stop_all(agents, |s| &s.proved).await;
        assert_eq!(proved, 300, "nothing proved twice");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_store_outage_delays_jobs_but_fails_none() {
    within(Duration::from_secs(240), async {
        let nats = NatsServer::start().expect("nats");
        let mut s3 = S3Server::start("proofs").expect("s3");
        let store = StoreEnv::s3(&s3);
        let cfg = TopologyConfig {
            ack_wait: Duration::from_secs(5),
            max_deliver: 10,
            ..Default::default()
        };
        let broker = broker(topology(&nats.url(), cfg).await, store.store.clone());
        let mut results = broker.results("node", None).await.unwrap();
        let agent = InProcessAgent::start(
            &nats.url(),
            AgentConfig::new("a", &[], 2),
            store.store.clone(),
            sim(Duration::from_millis(100)),
        )
        .await;

        let jobs: Vec<_> = (0..40).map(|n| job(4, ProofType::MergeRollup, n)).collect();
        broker.enqueue_many(jobs).await.unwrap();
        let mut got = collect(&mut results, 5, Duration::from_secs(20)).await;
        s3.stop();
        tokio::time::sleep(Duration::from_secs(6)).await;
        s3.restart().expect("s3 back");
        collect_into(&mut results, &mut got, 40, Duration::from_secs(90)).await;
        assert_eq!(got.len(), 40);
        for r in got.values() {
            assert_eq!(r.len(), 1);
            assert!(
                matches!(r[0].outcome, JobOutcome::Proved(_)),
                "no job failed: {:?}",
                r[0]
            );
        }
        let s = agent.stop().await;
        assert!(
            s.get(|s| &s.retried) >= 1,
            "the outage was felt and retried"
        );
        assert_eq!(s.get(|s| &s.failed), 0);
    })
    .await
}
