//! `provemesh devnet`: the whole local system in one process tree — NATS JetStream, a proof
//! store (a local directory, or an S3-compatible server), anvil with the rollup contracts,
//! the sequencer with a tx load, the prover node with its archiver and N prover agents —
//! then epoch after epoch won, proved on the mesh and verified on L1. Ctrl-C stops
//! everything; every server is killed by PID. `--synthetic` proves epochs of the proof
//! tree's shape alone (no L1, no txs): a look at the mesh by itself.

use alloy::primitives::U256;
use alloy::signers::local::PrivateKeySigner;
use anyhow::Context as _;
use clap::Args;
use provemesh_agent::{Agent, AgentConfig, BbBackend, SimulatedBackend, SimulatedConfig};
use provemesh_archiver::L2BlockSource as _;
use provemesh_broker::Broker;
use provemesh_common::config::{values, ProofStoreArgs};
use provemesh_common::EpochNumber;
use provemesh_harness::{Anvil, NatsServer, S3Server};
use provemesh_l1::DeployConfig;
use provemesh_nats::{Topology, TopologyConfig};
use provemesh_node::synthetic::{self, EpochShape};
use provemesh_orchestrator::{Proofs, RealCircuits};
use provemesh_p2p::{NodeApiClient as _, P2pConfig};
use provemesh_prover_node::epochs::{EpochEvent, Published};
use provemesh_prover_node::quotes::QuotePolicy;
use provemesh_prover_node::ProverNodeConfig;
use provemesh_store::ProofStore;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::info;

/// Prints a line to stdout, ignoring a closed stdout (`provemesh devnet | head` must not
/// turn into a panic; the devnet keeps running and stops cleanly on Ctrl-C).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// The mesh side the prover node runs on: the broker, and the kind of proofs the agents
/// make (the node's jobs and checks must match).
struct ProverMesh {
    broker: Broker,
    proofs: Proofs,
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

    /// Epochs to prove (and see verified on L1) before stopping (0: keep proving until
    /// Ctrl-C).
    #[arg(long, default_value_t = 3)]
    pub epochs: u64,

    /// Prove synthetic epochs (the proof tree's shape, --blocks-per-epoch ×
    /// --txs-per-block) instead of the rollup's: no contracts, sequencer or prover node.
    #[arg(long)]
    pub synthetic: bool,

    /// The prover node's share of each epoch's fees asked in its quotes (basis points).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub basis_point_fee: u32,

    /// Blocks per synthetic epoch (with --synthetic).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub blocks_per_epoch: u16,

    /// Transactions (base rollups) per synthetic block (with --synthetic).
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

    /// Real proofs: agents prove with Barretenberg, the node checks every proof with
    /// `bb verify`, and L1's Rollup verifies the root with the generated Honk verifier
    /// (INSECURE devnet CRS from scripts/crs). Slow: minutes per epoch on a few cores, so
    /// the timing defaults change (300 s slots, 1-slot epochs, 2 txs per block, 0.01 tps)
    /// and one agent per 4 cores runs by default.
    #[arg(long, conflicts_with = "synthetic")]
    pub real_proofs: bool,

    #[command(flatten)]
    pub bb: provemesh_agent::BbArgs,

    #[command(flatten)]
    pub sequencer: provemesh_sequencer::devnet::DevnetSequencerArgs,
}

