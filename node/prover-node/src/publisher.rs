//! The L1 publisher: the last step of an epoch's life in the prover node. The proving job
//! hands it the root rollup proof and the epoch's public inputs; it gets them onto L1 with
//! `Rollup.submitEpochRootProof` exactly once, whatever happens to the node or its L1
//! endpoints meanwhile.
//!
//! - **Once, also across restarts.** A proof L1 already has (proven tip ≥ the epoch's end
//!   block) is never sent again. Before a transaction is broadcast, its nonce and hash are
//!   written to a small journal file per epoch ([`journal`]); a publish that finds a journal
//!   (a restarted node) first looks for a receipt of every recorded hash, and otherwise keeps
//!   replacing the same nonce, so at most one of its transactions can land.
//! - **No fee for a certain revert.** Every transaction is estimated first (`eth_estimateGas`
//!   runs the call); a revert is returned as [`PublishError::Rejected`] with the Rollup's
//!   named error and is not retried.
//! - **Stuck transactions are replaced.** EIP-1559 fees from the node, an explicit nonce; a
//!   transaction not mined within `confirmation_timeout` is re-sent with the same nonce and
//!   fees raised by `fee_bump_percent` (never above `max_fee_per_gas`).
//! - **Endpoints fail over** in `ETHEREUM_HOSTS` order ([`endpoints`]); only their scheme,
//!   host and port ever reach an error or a log line, and the signing key never does.

mod config;
mod endpoints;
mod error;
mod fees;
mod journal;
mod metrics;

use self::endpoints::{CallError, Endpoints};
use self::fees::{next_fees, Broadcast, Fees};
use self::journal::Journal;
use self::metrics::{metrics, Outcome};
use alloy::eips::eip2718::Encodable2718;
use alloy::network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder};
use alloy::primitives::{Address, Bytes, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::{BlockId, TransactionRequest};
use alloy::sol_types::SolCall;
use provemesh_l1::bindings::Rollup;
use provemesh_l1::EpochProofPublicInputs;
use std::fmt;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn, Instrument};

pub use self::config::{PublisherConfig, MIN_FEE_BUMP_PERCENT};
pub use self::error::PublishError;
pub use self::journal::{InFlight, SentTx};

/// Headroom over `eth_estimateGas`: the estimate is exact for the state it ran on, and the
/// state a transaction lands on can differ (fees distributed to more coinbases, a cold slot).
const GAS_LIMIT_MARGIN_PERCENT: u64 = 20;

/// An epoch's root proof as `submitEpochRootProof` takes it.
#[derive(Debug, Clone)]
pub struct EpochSubmission {
    pub epoch: u64,
    /// The epoch's last block: the proven tip once the proof lands.
    pub end_block: u64,
    pub args: EpochProofPublicInputs,
    pub proof: Bytes,
}

/// How a publish ended well.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// One of this publisher's transactions (`attempts` sent for it, replacements included,
    /// across restarts) landed and proved the epoch.
    Submitted {
        tx_hash: B256,
        l1_block: u64,
        gas_used: u64,
        attempts: u32,
    },
    /// L1's proven chain already covers the epoch: nothing was sent.
    AlreadyProven { proven_tip: u64 },
}

/// Publishes epoch root proofs to L1 for one prover account. One publish runs at a time
/// (they share the account's nonces); clones are not offered on purpose — share it in an
/// `Arc`.
pub struct L1Publisher {
    l1: Endpoints,
    journal: Journal,
    rollup: Address,
    address: Address,
    wallet: EthereumWallet,
    chain_id: tokio::sync::OnceCell<u64>,
    confirmation_timeout: Duration,
    fee_bump_percent: u64,
    max_fee_per_gas: Option<u128>,
    max_attempts: u32,
    poll_interval: Duration,
    serial: tokio::sync::Mutex<()>,
}

impl fmt::Debug for L1Publisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("L1Publisher")
            .field("l1", &self.l1.hosts())
            .field("rollup", &self.rollup)
            .field("address", &self.address)
            .field("journal", &self.journal.dir())
            .finish_non_exhaustive()
    }
}

/// What the journaled transactions came to.
enum Landed {
    Submitted(Published),
    Reverted(B256),
}

