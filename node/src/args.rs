//! The prover node's flags: the seed's variables, each also a flag, and the modular roles
//! of `provemesh start` (as `aztec start --prover-node --archiver …`).

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args};
use provemesh_common::config::{values, ConfigError, Secret};
use std::path::PathBuf;
use url::Url;

/// Which components `provemesh start` runs in this process.
#[derive(Debug, Clone, Args, PartialEq, Eq)]
#[command(next_help_heading = "Components")]
pub struct RoleArgs {
    /// Run the prover node: watch L1 for unclaimed epochs, bid, prove claimed epochs on the
    /// mesh, publish the root proof.
    #[arg(long)]
    pub prover_node: bool,

    /// Run the archiver (L2 block source) that follows the rollup contract on L1.
    #[arg(long)]
    pub archiver: bool,

    /// Run a prover agent in this process (`--prover` is the seed's name for it). We
    /// recommend agents on separate hosts instead (`provemesh-agent`).
    #[arg(long, visible_alias = "prover", env = "PROVER_AGENT_ENABLED", value_name = "PROVER_AGENT_ENABLED",
          num_args = 0..=1, default_missing_value = "true", default_value_t = false, action = ArgAction::Set,
          value_parser = BoolishValueParser::new())]
    pub prover_agent: bool,

    /// Run the proof broker: apply the JetStream topology (streams, consumers, buckets)
    /// and turn dead letters into failure results.
    #[arg(long)]
    pub prover_broker: bool,
}

/// The seed's prover-node variables.
#[derive(Debug, Clone, Args, PartialEq, Eq)]
#[command(next_help_heading = "Prover node")]
pub struct NodeArgs {
    /// List of URLs of Ethereum nodes (comma separated); the node fails over between them.
    #[arg(long = "ethereum-hosts", env = "ETHEREUM_HOSTS", value_name = "ETHEREUM_HOSTS",
          value_delimiter = ',', value_parser = values::rpc_url)]
    pub ethereum_hosts: Vec<Url>,

    /// Chain ID of the L1 chain (checked against what ETHEREUM_HOSTS report).
    #[arg(long = "l1-chain-id", env = "L1_CHAIN_ID", value_name = "L1_CHAIN_ID")]
    pub l1_chain_id: Option<u64>,

    /// Local folder where archive and world state data is stored.
    #[arg(
        long = "data-directory",
        env = "DATA_DIRECTORY",
        value_name = "DATA_DIRECTORY"
    )]
    pub data_directory: Option<PathBuf>,

    /// Port where the JSON-RPC APIs are served.
    #[arg(long = "port", env = "AZTEC_PORT", value_name = "AZTEC_PORT", default_value_t = 8080,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub port: u16,

    /// Private key used for publishing proofs to L1 (32 bytes hex); its address needs ETH
    /// for gas. Never printed.
    #[arg(
        long = "prover-publisher-private-key",
        env = "PROVER_PUBLISHER_PRIVATE_KEY",
        value_name = "PROVER_PUBLISHER_PRIVATE_KEY",
        hide_env_values = true
    )]
    pub publisher_private_key: Option<Secret>,

    /// Discover peers, receive tx data and gossip quotes over libp2p.
    #[arg(long = "p2p-enabled", env = "P2P_ENABLED", value_name = "P2P_ENABLED",
          num_args = 0..=1, default_missing_value = "true", default_value_t = false, action = ArgAction::Set,
          value_parser = BoolishValueParser::new())]
    pub p2p_enabled: bool,

    /// Send quotes over HTTP to this node (used when P2P_ENABLED is false).
    #[arg(long = "prover-coordination-node-url", env = "PROVER_COORDINATION_NODE_URL",
          value_name = "PROVER_COORDINATION_NODE_URL", value_parser = values::http_url)]
    pub coordination_node_url: Option<Url>,

    /// Boot node for peer discovery (multiaddr, ENR or URL).
    #[arg(long = "boot-node-url", env = "BOOT_NODE_URL", value_name = "BOOT_NODE_URL", value_parser = values::boot_node)]
    pub boot_node_url: Option<String>,

    /// Aztec node to fetch L1 contract addresses (and txs) from when not set explicitly.
    #[arg(long = "aztec-node-url", env = "AZTEC_NODE_URL", value_name = "AZTEC_NODE_URL", value_parser = values::http_url)]
    pub aztec_node_url: Option<Url>,
}

impl NodeArgs {
    /// Checks what the chosen roles need and what must agree with each other.
    pub fn validate(&self, roles: &RoleArgs) -> Result<(), ConfigError> {
        if let Some(k) = &self.publisher_private_key {
            values::private_key("PROVER_PUBLISHER_PRIVATE_KEY", k)?;
        }
        let follows_l1 = roles.prover_node || roles.archiver;
        if follows_l1 {
            if self.ethereum_hosts.is_empty() {
                return Err(ConfigError::new(
                    "ETHEREUM_HOSTS",
                    "required by --prover-node and --archiver",
                ));
            }
            if self.l1_chain_id.is_none() {
                return Err(ConfigError::new(
                    "L1_CHAIN_ID",
                    "required by --prover-node and --archiver",
                ));
            }
            if self.data_directory.is_none() {
                return Err(ConfigError::new(
                    "DATA_DIRECTORY",
                    "required by --prover-node and --archiver",
                ));
            }
        }
        if roles.prover_node {
            if self.publisher_private_key.is_none() {
                return Err(ConfigError::new(
                    "PROVER_PUBLISHER_PRIVATE_KEY",
                    "required by --prover-node (it signs quotes and proof submissions)",
                ));
            }
            if !self.p2p_enabled && self.coordination_node_url.is_none() {
                return Err(ConfigError::new(
                    "PROVER_COORDINATION_NODE_URL",
                    "required when P2P_ENABLED is false: quotes then go over HTTP to this node",
                ));
            }
            if !roles.archiver {
                return Err(ConfigError::new(
                    "--archiver",
                    "--prover-node reads the epoch's blocks, tx hashes and L1→L2 messages from its own archiver (it re-executes what L1 says, trusting no remote block source): run `start --prover-node --archiver`",
                ));
            }
        }
        Ok(())
    }
}
