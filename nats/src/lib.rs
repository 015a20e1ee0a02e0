//! Everything JetStream for provemesh, and the only crate that spells a subject, stream,
//! consumer, bucket or header name.
//!
//! - [`subjects`]: `prove.job.<epoch>.<proof_type>`, `prove.result.<epoch>.<job id>`.
//! - [`topology`]: the streams, per-proof-type pull consumers and KV buckets, applied
//!   idempotently at start-up by every component that needs them.
//! - [`headers`]: readable metadata on every message, so a queue inspected with standard
//!   NATS tooling is legible.
//! - [`connect`]: connecting with a role's credentials.

pub mod connect;
pub mod headers;
pub mod messages;
pub mod subjects;
pub mod topology;

pub use connect::{connect, jetstream, ConnectError};
pub use topology::{Topology, TopologyConfig, TopologyError};
