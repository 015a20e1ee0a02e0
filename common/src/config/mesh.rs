//! Tunables of the JetStream topology, set by whoever applies it (the node or a broker).

use super::values;
use clap::Args;
use std::time::Duration;

#[derive(Debug, Clone, Args, PartialEq, Eq)]
#[command(next_help_heading = "Mesh topology (applied by the node / broker)")]
pub struct MeshArgs {
    /// Replicas of the mesh's streams and buckets: 1 on a single server, 3 on a cluster.
    #[arg(long = "mesh-replicas", env = "PROVER_MESH_REPLICAS", value_name = "PROVER_MESH_REPLICAS",
          default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=5))]
    pub replicas: u8,

    /// How long an agent may hold a job without a heartbeat before it is redelivered.
    #[arg(long = "mesh-ack-wait", env = "PROVER_MESH_ACK_WAIT", value_name = "PROVER_MESH_ACK_WAIT",
          default_value = "30s", value_parser = values::duration)]
    pub ack_wait: Duration,

    /// Deliveries of a job before it is dead-lettered (failed with its last error).
    #[arg(long = "mesh-max-deliver", env = "PROVER_MESH_MAX_DELIVER", value_name = "PROVER_MESH_MAX_DELIVER",
          default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub max_deliver: u16,

    /// How long a job id is remembered to drop duplicate enqueues (≥ one epoch).
    #[arg(long = "mesh-duplicate-window", env = "PROVER_MESH_DUPLICATE_WINDOW", value_name = "PROVER_MESH_DUPLICATE_WINDOW",
          default_value = "2h", value_parser = values::duration)]
    pub duplicate_window: Duration,

    /// In a supercluster, the cluster (region) the mesh's streams and buckets live in: the
    /// node's home region. Unset: wherever the server that creates them puts them.
    #[arg(long = "mesh-placement-cluster", env = "PROVER_MESH_PLACEMENT_CLUSTER",
          value_name = "PROVER_MESH_PLACEMENT_CLUSTER", value_parser = values::nats_name)]
    pub placement_cluster: Option<String>,
}

impl MeshArgs {
    pub fn validate(&self) -> Result<(), super::ConfigError> {
        if self.ack_wait < Duration::from_secs(1) {
            return Err(super::ConfigError::new(
                "PROVER_MESH_ACK_WAIT",
                "must be at least 1s",
            ));
        }
        if self.duplicate_window < Duration::from_secs(60) {
            return Err(super::ConfigError::new(
                "PROVER_MESH_DUPLICATE_WINDOW",
                "must be at least 1m",
            ));
        }
        Ok(())
    }
}
