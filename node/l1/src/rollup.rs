//! Typed access to the Rollup for the sequencer (propose, claim), the prover node (read
//! tips and claims, submit the epoch root proof, claim fees) and the archiver (events with
//! their L1 position, for reorg handling). Every transaction waits for its receipt and
//! fails with the contract's decoded revert; nothing here retries or manages nonces — that
//! is the L1 publisher's job, one layer up.

use crate::bindings::Rollup::{
    self, BlockLog, EpochProofPublicInputs, L2BlockProposed, ProofClaim, ProposeArgs, RollupEvents,
    RollupInstance, SignedEpochProofQuote,
};
use crate::error::L1Error;
use alloy::contract::{CallBuilder, CallDecoder};
use alloy::primitives::{Address, Bytes, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::{Filter, Log, TransactionReceipt};
use alloy::sol_types::{SolEvent, SolEventInterface};
use std::time::Duration;

/// How long a transaction may take to be mined before the call fails.
pub const RECEIPT_TIMEOUT: Duration = Duration::from_secs(120);

/// Sends a transaction, waits (at most [`RECEIPT_TIMEOUT`]) for its receipt and requires
/// it to have succeeded.
pub(crate) async fn send<P: Provider, D: CallDecoder>(
    contract: &'static str,
    call: &'static str,
    builder: CallBuilder<P, D>,
) -> Result<TransactionReceipt, L1Error> {
    let pending = builder
        .send()
        .await
        .map_err(|e| L1Error::from_contract(contract, call, e))?;
    let receipt = pending
        .with_timeout(Some(RECEIPT_TIMEOUT))
        .get_receipt()
        .await
        .map_err(|e| L1Error::from_contract(contract, call, e.into()))?;
    if !receipt.status() {
        return Err(L1Error::FailedOnChain {
            contract,
            call,
            tx_hash: receipt.transaction_hash,
        });
    }
    Ok(receipt)
}

/// An event with where it sits on L1 (an archiver keys its state on the block hash to
/// notice reorgs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct L1Log<E> {
    pub event: E,
    pub l1_block_number: u64,
    pub l1_block_hash: B256,
    pub tx_hash: B256,
    pub log_index: u64,
}

impl<E> L1Log<E> {
    fn from_log(event: E, log: &Log) -> Self {
        L1Log {
            event,
            l1_block_number: log.block_number.unwrap_or_default(),
            l1_block_hash: log.block_hash.unwrap_or_default(),
            tx_hash: log.transaction_hash.unwrap_or_default(),
            log_index: log.log_index.unwrap_or_default(),
        }
    }
}

/// Reads and decodes the events of `address` in L1 blocks `from..=to`. Logs that are not
/// one of `E`'s events are skipped with a warning (none should exist).
pub(crate) async fn read_events<P: Provider, E: SolEventInterface>(
    provider: &P,
    contract: &'static str,
    address: Address,
    from: u64,
    to: u64,
) -> Result<Vec<L1Log<E>>, L1Error> {
    let filter = Filter::new().address(address).from_block(from).to_block(to);
    let logs = provider
        .get_logs(&filter)
        .await
        .map_err(|e| L1Error::from_contract(contract, "eth_getLogs", e.into()))?;
    let mut out = Vec::with_capacity(logs.len());
    for log in &logs {
        match E::decode_raw_log(log.topics(), &log.data().data) {
            Ok(event) => out.push(L1Log::from_log(event, log)),
            Err(e) => tracing::warn!(contract, ?log, "skipping an undecodable log: {e}"),
        }
    }
    Ok(out)
}

/// The chain tips, as block numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tips {
    pub pending: u64,
    pub proven: u64,
}

/// The Rollup's clock, read once (immutables) so slots and windows can be computed
/// locally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollupTiming {
    pub genesis_time: u64,
    pub slot_duration: u64,
    pub epoch_duration: u64,
    pub claim_window: u64,
    pub proof_submission_window: u64,
}

impl RollupTiming {
    /// Slot of an L1 timestamp (0 before genesis).
    pub fn slot_at(&self, timestamp: u64) -> u64 {
        timestamp.saturating_sub(self.genesis_time) / self.slot_duration.max(1)
    }
    pub fn epoch_at_slot(&self, slot: u64) -> u64 {
        slot / self.epoch_duration.max(1)
    }
    /// L1 timestamp at which `slot` starts (a block header's timestamp).
    pub fn timestamp_for_slot(&self, slot: u64) -> u64 {
        self.genesis_time + slot * self.slot_duration
    }
    /// First slot of `epoch`.
    pub fn first_slot_of_epoch(&self, epoch: u64) -> u64 {
        epoch * self.epoch_duration
    }
    /// First slot at which `epoch` can no longer be claimed.
    pub fn claim_deadline(&self, epoch: u64) -> u64 {
        (epoch + 1) * self.epoch_duration + self.claim_window
    }
    /// First slot at which a proof of `epoch` is no longer accepted.
    pub fn proof_submission_deadline(&self, epoch: u64) -> u64 {
        (epoch + 1) * self.epoch_duration + self.proof_submission_window
    }
}

