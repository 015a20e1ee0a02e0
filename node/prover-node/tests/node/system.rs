//! The whole system of one test: anvil with the rollup, the devnet sequencer with a tx
//! load, a JetStream mesh (nats-server, file proof store, broker, in-process simulated
//! agents) and the prover node under test, each stopped by the fixture.

use crate::support::{genesis, sequencer, Chain, Timing, MIN_BOND, PROVER};
use alloy::primitives::U256;
use provemesh_agent::{Agent, AgentConfig, AgentStats, SimulatedBackend, SimulatedConfig};
use provemesh_broker::Broker;
use provemesh_common::config::{ProofStoreConfig, ProofStoreLocation};
use provemesh_harness::NatsServer;
use provemesh_nats::{Topology, TopologyConfig};
use provemesh_orchestrator::Proofs;
use provemesh_prover_node::quotes::QuotePolicy;
use provemesh_prover_node::{ProverNodeConfig, ProverNodeHandle};
use provemesh_sequencer::loadgen::{LoadConfig, LoadGenerator, TxFactory};
use provemesh_sequencer::SequencerHandle;
use provemesh_store::ProofStore;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// 2-second slots, 3-slot epochs: ≥ 2 blocks an epoch; claims in the next epoch's first
/// 2 slots, proofs within its 3.
pub const TIMING: Timing = Timing {
    epoch: 3,
    claim_window: 2,
    proof_window: 3,
};

/// For tests that slow proving down or break things mid-epoch: 4-slot epochs, proofs
/// within 8 s.
pub const SLOW_TIMING: Timing = Timing {
    epoch: 4,
    claim_window: 2,
    proof_window: 4,
};

#[allow(dead_code)] // the server and the directory live as long as the mesh
pub struct Mesh {
    pub nats: NatsServer,
    pub url: String,
    pub broker: Broker,
    pub store: ProofStore,
    pub dir: tempfile::TempDir,
}

/// The mesh's topology in these tests: a crashed agent's job comes back after 2 s (the
/// epochs' proof windows are seconds long here, not the default 30 s).
pub fn topology() -> TopologyConfig {
    TopologyConfig {
        ack_wait: Duration::from_secs(2),
        ..TopologyConfig::default()
    }
}

pub async fn js(url: &str) -> async_nats::jetstream::Context {
    async_nats::jetstream::new(async_nats::connect(url).await.unwrap())
}

impl Mesh {
    pub async fn start() -> Mesh {
        let nats = NatsServer::start().unwrap();
        let url = nats.url();
        let topo = Topology::apply(js(&url).await, topology()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = ProofStore::open(&ProofStoreConfig {
            location: ProofStoreLocation::File(dir.path().join("proofs")),
        })
        .unwrap();
        let broker = Broker::new(topo, store.clone());
        Mesh {
            nats,
            url,
            broker,
            store,
            dir,
        }
    }

    /// An in-process simulated agent proving every type, each job taking `delay`.
    pub async fn agent(&self, name: &str, delay: Duration) -> AgentTask {
        let shutdown = CancellationToken::new();
        let mut cfg = AgentConfig::new(name.to_string(), &[], 1);
        cfg.idle_sweep = Duration::from_millis(200);
        let topo = Topology::bind(js(&self.url).await, topology(), &cfg.proof_types)
            .await
            .unwrap();
        let sim = SimulatedConfig {
            default_delay: delay,
            proof_size: 512,
            ..Default::default()
        };
        let agent = Agent::new(
            cfg,
            topo,
            self.store.clone(),
            Arc::new(SimulatedBackend::new(sim)),
        )
        .unwrap();
        let stats = agent.stats();
        let task = tokio::spawn(agent.run(shutdown.clone()));
        AgentTask {
            stats,
            shutdown,
            task,
        }
    }
}

pub struct AgentTask {
    pub stats: Arc<AgentStats>,
    shutdown: CancellationToken,
    task: JoinHandle<Arc<AgentStats>>,
}

impl AgentTask {
    pub fn proved(&self) -> u64 {
        self.stats.proved.load(Ordering::Relaxed)
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.task.await;
    }
}

pub struct System {
    pub chain: Chain,
    pub seq: SequencerHandle,
    pub mesh: Mesh,
    pub agents: Vec<AgentTask>,
    pub shutdown: CancellationToken,
    load: JoinHandle<()>,
}

impl System {
    /// The chain (prover funded with bond tokens, not deposited: the node deposits), the
    /// sequencer building blocks of ≥ `min_txs` txs from a load of `tps`, the mesh with
    /// `agents` agents of `delay` per proof.
    pub async fn start(
        timing: Timing,
        agents: usize,
        delay: Duration,
        tps: f64,
        min_txs: usize,
    ) -> System {
        Self::start_with(timing, agents, delay, tps, min_txs, |_| {}).await
    }

