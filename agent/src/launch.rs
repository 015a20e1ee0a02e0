//! Running an agent as a process: connect with the agent's credentials, bind to the mesh
//! (waiting for the node to create it), and prove until a signal.

use crate::{Agent, AgentArgs, AgentConfig, AgentStats, SimulatedBackend};
use anyhow::Context as _;
use clap::Args;
use provemesh_common::config::{ConfigError, NatsArgs, ProofStoreArgs, ProofStoreConfig};
use provemesh_nats::{Topology, TopologyConfig};
use provemesh_store::ProofStore;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Everything a standalone agent is configured with.
#[derive(Debug, Clone, Args, PartialEq)]
pub struct AgentCommand {
    #[command(flatten)]
    pub agent: AgentArgs,
    #[command(flatten)]
    pub nats: NatsArgs,
    #[command(flatten)]
    pub store: ProofStoreArgs,
}

/// A validated agent configuration.
#[derive(Debug, Clone)]
pub struct ValidAgent {
    pub config: AgentConfig,
    pub nats: NatsArgs,
    pub store: ProofStoreConfig,
}

impl AgentCommand {
    pub fn validate(&self) -> Result<ValidAgent, ConfigError> {
        let config = self.agent.validate()?;
        self.nats.validate()?;
        let store = self.store.validate()?;
        Ok(ValidAgent {
            config,
            nats: self.nats.clone(),
            store,
        })
    }
}

/// Runs one agent until `shutdown` (or a spot termination notice, when the agent watches
/// for one), then drains it.
pub async fn run(
    agent: ValidAgent,
    shutdown: CancellationToken,
) -> anyhow::Result<Arc<AgentStats>> {
    let id = agent.config.id.clone();
    // A termination notice drains this agent as a signal would, and only this agent (in
    // `provemesh start` the other components keep running). The watcher stops with it.
    let (shutdown, _watcher) = match &agent.config.termination_notice {
        Some(notice) => {
            let drain = shutdown.child_token();
            tokio::spawn(crate::termination::watch(
                notice.clone(),
                id.clone(),
                drain.clone(),
            ));
            (drain.clone(), Some(drain.drop_guard()))
        }
        None => (shutdown, None),
    };
    let client = provemesh_nats::connect(&agent.nats, &format!("provemesh-agent {id}"))
        .await
        .with_context(|| format!("agent {id}"))?;
    let js = provemesh_nats::jetstream(client, &agent.nats);
    let store = ProofStore::open(&agent.store).with_context(|| format!("agent {id}"))?;

    // The node creates the topology; an agent started first waits for it.
    let topo = loop {
        match Topology::bind(
            js.clone(),
            TopologyConfig::default(),
            &agent.config.proof_types,
        )
        .await
        {
            Ok(t) => break t,
            Err(e) => {
                warn!(agent = %id, error = %e, "mesh not ready (is the node or broker running?); retrying in 2s");
                tokio::select! {
                    _ = shutdown.cancelled() => return Ok(Arc::new(AgentStats::default())),
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                }
            }
        }
    };
    let backend: Arc<dyn crate::ProvingBackend> = match &agent.config.real_proofs {
        Some(bb) => Arc::new(crate::bb::BbBackend::new(bb).with_context(|| format!("agent {id}"))?),
        None => Arc::new(SimulatedBackend::new(agent.config.simulated.clone())),
    };
    let agent = Agent::new(agent.config, topo, store, backend)?;
    // On the runtime's workers: a binary's main thread blocks on this future, and a pull
    // loop run there is woken across threads (a futex wake and a context switch) each time
    // a job frees its slot or a pull is answered. Dropping this future stops the agent, as
    // it did when the loop ran inside it.
    tokio_util::task::AbortOnDropHandle::new(tokio::spawn(agent.run(shutdown)))
        .await
        .with_context(|| format!("agent {id} stopped abnormally"))
}

/// A token cancelled on the first SIGTERM or SIGINT (graceful drain); a second signal
/// exits at once with status 130.
pub fn shutdown_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            warn!("cannot install signal handlers; stop with SIGKILL");
            return;
        };
        tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
        info!("shutdown requested: stopping intake and draining in-flight jobs (signal again to exit now)");
        t.cancel();
        tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
        std::process::exit(130);
    });
    token
}
