//! The archiver's configuration: where the rollup is on L1 (a deployment file or three
//! addresses), where to start reading, how often to poll and how many L1 blocks to ask for
//! at once. The L1 URLs, the chain id and the data directory are the node's own variables
//! (`ETHEREUM_HOSTS`, `L1_CHAIN_ID`, `DATA_DIRECTORY`) and are passed in by the caller.
//!
//! Everything is checked once, in [`ArchiverArgs::resolve`], with errors that name the
//! variable at fault.

use alloy::primitives::Address;
use clap::Args;
use provemesh_common::config::ConfigError;
use provemesh_l1::Deployment;
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::Url;

/// Default [`ArchiverArgs::polling_interval_ms`].
pub const DEFAULT_POLLING_INTERVAL_MS: u64 = 1_000;
/// Default [`ArchiverArgs::batch_size`].
pub const DEFAULT_BATCH_SIZE: u64 = 500;
/// How long one L1 RPC call may take before the host counts as failed.
pub const DEFAULT_RPC_TIMEOUT: Duration = Duration::from_secs(15);

fn address(raw: &str) -> Result<Address, String> {
    let a: Address = raw
        .trim()
        .parse()
        .map_err(|e| format!("not an L1 address (0x and 40 hex digits): {e}"))?;
    if a == Address::ZERO {
        return Err("the zero address holds no contract".into());
    }
    Ok(a)
}

/// The archiver's flags (each also an environment variable).
#[derive(Debug, Clone, Args, PartialEq, Eq)]
#[command(next_help_heading = "Archiver")]
pub struct ArchiverArgs {
    /// JSON file describing the rollup's deployment on L1 (chain_id, rollup, inbox, outbox,
    /// rollup_l1_block, … as `provemesh_l1::Deployment` serializes it). Instead of the
    /// *_CONTRACT_ADDRESS variables.
    #[arg(
        long = "l1-deployment-file",
        env = "L1_DEPLOYMENT_FILE",
        value_name = "L1_DEPLOYMENT_FILE"
    )]
    pub deployment_file: Option<PathBuf>,

    /// Address of the Rollup contract on L1 (with INBOX_CONTRACT_ADDRESS and
    /// OUTBOX_CONTRACT_ADDRESS, instead of L1_DEPLOYMENT_FILE).
    #[arg(long = "rollup-contract-address", env = "ROLLUP_CONTRACT_ADDRESS",
          value_name = "ROLLUP_CONTRACT_ADDRESS", value_parser = address)]
    pub rollup: Option<Address>,

    /// Address of the Inbox contract on L1 (L1→L2 messages).
    #[arg(long = "inbox-contract-address", env = "INBOX_CONTRACT_ADDRESS",
          value_name = "INBOX_CONTRACT_ADDRESS", value_parser = address)]
    pub inbox: Option<Address>,

    /// Address of the Outbox contract on L1 (L2→L1 message roots).
    #[arg(long = "outbox-contract-address", env = "OUTBOX_CONTRACT_ADDRESS",
          value_name = "OUTBOX_CONTRACT_ADDRESS", value_parser = address)]
    pub outbox: Option<Address>,

    /// L1 block to start reading the rollup's events from: its deployment block. Default:
    /// the deployment file's rollup_l1_block, else 0 (the whole chain — slow on a long one).
    #[arg(
        long = "archiver-l1-start-block",
        env = "ARCHIVER_L1_START_BLOCK",
        value_name = "ARCHIVER_L1_START_BLOCK"
    )]
    pub start_block: Option<u64>,

    /// How often the archiver polls L1 once it has caught up, in milliseconds.
    #[arg(long = "archiver-polling-interval-ms", env = "ARCHIVER_POLLING_INTERVAL_MS",
          value_name = "ARCHIVER_POLLING_INTERVAL_MS", default_value_t = DEFAULT_POLLING_INTERVAL_MS,
          value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub polling_interval_ms: u64,

    /// Most L1 blocks asked for in one eth_getLogs request (RPC providers cap the range).
    #[arg(long = "archiver-batch-size", env = "ARCHIVER_BATCH_SIZE",
          value_name = "ARCHIVER_BATCH_SIZE", default_value_t = DEFAULT_BATCH_SIZE,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub batch_size: u64,
}

