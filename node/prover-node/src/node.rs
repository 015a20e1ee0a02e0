//! The prover node put together: archiver, world state synchronizer, epoch monitor (quotes),
//! epoch supervisor (proving jobs on the mesh), L1 publisher and the JSON-RPC API, each a
//! task stopped by one shutdown token.

use crate::epochs::{EpochEvent, EpochPublisher, Epochs, Published, Supervisor, SupervisorConfig};
use crate::job::{JobContext, ProvenEpoch};
use crate::publisher::{EpochSubmission, L1Publisher, PublisherConfig};
use crate::quotes::{EpochMonitor, MonitorConfig, QuotePolicy, QuoteRoute};
use crate::rpc;
use crate::sync::{Executed, SyncConfig, Synchronizer, TxFetcher};
use crate::tx_provider::{TxProvider, TxProviderConfig, TxSource};
use alloy::primitives::B256;
use alloy::providers::DynProvider;
use alloy::signers::local::PrivateKeySigner;
use futures::future::BoxFuture;
use provemesh_archiver::{Archiver, ArchiverConfig};
use provemesh_broker::Broker;
use provemesh_common::tx::{Tx, TxHash};
use provemesh_l1::{fallback_read_provider, fallback_wallet_provider, Deployment, RollupContract};
use provemesh_orchestrator::Proofs;
use provemesh_p2p::{P2pConfig, P2pHandle, WorldStateGenesis};
use provemesh_tx_processor::{ClientProofVerifier, SimulatedClientProofVerifier};
use provemesh_world_state::{TreeHeights, WorldState, WorldStateConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::info;
use url::Url;

/// Everything the prover node needs (built by `provemesh start --prover-node` from the
/// seed's variables, or by tests and the devnet in code).
#[derive(Clone)]
pub struct ProverNodeConfig {
    /// ETHEREUM_HOSTS, in failover order.
    pub l1_urls: Vec<Url>,
    /// The archiver's settings (ARCHIVER_*); `None`: the deployment's defaults.
    pub archiver: Option<ArchiverConfig>,
    pub deployment: Deployment,
    /// DATA_DIRECTORY: archive, world state and publisher journal live under it.
    pub data_directory: PathBuf,
    /// PROVER_PUBLISHER_PRIVATE_KEY: signs quotes and proof submissions. Never logged.
    pub signer: PrivateKeySigner,
    /// AZTEC_PORT (on the configured interface).
    pub rpc_listen: SocketAddr,
    /// AZTEC_NODE_URL: txs by hash (and the genesis, when the caller fetched it there).
    pub node_url: Option<Url>,
    /// PROVER_COORDINATION_NODE_URL: quotes over HTTP (when P2P is off).
    pub coordination_url: Option<Url>,
    /// P2P_ENABLED (+ BOOT_NODE_URL): quotes gossiped, txs asked of peers.
    pub p2p: Option<P2pConfig>,
    /// How the world state was created (must give the Rollup's block 0 archive).
    pub genesis: WorldStateConfig,
    pub policy: QuotePolicy,
    pub sync: SyncConfig,
    pub supervisor: SupervisorConfig,
    /// How often one mesh job is proved again after a transient failure.
    pub max_job_retries: u32,
    /// Assumed proving time of a job before any was observed (watchdog estimate).
    pub job_time_estimate: Option<Duration>,
    /// L1 publisher: replace an unmined submission with bumped fees after this.
    pub confirmation_timeout: Duration,
    /// How often L1 is polled (claims, quotes).
    pub poll_interval: Duration,
    /// PROVER_REAL_PROOFS: the jobs' kind (the agents' backend must match), and for real
    /// proofs the circuit set and the node's own `bb verify`.
    pub proofs: Proofs,
}

impl std::fmt::Debug for ProverNodeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("ProverNodeConfig")
            .field("prover", &self.signer.address())
            .field("rollup", &self.deployment.rollup)
            .field("data_directory", &self.data_directory)
            .field("rpc_listen", &self.rpc_listen)
            .field("p2p", &self.p2p)
            .finish_non_exhaustive()
    }
}

