//! Typed access to the Inbox (send L1→L2 messages, read per-block commitments) and the
//! Outbox (read proven epochs' out hashes, consume L2→L1 messages), and their events.

use crate::bindings::Inbox::{self, InboxEvents, InboxInstance, L2Actor};
use crate::bindings::Outbox::{self, L2ToL1Msg, OutboxEvents, OutboxInstance};
use crate::error::L1Error;
use crate::rollup::{read_events, send, L1Log};
use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionReceipt;
use alloy::sol_types::SolEvent;

/// A message the Inbox accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SentMessage {
    /// The L2 block that must insert it.
    pub l2_block_number: u64,
    /// Its position among all messages sent to this Inbox.
    pub index: u64,
    pub leaf: B256,
    /// The block bucket's commitment after it.
    pub rolling_hash: B256,
    pub receipt_block: u64,
}

#[derive(Debug, Clone)]
pub struct InboxContract<P> {
    inner: InboxInstance<P>,
}

const I: &str = "Inbox";
const O: &str = "Outbox";

impl<P: Provider + Clone> InboxContract<P> {
    pub fn new(address: Address, provider: P) -> Self {
        InboxContract {
            inner: Inbox::new(address, provider),
        }
    }

    pub fn address(&self) -> Address {
        *self.inner.address()
    }

    pub fn instance(&self) -> &InboxInstance<P> {
        &self.inner
    }

    /// Sends an L1→L2 message and returns where the Inbox put it.
    pub async fn send_l2_message(
        &self,
        recipient: L2Actor,
        content: B256,
        secret_hash: B256,
    ) -> Result<SentMessage, L1Error> {
        let receipt = send(
            I,
            "sendL2Message",
            self.inner.sendL2Message(recipient, content, secret_hash),
        )
        .await?;
        receipt
            .inner
            .logs()
            .iter()
            .find_map(|log| Inbox::MessageSent::decode_log(&log.inner).ok())
            .map(|ev| SentMessage {
                l2_block_number: ev.l2BlockNumber.saturating_to(),
                index: ev.index.saturating_to(),
                leaf: ev.hash,
                rolling_hash: ev.rollingHash,
                receipt_block: receipt.block_number.unwrap_or_default(),
            })
            .ok_or(L1Error::FailedOnChain {
                contract: I,
                call: "sendL2Message (no MessageSent event)",
                tx_hash: receipt.transaction_hash,
            })
    }

    /// The commitment (rolling hash) and message count of L2 block `number`'s bucket.
    pub async fn bucket(&self, number: u64) -> Result<(B256, u64), L1Error> {
        let b = self
            .inner
            .getBucket(U256::from(number))
            .call()
            .await
            .map_err(|e| L1Error::from_contract(I, "getBucket", e))?;
        Ok((b.rollingHash, b.count.saturating_to()))
    }

    /// The L2 block whose bucket new messages go to.
    pub async fn in_progress(&self) -> Result<u64, L1Error> {
        self.inner
            .inProgress()
            .call()
            .await
            .map(|v| v.saturating_to())
            .map_err(|e| L1Error::from_contract(I, "inProgress", e))
    }

    pub async fn events(&self, from: u64, to: u64) -> Result<Vec<L1Log<InboxEvents>>, L1Error> {
        read_events(self.inner.provider(), I, self.address(), from, to).await
    }
}

#[derive(Debug, Clone)]
pub struct OutboxContract<P> {
    inner: OutboxInstance<P>,
}

impl<P: Provider + Clone> OutboxContract<P> {
    pub fn new(address: Address, provider: P) -> Self {
        OutboxContract {
            inner: Outbox::new(address, provider),
        }
    }

    pub fn address(&self) -> Address {
        *self.inner.address()
    }

    pub fn instance(&self) -> &OutboxInstance<P> {
        &self.inner
    }

    /// The out hash of proven `epoch` (zero when not proven or without messages).
    pub async fn root(&self, epoch: u64) -> Result<B256, L1Error> {
        self.inner
            .getRoot(U256::from(epoch))
            .call()
            .await
            .map_err(|e| L1Error::from_contract(O, "getRoot", e))
    }

    /// Consumes `message` of `epoch` at `leaf_index` with its sibling `path` (the sender
    /// must be the message's L1 recipient).
    pub async fn consume(
        &self,
        message: L2ToL1Msg,
        epoch: u64,
        leaf_index: u64,
        path: Vec<B256>,
    ) -> Result<TransactionReceipt, L1Error> {
        send(
            O,
            "consume",
            self.inner
                .consume(message, U256::from(epoch), U256::from(leaf_index), path),
        )
        .await
    }

    pub async fn events(&self, from: u64, to: u64) -> Result<Vec<L1Log<OutboxEvents>>, L1Error> {
        read_events(self.inner.provider(), O, self.address(), from, to).await
    }
}
