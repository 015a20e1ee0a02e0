//! The prover node: the seed's epoch proving loop.
//!
//! ```text
//! L1 ──archiver──▶ sync (re-executes every pending block on the node's world state)
//!                   │ ProcessedBlock per block
//!  quotes ◀─ monitor (bids for complete, unclaimed epochs; notices claims)
//!                   │ claimed with our quote
//!                   ▼
//!                 proving job ──▶ orchestrator ──▶ mesh (broker/agents) ──▶ root proof
//!                                                                         │
//!                                                          L1 publisher ◀─┘
//! ```
//!
//! The world state follows the pending chain: each block the archiver reports is
//! re-executed from its txs (fetched by hash from the tx provider) and must reproduce the
//! header and archive L1 recorded, else the epoch is unprovable and the node says why.
//! Proving jobs read the executed blocks; nothing about an epoch lives only in memory that
//! a restart could not rebuild: the world state is unwound to the proven tip at start and
//! the unproven blocks are executed again (deterministically: the same jobs, which the
//! mesh has already proved, so nothing is proved twice).

pub mod epochs;
pub mod job;
mod metrics;
mod node;
pub mod publisher;
pub mod quotes;
pub mod rpc;
mod status;
pub mod sync;
pub mod tx_provider;

pub use node::{start, world_state_config, NodeError, ProverNodeConfig, ProverNodeHandle};
