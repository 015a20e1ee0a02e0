//! The mesh's roles under NATS decentralized auth (operator mode), as an operator deploying
//! with `nsc` would run them: an operator, a system account and the mesh's account
//! (JetStream enabled) in a memory resolver, and one user per role in a `.creds` file, with
//! the permissions `infra/nats/mesh-roles.conf` ships. Every component connects through
//! `NATS_CREDS` (the product's `provemesh_nats::connect`, and the agent binary once): the
//! node manages the mesh and enqueues, agents prove, and each role is refused what it may
//! not do; creds of an account the operator never signed do not connect.

use crate::support::*;
use async_nats::jetstream::Context;
use provemesh_agent::{Agent, AgentConfig, SimulatedBackend};
use provemesh_common::config::NatsArgs;
use provemesh_common::{JobOutcome, ProofType};
use provemesh_harness::jwt::{KeyPair, OperatorSetup, Role};
use provemesh_harness::{NatsOptions, NatsServer};
use provemesh_nats::{subjects, Topology, TopologyConfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// An operator-mode server and the role creds files (mode 0600, in `dir`).
struct OperatorMesh {
    setup: OperatorSetup,
    nats: NatsServer,
    node: PathBuf,
    agent: PathBuf,
    observer: PathBuf,
    dir: tempfile::TempDir,
}

impl OperatorMesh {
    fn start() -> Self {
        let setup = OperatorSetup::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let [node, agent, observer] =
            Role::ALL.map(|r| setup.write_role_creds(dir.path(), r).unwrap());
        // The shipped server.conf declares no users or accounts: the operator, resolver and
        // accounts appended to it put the server in operator mode.
        let nats = NatsServer::start_with(NatsOptions {
            extra_config: setup.server_config(),
            env: vec![],
        })
        .expect("nats in operator mode");
        OperatorMesh {
            setup,
            nats,
            node,
            agent,
            observer,
            dir,
        }
    }

    fn url(&self) -> String {
        self.nats.url()
    }
}

/// What `NATS_CREDS=<creds>` and `PROVER_BROKER_HOST=<url>` configure.
fn creds_args(url: &str, creds: &Path) -> NatsArgs {
    let args = NatsArgs {
        servers: vec![url.to_string()],
        nats_creds: Some(creds.to_path_buf()),
        nats_user: None,
        nats_password: None,
        nats_js_domain: None,
        nats_tls_ca: None,
        nats_tls_cert: None,
        nats_tls_key: None,
    };
    args.validate().expect("valid NATS_CREDS configuration");
    args
}

/// Connects as the product does with `NATS_CREDS`.
async fn js_with(url: &str, creds: &Path) -> Result<Context, provemesh_nats::ConnectError> {
    let args = creds_args(url, creds);
    let client = provemesh_nats::connect(&args, "operator-mode-test").await?;
    Ok(provemesh_nats::jetstream(client, &args))
}

/// Whether `fut` failed or got no answer within 2 s (a request the server's permissions
/// drop is never answered).
async fn refused<T, E>(fut: impl std::future::IntoFuture<Output = Result<T, E>>) -> bool {
    tokio::time::timeout(Duration::from_secs(2), fut)
        .await
        .map(|r| r.is_err())
        .unwrap_or(true)
}

/// A core connection with `creds` whose server errors (`-ERR`) are collected.
async fn watched(
    url: &str,
    creds: &Path,
) -> (
    async_nats::Client,
    tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let client = async_nats::ConnectOptions::with_credentials_file(creds)
        .await
        .unwrap()
        .event_callback(move |e| {
            let tx = tx.clone();
            async move {
                if let async_nats::Event::ServerError(e) = e {
                    let _ = tx.send(e.to_string());
                }
            }
        })
        .connect(url)
        .await
        .expect("connect with creds");
    (client, rx)
}

/// Waits (bounded) for a server error containing `what`.
async fn violation(rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>, what: &str) {
    let found = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(e) = rx.recv().await {
            if e.contains(what) {
                return;
            }
        }
    })
    .await;
    assert!(found.is_ok(), "no server error containing {what:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_mode_creds_run_the_mesh_node_enqueues_agents_prove() {
    within(Duration::from_secs(120), async {
        let m = OperatorMesh::start();
        let url = m.url();
        let store_dir = tempfile::tempdir().unwrap();
        let store = StoreEnv::file(store_dir.path());

        // The node's creds manage the mesh and enqueue.
        let njs = js_with(&url, &m.node)
            .await
            .expect("node connects with its creds");
        let topo = Topology::apply(njs, TopologyConfig::default())
            .await
            .expect("node applies the topology");
        let b = broker(topo, store.store.clone());
        let mut results = b.results("node", None).await.expect("node reads results");
        let jobs = vec![
            job(1, ProofType::MergeRollup, 1),
            job(1, ProofType::MergeRollup, 2),
            job(1, ProofType::RootRollup, 3),
        ];
        b.enqueue_many(jobs.clone()).await.expect("node enqueues");

        // An agent with the agent's creds proves them all.
        let ajs = js_with(&url, &m.agent)
            .await
            .expect("agent connects with its creds");
        let cfg = AgentConfig::new("creds-agent", &[], 1);
        let topo = Topology::bind(ajs, TopologyConfig::default(), &cfg.proof_types)
            .await
            .expect("agent binds to the mesh");
        let agent = Agent::new(
            cfg,
            topo,
            store.store.clone(),
            Arc::new(SimulatedBackend::new(sim(Duration::ZERO))),
        )
        .unwrap();
        let stop = tokio_util::sync::CancellationToken::new();
        let h = tokio::spawn(agent.run(stop.clone()));
        let got = collect(&mut results, jobs.len(), Duration::from_secs(30)).await;
        assert_eq!(got.len(), jobs.len(), "every result arrives");
        for j in &jobs {
            let r = &got[&j.id()];
            assert!(matches!(r[0].outcome, JobOutcome::Proved(_)), "{r:?}");
            assert_eq!(r[0].agent.0, "creds-agent");
        }
        stop.cancel();
        h.await.unwrap();

        // The agent binary, configured with NATS_CREDS only, proves a job too.
        let creds = m.agent.display().to_string();
        let mut proc = AgentProcess::start(&url, &store, "creds-binary", &[("NATS_CREDS", &creds)]);
        let j = job(2, ProofType::BlockRootRollup, 1);
        b.enqueue(j.clone()).await.unwrap();
        let got = collect(&mut results, 1, Duration::from_secs(30)).await;
        let r = got
            .get(&j.id())
            .unwrap_or_else(|| panic!("no result; agent log:\n{}", proc.log()));
        assert!(matches!(r[0].outcome, JobOutcome::Proved(_)), "{r:?}");
        assert_eq!(r[0].agent.0, "creds-binary");
        // It is connected as a user of the mesh account.
        let connz: serde_json::Value =
            serde_json::from_str(&m.nats.monitor("/connz?auth=true").unwrap()).unwrap();
        let conn = connz["connections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "provemesh-agent creds-binary")
            .expect("the agent binary's connection");
        assert_eq!(conn["account"], m.setup.mesh.public_key());
        proc.kill9();
        assert_eq!(queued_total(&b).await, 0);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_mode_creds_refuse_what_each_role_may_not_do() {
    within(Duration::from_secs(120), async {
        let m = OperatorMesh::start();
        let url = m.url();
        let store_dir = tempfile::tempdir().unwrap();
        let store = StoreEnv::file(store_dir.path());
        let njs = js_with(&url, &m.node).await.unwrap();
        let topo = Topology::apply(njs, TopologyConfig::default())
            .await
            .unwrap();
        let b = broker(topo, store.store.clone());
        b.enqueue_many(vec![
            job(1, ProofType::MergeRollup, 1),
            job(1, ProofType::RootRollup, 2),
        ])
        .await
        .unwrap();
        let forged_subject =
            subjects::job(provemesh_common::EpochNumber(1), ProofType::MergeRollup);

        // The agent cannot publish a job, purge or delete the jobs stream, or read results.
        let ajs = js_with(&url, &m.agent).await.unwrap();
        let ack = ajs
            .publish(forged_subject.clone(), "forged".into())
            .await
            .unwrap();
        assert!(refused(ack).await, "an agent publishing a job must fail");
        let jobs = ajs
            .get_stream(subjects::JOBS_STREAM)
            .await
            .expect("agents read stream info");
        assert!(
            refused(jobs.purge()).await,
            "an agent purging jobs must fail"
        );
        assert!(refused(ajs.delete_stream(subjects::JOBS_STREAM)).await);
        let results = ajs
            .get_stream(subjects::RESULTS_STREAM)
            .await
            .expect("agents read stream info");
        let consumer =
            results.create_consumer(async_nats::jetstream::consumer::pull::Config::default());
        assert!(
            refused(consumer).await,
            "an agent reading results must fail"
        );
        assert!(refused(results.get_raw_message(1)).await);
        // The server says why, on a plain connection with the same creds.
        let (ac, mut errors) = watched(&url, &m.agent).await;
        ac.publish(forged_subject.clone(), "forged".into())
            .await
            .unwrap();
        ac.flush().await.unwrap();
        violation(
            &mut errors,
            &format!("Permissions Violation for Publish to \"{forged_subject}\""),
        )
        .await;
        let _sub = ac.subscribe(subjects::ALL_RESULTS).await.unwrap();
        ac.flush().await.unwrap();
        violation(
            &mut errors,
            "Permissions Violation for Subscription to \"prove.result.>\"",
        )
        .await;

        // The observer inspects but cannot purge or enqueue.
        let ojs = js_with(&url, &m.observer).await.unwrap();
        let mut jobs = ojs
            .get_stream(subjects::JOBS_STREAM)
            .await
            .expect("observers read stream info");
        assert_eq!(jobs.info().await.unwrap().state.messages, 2);
        assert!(
            refused(jobs.purge()).await,
            "an observer purging jobs must fail"
        );
        let ack = ojs
            .publish(forged_subject.clone(), "forged".into())
            .await
            .unwrap();
        assert!(refused(ack).await, "an observer publishing a job must fail");

        // Creds of an account the operator did not sign (unknown to the server) cannot
        // connect (the server logs "Account fetch failed: account missing"); the error
        // does not contain the seed.
        let stranger = KeyPair::new_account();
        let text =
            OperatorSetup::user_creds(&stranger, "stranger", &Role::Agent.permissions().unwrap())
                .unwrap();
        let path = m.dir.path().join("stranger.creds");
        provemesh_harness::jwt::write_private(&path, &text).unwrap();
        let err = match tokio::time::timeout(Duration::from_secs(15), js_with(&url, &path)).await {
            Ok(Ok(_)) => panic!("creds of an unknown account connected"),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "timed out".into(),
        };
        assert!(err.contains("authorization violation"), "{err}");
        let seed = text.lines().find(|l| l.starts_with("SU")).unwrap();
        assert!(!err.contains(seed), "{err}");

        assert_eq!(queued_total(&b).await, 2, "nothing purged, nothing forged");
    })
    .await
}