impl DevnetCommand {
    pub async fn run(mut self) -> anyhow::Result<()> {
        let shutdown = provemesh_agent::launch::shutdown_on_signals();
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        // Each bb process uses every core: one agent per 4 cores by default.
        let agents = self.agents.map(usize::from).unwrap_or(if self.real_proofs {
            (cores / 4).max(1)
        } else {
            cores
        });
        self.sequencer.real_proofs = self.real_proofs;
        self.sequencer.check()?;
        // Checked before any server starts: bb, the devnet CRS, the circuits.
        let real = if self.real_proofs {
            let bb = self.bb.validate()?;
            let set = Arc::new(
                provemesh_bb::circuits::CircuitSet::load(&bb.circuits_dir)
                    .context("loading the circuits")?,
            );
            Some((bb, set))
        } else {
            None
        };

        say!("provemesh devnet: starting servers (tools from .tools/, see scripts/bootstrap)");
        // Started on this (the main) thread on purpose: the servers are tied to the thread
        // that spawns them and die with it, so even a killed devnet leaves none behind.
        let nats = NatsServer::start().context("starting nats-server")?;
        let anvil = Anvil::start(31337).context("starting anvil")?;
        let dir = std::env::temp_dir().join(format!("provemesh-devnet-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let (s3, store_args) = match self.proof_store {
            DevnetStore::File => (None, file_store_args(&dir.join("proofs"))),
            DevnetStore::S3 => {
                let s3 = S3Server::start("provemesh").context("starting the S3 server")?;
                let args = s3.store_args();
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
            "  L1 (anvil)       {}  chain id {}",
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
            let backend: Arc<dyn provemesh_agent::ProvingBackend> = match &real {
                Some((bb, _)) => Arc::new(BbBackend::new(bb).context("bb backend")?),
                None => Arc::new(SimulatedBackend::new(SimulatedConfig {
                    default_delay: self.proof_delay,
                    jitter: 0.2,
                    ..Default::default()
                })),
            };
            let agent = Agent::new(cfg, topo, store.clone(), backend)?;
            agent_tasks.push(tokio::spawn(agent.run(shutdown.clone())));
        }
        match &real {
            Some((bb, _)) => {
                say!(
                    "  prover agents    {agents} (REAL proofs: {} with the INSECURE devnet CRS in {})",
                    bb.bb.prover.display(),
                    bb.bb.crs_dir.display()
                );
                say!("  client proofs    real: each tx's private kernel tail proved by the load generator, checked with bb by the sequencer and the prover node, verified again in its base rollup");
            }
            None => say!(
                "  prover agents    {agents} (simulated proofs, ~{:?} each)",
                self.proof_delay
            ),
        }
        let proofs = match &real {
            Some((bb, set)) => Proofs::Real(Arc::new(RealCircuits::new(
                set.clone(),
                Some(bb.bb.clone()),
            ))),
            None => Proofs::Simulated,
        };

        let outcome = if self.synthetic {
            say!("");
            self.prove_synthetic(&broker, &shutdown).await
        } else {
            let mesh = ProverMesh {
                broker: broker.clone(),
                proofs,
            };
            self.prove_rollup(&anvil, &mesh, &dir, &shutdown).await
        };
        if outcome.is_ok() && self.stay && !shutdown.is_cancelled() {
            say!("\nall epochs proven; servers stay up until Ctrl-C");
            shutdown.cancelled().await;
        }
        shutdown.cancel();
        for t in agent_tasks {
            let _ = t.await;
        }
        let _ = dead_letters.await;
        info!("stopping servers");
        drop((anvil, s3, nats));
        let _ = std::fs::remove_dir_all(&dir);
        say!("devnet stopped");
        outcome
    }

    /// Synthetic epochs straight onto the mesh: the proof tree's shape, each child proof
    /// checked, no L1.
    async fn prove_synthetic(
        &self,
        broker: &Broker,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        let shape = EpochShape {
            blocks: self.blocks_per_epoch as usize,
            txs_per_block: self.txs_per_block as usize,
        };
        let mut results = broker.results("devnet", None).await?;
        let mut epoch = 1u64;
        while self.epochs == 0 || epoch <= self.epochs {
            let proved = tokio::select! {
                _ = shutdown.cancelled() => break,
                r = synthetic::prove_epoch(broker, &mut results, EpochNumber(epoch), shape) => r?,
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
        Ok(())
    }

    /// The rollup: contracts, sequencer and load, and the prover node winning, proving and
    /// publishing epochs until `--epochs` of them are verified on L1.
    async fn prove_rollup(
        &self,
        anvil: &Anvil,
        mesh: &ProverMesh,
        dir: &std::path::Path,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        let keys = |i| anvil.dev_private_key(i);
        // Dev account 1 is the prover: ETH from anvil, bond tokens minted at deployment.
        let prover: PrivateKeySigner = keys(1)
            .context("anvil's banner has no dev account 1")?
            .parse()
            .context("anvil's dev account 1 is not a private key")?;
        let min_bond = DeployConfig::default().min_bond;
        let s = &self.sequencer;
        let sequencer = provemesh_sequencer::devnet::start(
            s,
            &anvil.url(),
            &keys,
            dir,
            &[(prover.address(), min_bond * U256::from(1_000u64))],
            client_proofs(mesh)?,
            shutdown.clone(),
        )
        .await?;
        let result = self
            .run_prover_node(anvil, mesh, dir, prover, &sequencer, shutdown)
            .await;
        shutdown.cancel();
        if let Err(e) = sequencer.stop().await {
            say!("sequencer stopped with an error: {e}");
        }
        result
    }

    async fn run_prover_node(
        &self,
        anvil: &Anvil,
        mesh: &ProverMesh,
        dir: &std::path::Path,
        signer: PrivateKeySigner,
        sequencer: &provemesh_sequencer::devnet::DevnetSequencer,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        let node_url: url::Url = sequencer.node.rpc_url().parse()?;
        // The genesis as a prover elsewhere would learn it: from the node's API.
        let api = provemesh_p2p::http_client(node_url.as_str(), Duration::from_secs(10))?;
        let genesis = api
            .world_state_genesis()
            .await
            .context("node_getWorldStateGenesis")?;
        // With P2P on, the node finds the sequencer as its boot node.
        let p2p = sequencer
            .node
            .p2p()
            .map(|p| P2pConfig::loopback(p.listen_addrs()));
        let s = &self.sequencer;
        let config = ProverNodeConfig {
            l1_urls: vec![anvil.url().parse()?],
            archiver: None,
            deployment: sequencer.deployment,
            data_directory: dir.join("prover-node"),
            signer: signer.clone(),
            rpc_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            node_url: Some(node_url.clone()),
            coordination_url: Some(node_url),
            p2p,
            genesis: provemesh_prover_node::world_state_config(&genesis),
            policy: QuotePolicy {
                basis_point_fee: self.basis_point_fee,
                bond_amount: DeployConfig::default().min_bond,
                min_fee_reward: U256::ZERO,
                max_parallel_epochs: 2,
                validity_slots: s.epoch_duration(),
                auto_deposit: true,
            },
            sync: Default::default(),
            supervisor: Default::default(),
            max_job_retries: 2,
            job_time_estimate: Some(if self.real_proofs {
                Duration::from_secs(20)
            } else {
                self.proof_delay
            }),
            confirmation_timeout: Duration::from_secs(s.slot_duration().clamp(4, 60)),
            poll_interval: Duration::from_millis(500),
            proofs: mesh.proofs.clone(),
        };
        let node = provemesh_prover_node::start(config, mesh.broker.clone(), shutdown.clone())
            .await
            .context("starting the prover node")?;
        say!(
            "  prover node      {}  JSON-RPC http://{}  (prover_getStatus)\n",
            signer.address(),
            node.rpc_addr
        );
        let mut events = node.subscribe();
        let rollup = provemesh_l1::RollupContract::new(
            sequencer.deployment.rollup,
            provemesh_l1::read_provider(anvil.url().parse()?),
        );
        let live = std::io::IsTerminal::is_terminal(&std::io::stdout());
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        let mut published = 0u64;
        let mut failure = None;
        while self.epochs == 0 || published < self.epochs {
            let ev = tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick(), if live => {
                    progress_line(&node.epochs.all());
                    continue;
                }
                ev = events.recv() => ev,
            };
            let ev = match ev {
                Ok(ev) => ev,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => break,
            };
            if live {
                clear_progress_line();
            }
            match ev {
                EpochEvent::Started { epoch } => {
                    say!("epoch {epoch}: claimed with our quote, proving");
                }
                EpochEvent::Proved { epoch, jobs } => {
                    say!("epoch {epoch}: root rollup proof verified locally ({jobs} jobs), submitting to L1");
                }
                EpochEvent::Published {
                    epoch,
                    published: p,
                } => {
                    let tips = rollup.tips().await?;
                    let blocks = node
                        .archiver
                        .blocks_of_epoch(epoch)
                        .await
                        .map(|b| b.len())
                        .unwrap_or_default();
                    let how = match &p {
                        Published::Submitted { tx_hash, l1_block } => {
                            format!(
                                "verified on L1 (tx {}… in block {l1_block})",
                                &tx_hash[..12]
                            )
                        }
                        Published::AlreadyProven { .. } => "already proven on L1".into(),
                    };
                    let rec = node.epochs.get(epoch);
                    say!(
                        "epoch {epoch} proven: {blocks} blocks, {} jobs in {:.1}s, {how}; proven tip {}",
                        rec.as_ref().and_then(|r| r.jobs).unwrap_or_default(),
                        rec.and_then(|r| r.proving_ms).unwrap_or_default() as f64 / 1000.0,
                        tips.proven
                    );
                    published += 1;
                }
                EpochEvent::Failed { epoch, error } => {
                    say!("epoch {epoch} FAILED: {error}");
                    failure = Some(format!("epoch {epoch}: {error}"));
                    break;
                }
                EpochEvent::Cancelled { epoch } => {
                    say!("epoch {epoch}: proving stopped (its blocks changed on L1)");
                }
            }
        }
        if failure.is_none() && published > 0 && self.epochs > 0 {
            let fees = rollup.fees_of(signer.address()).await?;
            let s = if published == 1 { "" } else { "s" };
            say!(
                "\n{published} epoch{s} proven and verified on L1; fees earned by the prover: {fees}"
            );
        }
        if !self.stay || failure.is_some() {
            shutdown.cancel();
        } else {
            say!("\nall epochs proven; the node keeps proving until Ctrl-C");
            shutdown.cancelled().await;
        }
        node.wait()
            .await
            .map_err(|e| anyhow::anyhow!("prover node: {e}"))?;
        match failure {
            Some(f) => anyhow::bail!(f),
            None => Ok(()),
        }
    }
}

/// One line, redrawn in place, of the epochs being proved: a bar of the proof tree per
/// epoch, agents busy and jobs queued.
fn progress_line(epochs: &[provemesh_prover_node::epochs::EpochRecord]) {
    use std::io::Write as _;
    let mut parts = Vec::new();
    for r in epochs {
        let Some(p) = &r.progress else { continue };
        if !matches!(r.phase, provemesh_prover_node::epochs::EpochPhase::Proving) {
            continue;
        }
        let (done, total) = (p.jobs_done, p.jobs_total.max(1));
        let width = 20;
        let filled = (done * width / total).min(width);
        let busy: usize = p.per_type.values().map(|t| t.in_flight).sum();
        let queued: usize = p.per_type.values().map(|t| t.queued).sum();
        let secs = provemesh_common::unix_millis().saturating_sub(p.started_at_ms) as f64 / 1000.0;
        let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
        parts.push(format!(
            "epoch {} [{}{}] {done}/{} jobs, {busy} proving, {queued} queued, {rate:.1} proofs/s",
            r.epoch,
            "#".repeat(filled),
            "-".repeat(width - filled),
            p.jobs_total,
        ));
    }
    if parts.is_empty() {
        return;
    }
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "\r\x1b[2K{}", parts.join("  |  "));
    let _ = out.flush();
}

fn clear_progress_line() {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "\r\x1b[2K");
    let _ = out.flush();
}

/// The proof-store settings of a devnet whose store is the directory `dir` (also what an
/// external agent is handed; on S3, [`S3Server::store_args`]).
fn file_store_args(dir: &std::path::Path) -> ProofStoreArgs {
    ProofStoreArgs {
        url: Some(format!("file://{}", dir.display())),
        endpoint: None,
        region: "us-east-1".into(),
        access_key_id: None,
        secret_access_key: None,
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

/// Real client proofs for the devnet's load generator and sequencer, when it proves for real.
fn client_proofs(
    mesh: &ProverMesh,
) -> anyhow::Result<Option<provemesh_sequencer::devnet::DevnetClientProofs>> {
    match &mesh.proofs {
        Proofs::Simulated => Ok(None),
        Proofs::Real(c) => Ok(Some(provemesh_sequencer::devnet::DevnetClientProofs {
            prover: c.client_prover().map_err(anyhow::Error::msg)?,
            verifier: c.client_verifier().map_err(anyhow::Error::msg)?,
        })),
    }
}