/// Why the node did not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("archiver: {0}")]
    Archiver(#[from] provemesh_archiver::ArchiverError),
    #[error("world state in {path}: {source}")]
    WorldState {
        path: PathBuf,
        #[source]
        source: provemesh_world_state::WorldStateError,
    },
    #[error("L1: {0}")]
    L1(#[from] provemesh_l1::L1Error),
    #[error("the world state's genesis archive {ours} is not the Rollup's block 0 archive {l1}: the genesis (tree heights, prefill, genesis public data) differs from the sequencer's")]
    GenesisMismatch { ours: B256, l1: B256 },
    #[error("no tx source: set AZTEC_NODE_URL or enable P2P")]
    NoTxSource,
    #[error("no quote route: set PROVER_COORDINATION_NODE_URL or enable P2P")]
    NoQuoteRoute,
    #[error("{what}: {reason}")]
    Start { what: &'static str, reason: String },
}

/// A running prover node.
pub struct ProverNodeHandle {
    pub rpc_addr: SocketAddr,
    pub epochs: Epochs,
    pub executed: Executed,
    pub archiver: Archiver,
    events: broadcast::Sender<EpochEvent>,
    quote_events: crate::quotes::MonitorHandle,
    tasks: JoinSet<Result<(), String>>,
    /// Stops what runs outside `tasks` (the JSON-RPC server), for [`Self::crash`].
    kill: CancellationToken,
    rpc_task: Option<tokio::task::JoinHandle<()>>,
}

impl ProverNodeHandle {
    pub fn subscribe(&self) -> broadcast::Receiver<EpochEvent> {
        self.events.subscribe()
    }

    pub fn subscribe_quotes(&self) -> broadcast::Receiver<crate::quotes::MonitorEvent> {
        self.quote_events.subscribe()
    }

    /// The quotes sent so far and their fate.
    pub fn quotes(&self) -> Vec<crate::quotes::QuoteRecord> {
        self.quote_events.quotes()
    }

    /// Stops every task at once, as a killed process would: nothing is flushed or
    /// cancelled on the mesh, no goodbye to anyone. For tests of what a restart recovers.
    pub async fn crash(mut self) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        self.kill.cancel();
        if let Some(t) = self.rpc_task.take() {
            let _ = t.await;
        }
    }

    /// Waits for every task after the shutdown token fired; the first error, if any.
    pub async fn wait(mut self) -> Result<(), String> {
        if let Some(t) = self.rpc_task.take() {
            self.tasks.spawn(async move {
                let _ = t.await;
                Ok(())
            });
        }
        let mut first = Ok(());
        while let Some(r) = self.tasks.join_next().await {
            let r = r.map_err(|e| format!("task: {e}")).and_then(|r| r);
            if first.is_ok() {
                first = r;
            }
        }
        first
    }
}

/// The world state configuration a remote node describes (`node_getWorldStateGenesis`).
pub fn world_state_config(g: &WorldStateGenesis) -> WorldStateConfig {
    let h = g.heights;
    WorldStateConfig {
        heights: TreeHeights {
            note_hash: h.note_hash,
            nullifier: h.nullifier,
            public_data: h.public_data,
            l1_to_l2_message: h.l1_to_l2_message,
            archive: h.archive,
        },
        nullifier_prefill: g.nullifier_prefill,
        public_data_prefill: g.public_data_prefill,
        genesis_public_data: g
            .public_data
            .iter()
            .map(|d| (d.slot.0, d.value.0))
            .collect(),
        ..WorldStateConfig::default()
    }
}

struct Fetcher(TxProvider);

impl TxFetcher for Fetcher {
    fn fetch<'a>(
        &'a self,
        hashes: &'a [TxHash],
        deadline: tokio::time::Instant,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<Vec<Tx>, String>> {
        Box::pin(async move {
            self.0
                .txs(hashes, deadline, cancel)
                .await
                .map_err(|e| e.to_string())
        })
    }
}

struct Publisher(L1Publisher);

impl EpochPublisher for Publisher {
    fn publish<'a>(
        &'a self,
        p: &'a ProvenEpoch,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<Published, String>> {
        Box::pin(async move {
            let s = EpochSubmission {
                epoch: p.epoch,
                end_block: p.end_block,
                args: p.args.clone(),
                proof: p.proof.clone(),
            };
            match self.0.publish(&s, cancel).await {
                Ok(crate::publisher::Published::Submitted {
                    tx_hash, l1_block, ..
                }) => Ok(Published::Submitted {
                    tx_hash: tx_hash.to_string(),
                    l1_block,
                }),
                Ok(crate::publisher::Published::AlreadyProven { proven_tip }) => {
                    Ok(Published::AlreadyProven { proven_tip })
                }
                Err(e) => Err(e.to_string()),
            }
        })
    }
}

