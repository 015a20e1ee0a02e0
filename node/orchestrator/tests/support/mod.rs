//! Real blocks (a temporary world state and the tx processor over generated txs with
//! simulated client proofs and funded fee payers), a real nats-server with the mesh
//! topology, a file proof store in a temporary directory, and in-process agents.

#![allow(dead_code, clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use provemesh_agent::{Agent, AgentConfig, AgentStats, SimulatedBackend, SimulatedConfig};
use provemesh_broker::Broker;
use provemesh_common::config::{ProofStoreConfig, ProofStoreLocation};
use provemesh_common::{EpochNumber, ProofType};
use provemesh_harness::{NatsServer, S3Server};
use provemesh_nats::{Topology, TopologyConfig};
use provemesh_orchestrator::fixtures::execute_epoch;
use provemesh_orchestrator::{l1_epoch_public_inputs, EpochConfig};
use provemesh_store::ProofStore;
use provemesh_tx_processor::ProcessedBlock;
use provemesh_world_state::TreeHeights;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const PROVER: [u8; 32] = {
    let mut p = [0u8; 32];
    p[31] = 0x42;
    p
};

/// Executes blocks of `txs_per_block[i]` generated txs on a fresh world state (block
/// numbers from 1) and returns what the tx processor emitted for each.
pub fn blocks(txs_per_block: &[usize]) -> Vec<ProcessedBlock> {
    let dir = tempfile::tempdir().unwrap();
    execute_epoch(dir.path(), TreeHeights::uniform(16), txs_per_block, |_| {}).unwrap()
}

/// A config for `epoch` expecting L1's public inputs for `blocks`.
pub fn config(epoch: u64, blocks: &[ProcessedBlock]) -> EpochConfig {
    let mut c = EpochConfig::new(EpochNumber(epoch), PROVER);
    c.expected_root_public_inputs =
        Some(l1_epoch_public_inputs(blocks, EpochNumber(epoch), PROVER));
    c.watch_interval = Duration::from_millis(100);
    c
}

pub struct Mesh {
    pub nats: NatsServer,
    pub url: String,
    pub broker: Broker,
    pub store: ProofStore,
    pub dir: tempfile::TempDir,
    /// The S3 server the store is on, when it is ([`mesh_on_s3`]); stopped when dropped.
    pub s3: Option<S3Server>,
}

pub async fn js(url: &str) -> async_nats::jetstream::Context {
    async_nats::jetstream::new(async_nats::connect(url).await.unwrap())
}

/// A nats-server with the mesh topology and a file proof store.
pub async fn mesh() -> Mesh {
    let dir = tempfile::tempdir().unwrap();
    let store = ProofStore::open(&ProofStoreConfig {
        location: ProofStoreLocation::File(dir.path().join("proofs")),
    })
    .unwrap();
    mesh_with(store, dir, None).await
}

/// [`mesh`] with the proof store on a local S3-compatible server (loopback), as a farm's
/// agents would share it.
#[allow(dead_code)] // not every test binary that includes this module uses it
pub async fn mesh_on_s3() -> Mesh {
    let s3 = S3Server::start("proofs").unwrap();
    let store = ProofStore::open(&s3.store_args().validate().unwrap()).unwrap();
    mesh_with(store, tempfile::tempdir().unwrap(), Some(s3)).await
}

async fn mesh_with(store: ProofStore, dir: tempfile::TempDir, s3: Option<S3Server>) -> Mesh {
    let nats = NatsServer::start().unwrap();
    let url = nats.url();
    let topo = Topology::apply(js(&url).await, TopologyConfig::default())
        .await
        .unwrap();
    let broker = Broker::new(topo, store.clone());
    Mesh {
        nats,
        url,
        broker,
        store,
        dir,
        s3,
    }
}

pub struct Agents {
    pub stats: Vec<Arc<AgentStats>>,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<Arc<AgentStats>>>,
}

impl Agents {
    pub fn proved(&self) -> u64 {
        self.stats
            .iter()
            .map(|s| s.proved.load(Ordering::Relaxed))
            .sum()
    }

    pub fn reused(&self) -> u64 {
        self.stats
            .iter()
            .map(|s| s.reused.load(Ordering::Relaxed))
            .sum()
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// `n` in-process agents proving `types` (all when empty), each job taking `delay`.
pub async fn agents(m: &Mesh, n: usize, delay: Duration, types: &[ProofType]) -> Agents {
    let shutdown = CancellationToken::new();
    let mut stats = Vec::new();
    let mut tasks = Vec::new();
    for i in 0..n {
        let mut cfg = AgentConfig::new(format!("agent-{i}"), types, 1);
        cfg.idle_sweep = Duration::from_millis(200);
        let topo = Topology::bind(
            js(&m.url).await,
            TopologyConfig::default(),
            &cfg.proof_types,
        )
        .await
        .unwrap();
        let sim = SimulatedConfig {
            default_delay: delay,
            proof_size: 1024,
            ..Default::default()
        };
        let agent = Agent::new(
            cfg,
            topo,
            m.store.clone(),
            Arc::new(SimulatedBackend::new(sim)),
        )
        .unwrap();
        stats.push(agent.stats());
        tasks.push(tokio::spawn(agent.run(shutdown.clone())));
    }
    Agents {
        stats,
        shutdown,
        tasks,
    }
}

/// Polls `cond` every 20 ms for at most `timeout`.
pub async fn eventually(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out after {timeout:?} waiting for: {what}");
}
