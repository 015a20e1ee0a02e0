//! Jobs the mesh gives up on fail with their last error — never silently dropped: agents
//! that vanish with a job until MaxDeliver is exhausted (dead letter, turned into a
//! failure result by the broker), and an agent whose transient failure persists through
//! every attempt.

use crate::support::*;
use provemesh_agent::AgentConfig;
use provemesh_common::{FailureKind, JobOutcome, ProofType};
use provemesh_harness::{NatsServer, S3Server};
use provemesh_nats::TopologyConfig;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vanishing_agents_exhaust_max_deliver_and_the_job_fails_with_a_dead_letter_result() {
    within(Duration::from_secs(60), async {
        let nats = NatsServer::start().expect("nats");
        let dir = tempfile::tempdir().unwrap();
        let store = StoreEnv::file(dir.path());
        let cfg = TopologyConfig {
            ack_wait: Duration::from_secs(1),
            max_deliver: 2,
            ..Default::default()
        };
        let topo = topology(&nats.url(), cfg).await;
        let consumer = topo.consumer(ProofType::BlockRootRollup).unwrap().clone();
        let b = broker(topo, store.store.clone());
        let stop = CancellationToken::new();
        let dl = tokio::spawn(provemesh_broker::run_dead_letters(b.clone(), stop.clone()));
        let mut results = b.results("node", None).await.unwrap();

        let j = job(8, ProofType::BlockRootRollup, 1);
        b.enqueue(j.clone()).await.unwrap();
        // Two "agents" take the job and vanish without a word (no ack, no heartbeat).
        for _ in 0..2 {
            let mut got = None;
            for _ in 0..50 {
                let mut batch = consumer.fetch().max_messages(1).messages().await.unwrap();
                if let Some(Ok(m)) = futures::StreamExt::next(&mut batch).await {
                    got = Some(m);
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert!(got.is_some(), "job delivered");
        }
        // Agents keep pulling (that is when the server evaluates redelivery); none may get
        // the job a third time.
        let c2 = consumer.clone();
        let third = tokio::spawn(async move {
            for _ in 0..100 {
                let mut batch = c2.fetch().max_messages(1).messages().await.unwrap();
                if let Some(Ok(_)) = futures::StreamExt::next(&mut batch).await {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            false
        });
        let r = next_result(&mut results, Duration::from_secs(15))
            .await
            .expect("a failure result for the dead letter");
        assert_eq!(r.id, j.id());
        match &r.outcome {
            JobOutcome::Failed {
                kind: FailureKind::Exhausted,
                error,
            } => {
                assert!(
                    error.contains("dead letter") && error.contains("2 deliveries"),
                    "{error}"
                );
                assert!(error.contains("no agent acknowledged"), "{error}");
            }
            o => panic!("expected an exhausted failure, got {o:?}"),
        }
        eventually(
            Duration::from_secs(5),
            "dead letter removed from the queue",
            || async {
                b.queue_depths()
                    .await
                    .unwrap()
                    .iter()
                    .all(|d| d.queued == 0)
            },
        )
        .await;
        assert!(
            next_result(&mut results, Duration::from_secs(2))
                .await
                .is_none(),
            "exactly one result"
        );
        third.abort();
        assert!(
            !third.await.unwrap_or(false),
            "the job was not delivered a third time"
        );
        stop.cancel();
        dl.await.unwrap();
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_failure_that_never_passes_fails_the_job_with_the_last_error() {
    within(Duration::from_secs(90), async {
        let nats = NatsServer::start().expect("nats");
        let mut s3 = S3Server::start("proofs").expect("s3");
        let store = StoreEnv::s3(&s3);
        let cfg = TopologyConfig {
            ack_wait: Duration::from_secs(5),
            max_deliver: 2,
            ..Default::default()
        };
        let b = broker(topology(&nats.url(), cfg).await, store.store.clone());
        let mut results = b.results("node", None).await.unwrap();
        s3.stop(); // for good
        let agent = InProcessAgent::start(
            &nats.url(),
            AgentConfig::new("a", &[], 1),
            store.store.clone(),
            sim(Duration::ZERO),
        )
        .await;
        let j = job(9, ProofType::MergeRollup, 1);
        b.enqueue(j.clone()).await.unwrap();
        let r = next_result(&mut results, Duration::from_secs(60))
            .await
            .expect("failure result");
        match &r.outcome {
            JobOutcome::Failed {
                kind: FailureKind::Exhausted,
                error,
            } => {
                assert!(
                    error.contains("gave up after 2 attempts") && error.contains("proof store"),
                    "{error}"
                );
            }
            o => panic!("expected exhausted, got {o:?}"),
        }
        assert_eq!(r.attempt, 2);
        let s = agent.stop().await;
        assert_eq!(s.get(|s| &s.retried), 1);
        assert_eq!(s.get(|s| &s.failed), 1);
    })
    .await
}
