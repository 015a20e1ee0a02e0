//! Shared helpers of the integration tests: real servers from the harness, in-process and
//! out-of-process agents, simulated jobs, bounded waits.

#![allow(dead_code)]

use async_nats::jetstream::Context;
use bytes::Bytes;
use provemesh_agent::{Agent, AgentConfig, AgentStats, SimulatedBackend, SimulatedConfig};
use provemesh_broker::{Broker, NewJob, Results};
use provemesh_common::circuit::{Constraint, SimulatedCircuitInputs};
use provemesh_common::{EpochNumber, JobResult, ProofType};
use provemesh_nats::{Topology, TopologyConfig};
use provemesh_store::ProofStore;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub async fn js(url: &str) -> Context {
    let client = async_nats::ConnectOptions::new()
        .name("provemesh-test")
        .max_reconnects(None)
        .reconnect_delay_callback(|a| Duration::from_millis((50u64 << a.min(5)).min(1000)))
        .connect(url.split(',').collect::<Vec<_>>().as_slice())
        .await
        .expect("connect to nats");
    async_nats::jetstream::new(client)
}

/// A topology config with short timers so redelivery tests run in seconds.
pub fn fast_topology() -> TopologyConfig {
    TopologyConfig {
        ack_wait: Duration::from_secs(3),
        max_deliver: 5,
        ..Default::default()
    }
}

pub async fn topology(url: &str, cfg: TopologyConfig) -> Topology {
    Topology::apply(js(url).await, cfg)
        .await
        .expect("apply topology")
}

/// Inputs of a satisfiable simulated circuit, unique per (epoch, type, n).
pub fn inputs(epoch: u64, t: ProofType, n: u64) -> SimulatedCircuitInputs {
    let mut pi = [0u8; 32];
    pi[..8].copy_from_slice(&epoch.to_be_bytes());
    pi[8] = t.critical_path_rank();
    pi[16..24].copy_from_slice(&n.to_be_bytes());
    SimulatedCircuitInputs {
        public_inputs: vec![pi],
        constraints: vec![],
        payload: Bytes::from(format!("w{n}")),
    }
}

pub fn job(epoch: u64, t: ProofType, n: u64) -> NewJob {
    NewJob {
        epoch: EpochNumber(epoch),
        proof_type: t,
        inputs: inputs(epoch, t, n).encode().expect("encode").into(),
        deadline_ms: None,
    }
}

/// A job whose circuit assertion fails with `message`.
pub fn failing_job(epoch: u64, t: ProofType, message: &str) -> NewJob {
    let mut i = inputs(epoch, t, 999_999);
    i.constraints.push(Constraint {
        left: [1; 32],
        right: [2; 32],
        message: message.into(),
    });
    NewJob {
        epoch: EpochNumber(epoch),
        proof_type: t,
        inputs: i.encode().expect("encode").into(),
        deadline_ms: None,
    }
}

pub fn sim(delay: Duration) -> SimulatedConfig {
    SimulatedConfig {
        default_delay: delay,
        proof_size: 1024,
        ..Default::default()
    }
}

/// An in-process agent with its own NATS connection.
pub struct InProcessAgent {
    pub stats: Arc<AgentStats>,
    pub shutdown: CancellationToken,
    pub handle: JoinHandle<Arc<AgentStats>>,
}

impl InProcessAgent {
    pub async fn start(
        url: &str,
        cfg: AgentConfig,
        store: ProofStore,
        sim: SimulatedConfig,
    ) -> Self {
        Self::with_backend(url, cfg, store, Arc::new(SimulatedBackend::new(sim))).await
    }

    /// An agent proving with `backend` instead of the simulated one.
    pub async fn with_backend(
        url: &str,
        cfg: AgentConfig,
        store: ProofStore,
        backend: Arc<dyn provemesh_agent::ProvingBackend>,
    ) -> Self {
        let topo = Topology::bind(js(url).await, TopologyConfig::default(), &cfg.proof_types)
            .await
            .expect("bind");
        let agent = Agent::new(cfg, topo, store, backend).expect("agent");
        let stats = agent.stats();
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(agent.run(shutdown.clone()));
        InProcessAgent {
            stats,
            shutdown,
            handle,
        }
    }

