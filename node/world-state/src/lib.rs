//! The World State DB: Aztec's five Poseidon2 Merkle trees — note hash tree
//! (append-only), nullifier tree and public data tree (indexed: low-leaf membership and
//! non-membership), L1→L2 message tree, archive tree of block headers — kept in
//! DATA_DIRECTORY, one committed block at a time.
//!
//! Why redb: it is pure Rust (no C build, no `unsafe` on our side — heed's environment
//! opening is an `unsafe fn`, which this workspace forbids), its write transactions are
//! atomic and durable on commit (copy-on-write B-trees with a checksummed commit slot:
//! a kill -9 mid-commit reopens at the previous commit), and its MVCC read transactions
//! give snapshots that a concurrent writer never blocks or disturbs. Reads are B-tree
//! lookups rather than LMDB's memory-mapped pointer chases, so the hot top levels of each
//! tree are cached in memory.
//!
//! Data flow: the tx processor changes the working state through
//! [`WorldState::trees_mut`] (hashes are recomputed lazily, only for dirty nodes, when a
//! sibling path or root is asked for), then [`WorldState::commit_block`] persists the
//! block; readers use [`WorldStateSnapshot`]s of committed blocks.

pub mod config;
pub mod error;
pub mod indexed;
pub mod snapshot;
mod store;
pub mod tree;
pub mod world_state;

pub use config::{TreeHeights, TreeId, WorldStateConfig};
pub use error::WorldStateError;
pub use indexed::{BatchInsertionHints, IndexedTree, LowLeafWitness, SequentialInsertionHint};
pub use snapshot::WorldStateSnapshot;
pub use store::BlockRecord;
pub use tree::MerkleTree;
pub use world_state::{TreesMut, WorldState, WORLD_STATE_FILE};
