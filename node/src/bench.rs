//! `provemesh bench …`: benchmarks that print a table.

use clap::Subcommand;

#[derive(Debug, Clone, Subcommand)]
pub enum BenchCommand {
    /// Throughput and dispatch latency of the job mesh vs a raw JetStream loop.
    Mesh,
}

impl BenchCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        anyhow::bail!("provemesh bench mesh is not in this build yet")
    }
}