    pub async fn stop(self) -> Arc<AgentStats> {
        self.shutdown.cancel();
        self.handle.await.expect("agent task")
    }
}

/// Stops every agent and sums one of their counters over them.
pub async fn stop_all(
    agents: Vec<InProcessAgent>,
    counter: fn(&AgentStats) -> &std::sync::atomic::AtomicU64,
) -> u64 {
    let mut sum = 0;
    for a in agents {
        sum += a.stop().await.get(counter);
    }
    sum
}

/// Receives results until `n` distinct jobs reported, or `timeout`. Acks each.
pub async fn collect(
    results: &mut Results,
    n: usize,
    timeout: Duration,
) -> HashMap<provemesh_common::JobId, Vec<JobResult>> {
    let mut by_id = HashMap::new();
    collect_into(results, &mut by_id, n, timeout).await;
    by_id
}

/// Adds received results to `by_id` until it holds `n` distinct jobs, or `timeout`.
pub async fn collect_into(
    results: &mut Results,
    by_id: &mut HashMap<provemesh_common::JobId, Vec<JobResult>>,
    n: usize,
    timeout: Duration,
) {
    let deadline = Instant::now() + timeout;
    while by_id.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, results.next()).await {
            Ok(Some(Ok(d))) => {
                d.ack().await.expect("ack result");
                by_id.entry(d.result.id).or_default().push(d.result);
            }
            Ok(Some(Err(e))) => panic!("results stream error: {e}"),
            Ok(None) | Err(_) => break,
        }
    }
}

/// Result messages stored in the results stream per subject (one subject per job).
pub async fn stored_results(topo: &Topology, epoch: u64) -> HashMap<String, usize> {
    use futures::StreamExt;
    let mut out = HashMap::new();
    let mut info = topo
        .results
        .info_with_subjects(format!("prove.result.{epoch}.>"))
        .await
        .expect("stream info");
    while let Some(Ok((subject, n))) = info.next().await {
        out.insert(subject, n);
    }
    out
}

/// Waits up to `timeout` for another result; returns it if one came.
pub async fn next_result(results: &mut Results, timeout: Duration) -> Option<JobResult> {
    match tokio::time::timeout(timeout, results.next()).await {
        Ok(Some(Ok(d))) => {
            d.ack().await.expect("ack");
            Some(d.result)
        }
        _ => None,
    }
}

/// Polls `cond` every 20 ms for at most `timeout`.
pub async fn eventually<F, Fut>(timeout: Duration, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out after {timeout:?} waiting for: {what}");
}

/// A built binary of the workspace (`provemesh`, `provemesh-agent`), next to the test
/// binary's directory. `scripts/test` builds them before running the tests.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let p = dir.join(name);
    assert!(
        p.is_file(),
        "{} is not built: run `cargo build --bins` (scripts/test does)",
        p.display()
    );
    p
}

/// An agent in its own process (so it can be SIGKILLed or SIGTERMed), killed on drop.
pub struct AgentProcess {
    pub child: Child,
    pub id: String,
    log: tempfile::NamedTempFile,
}

