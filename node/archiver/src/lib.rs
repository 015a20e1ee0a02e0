//! The archiver: provemesh's L2 block source.
//!
//! It follows the rollup on L1 — `L2BlockProposed`, `PrunedPending` and `EpochProven` from
//! the Rollup, `MessageSent` from the Inbox, `RootAdded` from the Outbox — over one or more
//! JSON-RPC URLs (`ETHEREUM_HOSTS`, with failover), keeps the L2 chain they describe in a
//! redb database under `DATA_DIRECTORY/archiver/`, and serves it to the prover node through
//! [`L2BlockSource`]: blocks, tx hashes per epoch, L1→L2 messages per block, the pending and
//! proven tips, and a stream of [`ChainEvent`]s.
//!
//! Data flow: `sync` reads bounded L1 ranges and detects reorgs; `events` decodes the
//! logs; `store` applies each range in one transaction (and rolls back to a fork point on
//! a reorg, restoring blocks a rolled-back prune had removed); [`Archiver`] ties them
//! together and answers queries.
//!
//! ```text
//! L1 (ETHEREUM_HOSTS) ──eth_getLogs──▶ sync ──events──▶ store (redb) ──▶ L2BlockSource ──▶ prover node
//!                                        └──────────── ChainEvent (broadcast) ─────────────┘
//! ```

mod archiver;
pub mod config;
mod error;
mod events;
pub mod l1;
mod metrics;
mod source;
mod store;
mod sync;

pub use archiver::{Archiver, SyncStatus};
pub use config::{read_deployment, ArchiverArgs, ArchiverConfig, Contracts};
pub use error::{ArchiverError, StoreError};
pub use events::L1Position;
pub use source::{ChainEvent, L2Block, L2BlockSource};
pub use store::CHECKPOINT_HORIZON;
