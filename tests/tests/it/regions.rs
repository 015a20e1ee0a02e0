//! Deployments beyond one server, started from the files in `infra/nats/` as shipped: a
//! two-region supercluster whose agents all live in the region the node is not in, and
//! edge agents behind a leafnode.

use crate::support::*;
use provemesh_agent::AgentConfig;
use provemesh_common::{EpochNumber, ProofType};
use provemesh_harness::{NatsServer, Supercluster, HUB_DOMAIN};
use provemesh_nats::TopologyConfig;
use provemesh_node::synthetic::{self, EpochShape};
use std::time::Duration;

/// Proof objects the file store holds for `epoch`.
fn stored_proofs(root: &std::path::Path, epoch: u64) -> usize {
    std::fs::read_dir(root.join("proofs").join(epoch.to_string()))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_region_agents_prove_an_epoch_and_a_cut_gateway_only_delays_it() {
    within(Duration::from_secs(180), async {
        let mut sc = Supercluster::start(1, 1).expect("supercluster");
        let (a_url, b_url) = (Supercluster::urls(&sc.a), Supercluster::urls(&sc.b));
        let dir = tempfile::tempdir().unwrap();
        let store = StoreEnv::file(dir.path());
        // The node lives in region A and places the mesh there.
        let cfg = TopologyConfig {
            placement_cluster: Some("A".into()),
            ack_wait: std::time::Duration::from_secs(3),
            max_deliver: 50,
            ..Default::default()
        };
        let topo = topology(&a_url, cfg).await;
        let placed = topo.jobs.clone().info().await.unwrap().cluster.clone();
        assert_eq!(
            placed.and_then(|c| c.name).as_deref(),
            Some("A"),
            "the jobs stream lives in the node's region"
        );
        let broker = broker(topo, store.store.clone());
        let epoch = EpochNumber(1);
        let mut results = broker.results("node", Some(epoch)).await.unwrap();

        // Every agent is in region B.
        let mut agents = Vec::new();
        for i in 0..2 {
            agents.push(
                InProcessAgent::start(
                    &b_url,
                    AgentConfig::new(format!("remote-{i}"), &[], 2),
                    store.store.clone(),
                    sim(Duration::from_millis(60)),
                )
                .await,
            );
        }
        let shape = EpochShape {
            blocks: 2,
            txs_per_block: 4,
        };
        let tree_len = synthetic::proof_tree(shape).len();
        let b2 = broker.clone();
        let proving =
            tokio::spawn(
                async move { synthetic::prove_epoch(&b2, &mut results, epoch, shape).await },
            );

        // Mid-epoch, the link between the regions goes down for a while.
        let stats: Vec<_> = agents.iter().map(|a| a.stats.clone()).collect();
        eventually(
            Duration::from_secs(60),
            "some jobs proved before the cut",
            || {
                let s = stats.clone();
                async move { s.iter().map(|s| s.get(|s| &s.proved)).sum::<u64>() >= 4 }
            },
        )
        .await;
        assert!(
            !proving.is_finished(),
            "the epoch was still being proved at the cut"
        );
        sc.cut_link();
        tokio::time::sleep(Duration::from_secs(4)).await;
        sc.restore_link();
        sc.wait_linked().expect("regions linked again");

        let report = tokio::time::timeout(Duration::from_secs(120), proving)
            .await
            .expect("epoch finished after the link came back")
            .unwrap()
            .expect("epoch proved");
        assert_eq!(report.jobs, tree_len);

        // Nothing lost, nothing duplicated: one stored result and one proof per job, and
        // no job proved twice (a job whose report was cut off is re-reported from the
        // stored proof).
        let stored = stored_results(broker.topology(), 1).await;
        assert_eq!(stored.len(), tree_len, "a result per job");
        assert!(
            stored.values().all(|n| *n == 1),
            "one result per job: {stored:?}"
        );
        assert_eq!(stored_proofs(dir.path(), 1), tree_len);
        let proved = stop_all(agents, |s| &s.proved).await;
        assert_eq!(proved as usize, tree_len, "each job proved once");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_agents_behind_a_leafnode_prove_the_hubs_jobs() {
    within(Duration::from_secs(90), async {
        let hub = NatsServer::start_hub().expect("hub");
        let leaf = NatsServer::start_leaf(&hub).expect("leaf");
        eventually(
            Duration::from_secs(20),
            "the leaf connected to the hub",
            || {
                let leafz = hub.monitor("/leafz").unwrap_or_default();
                async move {
                    serde_json::from_str::<serde_json::Value>(&leafz)
                        .ok()
                        .and_then(|v| v["leafnodes"].as_u64())
                        .is_some_and(|n| n >= 1)
                }
            },
        )
        .await;
        let dir = tempfile::tempdir().unwrap();
        let store = StoreEnv::file(dir.path());
        let topo = topology(&hub.url(), fast_topology()).await;
        let broker = broker(topo, store.store.clone());
        let mut results = broker.results("node", None).await.unwrap();
        // Agent processes configured as an operator would: the leaf's address, and the
        // hub's JetStream domain.
        let mut agents: Vec<AgentProcess> = (0..2)
            .map(|i| {
                AgentProcess::start(
                    &leaf.url(),
                    &store,
                    &format!("edge-{i}"),
                    &[
                        ("NATS_JS_DOMAIN", HUB_DOMAIN),
                        ("PROVER_AGENT_CONCURRENCY", "4"),
                    ],
                )
            })
            .collect();
        let jobs: Vec<_> = (0..40)
            .map(|n| job(21, ProofType::ALL[n as usize % 8], n))
            .collect();
        broker.enqueue_many(jobs).await.unwrap();
        let got = collect(&mut results, 40, Duration::from_secs(60)).await;
        assert_eq!(got.len(), 40, "every job proved by the edge agents");
        let stored = stored_results(broker.topology(), 21).await;
        assert!(stored.values().all(|n| *n == 1));
        assert!(
            got.values()
                .flatten()
                .all(|r| r.agent.0.starts_with("edge-")),
            "proved at the edge"
        );
        for a in agents.iter_mut() {
            a.sigterm();
            assert_eq!(a.wait_exit(Duration::from_secs(20)), Some(0), "{}", a.log());
        }
    })
    .await
}