fn u64_of(v: U256) -> u64 {
    v.saturating_to()
}

/// The Rollup at an address, through a provider (with a wallet, for transactions).
#[derive(Debug, Clone)]
pub struct RollupContract<P> {
    inner: RollupInstance<P>,
}

const R: &str = "Rollup";

impl<P: Provider + Clone> RollupContract<P> {
    pub fn new(address: Address, provider: P) -> Self {
        RollupContract {
            inner: Rollup::new(address, provider),
        }
    }

    pub fn address(&self) -> Address {
        *self.inner.address()
    }

    /// The raw binding, for calls this wrapper does not cover.
    pub fn instance(&self) -> &RollupInstance<P> {
        &self.inner
    }

    /// Appends a block to the pending chain (sequencer).
    pub async fn propose(&self, args: ProposeArgs) -> Result<TransactionReceipt, L1Error> {
        send(R, "propose", self.inner.propose(args)).await
    }

    /// Claims the right to prove the quote's epoch (sequencer).
    pub async fn claim_epoch_proof_right(
        &self,
        quote: SignedEpochProofQuote,
    ) -> Result<TransactionReceipt, L1Error> {
        send(
            R,
            "claimEpochProofRight",
            self.inner.claimEpochProofRight(quote),
        )
        .await
    }

    /// Submits the root rollup proof of `epoch`, whose last block is `end_block`.
    pub async fn submit_epoch_root_proof(
        &self,
        epoch: u64,
        end_block: u64,
        args: EpochProofPublicInputs,
        proof: Bytes,
    ) -> Result<TransactionReceipt, L1Error> {
        send(
            R,
            "submitEpochRootProof",
            self.inner
                .submitEpochRootProof(U256::from(epoch), U256::from(end_block), args, proof),
        )
        .await
    }

    /// Prunes the pending chain (fails with `Rollup__NothingToPrune` when not due).
    pub async fn prune(&self) -> Result<TransactionReceipt, L1Error> {
        send(R, "prune", self.inner.prune()).await
    }

    /// Pays the sender's earned fees out of the Rollup's fee asset balance.
    pub async fn claim_fees(&self) -> Result<TransactionReceipt, L1Error> {
        send(R, "claimFees", self.inner.claimFees()).await
    }

    pub async fn timing(&self) -> Result<RollupTiming, L1Error> {
        let e = |call| move |err| L1Error::from_contract(R, call, err);
        Ok(RollupTiming {
            genesis_time: u64_of(
                self.inner
                    .GENESIS_TIME()
                    .call()
                    .await
                    .map_err(e("GENESIS_TIME"))?,
            ),
            slot_duration: u64_of(
                self.inner
                    .SLOT_DURATION()
                    .call()
                    .await
                    .map_err(e("SLOT_DURATION"))?,
            ),
            epoch_duration: u64_of(
                self.inner
                    .EPOCH_DURATION()
                    .call()
                    .await
                    .map_err(e("EPOCH_DURATION"))?,
            ),
            claim_window: u64_of(
                self.inner
                    .CLAIM_WINDOW()
                    .call()
                    .await
                    .map_err(e("CLAIM_WINDOW"))?,
            ),
            proof_submission_window: u64_of(
                self.inner
                    .PROOF_SUBMISSION_WINDOW()
                    .call()
                    .await
                    .map_err(e("PROOF_SUBMISSION_WINDOW"))?,
            ),
        })
    }

    /// The deployment the Rollup at this address is wired to, read from its immutables
    /// (fee asset, escrow, verifier, Inbox, Outbox) and the escrow's token: what a prover
    /// needs when it is given only the Rollup's address. `rollup_l1_block` is where event
    /// reads start (the Rollup does not know its own deployment block); the governance
    /// proposer is not the prover's business and stays zero.
    pub async fn deployment(&self, rollup_l1_block: u64) -> Result<crate::Deployment, L1Error> {
        let e = |call| move |err| L1Error::from_contract(R, call, err);
        let i = &self.inner;
        let escrow = i
            .PROOF_COMMITMENT_ESCROW()
            .call()
            .await
            .map_err(e("PROOF_COMMITMENT_ESCROW"))?;
        let token = crate::bindings::ProofCommitmentEscrow::new(escrow, i.provider())
            .token()
            .call()
            .await
            .map_err(|err| L1Error::from_contract("ProofCommitmentEscrow", "token", err))?;
        let chain_id = i
            .provider()
            .get_chain_id()
            .await
            .map_err(|err| L1Error::Rpc {
                contract: R,
                call: "eth_chainId",
                source: Box::new(alloy::contract::Error::TransportError(err)),
            })?;
        Ok(crate::Deployment {
            chain_id,
            token,
            escrow,
            verifier: i.VERIFIER().call().await.map_err(e("VERIFIER"))?,
            inbox: i.INBOX().call().await.map_err(e("INBOX"))?,
            outbox: i.OUTBOX().call().await.map_err(e("OUTBOX"))?,
            rollup: self.address(),
            rollup_l1_block,
            governance_proposer: Address::ZERO,
        })
    }