impl AgentProcess {
    pub fn start(nats_url: &str, store: &StoreEnv, id: &str, extra: &[(&str, &str)]) -> Self {
        let log = tempfile::NamedTempFile::new().expect("log file");
        let mut cmd = Command::new(binary("provemesh-agent"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("PROVER_BROKER_HOST", nats_url)
            .env("PROVER_AGENT_ID", id)
            .env("LOG_LEVEL", "verbose")
            .stdin(Stdio::null())
            .stdout(log.reopen().expect("log"))
            .stderr(log.reopen().expect("log"));
        for (k, v) in &store.vars {
            cmd.env(k, v);
        }
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn provemesh-agent");
        AgentProcess {
            child,
            id: id.into(),
            log,
        }
    }

    pub fn pid(&self) -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(self.child.id() as i32)
    }

    pub fn kill9(&mut self) {
        let _ = nix::sys::signal::kill(self.pid(), nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }

    pub fn sigterm(&self) {
        let _ = nix::sys::signal::kill(self.pid(), nix::sys::signal::Signal::SIGTERM);
    }

    /// Waits for the process to exit (bounded), returning its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- agent {} log ----\n{}", self.id, self.log());
        }
        let _ = nix::sys::signal::kill(self.pid(), nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// How a test's processes reach the proof store: environment variables for agent
/// processes, plus an open store for the test itself.
pub struct StoreEnv {
    pub vars: Vec<(String, String)>,
    pub store: ProofStore,
}

impl StoreEnv {
    pub fn s3(s3: &provemesh_harness::S3Server) -> Self {
        let vars = vec![
            ("PROVER_PROOF_STORE".to_string(), s3.store_url()),
            ("PROVER_PROOF_STORE_ENDPOINT".to_string(), s3.endpoint()),
            ("AWS_ACCESS_KEY_ID".to_string(), s3.access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY".to_string(), s3.secret_key.clone()),
        ];
        let config = s3.store_args().validate().expect("valid store config");
        let store = ProofStore::open(&config).expect("open s3 store");
        StoreEnv { vars, store }
    }

    pub fn file(dir: &std::path::Path) -> Self {
        let vars = vec![(
            "PROVER_PROOF_STORE".to_string(),
            format!("file://{}", dir.display()),
        )];
        let store = ProofStore::open(&Self::config(&vars)).expect("open file store");
        StoreEnv { vars, store }
    }

    fn config(vars: &[(String, String)]) -> provemesh_common::config::ProofStoreConfig {
        let get = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        provemesh_common::config::ProofStoreArgs {
            url: get("PROVER_PROOF_STORE"),
            endpoint: get("PROVER_PROOF_STORE_ENDPOINT"),
            region: "us-east-1".into(),
            access_key_id: get("AWS_ACCESS_KEY_ID").map(provemesh_common::config::Secret::new),
            secret_access_key: get("AWS_SECRET_ACCESS_KEY")
                .map(provemesh_common::config::Secret::new),
        }
        .validate()
        .expect("valid store config")
    }
}

pub fn broker(topo: Topology, store: ProofStore) -> Broker {
    Broker::new(topo, store)
}

/// Runs a test body with an overall time bound: a hang fails the test (dropping, and so
/// stopping, every server it started) instead of stalling the suite.
pub async fn within<F: std::future::Future>(limit: Duration, body: F) -> F::Output {
    match tokio::time::timeout(limit, body).await {
        Ok(v) => v,
        Err(_) => panic!("test exceeded its time bound of {limit:?}"),
    }
}

/// What most mesh tests start from: one nats-server, a file proof store, the topology
/// applied with `config`, a broker, and the node's results consumer.
pub struct Mesh {
    pub nats: provemesh_harness::NatsServer,
    pub store: StoreEnv,
    pub broker: Broker,
    pub results: Results,
    /// Holds the store's directory; keep it bound for the test's duration.
    pub dir: tempfile::TempDir,
}

impl Mesh {
    pub async fn start(config: TopologyConfig) -> Mesh {
        let nats = provemesh_harness::NatsServer::start().expect("nats");
        let dir = tempfile::tempdir().expect("tempdir");
        let store = StoreEnv::file(dir.path());
        let broker = Broker::new(topology(&nats.url(), config).await, store.store.clone());
        let results = broker
            .results("node", None)
            .await
            .expect("results consumer");
        Mesh {
            nats,
            store,
            broker,
            results,
            dir,
        }
    }

    pub fn url(&self) -> String {
        self.nats.url()
    }
}

/// Jobs still queued on the mesh, over every epoch and proof type.
pub async fn queued_total(b: &Broker) -> u64 {
    b.queue_depths()
        .await
        .unwrap()
        .iter()
        .map(|d| d.queued)
        .sum()
}