impl Default for ArchiverArgs {
    fn default() -> Self {
        ArchiverArgs {
            deployment_file: None,
            rollup: None,
            inbox: None,
            outbox: None,
            start_block: None,
            polling_interval_ms: DEFAULT_POLLING_INTERVAL_MS,
            batch_size: DEFAULT_BATCH_SIZE,
        }
    }
}

/// The L1 contracts the archiver follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Contracts {
    pub rollup: Address,
    pub inbox: Address,
    pub outbox: Address,
}

/// A checked archiver configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiverConfig {
    /// L1 JSON-RPC endpoints (http/https), in order of preference.
    pub l1_urls: Vec<Url>,
    pub l1_chain_id: u64,
    /// The archive lives in `<data_directory>/archiver/`.
    pub data_directory: PathBuf,
    pub contracts: Contracts,
    /// Where the rollup's addresses came from (named in errors about them).
    pub contracts_source: &'static str,
    /// First L1 block whose events are read.
    pub start_block: u64,
    pub polling_interval: Duration,
    /// Most L1 blocks per `eth_getLogs`.
    pub batch_size: u64,
    pub rpc_timeout: Duration,
}

impl ArchiverConfig {
    /// The configuration for a known deployment (devnets, tests).
    pub fn for_deployment(l1_urls: Vec<Url>, d: &Deployment, data_directory: &Path) -> Self {
        ArchiverConfig {
            l1_urls,
            l1_chain_id: d.chain_id,
            data_directory: data_directory.to_path_buf(),
            contracts: Contracts {
                rollup: d.rollup,
                inbox: d.inbox,
                outbox: d.outbox,
            },
            contracts_source: "L1_DEPLOYMENT_FILE",
            start_block: d.rollup_l1_block,
            polling_interval: Duration::from_millis(DEFAULT_POLLING_INTERVAL_MS),
            batch_size: DEFAULT_BATCH_SIZE,
            rpc_timeout: DEFAULT_RPC_TIMEOUT,
        }
    }

    /// Checks what [`ArchiverArgs::resolve`] guarantees, for configurations built in code.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.l1_urls.is_empty() {
            return Err(ConfigError::new("ETHEREUM_HOSTS", "no URL given"));
        }
        if self.batch_size == 0 {
            return Err(ConfigError::new(
                "ARCHIVER_BATCH_SIZE",
                "must be at least 1",
            ));
        }
        if self.rpc_timeout.is_zero() {
            return Err(ConfigError::new("rpc_timeout", "must be more than zero"));
        }
        Ok(())
    }

    /// The directory of the archive database.
    pub fn archive_dir(&self) -> PathBuf {
        self.data_directory.join("archiver")
    }
}

impl ArchiverArgs {
    /// Checks the archiver's variables together with the node's L1 ones and builds the
    /// configuration. Reads the deployment file when one is given.
    pub fn resolve(
        &self,
        ethereum_hosts: &[Url],
        l1_chain_id: Option<u64>,
        data_directory: Option<&Path>,
    ) -> Result<ArchiverConfig, ConfigError> {
        if ethereum_hosts.is_empty() {
            return Err(ConfigError::new("ETHEREUM_HOSTS", "required by --archiver"));
        }
        if let Some(u) = ethereum_hosts
            .iter()
            .find(|u| !matches!(u.scheme(), "http" | "https"))
        {
            return Err(ConfigError::new(
                "ETHEREUM_HOSTS",
                format!(
                    "the archiver speaks JSON-RPC over http(s); '{}' is {}://",
                    crate::l1::redact_url(u),
                    u.scheme()
                ),
            ));
        }
        let chain_id =
            l1_chain_id.ok_or_else(|| ConfigError::new("L1_CHAIN_ID", "required by --archiver"))?;
        let data_directory = data_directory
            .ok_or_else(|| ConfigError::new("DATA_DIRECTORY", "required by --archiver"))?;
        let explicit = self.rollup.is_some() || self.inbox.is_some() || self.outbox.is_some();

        let (contracts, source, file_start) = match &self.deployment_file {
            Some(_) if explicit => {
                return Err(ConfigError::new(
                    "L1_DEPLOYMENT_FILE",
                    "set either L1_DEPLOYMENT_FILE or ROLLUP_CONTRACT_ADDRESS, INBOX_CONTRACT_ADDRESS and OUTBOX_CONTRACT_ADDRESS, not both",
                ))
            }
            Some(path) => {
                let d = read_deployment(path)?;
                if d.chain_id != chain_id {
                    return Err(ConfigError::new(
                        "L1_DEPLOYMENT_FILE",
                        format!(
                            "{} describes a deployment on chain {}, but L1_CHAIN_ID is {chain_id}",
                            path.display(),
                            d.chain_id
                        ),
                    ));
                }
                (
                    Contracts {
                        rollup: d.rollup,
                        inbox: d.inbox,
                        outbox: d.outbox,
                    },
                    "L1_DEPLOYMENT_FILE",
                    Some(d.rollup_l1_block),
                )
            }
            None => {
                let need = |v: Option<Address>, var: &'static str| {
                    v.ok_or_else(|| {
                        ConfigError::new(
                            var,
                            "required by --archiver (or give L1_DEPLOYMENT_FILE instead)",
                        )
                    })
                };
                (
                    Contracts {
                        rollup: need(self.rollup, "ROLLUP_CONTRACT_ADDRESS")?,
                        inbox: need(self.inbox, "INBOX_CONTRACT_ADDRESS")?,
                        outbox: need(self.outbox, "OUTBOX_CONTRACT_ADDRESS")?,
                    },
                    "ROLLUP_CONTRACT_ADDRESS",
                    None,
                )
            }
        };
        let c = &contracts;
        if c.rollup == c.inbox || c.rollup == c.outbox || c.inbox == c.outbox {
            return Err(ConfigError::new(
                source,
                "the Rollup, Inbox and Outbox addresses must differ",
            ));
        }
        Ok(ArchiverConfig {
            l1_urls: ethereum_hosts.to_vec(),
            l1_chain_id: chain_id,
            data_directory: data_directory.to_path_buf(),
            contracts,
            contracts_source: source,
            start_block: self.start_block.or(file_start).unwrap_or(0),
            polling_interval: Duration::from_millis(self.polling_interval_ms),
            batch_size: self.batch_size,
            rpc_timeout: DEFAULT_RPC_TIMEOUT,
        })
    }
}

