//! `provemesh-agent`: the lean, stateless prover agent (no L1 dependencies). Point
//! PROVER_BROKER_HOST at the mesh's NATS servers and PROVER_PROOF_STORE at the proof store.

use clap::Parser;
use provemesh_agent::launch::{self, AgentCommand};
use provemesh_common::config::{LogArgs, OtelArgs};
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
    otel: OtelArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    provemesh_store::install_crypto_provider();
    let telemetry = match provemesh_telemetry::init(&cli.log, &cli.otel, "provemesh-agent") {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if telemetry.exports_traces() {
        provemesh_nats::headers::enable_trace_propagation();
    }
    let agent = match cli.command.validate() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let shutdown = launch::shutdown_on_signals();
    let result = launch::run(agent, shutdown).await;
    // Blocking (it pushes the last values): off the async workers.
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