impl L1Publisher {
    /// Checks the configuration and creates the journal directory; connects to nothing yet.
    pub fn new(cfg: PublisherConfig) -> Result<Self, PublishError> {
        cfg.validate()?;
        let journal = Journal::open(cfg.journal_dir.clone())?;
        Ok(L1Publisher {
            l1: Endpoints::new(&cfg.l1_urls),
            journal,
            rollup: cfg.rollup,
            address: cfg.signer.address(),
            wallet: EthereumWallet::from(cfg.signer),
            chain_id: tokio::sync::OnceCell::new(),
            confirmation_timeout: cfg.confirmation_timeout,
            fee_bump_percent: cfg.fee_bump_percent,
            max_fee_per_gas: cfg.max_fee_per_gas,
            max_attempts: cfg.max_attempts,
            poll_interval: cfg.poll_interval,
            serial: tokio::sync::Mutex::new(()),
        })
    }

    /// The account that signs and pays.
    pub fn address(&self) -> Address {
        self.address
    }

    /// The transactions of `epoch` a publish has sent and not yet seen land (from the
    /// journal), for operators and tests.
    pub async fn in_flight(&self, epoch: u64) -> Result<Option<InFlight>, PublishError> {
        self.journal.load(epoch).await
    }

    /// Gets `s` onto L1, or finds it already there. Cancel-safe: `cancel` (or dropping the
    /// future) leaves the journal consistent, and the next publish of the epoch picks up
    /// whatever was broadcast.
    pub async fn publish(
        &self,
        s: &EpochSubmission,
        cancel: &CancellationToken,
    ) -> Result<Published, PublishError> {
        let span = tracing::info_span!("l1_publish", epoch = s.epoch, end_block = s.end_block);
        async {
            let _one_at_a_time = tokio::select! {
                g = self.serial.lock() => g,
                () = cancel.cancelled() => return Err(PublishError::Cancelled { epoch: s.epoch }),
            };
            let result = self.run(s, cancel).await;
            metrics().publish(Outcome::of(&result));
            match &result {
                Ok(Published::Submitted {
                    tx_hash,
                    l1_block,
                    gas_used,
                    attempts,
                }) => info!(%tx_hash, l1_block, gas_used, attempts, "root proof landed on L1"),
                Ok(Published::AlreadyProven { proven_tip }) => {
                    info!(proven_tip, "L1 already has the epoch proven; nothing sent")
                }
                Err(e) => warn!(error = %e, "publishing the root proof failed"),
            }
            result
        }
        .instrument(span)
        .await
    }

    async fn run(
        &self,
        s: &EpochSubmission,
        cancel: &CancellationToken,
    ) -> Result<Published, PublishError> {
        let epoch = s.epoch;
        let mut resumed = None;
        if let Some(j) = self.journal.load(epoch).await? {
            // The nonce first: a journaled nonce found spent after no receipt turned up was
            // then surely spent by someone else's transaction.
            let spent_below = self.nonce(epoch, false, cancel).await?;
            match self.landed(&j, cancel).await? {
                Some(Landed::Submitted(p)) => {
                    self.journal.remove(epoch).await?;
                    return Ok(p);
                }
                Some(Landed::Reverted(tx_hash)) => {
                    self.journal.remove(epoch).await?;
                    return Err(PublishError::FailedOnChain { epoch, tx_hash });
                }
                None if j.sender != self.address || j.nonce < spent_below => {
                    warn!(
                        nonce = j.nonce,
                        "the journaled nonce was spent by another transaction; starting afresh"
                    );
                    self.journal.remove(epoch).await?;
                }
                None => {
                    info!(
                        nonce = j.nonce,
                        sent = j.sent.len(),
                        "resuming the journaled transactions"
                    );
                    resumed = Some(j);
                }
            }
        }
        if let Some(done) = self.already_proven(s, cancel).await? {
            if resumed.is_some() {
                // Ours may still be mined and revert; it is someone else's proof that counts.
                self.journal.remove(epoch).await?;
            }
            return Ok(done);
        }
        let mut gas_limit = self.preflight(s, cancel).await?;
        let (mut flight, mut last_sent) = match resumed {
            Some(j) => {
                // A journaled transaction no endpoint knows (the node died between journal
                // and broadcast, or the pool dropped it) is replaced at once.
                let last = j.sent.last().map(|t| t.tx_hash).unwrap_or_default();
                let known = self
                    .l1
                    .call(cancel, |p| async move {
                        p.get_transaction_by_hash(last).await.map_err(Into::into)
                    })
                    .await
                    .map_err(|e| PublishError::from_call(epoch, "eth_getTransactionByHash", e))?
                    .is_some();
                (j, known.then(Instant::now))
            }
            None => {
                let nonce = self.nonce(epoch, true, cancel).await?;
                (InFlight::new(epoch, s.end_block, self.address, nonce), None)
            }
        };
        let mut sent_now = 0u32;
        loop {
            if !flight.sent.is_empty() {
                let spent_below = self.nonce(epoch, false, cancel).await?;
                match self.landed(&flight, cancel).await? {
                    Some(Landed::Submitted(p)) => {
                        self.journal.remove(epoch).await?;
                        return Ok(p);
                    }
                    Some(Landed::Reverted(tx_hash)) => {
                        self.journal.remove(epoch).await?;
                        return Err(PublishError::FailedOnChain { epoch, tx_hash });
                    }
                    None if spent_below > flight.nonce => {
                        self.journal.remove(epoch).await?;
                        return Err(PublishError::NonceTaken {
                            epoch,
                            nonce: flight.nonce,
                            sender: self.address,
                        });
                    }
                    None => {}
                }
            }
            if last_sent.is_none_or(|t: Instant| t.elapsed() >= self.confirmation_timeout) {
                if sent_now >= self.max_attempts {
                    return Err(PublishError::NotMined {
                        epoch,
                        nonce: flight.nonce,
                        attempts: sent_now,
                        last_tx: flight.sent.last().map(|t| t.tx_hash).unwrap_or_default(),
                        timeout: self.confirmation_timeout,
                    });
                }
                if !flight.sent.is_empty() {
                    // L1 moved on while ours waited: a rival's proof, a closing window.
                    if let Some(done) = self.already_proven(s, cancel).await? {
                        self.journal.remove(epoch).await?;
                        return Ok(done);
                    }
                    gas_limit = self.preflight(s, cancel).await?;
                }
                self.send(s, &mut flight, gas_limit, cancel).await?;
                last_sent = Some(Instant::now());
                sent_now += 1;
            }
            tokio::select! {
                () = tokio::time::sleep(self.poll_interval) => {}
                () = cancel.cancelled() => return Err(PublishError::Cancelled { epoch }),
            }
        }
    }

