//! What can stop the sequencer, or one of its steps.

use provemesh_l1::L1Error;
use provemesh_world_state::WorldStateError;

#[derive(Debug, thiserror::Error)]
pub enum SequencerError {
    #[error("sequencer: L1: {0}")]
    L1(#[from] L1Error),
    #[error("sequencer: world state: {0}")]
    WorldState(#[from] WorldStateError),
    #[error("sequencer: building block {block}: {source}")]
    Build {
        block: u64,
        #[source]
        source: provemesh_tx_processor::ProcessError,
    },
    #[error("sequencer: the world state's genesis archive {local} is not the Rollup's block 0 archive {l1}: the rollup was deployed for another genesis")]
    GenesisMismatch { local: String, l1: String },
    #[error("sequencer: L1's pending chain is at block {l1} but this sequencer's world state only at {local}: blocks were proposed by someone else (or the data directory is from another run); this sequencer cannot follow them")]
    L1Ahead { l1: u64, local: u64 },
    #[error("sequencer: block {block} is on L1 but committing it to the world state failed: {source}; the world state no longer matches L1")]
    CommitAfterPropose {
        block: u64,
        #[source]
        source: WorldStateError,
    },
    #[error("sequencer: JSON-RPC server on {addr}: {reason}")]
    Rpc { addr: String, reason: String },
    #[error("sequencer: {0}")]
    P2p(#[from] provemesh_p2p::P2pError),
    #[error("sequencer: a blocking task failed: {0}")]
    Join(String),
    #[error("sequencer: block {block}: its Inbox bucket holds {count} L1→L2 messages, more than the {max} a block can insert; the chain cannot advance")]
    BucketTooLarge {
        block: u64,
        count: usize,
        max: usize,
    },
    #[error("sequencer: reading L1 time: {0}")]
    L1Time(String),
}

impl SequencerError {
    /// Errors after which the block loop cannot go on (as opposed to an L1 call that may
    /// succeed next slot).
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            SequencerError::GenesisMismatch { .. }
                | SequencerError::L1Ahead { .. }
                | SequencerError::CommitAfterPropose { .. }
                | SequencerError::WorldState(_)
                | SequencerError::Join(_)
        )
    }
}
