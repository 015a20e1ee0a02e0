//! The L2 block source: what the prover node asks of the archiver, as a trait so that a
//! remote source (another node's JSON-RPC, `AZTEC_NODE_URL`) or a test double can stand in
//! for the local archive.

use crate::events::L1Position;
use alloy::primitives::{Bytes, B256};
use provemesh_l1::{BlockHeader, Tips};
use std::future::Future;
use std::ops::RangeInclusive;
use tokio::sync::broadcast;

/// An L2 block of the pending chain, as proposed to the Rollup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct L2Block {
    pub number: u64,
    pub slot: u64,
    /// `slot / epoch_duration`.
    pub epoch: u64,
    /// The archive root after this block.
    pub archive: B256,
    pub header: BlockHeader,
    /// Hashes of the block's transactions, in order.
    pub tx_hashes: Vec<B256>,
    /// The tx effects (`txsEffectsHash` is their sha256-to-field).
    pub body: Bytes,
    /// Where its `L2BlockProposed` event is on L1.
    pub l1: L1Position,
}

/// A change of the archive's chain view, published after it is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainEvent {
    /// Blocks `first..=last` joined the pending chain.
    BlocksAdded { first: u64, last: u64 },
    /// The Rollup pruned `epoch`: the pending chain now ends at block `pending` (the
    /// proven tip); the blocks after it are gone.
    Pruned { epoch: u64, pending: u64 },
    /// An epoch proof moved the proven tip to `block`.
    Proven { epoch: u64, block: u64 },
    /// L1 reorganised: everything the archive learnt after L1 block `l1_block` (`None`:
    /// from its start block) was undone; the tips are now `tips`. Blocks may have vanished
    /// or come back; re-read what you hold.
    L1Reorg { l1_block: Option<u64>, tips: Tips },
}

/// Read access to the L2 chain as L1 records it.
///
/// Every method answers from what the source has seen so far; blocks past its pending tip
/// are simply absent. After a [`ChainEvent::Pruned`] or [`ChainEvent::L1Reorg`], blocks
/// read earlier may no longer be part of the chain.
pub trait L2BlockSource: Send + Sync {
    type Error: std::error::Error + Send + Sync + 'static;

    /// Block `number`, if it is on the pending chain.
    fn block(
        &self,
        number: u64,
    ) -> impl Future<Output = Result<Option<L2Block>, Self::Error>> + Send;

    /// The blocks of `range` that are on the pending chain, in order (stops at the tip).
    fn blocks(
        &self,
        range: RangeInclusive<u64>,
    ) -> impl Future<Output = Result<Vec<L2Block>, Self::Error>> + Send;

    /// The pending chain's blocks of `epoch`, in order.
    fn blocks_of_epoch(
        &self,
        epoch: u64,
    ) -> impl Future<Output = Result<Vec<L2Block>, Self::Error>> + Send;

    /// The tx hashes of `epoch`'s blocks, block by block, in order.
    fn tx_hashes_of_epoch(
        &self,
        epoch: u64,
    ) -> impl Future<Output = Result<Vec<B256>, Self::Error>> + Send;

    /// The L1→L2 message leaves block `block` must insert (its Inbox bucket), in order.
    /// Known as soon as they are sent on L1, before the block exists.
    fn l1_to_l2_messages(
        &self,
        block: u64,
    ) -> impl Future<Output = Result<Vec<B256>, Self::Error>> + Send;

    /// The last block of the pending chain and of the proven chain (0: genesis).
    fn tips(&self) -> impl Future<Output = Result<Tips, Self::Error>> + Send;

    /// The epoch of block `block`, if it is on the pending chain.
    fn epoch_of(&self, block: u64)
        -> impl Future<Output = Result<Option<u64>, Self::Error>> + Send;

    /// Changes from now on. A receiver that falls behind gets `Lagged` and should re-read
    /// [`L2BlockSource::tips`].
    fn subscribe(&self) -> broadcast::Receiver<ChainEvent>;
}