    pub async fn tips(&self) -> Result<Tips, L1Error> {
        let t = self
            .inner
            .getTips()
            .call()
            .await
            .map_err(|e| L1Error::from_contract(R, "getTips", e))?;
        Ok(Tips {
            pending: u64_of(t.pendingBlockNumber),
            proven: u64_of(t.provenBlockNumber),
        })
    }

    /// What the Rollup keeps of pending-chain block `number` (fails past the pending tip).
    pub async fn block(&self, number: u64) -> Result<BlockLog, L1Error> {
        self.inner
            .getBlock(U256::from(number))
            .call()
            .await
            .map_err(|e| L1Error::from_contract(R, "getBlock", e))
    }

    /// The current proof claim, if an epoch is claimed and not yet proven or pruned.
    pub async fn proof_claim(&self) -> Result<Option<ProofClaim>, L1Error> {
        let c = self
            .inner
            .getProofClaim()
            .call()
            .await
            .map_err(|e| L1Error::from_contract(R, "getProofClaim", e))?;
        Ok((c.prover != Address::ZERO).then_some(c))
    }

    pub async fn can_prune(&self) -> Result<bool, L1Error> {
        self.inner
            .canPrune()
            .call()
            .await
            .map_err(|e| L1Error::from_contract(R, "canPrune", e))
    }

    /// The slot of the latest L1 block.
    pub async fn current_slot(&self) -> Result<u64, L1Error> {
        self.inner
            .getCurrentSlot()
            .call()
            .await
            .map(u64_of)
            .map_err(|e| L1Error::from_contract(R, "getCurrentSlot", e))
    }

    pub async fn current_epoch(&self) -> Result<u64, L1Error> {
        self.inner
            .getCurrentEpoch()
            .call()
            .await
            .map(u64_of)
            .map_err(|e| L1Error::from_contract(R, "getCurrentEpoch", e))
    }

    /// Fees `account` has earned and not claimed.
    pub async fn fees_of(&self, account: Address) -> Result<U256, L1Error> {
        self.inner
            .fees(account)
            .call()
            .await
            .map_err(|e| L1Error::from_contract(R, "fees", e))
    }

    /// The EIP-712 digest the Rollup computes for a quote.
    pub async fn quote_digest(&self, quote: Rollup::EpochProofQuote) -> Result<B256, L1Error> {
        self.inner
            .quoteToDigest(quote)
            .call()
            .await
            .map_err(|e| L1Error::from_contract(R, "quoteToDigest", e))
    }

    /// The public inputs the Rollup would pass to the verifier for this submission (and
    /// the named error of the first check that fails).
    pub async fn epoch_proof_public_inputs(
        &self,
        epoch: u64,
        end_block: u64,
        args: EpochProofPublicInputs,
    ) -> Result<Vec<B256>, L1Error> {
        self.inner
            .getEpochProofPublicInputs(U256::from(epoch), U256::from(end_block), args)
            .call()
            .await
            .map_err(|e| L1Error::from_contract(R, "getEpochProofPublicInputs", e))
    }

    /// The out hash of pending blocks `start..=end`.
    pub async fn epoch_out_hash(&self, start: u64, end: u64) -> Result<B256, L1Error> {
        self.inner
            .computeEpochOutHash(U256::from(start), U256::from(end))
            .call()
            .await
            .map_err(|e| L1Error::from_contract(R, "computeEpochOutHash", e))
    }

    /// Every Rollup event in L1 blocks `from..=to`, in chain order.
    pub async fn events(&self, from: u64, to: u64) -> Result<Vec<L1Log<RollupEvents>>, L1Error> {
        read_events(self.inner.provider(), R, self.address(), from, to).await
    }

    /// The blocks proposed in L1 blocks `from..=to`, each with its full header, tx hashes
    /// and body.
    pub async fn proposed_blocks(
        &self,
        from: u64,
        to: u64,
    ) -> Result<Vec<L1Log<L2BlockProposed>>, L1Error> {
        let filter = Filter::new()
            .address(self.address())
            .event_signature(L2BlockProposed::SIGNATURE_HASH)
            .from_block(from)
            .to_block(to);
        let logs = self
            .inner
            .provider()
            .get_logs(&filter)
            .await
            .map_err(|e| L1Error::from_contract(R, "eth_getLogs", e.into()))?;
        logs.iter()
            .map(|log| {
                L2BlockProposed::decode_raw_log(log.topics(), &log.data().data)
                    .map(|ev| L1Log::from_log(ev, log))
                    .map_err(|e| L1Error::from_contract(R, "decode L2BlockProposed", e.into()))
            })
            .collect()
    }
}
