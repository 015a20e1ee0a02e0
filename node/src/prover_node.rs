//! `provemesh start --prover-node --archiver`: the seed's variables and the quote policy's
//! turned into the prover node's configuration. Everything a flag can get wrong is checked
//! in [`ProverNodeArgs::validate`] before anything starts; what only L1 or the node at
//! AZTEC_NODE_URL can answer (contract addresses, the world state genesis, the Rollup's
//! minimum bond) is asked in [`resolve`], with errors naming the variable that led there.

use crate::args::NodeArgs;
use alloy::primitives::U256;
use alloy::signers::local::PrivateKeySigner;
use anyhow::Context as _;
use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args};
use provemesh_archiver::ArchiverArgs;
use provemesh_common::config::{values, ConfigError};
use provemesh_l1::{fallback_read_provider, Deployment, RollupContract};
use provemesh_orchestrator::Proofs;
use provemesh_p2p::{NodeApiClient as _, P2pConfig};
use provemesh_prover_node::quotes::QuotePolicy;
use provemesh_prover_node::ProverNodeConfig;
use std::net::SocketAddr;
use std::time::Duration;
use tracing::info;

/// The prover node's own settings beyond the seed's: what it bids (Aztec's QUOTE_PROVIDER_*
/// names where they exist) and where it listens.
#[derive(Debug, Clone, Args, PartialEq, Eq)]
#[command(next_help_heading = "Prover node: quotes and listeners")]
pub struct ProverNodeArgs {
    /// The prover's share of an epoch's fees asked in each quote, in basis points (0-10000).
    #[arg(long = "quote-provider-basis-point-fee", env = "QUOTE_PROVIDER_BASIS_POINT_FEE",
          value_name = "QUOTE_PROVIDER_BASIS_POINT_FEE", default_value_t = 0,
          value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub basis_point_fee: u32,

    /// Bond staked from the escrow when a quote is claimed (token base units; slashed if
    /// the proof misses its window). Default: the Rollup's MIN_BOND_AMOUNT, read from L1.
    #[arg(long = "quote-provider-bond-amount", env = "QUOTE_PROVIDER_BOND_AMOUNT",
          value_name = "QUOTE_PROVIDER_BOND_AMOUNT", value_parser = token_amount)]
    pub bond_amount: Option<U256>,

    /// Epochs whose expected fee share (their fees times the basis-point fee) is below this
    /// are not bid for (token base units).
    #[arg(long = "prover-min-fee-reward", env = "PROVER_MIN_FEE_REWARD",
          value_name = "PROVER_MIN_FEE_REWARD", default_value = "0", value_parser = token_amount)]
    pub min_fee_reward: U256,

    /// Epochs proved at once; no bid while this many are being proved.
    #[arg(long = "prover-node-max-pending-jobs", env = "PROVER_NODE_MAX_PENDING_JOBS",
          value_name = "PROVER_NODE_MAX_PENDING_JOBS", default_value_t = 2,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub max_pending_jobs: u16,

    /// Top the escrow deposit up to the bond from the prover's token balance (approve +
    /// deposit) when it is short. Off: a short deposit stops bidding with an error.
    #[arg(long = "prover-escrow-auto-deposit", env = "PROVER_ESCROW_AUTO_DEPOSIT",
          value_name = "PROVER_ESCROW_AUTO_DEPOSIT", num_args = 0..=1, default_missing_value = "true",
          default_value_t = true, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
    pub auto_deposit: bool,

    /// libp2p listen address of the node (with P2P_ENABLED).
    #[arg(
        long = "p2p-tcp-listen-addr",
        env = "P2P_TCP_LISTEN_ADDR",
        value_name = "P2P_TCP_LISTEN_ADDR",
        default_value = "/ip4/0.0.0.0/tcp/40400"
    )]
    pub p2p_listen: String,

    /// Interface the JSON-RPC API (AZTEC_PORT) listens on.
    #[arg(
        long = "rpc-listen-ip",
        env = "PROVER_RPC_LISTEN_IP",
        value_name = "PROVER_RPC_LISTEN_IP",
        default_value = "0.0.0.0"
    )]
    pub rpc_ip: std::net::IpAddr,
}