    /// `AlreadyProven` when L1's proven tip covers the submission. Reads (like the
    /// pre-flight) the latest block, never `pending`: a pending transaction of ours would
    /// make the epoch look proven, or its replacement look rejected, before anything landed.
    async fn already_proven(
        &self,
        s: &EpochSubmission,
        cancel: &CancellationToken,
    ) -> Result<Option<Published>, PublishError> {
        let rollup = self.rollup;
        let tips = self
            .l1
            .call(cancel, |p| async move {
                Rollup::new(rollup, p)
                    .getTips()
                    .block(BlockId::latest())
                    .call()
                    .await
            })
            .await
            .map_err(|e| PublishError::from_call(s.epoch, "Rollup.getTips", e))?;
        let proven_tip: u64 = tips.provenBlockNumber.saturating_to();
        Ok((proven_tip >= s.end_block).then_some(Published::AlreadyProven { proven_tip }))
    }

    fn calldata(s: &EpochSubmission) -> Bytes {
        Rollup::submitEpochRootProofCall::new((
            U256::from(s.epoch),
            U256::from(s.end_block),
            s.args.clone(),
            s.proof.clone(),
        ))
        .abi_encode()
        .into()
    }

    /// Runs the submission with `eth_estimateGas`: a revert is [`PublishError::Rejected`];
    /// otherwise the gas limit to send with.
    async fn preflight(
        &self,
        s: &EpochSubmission,
        cancel: &CancellationToken,
    ) -> Result<u64, PublishError> {
        let tx = TransactionRequest::default()
            .with_from(self.address)
            .with_to(self.rollup)
            .with_input(Self::calldata(s));
        let gas = self
            .l1
            .call(cancel, |p| {
                let tx = tx.clone();
                async move { p.estimate_gas(tx).latest().await.map_err(Into::into) }
            })
            .await
            .map_err(|e| {
                PublishError::from_call(s.epoch, "eth_estimateGas(submitEpochRootProof)", e)
            })?;
        Ok(gas.saturating_add(gas.saturating_mul(GAS_LIMIT_MARGIN_PERCENT) / 100))
    }

    /// The account's nonce: the next free one counting the pool (`pending`), or the first
    /// not yet mined.
    async fn nonce(
        &self,
        epoch: u64,
        pending: bool,
        cancel: &CancellationToken,
    ) -> Result<u64, PublishError> {
        let a = self.address;
        self.l1
            .call(cancel, |p| async move {
                let q = p.get_transaction_count(a);
                let q = if pending { q.pending() } else { q.latest() };
                q.await.map_err(Into::into)
            })
            .await
            .map_err(|e| PublishError::from_call(epoch, "eth_getTransactionCount", e))
    }

