//! `provemesh devnet`: the whole local system in one process tree — NATS JetStream, an
//! S3-compatible proof store, an L1 dev chain, the proof broker and N prover agents — then
//! epochs proved through the mesh. Ctrl-C stops everything; every server is killed by PID.

use anyhow::Context as _;
use clap::Args;
use provemesh_agent::{Agent, AgentConfig, SimulatedBackend, SimulatedConfig};
use provemesh_broker::Broker;
use provemesh_common::config::{values, ProofStoreArgs, Secret};
use provemesh_common::EpochNumber;
use provemesh_harness::{Anvil, NatsServer, S3Server};
use provemesh_nats::{Topology, TopologyConfig};
use provemesh_node::synthetic::{self, EpochShape};
use provemesh_store::ProofStore;
use std::sync::Arc;
use std::time::Duration;
use tracing::info;

/// Prints a line to stdout, ignoring a closed stdout (`provemesh devnet | head` must not
/// turn into a panic; the devnet keeps running and stops cleanly on Ctrl-C).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// The devnet's proof store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DevnetStore {
    File,
    S3,
}

#[derive(Debug, Clone, Args)]
pub struct DevnetCommand {
    /// Prover agents to run (default: one per core).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub agents: Option<u16>,

    /// Epochs to prove before stopping (0: keep proving until Ctrl-C).
    #[arg(long, default_value_t = 3)]
    pub epochs: u64,

    /// Blocks per epoch.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub blocks_per_epoch: u16,

    /// Transactions (base rollups) per block.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub txs_per_block: u16,

    /// Simulated proving time of each job.
    #[arg(long, default_value = "50ms", value_parser = values::duration)]
    pub proof_delay: Duration,

    /// Where proofs go: a local directory (`file`), or the local S3-compatible server
    /// (`s3`; slower here: that server answers each request after a ~40 ms TCP stall).
    #[arg(long, value_enum, default_value_t = DevnetStore::File)]
    pub proof_store: DevnetStore,

    /// Keep the servers up after the last epoch, until Ctrl-C.
    #[arg(long)]
    pub stay: bool,

    #[command(flatten)]
    pub sequencer: provemesh_sequencer::devnet::DevnetSequencerArgs,
}

