//! L1→L2 messages: the sequencer follows the Inbox's `MessageSent` events to know each
//! L2 block's bucket (the messages block N must insert, whose rolling hash its `inHash`
//! must equal), and the devnet injects messages with `sendL2Message`.
//!
//! A bucket stays open until its block is proposed, so a message can land between reading
//! the bucket and proposing; the sequencer compares the bucket's on-chain count with what
//! it read first, and the Rollup refuses a stale `inHash` anyway (the block is then built
//! again). A block re-proposed after a prune consumes the same, already closed, bucket.

use alloy::primitives::{B256, U256};
use alloy::providers::{DynProvider, Provider};
use provemesh_l1::bindings::Inbox::{InboxEvents, L2Actor};
use provemesh_l1::{InboxContract, L1Error, SentMessage};
use std::collections::BTreeMap;

/// Messages per block the L2 side can insert (`L1_TO_L2_MESSAGES_PER_BLOCK`); the Inbox
/// itself has no limit, so a bucket above it cannot be proposed (see the README).
pub const MAX_MESSAGES_PER_BLOCK: usize =
    provemesh_common::hash::header::L1_TO_L2_MESSAGES_PER_BLOCK;

/// Reads the Inbox's events forward from the deployment block.
pub struct InboxFollower {
    inbox: InboxContract<DynProvider>,
    next_l1_block: u64,
    /// bucket (L2 block number) → (global index, leaf).
    buckets: BTreeMap<u64, Vec<(u64, B256)>>,
}

impl InboxFollower {
    pub fn new(inbox: InboxContract<DynProvider>, from_l1_block: u64) -> Self {
        InboxFollower {
            inbox,
            next_l1_block: from_l1_block,
            buckets: BTreeMap::new(),
        }
    }

    /// Reads the events of the L1 blocks mined since the last call.
    pub async fn refresh(&mut self) -> Result<(), L1Error> {
        let latest = self
            .inbox
            .instance()
            .provider()
            .get_block_number()
            .await
            .map_err(|e| L1Error::from_contract("Inbox", "eth_blockNumber", e.into()))?;
        if latest < self.next_l1_block {
            return Ok(());
        }
        for log in self.inbox.events(self.next_l1_block, latest).await? {
            if let InboxEvents::MessageSent(ev) = log.event {
                let bucket = ev.l2BlockNumber.saturating_to::<u64>();
                let entry = (ev.index.saturating_to::<u64>(), ev.hash);
                let list = self.buckets.entry(bucket).or_default();
                if !list.contains(&entry) {
                    list.push(entry);
                    list.sort();
                }
            }
        }
        self.next_l1_block = latest + 1;
        Ok(())
    }

    /// The message leaves of block `block`'s bucket, in Inbox order.
    pub fn leaves(&self, block: u64) -> Vec<B256> {
        self.buckets
            .get(&block)
            .map(|l| l.iter().map(|(_, leaf)| *leaf).collect())
            .unwrap_or_default()
    }

    /// The leaves of `block`'s bucket, re-reading events until they agree with the Inbox's
    /// own count (a message sent meanwhile); `None` if they still disagree.
    pub async fn settled_leaves(&mut self, block: u64) -> Result<Option<Vec<B256>>, L1Error> {
        for _ in 0..3 {
            self.refresh().await?;
            let leaves = self.leaves(block);
            let (_, count) = self.inbox.bucket(block).await?;
            if count == leaves.len() as u64 {
                return Ok(Some(leaves));
            }
        }
        Ok(None)
    }
}

/// Sends an L1→L2 message through `inbox` (whose provider signs): to L2 `recipient`, with
/// `content` and `secret_hash` (each below the BN254 modulus, or the Inbox refuses).
pub async fn inject_message(
    inbox: &InboxContract<DynProvider>,
    recipient: B256,
    content: B256,
    secret_hash: B256,
) -> Result<SentMessage, L1Error> {
    let sent = inbox
        .send_l2_message(
            L2Actor {
                actor: recipient,
                version: U256::from(crate::header::ROLLUP_VERSION),
            },
            content,
            secret_hash,
        )
        .await?;
    tracing::info!(
        l2_block = sent.l2_block_number,
        index = sent.index,
        leaf = %sent.leaf,
        "L1→L2 message sent"
    );
    Ok(sent)
}