    /// Looks for a receipt of any transaction in `flight`.
    async fn landed(
        &self,
        flight: &InFlight,
        cancel: &CancellationToken,
    ) -> Result<Option<Landed>, PublishError> {
        for sent in &flight.sent {
            let h = sent.tx_hash;
            let receipt = self
                .l1
                .call(cancel, |p| async move {
                    p.get_transaction_receipt(h).await.map_err(Into::into)
                })
                .await
                .map_err(|e| {
                    PublishError::from_call(flight.epoch, "eth_getTransactionReceipt", e)
                })?;
            let Some(r) = receipt else { continue };
            if !r.status() {
                return Ok(Some(Landed::Reverted(h)));
            }
            metrics().landed(r.gas_used, r.effective_gas_price);
            return Ok(Some(Landed::Submitted(Published::Submitted {
                tx_hash: h,
                l1_block: r.block_number.unwrap_or_default(),
                gas_used: r.gas_used,
                attempts: u32::try_from(flight.sent.len()).unwrap_or(u32::MAX),
            })));
        }
        Ok(None)
    }

    /// Signs the next transaction of `flight`, journals it, then broadcasts it.
    async fn send(
        &self,
        s: &EpochSubmission,
        flight: &mut InFlight,
        gas_limit: u64,
        cancel: &CancellationToken,
    ) -> Result<(), PublishError> {
        let epoch = s.epoch;
        let estimate = self
            .l1
            .call(cancel, |p| async move {
                p.estimate_eip1559_fees().await.map_err(Into::into)
            })
            .await
            .map_err(|e| PublishError::from_call(epoch, "eth_feeHistory", e))?;
        let estimate = Fees {
            max_fee_per_gas: estimate.max_fee_per_gas,
            max_priority_fee_per_gas: estimate.max_priority_fee_per_gas,
        };
        let previous = flight.sent.last().map(|t| Fees {
            max_fee_per_gas: t.max_fee_per_gas,
            max_priority_fee_per_gas: t.max_priority_fee_per_gas,
        });
        let Some(fees) = next_fees(
            estimate,
            previous,
            self.fee_bump_percent,
            self.max_fee_per_gas,
        ) else {
            warn!(
                cap = ?self.max_fee_per_gas,
                "no room under the fee cap for a replacement; waiting on the last transaction"
            );
            return Ok(());
        };
        let chain_id = *self
            .chain_id
            .get_or_try_init(|| async {
                self.l1
                    .call(cancel, |p| async move {
                        p.get_chain_id().await.map_err(Into::into)
                    })
                    .await
                    .map_err(|e| PublishError::from_call(epoch, "eth_chainId", e))
            })
            .await?;
        let tx = TransactionRequest::default()
            .with_from(self.address)
            .with_to(self.rollup)
            .with_input(Self::calldata(s))
            .with_chain_id(chain_id)
            .with_nonce(flight.nonce)
            .with_gas_limit(gas_limit)
            .with_max_fee_per_gas(fees.max_fee_per_gas)
            .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas);
        let envelope = tx
            .build(&self.wallet)
            .await
            .map_err(|e| PublishError::Sign {
                epoch,
                message: e.to_string(),
            })?;
        let tx_hash = *envelope.tx_hash();
        let raw = Bytes::from(envelope.encoded_2718());
        let replacement = !flight.sent.is_empty();
        flight.sent.push(SentTx {
            tx_hash,
            max_fee_per_gas: fees.max_fee_per_gas,
            max_priority_fee_per_gas: fees.max_priority_fee_per_gas,
            gas_limit,
        });
        // Journal before broadcast: a transaction on the wire that the journal does not
        // know could land unnoticed while a restarted node sends another.
        self.journal.store(flight).await?;
        let sent = self
            .l1
            .call(cancel, |p| {
                let raw = raw.clone();
                async move {
                    p.send_raw_transaction(&raw)
                        .await
                        .map(|_| ())
                        .map_err(Into::into)
                }
            })
            .await;
        match sent {
            Ok(()) => {}
            Err(CallError::Refused { message, .. }) if Broadcast::of(&message).is_harmless() => {
                // Known already, or the pool keeps an equal one, or the nonce is mined:
                // the receipts tell which.
                info!(%tx_hash, reason = %message, "the node did not take the transaction");
            }
            Err(e) => return Err(PublishError::from_call(epoch, "eth_sendRawTransaction", e)),
        }
        metrics().sent(replacement);
        info!(
            %tx_hash,
            nonce = flight.nonce,
            gas_limit,
            max_fee_per_gas = fees.max_fee_per_gas,
            max_priority_fee_per_gas = fees.max_priority_fee_per_gas,
            replacement,
            "root proof transaction sent"
        );
        Ok(())
    }
}
