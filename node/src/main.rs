//! `provemesh`: the prover node binary, composed like `aztec start --prover-node
//! --archiver [--prover-agent] [--prover-broker]`, plus the devnet, queue inspection and
//! benchmarks.

mod args;
mod bench;
mod devnet;
mod jobs;
mod start;
mod synthetic;

use clap::{Parser, Subcommand};
use provemesh_agent::launch::{self, AgentCommand};
use provemesh_common::config::LogArgs;
use std::process::ExitCode;

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
    /// Benchmarks that print a table against a baseline measured in the same run.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    provemesh_common::telemetry::init_logging(&cli.log);
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
        Command::Bench(b) => b.run().await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Configuration errors exit with 2, like clap's own usage errors.
fn config_error(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(2)
}
