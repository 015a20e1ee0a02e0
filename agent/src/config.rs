//! The agent's configuration: flags and environment variables, validated once at start.

use crate::simulated::SimulatedConfig;
use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args};
use provemesh_common::config::{values, ConfigError};
use provemesh_common::{AgentId, ProofType};
use std::collections::HashMap;
use std::time::Duration;
use url::Url;

#[derive(Debug, Clone, Args, PartialEq)]
#[command(next_help_heading = "Prover agent")]
pub struct AgentArgs {
    /// Maximum number of jobs this agent proves at once.
    #[arg(long = "prover-agent-concurrency", env = "PROVER_AGENT_CONCURRENCY", value_name = "PROVER_AGENT_CONCURRENCY",
          default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub concurrency: u32,

    /// Proof types this agent proves (comma separated; default: all). One of: base_parity,
    /// root_parity, private_base_rollup, public_base_rollup, merge_rollup, block_root_rollup,
    /// block_merge_rollup, root_rollup.
    #[arg(
        long = "prover-agent-proof-types",
        env = "PROVER_AGENT_PROOF_TYPES",
        value_name = "PROVER_AGENT_PROOF_TYPES",
        value_delimiter = ','
    )]
    pub proof_types: Vec<ProofType>,

    /// This agent's name in job statuses and results (default: host name plus a random
    /// suffix).
    #[arg(
        long = "prover-agent-id",
        env = "PROVER_AGENT_ID",
        value_name = "PROVER_AGENT_ID"
    )]
    pub id: Option<String>,

    /// On SIGTERM/SIGINT: how long in-flight jobs may run before they are handed back to
    /// the mesh (spot instances get about two minutes' notice).
    #[arg(long = "prover-agent-drain-deadline", env = "PROVER_AGENT_DRAIN_DEADLINE", value_name = "PROVER_AGENT_DRAIN_DEADLINE",
          default_value = "30s", value_parser = values::duration)]
    pub drain_deadline: Duration,

    /// URL polled for a spot termination notice, e.g. AWS's
    /// http://169.254.169.254/latest/meta-data/spot/instance-action. HTTP 200 starts the
    /// drain at once, as SIGTERM does; 404 means no notice; other answers or none are
    /// logged and ignored. AWS IMDSv2 session tokens are fetched when the URL asks for one.
    #[arg(
        long = "prover-agent-termination-notice-url",
        env = "PROVER_AGENT_TERMINATION_NOTICE_URL",
        value_name = "PROVER_AGENT_TERMINATION_NOTICE_URL"
    )]
    pub termination_notice_url: Option<String>,

    /// How often PROVER_AGENT_TERMINATION_NOTICE_URL is polled (AWS recommends every 5s).
    #[arg(long = "prover-agent-termination-notice-poll", env = "PROVER_AGENT_TERMINATION_NOTICE_POLL",
          value_name = "PROVER_AGENT_TERMINATION_NOTICE_POLL", default_value = "5s", value_parser = values::duration)]
    pub termination_notice_poll: Duration,

    /// Generate real proofs with Barretenberg (true) or simulated ones (false).
    #[arg(long = "prover-real-proofs", env = "PROVER_REAL_PROOFS", value_name = "PROVER_REAL_PROOFS",
          default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = ArgAction::Set,
          value_parser = BoolishValueParser::new())]
    pub real_proofs: bool,

    /// bb, CRS and circuits for PROVER_REAL_PROOFS=true.
    #[command(flatten)]
    pub bb: crate::bb::BbArgs,

    /// Simulated proving time per proof type, e.g. `base_parity=50ms,merge_rollup=200ms`
    /// (PROVER_REAL_PROOFS=false only; unlisted types take PROVER_SIMULATED_DEFAULT_DELAY).
    #[arg(long = "simulated-delays", env = "PROVER_SIMULATED_DELAYS", value_name = "PROVER_SIMULATED_DELAYS",
          value_delimiter = ',', value_parser = parse_type_delay)]
    pub simulated_delays: Vec<(ProofType, Duration)>,

    /// Simulated proving time of proof types not in PROVER_SIMULATED_DELAYS.
    #[arg(long = "simulated-default-delay", env = "PROVER_SIMULATED_DEFAULT_DELAY", value_name = "PROVER_SIMULATED_DEFAULT_DELAY",
          default_value = "100ms", value_parser = values::duration)]
    pub simulated_default_delay: Duration,

    /// Random spread of simulated proving times, as a fraction (0.2 = ±20%).
    #[arg(long = "simulated-jitter", env = "PROVER_SIMULATED_JITTER", value_name = "PROVER_SIMULATED_JITTER",
          default_value_t = 0.0, value_parser = parse_fraction)]
    pub simulated_jitter: f64,

    /// Size in bytes of each simulated proof.
    #[arg(long = "simulated-proof-size", env = "PROVER_SIMULATED_PROOF_SIZE", value_name = "PROVER_SIMULATED_PROOF_SIZE",
          default_value_t = 16384, value_parser = clap::value_parser!(u32).range(128..=(64 * 1024 * 1024)))]
    pub simulated_proof_size: u32,
}