/// Reads an L1_DEPLOYMENT_FILE (errors name the variable).
pub fn read_deployment(path: &Path) -> Result<Deployment, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new(
            "L1_DEPLOYMENT_FILE",
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    serde_json::from_str(&text).map_err(|e| {
        ConfigError::new(
            "L1_DEPLOYMENT_FILE",
            format!(
                "{} is not a deployment description (JSON with chain_id, rollup, inbox, outbox, rollup_l1_block, …): {e}",
                path.display()
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        a: ArchiverArgs,
    }

    fn parse(args: &[&str]) -> Result<ArchiverArgs, clap::Error> {
        let mut v = vec!["x"];
        v.extend_from_slice(args);
        Cli::try_parse_from(v).map(|c| c.a)
    }

    fn hosts() -> Vec<Url> {
        vec!["http://127.0.0.1:8545".parse().unwrap()]
    }

    const A: &str = "0x00000000000000000000000000000000000000a1";
    const B: &str = "0x00000000000000000000000000000000000000b2";
    const C: &str = "0x00000000000000000000000000000000000000c3";

    fn deployment(chain_id: u64) -> Deployment {
        Deployment {
            chain_id,
            token: Address::repeat_byte(1),
            escrow: Address::repeat_byte(2),
            verifier: Address::repeat_byte(3),
            inbox: Address::repeat_byte(4),
            outbox: Address::repeat_byte(5),
            rollup: Address::repeat_byte(6),
            rollup_l1_block: 42,
            governance_proposer: Address::ZERO,
        }
    }

    #[test]
    fn defaults_parse() {
        let a = parse(&[]).unwrap();
        assert_eq!(a, ArchiverArgs::default());
    }

    #[test]
    fn explicit_addresses() {
        let a = parse(&[
            "--rollup-contract-address",
            A,
            "--inbox-contract-address",
            B,
            "--outbox-contract-address",
            C,
            "--archiver-l1-start-block",
            "7",
        ])
        .unwrap();
        let c = a
            .resolve(&hosts(), Some(31337), Some(Path::new("/d")))
            .unwrap();
        assert_eq!(c.contracts.rollup, A.parse::<Address>().unwrap());
        assert_eq!(c.start_block, 7);
        assert_eq!(c.archive_dir(), Path::new("/d/archiver"));

        let e = parse(&["--rollup-contract-address", A])
            .unwrap()
            .resolve(&hosts(), Some(1), Some(Path::new("/d")))
            .unwrap_err();
        assert_eq!(e.variable, "INBOX_CONTRACT_ADDRESS");
    }

    #[test]
    fn malformed_values_name_their_variable() {
        for (flag, var) in [
            ("--rollup-contract-address", "ROLLUP_CONTRACT_ADDRESS"),
            ("--archiver-batch-size", "ARCHIVER_BATCH_SIZE"),
            (
                "--archiver-polling-interval-ms",
                "ARCHIVER_POLLING_INTERVAL_MS",
            ),
            ("--archiver-l1-start-block", "ARCHIVER_L1_START_BLOCK"),
        ] {
            let e = parse(&[flag, "0xnope"]).unwrap_err().to_string();
            assert!(e.contains(var), "{e}");
        }
        let e = parse(&["--archiver-batch-size", "0"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("ARCHIVER_BATCH_SIZE"), "{e}");
        let zero = "0x0000000000000000000000000000000000000000";
        let e = parse(&["--inbox-contract-address", zero])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("INBOX_CONTRACT_ADDRESS") && e.contains("zero"),
            "{e}"
        );
    }

    #[test]
    fn node_variables_are_required_and_checked() {
        let a = parse(&["--l1-deployment-file", "/nonexistent.json"]).unwrap();
        let dir = Some(Path::new("/d"));
        assert_eq!(
            a.resolve(&[], Some(1), dir).unwrap_err().variable,
            "ETHEREUM_HOSTS"
        );
        assert_eq!(
            a.resolve(&hosts(), None, dir).unwrap_err().variable,
            "L1_CHAIN_ID"
        );
        assert_eq!(
            a.resolve(&hosts(), Some(1), None).unwrap_err().variable,
            "DATA_DIRECTORY"
        );
        let ws = vec!["ws://user:secret@rpc.example:8546/key123".parse().unwrap()];
        let e = a.resolve(&ws, Some(1), dir).unwrap_err();
        assert_eq!(e.variable, "ETHEREUM_HOSTS");
        assert!(
            !e.to_string().contains("secret") && !e.to_string().contains("key123"),
            "{e}"
        );
    }

    #[test]
    fn configs_built_in_code_are_checked() {
        let d = deployment(31337);
        let mut c = ArchiverConfig::for_deployment(hosts(), &d, Path::new("/d"));
        assert_eq!(c.check(), Ok(()));
        assert_eq!(c.start_block, 42);
        c.batch_size = 0;
        assert_eq!(c.check().unwrap_err().variable, "ARCHIVER_BATCH_SIZE");
        let c = ArchiverConfig::for_deployment(vec![], &d, Path::new("/d"));
        assert_eq!(c.check().unwrap_err().variable, "ETHEREUM_HOSTS");
    }

    #[test]
    fn deployment_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deployment.json");
        std::fs::write(&path, serde_json::to_string(&deployment(31337)).unwrap()).unwrap();
        let a = parse(&["--l1-deployment-file", path.to_str().unwrap()]).unwrap();
        let c = a.resolve(&hosts(), Some(31337), Some(dir.path())).unwrap();
        assert_eq!(c.start_block, 42);
        assert_eq!(c.contracts.rollup, Address::repeat_byte(6));
        assert_eq!(c.l1_chain_id, 31337);

        // L1_CHAIN_ID must agree with the file.
        let e = a.resolve(&hosts(), Some(1), Some(dir.path())).unwrap_err();
        assert_eq!(e.variable, "L1_DEPLOYMENT_FILE");
        assert!(e.reason.contains("L1_CHAIN_ID is 1"), "{e}");

        // Not both a file and addresses.
        let mut both = a.clone();
        both.rollup = Some(Address::repeat_byte(9));
        assert_eq!(
            both.resolve(&hosts(), Some(31337), Some(dir.path()))
                .unwrap_err()
                .variable,
            "L1_DEPLOYMENT_FILE"
        );

        // Unreadable and malformed files.
        std::fs::write(&path, "{\"chain_id\": 1}").unwrap();
        let e = a.resolve(&hosts(), Some(1), Some(dir.path())).unwrap_err();
        assert_eq!(e.variable, "L1_DEPLOYMENT_FILE");
        assert!(e.reason.contains("not a deployment"), "{e}");
        let missing = parse(&["--l1-deployment-file", "/nonexistent/d.json"]).unwrap();
        let e = missing
            .resolve(&hosts(), Some(1), Some(dir.path()))
            .unwrap_err();
        assert!(e.reason.contains("cannot read"), "{e}");
    }
}