/// Starts the prover node; it runs until `shutdown`.
pub async fn start(
    config: ProverNodeConfig,
    broker: Broker,
    shutdown: CancellationToken,
) -> Result<ProverNodeHandle, NodeError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Everything stops on the caller's token; a crash also stops what is not a task here.
    let kill = shutdown.child_token();
    let shutdown = kill.clone();
    let d = config.deployment;
    let prover = config.signer.address();
    if config.l1_urls.is_empty() {
        return Err(NodeError::Start {
            what: "ETHEREUM_HOSTS",
            reason: "no URL".into(),
        });
    }
    // Every L1 read and the escrow deposits fail over between ETHEREUM_HOSTS.
    let rollup = RollupContract::new(d.rollup, fallback_read_provider(&config.l1_urls));
    let timing = rollup.timing().await?;

    // World state, checked against L1's genesis.
    let ws_dir = config.data_directory.join("world-state");
    let ws = WorldState::open(&ws_dir, config.genesis.clone()).map_err(|source| {
        NodeError::WorldState {
            path: ws_dir.clone(),
            source,
        }
    })?;
    let ours = B256::from(
        ws.snapshot(0)
            .map_err(|source| NodeError::WorldState {
                path: ws_dir.clone(),
                source,
            })?
            .record()
            .archive
            .root
            .to_be_bytes(),
    );
    let l1_genesis = rollup.block(0).await?.archive;
    if ours != l1_genesis {
        return Err(NodeError::GenesisMismatch {
            ours,
            l1: l1_genesis,
        });
    }

    let mut tasks: JoinSet<Result<(), String>> = JoinSet::new();
    let archiver_config = config.archiver.clone().unwrap_or_else(|| {
        ArchiverConfig::for_deployment(config.l1_urls.clone(), &d, &config.data_directory)
    });
    let archiver = Archiver::open(archiver_config)?;
    {
        let (a, s) = (archiver.clone(), shutdown.clone());
        tasks.spawn(async move { a.run(s).await.map_err(|e| format!("archiver: {e}")) });
    }

    // P2P: quotes out, txs in; the node serves no txs of its own.
    let p2p: Option<P2pHandle> = match config.p2p.clone() {
        Some(c) => {
            let (handle, mut events) = provemesh_p2p::start(
                c,
                Arc::new(provemesh_p2p::FormatValidator),
                Arc::new(provemesh_p2p::NoTxs),
                shutdown.clone(),
            )
            .await
            .map_err(|e| NodeError::Start {
                what: "P2P",
                reason: e.to_string(),
            })?;
            tasks.spawn(async move {
                while events.recv().await.is_some() {}
                Ok(())
            });
            Some(handle)
        }
        None => None,
    };

    let mut sources = Vec::new();
    if let Some(url) = &config.node_url {
        sources.push(
            TxSource::node(url.clone(), Duration::from_secs(10)).map_err(|e| NodeError::Start {
                what: "AZTEC_NODE_URL",
                reason: e.to_string(),
            })?,
        );
    }
    if let Some(p) = &p2p {
        sources.push(TxSource::P2p(p.clone()));
    }
    if sources.is_empty() {
        return Err(NodeError::NoTxSource);
    }
    let txs = TxProvider::new(
        sources,
        TxProviderConfig {
            request_timeout: Duration::from_secs(10),
            retry_interval: Duration::from_millis(500),
        },
    );

    let verifier: Arc<dyn ClientProofVerifier + Send + Sync> = match &config.proofs {
        Proofs::Simulated => Arc::new(SimulatedClientProofVerifier),
        Proofs::Real(c) => Arc::new(c.client_verifier().map_err(|reason| NodeError::Start {
            what: "PROVER_REAL_PROOFS",
            reason,
        })?),
    };
    let source = Arc::new(archiver.clone());
    let sync = Synchronizer::new(
        source.clone(),
        ws,
        Arc::new(Fetcher(txs)),
        verifier,
        config.sync.clone(),
    );
    let executed = sync.executed();
    {
        let s = shutdown.clone();
        tasks.spawn(async move {
            sync.run(s)
                .await
                .map_err(|e| format!("world state sync: {e}"))
        });
    }

    let publisher = L1Publisher::new(PublisherConfig {
        l1_urls: config.l1_urls.clone(),
        rollup: d.rollup,
        signer: config.signer.clone(),
        journal_dir: config.data_directory.join("publisher"),
        confirmation_timeout: config.confirmation_timeout,
        fee_bump_percent: 20,
        max_fee_per_gas: None,
        max_attempts: 5,
        poll_interval: config.poll_interval,
    })
    .map_err(|e| NodeError::Start {
        what: "L1 publisher",
        reason: e.to_string(),
    })?;

    let epochs = Epochs::default();
    let (events, _) = broadcast::channel(256);
    let ctx = Arc::new(JobContext {
        source: source.clone(),
        executed: executed.clone(),
        broker: broker.clone(),
        rollup: rollup.clone(),
        timing,
        prover,
        max_job_retries: config.max_job_retries,
        job_time_estimate: config.job_time_estimate,
        proofs: config.proofs.clone(),
    });
    let supervisor = Supervisor {
        ctx,
        publisher: Arc::new(Publisher(publisher)),
        config: config.supervisor.clone(),
        epochs: epochs.clone(),
        events: events.clone(),
    };
    {
        let s = shutdown.clone();
        tasks.spawn(async move {
            supervisor.run(s).await;
            Ok(())
        });
    }

    // Quotes.
    let route = match (&config.coordination_url, &p2p) {
        (_, Some(p)) => QuoteRoute::P2p(p.clone()),
        (Some(url), None) => QuoteRoute::Http(
            provemesh_p2p::http_client(url.as_str(), Duration::from_secs(10)).map_err(|e| {
                NodeError::Start {
                    what: "PROVER_COORDINATION_NODE_URL",
                    reason: e.to_string(),
                }
            })?,
        ),
        (None, None) => return Err(NodeError::NoQuoteRoute),
    };
    let wallet: DynProvider = fallback_wallet_provider(&config.l1_urls, config.signer.clone());
    let capacity = {
        let epochs = epochs.clone();
        Arc::new(move || epochs.in_progress())
    };
    let monitor = EpochMonitor::new(MonitorConfig {
        rollup: rollup.clone(),
        wallet,
        deployment: d,
        signer: config.signer.clone(),
        policy: config.policy.clone(),
        route,
        source: source.clone(),
        in_progress: capacity,
        unprovable: {
            let executed = executed.clone();
            Arc::new(move || executed.state().stuck)
        },
        provers: {
            let broker = broker.clone();
            Arc::new(move || {
                let broker = broker.clone();
                Box::pin(async move { broker.agents().await.map_err(|e| e.to_string()) })
            })
        },
        backend: match config.proofs {
            Proofs::Simulated => "simulated",
            Proofs::Real(_) => crate::quotes::REAL_BACKEND,
        },
        poll_interval: config.poll_interval,
    });
    let quote_handle = monitor.handle();
    let quote_events = quote_handle.clone();
    {
        let s = shutdown.clone();
        tasks.spawn(async move { monitor.run(s).await.map_err(|e| format!("quotes: {e}")) });
    }

    // JSON-RPC.
    let status = Arc::new(crate::status::NodeStatus {
        archiver: archiver.clone(),
        executed: executed.clone(),
        epochs: epochs.clone(),
        quotes: Arc::new(move || {
            quote_handle
                .quotes()
                .iter()
                .map(|q| crate::status::quote_json(q, prover))
                .collect()
        }),
        broker,
    });
    let (rpc_addr, rpc_task) = rpc::serve(config.rpc_listen, status, shutdown.clone())
        .await
        .map_err(|e| NodeError::Start {
            what: "JSON-RPC (AZTEC_PORT)",
            reason: e.to_string(),
        })?;
    info!(
        %prover,
        rollup = %d.rollup,
        rpc = %rpc_addr,
        "prover node running"
    );
    Ok(ProverNodeHandle {
        rpc_addr,
        epochs,
        executed,
        archiver,
        events,
        quote_events,
        tasks,
        kill,
        rpc_task: Some(rpc_task),
    })
}