fn listen_addr(raw: &str) -> Result<provemesh_p2p::Multiaddr, ConfigError> {
    raw.trim().parse().map_err(|e| {
        ConfigError::new(
            "P2P_TCP_LISTEN_ADDR",
            format!("{raw:?} is not a multiaddr such as /ip4/0.0.0.0/tcp/40400: {e}"),
        )
    })
}

fn token_amount(raw: &str) -> Result<U256, String> {
    U256::from_str_radix(raw.trim(), 10)
        .map_err(|_| format!("{raw:?} is not a whole number of token base units"))
}

impl ProverNodeArgs {
    pub fn validate(&self, node: &NodeArgs) -> Result<(), ConfigError> {
        if node.p2p_enabled {
            listen_addr(&self.p2p_listen)?;
            if let Some(b) = &node.boot_node_url {
                provemesh_p2p::parse_boot_node(b)
                    .map_err(|e| ConfigError::new("BOOT_NODE_URL", e.to_string()))?;
            }
        }
        if node.aztec_node_url.is_none() {
            return Err(ConfigError::new(
                "AZTEC_NODE_URL",
                "required by --prover-node: the world state's genesis (and the L1 contract addresses, when not set) come from that node",
            ));
        }
        Ok(())
    }
}

/// The prover node's configuration from the flags: asks the node at AZTEC_NODE_URL for the
/// genesis (and the contracts when no deployment file or addresses are given), L1 for the
/// rest of the deployment and the minimum bond.
pub async fn resolve(
    node: &NodeArgs,
    archiver: &ArchiverArgs,
    args: &ProverNodeArgs,
) -> anyhow::Result<ProverNodeConfig> {
    let var = |v: &'static str, r: &str| ConfigError::new(v, r.to_string());
    let key = node
        .publisher_private_key
        .as_ref()
        .ok_or_else(|| var("PROVER_PUBLISHER_PRIVATE_KEY", "required by --prover-node"))?;
    let bytes = values::private_key("PROVER_PUBLISHER_PRIVATE_KEY", key)?;
    let signer = PrivateKeySigner::from_slice(&bytes)
        .map_err(|_| var("PROVER_PUBLISHER_PRIVATE_KEY", "not a valid secp256k1 key"))?;
    let data_directory = node
        .data_directory
        .clone()
        .ok_or_else(|| var("DATA_DIRECTORY", "required by --prover-node"))?;
    let node_url = node
        .aztec_node_url
        .clone()
        .ok_or_else(|| var("AZTEC_NODE_URL", "required by --prover-node"))?;
    let client = provemesh_p2p::http_client(node_url.as_str(), Duration::from_secs(10))
        .map_err(|e| var("AZTEC_NODE_URL", &e.to_string()))?;
    let asked = |call: &str| format!("AZTEC_NODE_URL ({}): {call}", redact(&node_url));
    let genesis = client
        .world_state_genesis()
        .await
        .with_context(|| asked("node_getWorldStateGenesis"))?;

    // The contracts: a deployment file or addresses when given, else the node's.
    let explicit = archiver.deployment_file.is_some()
        || archiver.rollup.is_some()
        || archiver.inbox.is_some()
        || archiver.outbox.is_some();
    let deployment: Deployment = if explicit {
        let a = archiver.resolve(
            &node.ethereum_hosts,
            node.l1_chain_id,
            node.data_directory.as_deref(),
        )?;
        match &archiver.deployment_file {
            Some(path) => provemesh_archiver::read_deployment(path)?,
            None => {
                let r = RollupContract::new(
                    a.contracts.rollup,
                    fallback_read_provider(&node.ethereum_hosts),
                );
                r.deployment(a.start_block)
                    .await
                    .context("reading the Rollup's contracts (ROLLUP_CONTRACT_ADDRESS)")?
            }
        }
    } else {
        let c = client
            .l1_contract_addresses()
            .await
            .with_context(|| asked("node_getL1ContractAddresses"))?;
        Deployment {
            chain_id: node.l1_chain_id.unwrap_or_default(),
            token: c.fee_juice_address,
            escrow: c.proof_commitment_escrow_address,
            verifier: c.verifier_address,
            inbox: c.inbox_address,
            outbox: c.outbox_address,
            rollup: c.rollup_address,
            rollup_l1_block: c.rollup_l1_block,
            governance_proposer: alloy::primitives::Address::ZERO,
        }
    };
    let chain_id = node
        .l1_chain_id
        .ok_or_else(|| var("L1_CHAIN_ID", "required by --prover-node"))?;
    if deployment.chain_id != chain_id {
        return Err(ConfigError::new(
            "L1_CHAIN_ID",
            format!(
                "the deployment is on chain {}, L1_CHAIN_ID is {chain_id}",
                deployment.chain_id
            ),
        )
        .into());
    }

    let rollup = RollupContract::new(
        deployment.rollup,
        fallback_read_provider(&node.ethereum_hosts),
    );
    let timing = rollup
        .timing()
        .await
        .context("reading the Rollup's timing")?;
    let min_bond = rollup
        .instance()
        .MIN_BOND_AMOUNT()
        .call()
        .await
        .map_err(|e| provemesh_l1::L1Error::from_contract("Rollup", "MIN_BOND_AMOUNT", e))?;
    let bond_amount = match args.bond_amount {
        Some(b) => b,
        None => {
            info!(%min_bond, "QUOTE_PROVIDER_BOND_AMOUNT not set: bonding the Rollup's minimum");
            min_bond
        }
    };
    let p2p = if node.p2p_enabled {
        let mut c = P2pConfig::loopback(Vec::new());
        c.listen = vec![listen_addr(&args.p2p_listen)?];
        if let Some(b) = &node.boot_node_url {
            c.boot_nodes = vec![provemesh_p2p::parse_boot_node(b)
                .map_err(|e| ConfigError::new("BOOT_NODE_URL", e.to_string()))?];
        }
        Some(c)
    } else {
        None
    };
    // The node's own archiver, with the archiver's variables.
    let mut archiver_config = provemesh_archiver::ArchiverConfig::for_deployment(
        node.ethereum_hosts.clone(),
        &deployment,
        &data_directory,
    );
    archiver_config.start_block = archiver.start_block.unwrap_or(deployment.rollup_l1_block);
    archiver_config.polling_interval = Duration::from_millis(archiver.polling_interval_ms);
    archiver_config.batch_size = archiver.batch_size;
    Ok(ProverNodeConfig {
        archiver: Some(archiver_config),
        l1_urls: node.ethereum_hosts.clone(),
        deployment,
        data_directory,
        signer,
        rpc_listen: SocketAddr::new(args.rpc_ip, node.port),
        node_url: Some(node_url),
        coordination_url: node.coordination_node_url.clone(),
        p2p,
        genesis: provemesh_prover_node::world_state_config(&genesis),
        policy: QuotePolicy {
            basis_point_fee: args.basis_point_fee,
            bond_amount,
            min_fee_reward: args.min_fee_reward,
            max_parallel_epochs: usize::from(args.max_pending_jobs),
            validity_slots: timing.epoch_duration,
            auto_deposit: args.auto_deposit,
        },
        sync: Default::default(),
        supervisor: Default::default(),
        max_job_retries: 2,
        job_time_estimate: None,
        confirmation_timeout: Duration::from_secs(timing.slot_duration.max(12)),
        poll_interval: Duration::from_secs(1),
        proofs: Proofs::Simulated,
    })
}

/// A URL for messages: scheme, host and port only (credentials and query can hold keys).
fn redact(u: &url::Url) -> String {
    format!(
        "{}://{}{}",
        u.scheme(),
        u.host_str().unwrap_or(""),
        u.port().map(|p| format!(":{p}")).unwrap_or_default()
    )
}

/// The node's proofs from PROVER_REAL_PROOFS (the agents' setting, which the node's jobs
/// must match): for real proofs, the circuit set the agents prove and bb to check every
/// proof with.
pub fn proofs(agent: &provemesh_agent::AgentArgs) -> anyhow::Result<Proofs> {
    if !agent.real_proofs {
        return Ok(Proofs::Simulated);
    }
    let bb = agent.bb.validate()?;
    let set = provemesh_bb::circuits::CircuitSet::load(&bb.circuits_dir)
        .with_context(|| format!("PROVER_CIRCUITS_DIR {}", bb.circuits_dir.display()))?;
    info!(
        circuits = %bb.circuits_dir.display(),
        "real proofs: jobs for the bb backend, every proof checked with bb verify"
    );
    Ok(Proofs::Real(std::sync::Arc::new(
        provemesh_orchestrator::RealCircuits::new(std::sync::Arc::new(set), Some(bb.bb)),
    )))
}
