//! Errors of the world state, each naming the tree, leaf or block it is about.

use crate::config::{TreeHeights, TreeId};
use provemesh_common::codec::CodecError;
use provemesh_common::hash::Fr;

#[derive(Debug, thiserror::Error)]
pub enum WorldStateError {
    #[error("world state database: {context}: {source}")]
    Db {
        context: &'static str,
        #[source]
        source: redb::Error,
    },
    #[error(
        "{tree} tree is full: {size} leaves used, adding {adding} exceeds its 2^{height} leaves"
    )]
    TreeFull {
        tree: TreeId,
        size: u64,
        adding: u64,
        height: u8,
    },
    #[error("{tree} tree: a subtree of height {subtree_height} cannot start at leaf {size} (not aligned)")]
    Misaligned {
        tree: TreeId,
        size: u64,
        subtree_height: u8,
    },
    #[error("{tree} tree already holds key {key}")]
    KeyExists { tree: TreeId, key: Fr },
    #[error("{tree} tree has no low leaf for key {key} (the prefilled key 0 is missing?)")]
    NoLowLeaf { tree: TreeId, key: Fr },
    #[error("{tree} tree: leaf {index} is beyond its size {size}")]
    LeafOutOfRange { tree: TreeId, index: u64, size: u64 },
    #[error("{tree} tree height {height} is not supported (1..=63)")]
    UnsupportedHeight { tree: TreeId, height: u8 },
    #[error("world state was created with heights {stored:?}, opened with {requested:?}")]
    ConfigMismatch {
        stored: TreeHeights,
        requested: TreeHeights,
    },
    #[error("block {block} is not in the world state (tip is block {tip})")]
    BlockNotFound { block: u64, tip: u64 },
    #[error("cannot commit block {got}: the next block is {expected}")]
    WrongBlockNumber { expected: u64, got: u64 },
    #[error("block {block}: the header's state does not match the world state's trees")]
    HeaderStateMismatch { block: u64 },
    #[error("world state is corrupt: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Codec(#[from] CodecError),
}

impl WorldStateError {
    pub(crate) fn db(context: &'static str) -> impl FnOnce(redb::Error) -> Self {
        move |source| WorldStateError::Db { context, source }
    }
}

/// Converts any redb error into [`WorldStateError::Db`] with a context.
pub(crate) trait DbContext<T> {
    fn ctx(self, context: &'static str) -> Result<T, WorldStateError>;
}

impl<T, E: Into<redb::Error>> DbContext<T> for Result<T, E> {
    fn ctx(self, context: &'static str) -> Result<T, WorldStateError> {
        self.map_err(|e| WorldStateError::db(context)(e.into()))
    }
}

pub type Result<T, E = WorldStateError> = std::result::Result<T, E>;