impl DevnetCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        let shutdown = provemesh_agent::launch::shutdown_on_signals();
        let agents = self.agents.map(usize::from).unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        });

        say!("provemesh devnet: starting servers (tools from .tools/, see scripts/bootstrap)");
        // Started on this (the main) thread on purpose: the servers are tied to the thread
        // that spawns them and die with it, so even a killed devnet leaves none behind.
        let nats = NatsServer::start().context("starting nats-server")?;
        let anvil = Anvil::start(31337).context("starting anvil")?;
        let dir = std::env::temp_dir().join(format!("provemesh-devnet-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let (s3, store_args) = match self.proof_store {
            DevnetStore::File => (
                None,
                store_args(format!("file://{}", dir.join("proofs").display()), None),
            ),
            DevnetStore::S3 => {
                let s3 = S3Server::start("provemesh").context("starting the S3 server")?;
                let args = store_args(s3.store_url(), Some(&s3));
                (Some(s3), args)
            }
        };
        let env_file = write_env_file(&dir, &nats, &store_args)?;
        say!(
            "  NATS JetStream   {}  (monitoring http://127.0.0.1:{}/jsz)",
            nats.url(),
            nats.monitor_port
        );
        match &s3 {
            Some(s3) => say!("  proof store      s3://{} at {}", s3.bucket, s3.endpoint()),
            None => say!(
                "  proof store      {}",
                store_args.url.as_deref().unwrap_or_default()
            ),
        }
        say!(
            "  L1 (anvil)       {}  chain id {}  (rollup contracts: with --sequencer)",
            anvil.url(),
            anvil.chain_id
        );
        say!(
            "  agent settings   {}  (source it to attach more agents: provemesh-agent)",
            env_file.display()
        );
        say!(
            "  inspect the mesh PROVER_BROKER_HOST={} provemesh jobs",
            nats.url()
        );
        let sequencer = if self.sequencer.enabled() {
            let keys = |i| anvil.dev_private_key(i);
            let s = &self.sequencer;
            Some(
                provemesh_sequencer::devnet::start(s, &anvil.url(), &keys, &dir, shutdown.clone())
                    .await?,
            )
        } else {
            None
        };

        let client = async_nats::connect(nats.url()).await?;
        let topo = Topology::apply(
            async_nats::jetstream::new(client),
            TopologyConfig::default(),
        )
        .await?;
        let store = ProofStore::open(&store_args.validate()?)?;
        let broker = Broker::new(topo, store.clone());
        let dead_letters = tokio::spawn(provemesh_broker::run_dead_letters(
            broker.clone(),
            shutdown.clone(),
        ));

        let mut agent_tasks = Vec::new();
        for i in 0..agents {
            let client = async_nats::connect(nats.url()).await?;
            let js = async_nats::jetstream::new(client);
            let mut cfg = AgentConfig::new(format!("devnet-agent-{i}"), &[], 1);
            cfg.drain_deadline = Duration::from_secs(2);
            let topo = Topology::bind(js, TopologyConfig::default(), &cfg.proof_types).await?;
            let sim = SimulatedConfig {
                default_delay: self.proof_delay,
                jitter: 0.2,
                ..Default::default()
            };
            let agent = Agent::new(
                cfg,
                topo,
                store.clone(),
                Arc::new(SimulatedBackend::new(sim)),
            )?;
            agent_tasks.push(tokio::spawn(agent.run(shutdown.clone())));
        }
        say!(
            "  prover agents    {agents} (simulated proofs, ~{:?} each)\n",
            self.proof_delay
        );

        let shape = EpochShape {
            blocks: self.blocks_per_epoch as usize,
            txs_per_block: self.txs_per_block as usize,
        };
        let mut results = broker.results("devnet", None).await?;
        let mut epoch = 1u64;
        while self.epochs == 0 || epoch <= self.epochs {
            let proved = tokio::select! {
                _ = shutdown.cancelled() => break,
                r = synthetic::prove_epoch(&broker, &mut results, EpochNumber(epoch), shape) => r?,
            };
            say!(
                "epoch {:>3} proven: {} jobs ({} blocks × {} txs) in {:.2}s, root proof {} verified",
                proved.epoch,
                proved.jobs,
                shape.blocks,
                shape.txs_per_block,
                proved.elapsed.as_secs_f64(),
                proved.root.short()
            );
            epoch += 1;
        }
        if (self.stay || sequencer.is_some()) && !shutdown.is_cancelled() {
            say!("\nall epochs proven; servers stay up until Ctrl-C");
            shutdown.cancelled().await;
        }
        shutdown.cancel();
        for t in agent_tasks {
            let _ = t.await;
        }
        let _ = dead_letters.await;
        if let Some(s) = sequencer {
            if let Err(e) = s.stop().await {
                say!("sequencer stopped with an error: {e}");
            }
        }
        drop(results);
        info!("stopping servers");
        drop((anvil, s3, nats));
        say!("devnet stopped");
        Ok(())
    }
}

/// The proof-store settings of the devnet (also what an external agent is handed).
fn store_args(url: String, s3: Option<&S3Server>) -> ProofStoreArgs {
    ProofStoreArgs {
        url: Some(url),
        endpoint: s3.map(|s| s.endpoint()),
        region: "us-east-1".into(),
        access_key_id: s3.map(|s| Secret::new(s.access_key.clone())),
        secret_access_key: s3.map(|s| Secret::new(s.secret_key.clone())),
    }
}

/// Writes the variables an external agent needs to a private (0600) file, so credentials
/// are handed over without being printed.
fn write_env_file(
    dir: &std::path::Path,
    nats: &NatsServer,
    store: &ProofStoreArgs,
) -> anyhow::Result<std::path::PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join("agent.env");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&path)?;
    writeln!(f, "export PROVER_BROKER_HOST={}", nats.url())?;
    let vars = [
        ("PROVER_PROOF_STORE", store.url.clone()),
        ("PROVER_PROOF_STORE_ENDPOINT", store.endpoint.clone()),
        (
            "AWS_ACCESS_KEY_ID",
            store.access_key_id.as_ref().map(|k| k.expose().to_string()),
        ),
        (
            "AWS_SECRET_ACCESS_KEY",
            store
                .secret_access_key
                .as_ref()
                .map(|k| k.expose().to_string()),
        ),
    ];
    for (k, v) in vars {
        if let Some(v) = v {
            writeln!(f, "export {k}={v}")?;
        }
    }
    Ok(path)
}