fn parse_type_delay(raw: &str) -> Result<(ProofType, Duration), String> {
    let (t, d) = raw
        .split_once('=')
        .ok_or_else(|| format!("'{raw}': expected TYPE=DURATION, e.g. merge_rollup=200ms"))?;
    Ok((t.parse().map_err(|e| format!("{e}"))?, values::duration(d)?))
}

fn parse_fraction(raw: &str) -> Result<f64, String> {
    let f: f64 = raw
        .trim()
        .parse()
        .map_err(|_| format!("'{raw}' is not a number"))?;
    if !(0.0..=1.0).contains(&f) {
        return Err(format!("{f} is outside 0..=1"));
    }
    Ok(f)
}

/// Where and how often an agent looks for a spot termination notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminationNotice {
    pub url: Url,
    pub poll: Duration,
}

/// Shortest and longest accepted PROVER_AGENT_TERMINATION_NOTICE_POLL: a notice comes
/// about two minutes before the machine goes, so polling slower than a minute wastes most
/// of it.
const NOTICE_POLL_RANGE: (Duration, Duration) =
    (Duration::from_millis(100), Duration::from_secs(60));

/// The agent's validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    pub id: AgentId,
    /// Allowed proof types, highest scheduling priority first.
    pub proof_types: Vec<ProofType>,
    pub concurrency: usize,
    pub drain_deadline: Duration,
    /// Polled for a spot termination notice, which starts the drain early.
    pub termination_notice: Option<TerminationNotice>,
    /// How often an idle agent sweeps its queues without a doorbell ring, in a fleet of up
    /// to 16 agents; in a larger one each agent sweeps proportionally less often (at most
    /// 8 times less), so the fleet as a whole asks each queue about as often.
    pub idle_sweep: Duration,
    /// Most jobs taken in one pull (never more than free slots).
    pub max_fetch_batch: usize,
    /// How long the sweeps of an agent that has been full skip a queue a pull found
    /// empty, doubled for each further empty pull in a row up to eight times (an agent
    /// that kept a free slot leaves such queues to their doorbells instead). Without it
    /// every sweep asks each drained higher-priority queue first: a request and an empty
    /// answer per queue per job, most of a busy mesh's pulls. With it a job of such a type
    /// waits at most eight times this for an agent whose slots were all taken, and not at
    /// all for one with a free slot (its ring makes that agent ask the queue again).
    pub empty_recheck: Duration,
    pub simulated: SimulatedConfig,
    /// PROVER_REAL_PROOFS=true: the checked `bb` backend configuration (None: simulated).
    pub real_proofs: Option<crate::bb::BbBackendConfig>,
    /// Record each job's dispatch latency in the agent's stats (benchmarks).
    pub record_dispatch: bool,
    /// Keep each proved job's phases in the agent's stats (benchmarks; the metrics get
    /// them regardless).
    pub record_phases: bool,
}

impl AgentConfig {
    /// A configuration for `types` with defaults elsewhere (tests, in-process agents).
    pub fn new(id: impl Into<String>, types: &[ProofType], concurrency: usize) -> Self {
        AgentConfig {
            id: AgentId(id.into()),
            proof_types: ProofType::by_priority(if types.is_empty() {
                &ProofType::ALL
            } else {
                types
            }),
            concurrency: concurrency.max(1),
            drain_deadline: Duration::from_secs(30),
            termination_notice: None,
            idle_sweep: Duration::from_secs(1),
            max_fetch_batch: 64,
            empty_recheck: Duration::from_millis(50),
            simulated: SimulatedConfig::default(),
            real_proofs: None,
            record_dispatch: false,
            record_phases: false,
        }
    }
}

