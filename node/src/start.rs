//! `provemesh start`: runs the chosen components in one process until a signal.

use crate::args::{NodeArgs, RoleArgs};
use crate::prover_node::{self, ProverNodeArgs};
use anyhow::Context as _;
use clap::Args;
use provemesh_agent::launch::{self, AgentCommand};
use provemesh_archiver::{Archiver, ArchiverArgs, ArchiverConfig};
use provemesh_broker::Broker;
use provemesh_common::config::{ConfigError, MeshArgs};
use provemesh_nats::{Topology, TopologyConfig};
use provemesh_store::ProofStore;
use std::time::Duration;
use tracing::info;

#[derive(Debug, Clone, Args)]
pub struct StartCommand {
    #[command(flatten)]
    pub roles: RoleArgs,
    #[command(flatten)]
    pub node: NodeArgs,
    #[command(flatten)]
    pub agent: AgentCommand,
    #[command(flatten)]
    pub mesh: MeshArgs,
    #[command(flatten)]
    pub archiver: ArchiverArgs,
    #[command(flatten)]
    pub prover: ProverNodeArgs,
}

/// Why `start` stopped before running anything.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("nothing to start: give at least one of --prover-node, --archiver, --prover-agent (alias --prover), --prover-broker")]
    NoRole,
}

impl StartCommand {
    /// Validates everything the chosen roles need, before anything starts.
    pub fn validate(&self) -> Result<(), StartError> {
        let r = &self.roles;
        if !(r.prover_node || r.archiver || r.prover_agent || r.prover_broker) {
            return Err(StartError::NoRole);
        }
        self.node.validate(r)?;
        if r.prover_agent {
            self.agent.validate()?;
        }
        if r.prover_broker || r.prover_node {
            // The node enqueues jobs and reads results: the broker's connection and store.
            self.agent.nats.validate()?;
            self.agent.store.validate()?;
            self.mesh.validate()?;
        }
        if r.prover_node {
            self.prover.validate(&self.node)?;
            // PROVER_REAL_PROOFS: the node builds real-proof jobs and checks every proof
            // with bb, so bb, the CRS and the circuits must be there.
            if self.agent.agent.real_proofs {
                self.agent.agent.bb.validate()?;
            }
        }
        // The prover node's archiver may take its contracts from AZTEC_NODE_URL: checked
        // when they are resolved, at start.
        if r.archiver && !r.prover_node {
            self.archiver_config()?;
        }
        Ok(())
    }

    /// The archiver's configuration: its own variables with ETHEREUM_HOSTS, L1_CHAIN_ID and
    /// DATA_DIRECTORY.
    fn archiver_config(&self) -> Result<ArchiverConfig, ConfigError> {
        self.archiver.resolve(
            &self.node.ethereum_hosts,
            self.node.l1_chain_id,
            self.node.data_directory.as_deref(),
        )
    }

    pub async fn run(self) -> anyhow::Result<()> {
        let shutdown = launch::shutdown_on_signals();
        let mut tasks = tokio::task::JoinSet::new();
        // The prover node and the broker share one connection to the mesh.
        let broker = if self.roles.prover_broker || self.roles.prover_node {
            let client = provemesh_nats::connect(&self.agent.nats, "provemesh node").await?;
            let js = provemesh_nats::jetstream(client, &self.agent.nats);
            let topo = Topology::apply(js, TopologyConfig::from(&self.mesh))
                .await
                .context("applying the mesh topology")?;
            let store = ProofStore::open(&self.agent.store.validate()?)?;
            Some(Broker::new(topo, store))
        } else {
            None
        };
        if let Some(broker) = broker.clone() {
            if self.roles.prover_broker {
                info!(
                    replicas = self.mesh.replicas,
                    store = broker.store().describe(),
                    "proof broker running"
                );
                let (b, s) = (broker.clone(), shutdown.clone());
                tasks.spawn(async move {
                    provemesh_broker::export_queue_depths(b, Duration::from_secs(2), s).await;
                    Ok(())
                });
            }
            // A job the mesh gave up on must fail its epoch, not leave it waiting: the node
            // turns dead letters into failure results even without --prover-broker.
            let s = shutdown.clone();
            tasks.spawn(async move {
                provemesh_broker::run_dead_letters(broker, s).await;
                Ok(())
            });
        }
        if let Some(broker) = broker.filter(|_| self.roles.prover_node) {
            // The node runs its own archiver (--archiver names it, as in `aztec start`).
            let mut config = prover_node::resolve(&self.node, &self.archiver, &self.prover).await?;
            config.proofs = prover_node::proofs(&self.agent.agent)?;
            let node = provemesh_prover_node::start(config, broker, shutdown.clone())
                .await
                .context("starting the prover node")?;
            tasks.spawn(async move {
                node.wait()
                    .await
                    .map_err(|e| anyhow::anyhow!("prover node: {e}"))
            });
        } else if self.roles.archiver {
            let archiver = Archiver::open(self.archiver_config()?).context("archiver")?;
            let s = shutdown.clone();
            tasks.spawn(async move { archiver.run(s).await.context("archiver") });
        }
        if self.roles.prover_agent {
            let agent = self.agent.validate()?;
            let s = shutdown.clone();
            tasks.spawn(async move { launch::run(agent, s).await.map(|_| ()) });
        }
        while let Some(r) = tasks.join_next().await {
            r.context("component task panicked")??;
        }
        Ok(())
    }
}