    /// [`Self::start`], with the sequencer's configuration adjusted by `tweak`.
    pub async fn start_with(
        timing: Timing,
        agents: usize,
        delay: Duration,
        tps: f64,
        min_txs: usize,
        tweak: impl FnOnce(&mut provemesh_sequencer::SequencerConfig),
    ) -> System {
        let (chain, ws) = Chain::start(timing).await;
        chain.fund(PROVER, 1_000 * MIN_BOND, false).await;
        let shutdown = CancellationToken::new();
        let mut sc = chain.sequencer_config();
        sc.min_txs_per_block = min_txs;
        tweak(&mut sc);
        let seq = sequencer(sc, ws, &shutdown).await;
        let generator = LoadGenerator::new(
            LoadConfig {
                rpc_url: seq.rpc_url(),
                tps,
                invalid_every: None,
                max_txs: None,
            },
            TxFactory::new(&genesis(), 7),
        );
        let stop = shutdown.clone();
        let load = tokio::spawn(async move {
            let _ = generator.run(stop).await;
        });
        let mesh = Mesh::start().await;
        let mut a = Vec::new();
        for i in 0..agents {
            a.push(mesh.agent(&format!("agent-{i}"), delay).await);
        }
        System {
            chain,
            seq,
            mesh,
            agents: a,
            shutdown,
            load,
        }
    }

    /// The prover node's configuration for this system (data in `dir`).
    pub fn node_config(&self, dir: &std::path::Path) -> ProverNodeConfig {
        ProverNodeConfig {
            l1_urls: vec![self.chain.url()],
            archiver: None,
            deployment: self.chain.deployment,
            data_directory: dir.to_path_buf(),
            signer: self.chain.keys[PROVER].clone(),
            rpc_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            node_url: Some(self.seq.rpc_url().parse().unwrap()),
            coordination_url: Some(self.seq.rpc_url().parse().unwrap()),
            p2p: None,
            genesis: genesis().world_state_config(),
            policy: QuotePolicy {
                basis_point_fee: 500,
                bond_amount: U256::from(MIN_BOND),
                min_fee_reward: U256::ZERO,
                max_parallel_epochs: 2,
                validity_slots: self.chain.timing.epoch,
                auto_deposit: true,
            },
            sync: Default::default(),
            supervisor: provemesh_prover_node::epochs::SupervisorConfig {
                poll_interval: Duration::from_millis(200),
                ..Default::default()
            },
            max_job_retries: 2,
            job_time_estimate: Some(Duration::from_millis(20)),
            confirmation_timeout: Duration::from_secs(4),
            poll_interval: Duration::from_millis(200),
            proofs: Proofs::Simulated,
        }
    }

    pub async fn node(
        &self,
        config: ProverNodeConfig,
        stop: &CancellationToken,
    ) -> ProverNodeHandle {
        provemesh_prover_node::start(config, self.mesh.broker.clone(), stop.clone())
            .await
            .expect("prover node starts")
    }

    pub fn proved(&self) -> u64 {
        self.agents.iter().map(|a| a.proved()).sum()
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.load.await;
        for a in self.agents {
            a.stop().await;
        }
        let _ = self.seq.wait().await;
    }
}

/// A `provemesh-agent` process on the mesh (so it can be killed with SIGKILL), killed on
/// drop. Needs the binaries built (`cargo build --bins`; `scripts/test` does).
pub struct AgentProcess {
    child: Child,
    log: tempfile::NamedTempFile,
}

impl AgentProcess {
    pub fn start(mesh: &Mesh, id: &str, delay: Duration) -> AgentProcess {
        let exe = std::env::current_exe().expect("current exe");
        let bin = exe
            .parent()
            .and_then(|d| d.parent())
            .expect("target dir")
            .join("provemesh-agent");
        assert!(
            bin.is_file(),
            "{} is not built: run `cargo build --bins` (scripts/test does)",
            bin.display()
        );
        let log = tempfile::NamedTempFile::new().expect("log file");
        let child = Command::new(bin)
            .env_clear()
            .env("PROVER_BROKER_HOST", &mesh.url)
            .env(
                "PROVER_PROOF_STORE",
                format!("file://{}", mesh.dir.path().join("proofs").display()),
            )
            .env("PROVER_AGENT_ID", id)
            .env(
                "PROVER_SIMULATED_DEFAULT_DELAY",
                format!("{}ms", delay.as_millis()),
            )
            .env("LOG_LEVEL", "info")
            .stdin(Stdio::null())
            .stdout(log.reopen().expect("log"))
            .stderr(log.reopen().expect("log"))
            .spawn()
            .expect("spawn provemesh-agent");
        AgentProcess { child, log }
    }

    /// SIGKILL: no drain, no nak; its jobs come back after AckWait.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- agent log ----\n{}", self.log());
        }
        self.kill9();
    }
}
