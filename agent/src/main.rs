//! `provemesh-agent`: the lean, stateless prover agent (no L1 dependencies). Point
//! PROVER_BROKER_HOST at the mesh's NATS servers and PROVER_PROOF_STORE at the proof store.

use clap::Parser;
use provemesh_agent::launch::{self, AgentCommand};
use provemesh_common::config::{LogArgs, MetricsArgs};
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
    #[command(flatten)]
    metrics: MetricsArgs,
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
    let metrics = match provemesh_telemetry::init_metrics(&cli.metrics, "provemesh-agent") {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let shutdown = launch::shutdown_on_signals();
    let result = launch::run(agent, shutdown).await;
    // Blocking (it pushes the last values): off the async workers.
    let _ = tokio::task::spawn_blocking(move || metrics.shutdown()).await;
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
