//! `provemesh-agent`: the lean, stateless prover agent (no L1 dependencies). Point
//! PROVER_BROKER_HOST at the mesh's NATS servers and PROVER_PROOF_STORE at the proof store.

use clap::Parser;
use provemesh_agent::launch::{self, AgentCommand};
use provemesh_common::config::LogArgs;
use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "provemesh-agent",
    version,
    about = "provemesh prover agent: pulls proving jobs from NATS JetStream and proves them"
)]
struct Cli {
    #[command(flatten)]
    command: AgentCommand,
    #[command(flatten)]
    log: LogArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    provemesh_common::telemetry::init_logging(&cli.log);
    provemesh_store::install_crypto_provider();
    let agent = match cli.command.validate() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let shutdown = launch::shutdown_on_signals();
    match launch::run(agent, shutdown).await {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
