//! `provemesh`: the prover node binary, composed like `aztec start --prover-node
//! --archiver [--prover-agent] [--prover-broker]`, plus the devnet, queue inspection and
//! benchmarks.

mod args;
mod bench;
mod bench_state;
mod crs;
mod devnet;
mod epoch_report;
mod epoch_timeline;
mod jobs;
mod live;
mod prover_node;
mod start;
mod timeline_svg;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use provemesh_agent::launch::{self, AgentCommand};
use provemesh_common::config::{LogArgs, OtelArgs};
use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "provemesh",
    version,
    about = "provemesh: a prover node for an Aztec-style rollup, proving on a NATS JetStream job mesh",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    log: LogArgs,
    #[command(flatten)]
    otel: OtelArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run components: --prover-node, --archiver, --prover-agent (--prover), --prover-broker.
    Start(Box<start::StartCommand>),
    /// Run a prover agent (the same as the lean `provemesh-agent` binary).
    Agent(Box<AgentCommand>),
    /// Run the whole system locally: NATS, object store, L1, broker, agents; prove epochs.
    Devnet(devnet::DevnetCommand),
    /// Inspect the job mesh: queues, jobs in flight, failures, a job's history.
    Jobs(jobs::JobsCommand),
    /// Look at one epoch: `epoch report E --svg out.svg` draws how it was proved.
    #[command(subcommand)]
    Epoch(epoch_report::EpochCommand),
    /// Benchmarks that print a table against a baseline measured in the same run.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// The INSECURE devnet CRS for real proofs (`crs generate --points N --out DIR`).
    #[command(subcommand)]
    Crs(crs::CrsCommand),
}

#[tokio::main]
async fn main() -> ExitCode {
    let matches = Cli::command().after_help(environment_help()).get_matches();
    let mut cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    // The devnet's own lines (blocks, epochs, progress) and a benchmark's table are their
    // interface: their log shows warnings and errors unless LOG_LEVEL (or --log-level)
    // asks for more. (A mesh benchmark otherwise buries its table under a line per
    // connection event of each of its hundreds of agent connections.)
    if matches!(cli.command, Command::Devnet(_) | Command::Bench(_))
        && matches.value_source("log_level") == Some(clap::parser::ValueSource::DefaultValue)
    {
        cli.log.log_level = provemesh_common::config::LogLevel::Warn;
    }
    provemesh_store::install_crypto_provider();
    let telemetry = match provemesh_telemetry::init(&cli.log, &cli.otel, "provemesh") {
        Ok(t) => t,
        Err(e) => return config_error(e),
    };
    if telemetry.exports_traces() {
        provemesh_nats::headers::enable_trace_propagation();
    }
    let result = match cli.command {
        Command::Start(s) => match s.validate() {
            Ok(()) => s.run().await,
            Err(e) => return config_error(e),
        },
        Command::Agent(a) => match a.validate() {
            Ok(agent) => launch::run(agent, launch::shutdown_on_signals())
                .await
                .map(|_| ()),
            Err(e) => return config_error(e),
        },
        Command::Devnet(d) => d.run().await,
        Command::Jobs(j) => j.run().await,
        Command::Epoch(e) => e.run().await,
        Command::Bench(b) => b.run().await,
        Command::Crs(c) => tokio::task::spawn_blocking(move || c.run())
            .await
            .unwrap_or_else(|e| Err(anyhow::anyhow!("CRS generation stopped: {e}"))),
    };
    // Blocking (it pushes the last values): off the async workers.
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The environment variables `provemesh start` reads, listed under the top-level help
/// (generated from the flags themselves, so the list cannot drift from them).
fn environment_help() -> String {
    let cmd = start::StartCommand::augment_args(clap::Command::new("start"));
    let mut lines = vec![
        "Environment (each also a flag of `provemesh start`; see `provemesh start --help`):"
            .to_string(),
    ];
    let mut seen = std::collections::HashSet::new();
    for a in cmd.get_arguments() {
        if let Some(env) = a.get_env().and_then(|e| e.to_str()) {
            if seen.insert(env.to_string()) {
                let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
                let short: String = if help.chars().count() > 90 {
                    format!("{}…", help.chars().take(89).collect::<String>())
                } else {
                    help
                };
                lines.push(format!("  {env:<38} {short}"));
            }
        }
    }
    lines.push(format!(
        "  {:<38} {}",
        "LOG_LEVEL", "Log level: debug, verbose, info, warn or error"
    ));
    lines.push(format!(
        "  {:<38} {}",
        "LOG_JSON", "Write logs as JSON lines"
    ));
    lines.push(format!(
        "  {:<38} {}",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        "OpenTelemetry collector URL for pushing metrics (OTLP/HTTP)"
    ));
    lines.push(format!(
        "  {:<38} {}",
        "OTEL_METRIC_EXPORT_INTERVAL", "How often metrics are pushed (ms, or a duration like 10s)"
    ));
    lines.join("\n")
}

/// Configuration errors exit with 2, like clap's own usage errors.
fn config_error(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(2)
}