impl AgentArgs {
    pub fn validate(&self) -> Result<AgentConfig, ConfigError> {
        // Real proofs: bb, the CRS and the circuits are checked now (a missing bb or a CRS
        // too small stops the agent with the variable named, not every job).
        let real_proofs = if self.real_proofs {
            Some(self.bb.validate()?)
        } else {
            None
        };
        let id = match &self.id {
            Some(s) if s.trim().is_empty() => {
                return Err(ConfigError::new("PROVER_AGENT_ID", "empty"))
            }
            Some(s)
                if !s
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) =>
            {
                return Err(ConfigError::new(
                    "PROVER_AGENT_ID",
                    format!("'{s}': only letters, digits, '-', '_' and '.' are allowed"),
                ))
            }
            Some(s) => s.clone(),
            None => default_agent_id(),
        };
        let mut cfg = AgentConfig::new(id, &self.proof_types, self.concurrency as usize);
        cfg.drain_deadline = self.drain_deadline;
        cfg.real_proofs = real_proofs;
        cfg.termination_notice = self.termination_notice()?;
        let mut delays = HashMap::new();
        for (t, d) in &self.simulated_delays {
            if delays.insert(*t, *d).is_some() {
                return Err(ConfigError::new(
                    "PROVER_SIMULATED_DELAYS",
                    format!("{t} is listed twice"),
                ));
            }
        }
        cfg.simulated = SimulatedConfig {
            delays,
            default_delay: self.simulated_default_delay,
            jitter: self.simulated_jitter,
            proof_size: self.simulated_proof_size as usize,
        };
        Ok(cfg)
    }
}

impl AgentArgs {
    /// The termination-notice settings, checked without echoing the URL (it could carry
    /// credentials).
    fn termination_notice(&self) -> Result<Option<TerminationNotice>, ConfigError> {
        const VAR: &str = "PROVER_AGENT_TERMINATION_NOTICE_URL";
        let Some(raw) = self.termination_notice_url.as_deref() else {
            return Ok(None);
        };
        if raw.trim().is_empty() {
            return Ok(None);
        }
        let url = values::http_url(raw).map_err(|e| ConfigError::new(VAR, e))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ConfigError::new(
                VAR,
                "credentials inside the URL are refused (they would end up in logs)",
            ));
        }
        let poll = self.termination_notice_poll;
        let (min, max) = NOTICE_POLL_RANGE;
        if !(min..=max).contains(&poll) {
            return Err(ConfigError::new(
                "PROVER_AGENT_TERMINATION_NOTICE_POLL",
                format!("{poll:?} is outside {min:?}..={max:?}"),
            ));
        }
        Ok(Some(TerminationNotice { url, poll }))
    }
}

/// `<hostname>-<4 random hex digits>`.
pub fn default_agent_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "agent".into());
    let host: String = host
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    format!("{host}-{:04x}", rand::random::<u16>())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        agent: AgentArgs,
    }

    fn validate(args: &[&str]) -> Result<AgentConfig, ConfigError> {
        let mut argv = vec!["agent"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).unwrap().agent.validate()
    }

    #[test]
    fn termination_notice_is_optional_and_polled_every_5s_by_default() {
        assert_eq!(validate(&[]).unwrap().termination_notice, None);
        let cfg = validate(&[
            "--prover-agent-termination-notice-url",
            "http://169.254.169.254/latest/meta-data/spot/instance-action",
        ])
        .unwrap();
        let n = cfg.termination_notice.unwrap();
        assert_eq!(n.poll, Duration::from_secs(5));
        assert_eq!(n.url.path(), "/latest/meta-data/spot/instance-action");
    }

    #[test]
    fn bad_termination_notice_settings_name_their_variable() {
        for (args, var) in [
            (
                &["--prover-agent-termination-notice-url", "ftp://x/notice"][..],
                "PROVER_AGENT_TERMINATION_NOTICE_URL",
            ),
            (
                &["--prover-agent-termination-notice-url", "not a url"][..],
                "PROVER_AGENT_TERMINATION_NOTICE_URL",
            ),
            (
                &[
                    "--prover-agent-termination-notice-url",
                    "http://127.0.0.1:1/n",
                    "--prover-agent-termination-notice-poll",
                    "10m",
                ][..],
                "PROVER_AGENT_TERMINATION_NOTICE_POLL",
            ),
        ] {
            let e = validate(args).unwrap_err();
            assert_eq!(e.variable, var, "{args:?}: {e}");
        }
    }

    #[test]
    fn credentials_in_the_notice_url_are_refused_and_never_echoed() {
        let e = validate(&[
            "--prover-agent-termination-notice-url",
            "http://user:hunter2@127.0.0.1/notice",
        ])
        .unwrap_err();
        assert_eq!(e.variable, "PROVER_AGENT_TERMINATION_NOTICE_URL");
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
}
