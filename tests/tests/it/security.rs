//! Roles on the mesh (`infra/nats/mesh-roles.conf`, used as shipped): each role can do its
//! job and is refused everything else — an agent cannot publish jobs, purge streams or
//! pull proof types outside its allow-list; an observer can inspect but not act; a wrong
//! password cannot connect.

use crate::support::*;
use provemesh_agent::{Agent, AgentConfig, SimulatedBackend};
use provemesh_common::{JobOutcome, ProofType};
use provemesh_harness::{NatsOptions, NatsServer};
use provemesh_nats::{Topology, TopologyConfig};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

fn token() -> String {
    let mut b = [0u8; 12];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

async fn js_as(
    url: &str,
    user: &str,
    password: &str,
) -> Result<async_nats::jetstream::Context, async_nats::ConnectError> {
    let client = async_nats::ConnectOptions::with_user_and_password(user.into(), password.into())
        .connect(url)
        .await?;
    Ok(async_nats::jetstream::new(client))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_can_do_its_job_and_nothing_else() {
    within(Duration::from_secs(120), async {
        let roles = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/nats/mesh-roles.conf")).unwrap();
        // One agent restricted to merge rollups, written as the file's comment says.
        let merge_only = r#"{ user: agent_merge, password: $PROVEMESH_MERGE_PASSWORD, permissions: {
            publish: { allow: ["$JS.API.INFO", "$JS.API.STREAM.INFO.>", "$JS.API.CONSUMER.INFO.PROVE_JOBS.jobs_merge_rollup",
                               "$JS.API.CONSUMER.MSG.NEXT.PROVE_JOBS.jobs_merge_rollup", "$JS.ACK.PROVE_JOBS.jobs_merge_rollup.>",
                               "$JS.API.CONSUMER.CREATE.KV_PROVE_EPOCHS", "$JS.API.CONSUMER.CREATE.KV_PROVE_EPOCHS.>",
                               "$JS.API.CONSUMER.DELETE.KV_PROVE_EPOCHS.>", "$JS.FC.KV_PROVE_EPOCHS.>",
                               "prove.result.>", "$KV.PROVE_STATUS.>", "$KV.PROVE_AGENTS.>", "prove.ready.merge_rollup"] }
            subscribe: { allow: ["_INBOX.>", "prove.ready.merge_rollup"] } } }"#;
        let config = roles.replace("# @restricted-agents@", merge_only);
        let (node_pw, agent_pw, obs_pw, merge_pw) = (token(), token(), token(), token());
        let nats = NatsServer::start_with(NatsOptions {
            extra_config: config,
            env: vec![
                ("PROVEMESH_NODE_PASSWORD".into(), node_pw.clone()),
                ("PROVEMESH_AGENT_PASSWORD".into(), agent_pw.clone()),
                ("PROVEMESH_OBSERVER_PASSWORD".into(), obs_pw.clone()),
                ("PROVEMESH_MERGE_PASSWORD".into(), merge_pw.clone()),
            ],
        })
        .expect("nats with roles");
        let url = nats.url();
        let dir = tempfile::tempdir().unwrap();
        let store = StoreEnv::file(dir.path());

        // The node applies the topology and enqueues.
        let topo = Topology::apply(js_as(&url, "node", &node_pw).await.unwrap(), TopologyConfig::default()).await.expect("node manages the mesh");
        let b = broker(topo, store.store.clone());
        let mut results = b.results("node", None).await.expect("node reads results");
        let merge = job(1, ProofType::MergeRollup, 1);
        let root = job(1, ProofType::RootRollup, 2);
        b.enqueue_many(vec![merge.clone(), root.clone()]).await.unwrap();

        // The merge-only agent proves the merge job…
        let mjs = js_as(&url, "agent_merge", &merge_pw).await.unwrap();
        let cfg = AgentConfig::new("merge-only", &[ProofType::MergeRollup], 1);
        let topo = Topology::bind(mjs.clone(), TopologyConfig::default(), &cfg.proof_types).await.expect("agent binds to its types");
        let agent = Agent::new(cfg, topo, store.store.clone(), Arc::new(SimulatedBackend::new(sim(Duration::ZERO)))).unwrap();
        let stats = agent.stats();
        let stop = tokio_util::sync::CancellationToken::new();
        let h = tokio::spawn(agent.run(stop.clone()));
        let got = collect(&mut results, 1, Duration::from_secs(20)).await;
        assert!(matches!(got[&merge.id()][0].outcome, JobOutcome::Proved(_)));
        // Least privilege still announces the agent: the node sees it and what it pulls.
        let present = b.agents().await.expect("node reads the agents");
        assert_eq!(present.len(), 1, "{present:?}");
        assert_eq!(present[0].agent.0, "merge-only");
        assert_eq!(present[0].proof_types, [ProofType::MergeRollup]);
        // …and counts the fleet, which spaces its safety sweeps.
        eventually(Duration::from_secs(10), "the agent counted itself", || async { stats.get(|s| &s.fleet) == 1 }).await;
        // …but cannot reach the root rollup consumer at all.
        assert!(Topology::bind(mjs.clone(), TopologyConfig::default(), &[ProofType::RootRollup]).await.is_err());
        let mclient = mjs.client();
        let pull = mclient
            .request("$JS.API.CONSUMER.MSG.NEXT.PROVE_JOBS.jobs_root_rollup", r#"{"batch":1,"no_wait":true}"#.into());
        assert!(tokio::time::timeout(Duration::from_secs(3), pull).await.map(|r| r.is_err()).unwrap_or(true));
        assert_eq!(queued_total(&b).await, 1, "the root job is still queued");
        stop.cancel();
        h.await.unwrap();
        assert!(b.agents().await.unwrap().is_empty(), "a stopped agent withdraws");

        // A full agent cannot publish jobs, purge the queue or delete streams.
        let ajs = js_as(&url, "agent", &agent_pw).await.unwrap();
        let forged = ajs.publish("prove.job.1.merge_rollup", "forged".into()).await.unwrap();
        assert!(tokio::time::timeout(Duration::from_secs(3), forged).await.map(|r| r.is_err()).unwrap_or(true), "publishing a job must fail");
        let jobs = ajs.get_stream("PROVE_JOBS").await.expect("agents may read stream info");
        assert!(tokio::time::timeout(Duration::from_secs(3), jobs.purge()).await.map(|r| r.is_err()).unwrap_or(true), "purge must fail");
        assert!(tokio::time::timeout(Duration::from_secs(3), ajs.delete_stream("PROVE_JOBS")).await.map(|r| r.is_err()).unwrap_or(true));
        assert_eq!(queued_total(&b).await, 1, "nothing purged, nothing forged");

        // The observer inspects with `provemesh jobs` but cannot enqueue.
        let out = Command::new(binary("provemesh"))
            .args(["jobs", "--json"])
            .env_clear()
            .env("PROVER_BROKER_HOST", &url)
            .env("NATS_USER", "observer")
            .env("NATS_PASSWORD", &obs_pw)
            .output()
            .unwrap();
        assert!(out.status.success(), "observer runs provemesh jobs: {}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["by_state"]["proved"], 1);
        assert!(!String::from_utf8_lossy(&out.stderr).contains(&obs_pw));
        let ojs = js_as(&url, "observer", &obs_pw).await.unwrap();
        let forged = ojs.publish("prove.job.1.root_rollup", "forged".into()).await.unwrap();
        assert!(tokio::time::timeout(Duration::from_secs(3), forged).await.map(|r| r.is_err()).unwrap_or(true));

        // Wrong credentials do not connect; the error does not contain the password tried.
        let err = match js_as(&url, "agent", "not-the-password").await {
            Ok(_) => panic!("a wrong password connected"),
            Err(e) => e,
        };
        assert!(!err.to_string().contains("not-the-password"));
        assert_eq!(queued_total(&b).await, 1);
    })
    .await
}
