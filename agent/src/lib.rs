//! The prover agent: stateless, pulls proving jobs of the proof types it allows from
//! JetStream, proves them through a [`ProvingBackend`], stores the proof in the proof
//! store, reports the result, and only then acknowledges the job.
//!
//! Safe to kill at any point: a job is acknowledged only after its proof is stored and its
//! result published, so a crash leaves the job to be redelivered; the next agent finds the
//! proof already stored and re-reports it (the server drops the duplicate result), so
//! nothing is lost and nothing is proved or reported twice.

pub mod backend;
pub mod bb;
pub mod config;
mod doorbell;
mod job;
pub mod launch;
mod mesh_ties;
mod metrics;
pub mod phases;
mod pull;
mod runtime;
pub mod simulated;
mod termination;

pub use backend::{BackendError, ProveStats, ProvingBackend, ProvingRequest};
pub use bb::{BbArgs, BbBackend, BbBackendConfig};
pub use config::{AgentArgs, AgentConfig};
pub use phases::JobPhases;
pub use runtime::{Agent, AgentError, AgentStats};
pub use simulated::{SimulatedBackend, SimulatedConfig};
