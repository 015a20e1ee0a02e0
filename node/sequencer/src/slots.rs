//! The block loop: follows L1 time slot by slot and, in each slot,
//!
//! 1. follows the Rollup's pending chain: when it was pruned (or is due to be: the
//!    sequencer prunes it then, `propose` would anyway), the world state unwinds to the
//!    proven tip and the pruned blocks' txs go back to the pool;
//! 2. in an epoch's claim window, claims the right to prove it with the best valid quote
//!    collected (see [`crate::quotes`]), checking the prover's escrow deposit first;
//! 3. builds at most one block: pending txs in arrival order and the L1→L2 messages of the
//!    block's Inbox bucket, through the tx processor on the world state; proposes it; and
//!    commits the world state only once L1 accepted it (otherwise it rolls back and the
//!    txs stay pending);
//! 4. with GOVERNANCE_PROPOSER_PAYLOAD_ADDRESS set, once its block landed, votes for that
//!    payload on the GovernanceProposer (once per slot it proposed in; a failed vote is a
//!    warning, never a reason to stop building blocks).
//!
//! Slots follow L1 time: "now" is the timestamp anvil will give the next block (its
//! pending block), and a block is only started while at least [`SLOT_MARGIN_SECS`] of its
//! slot remain, so that it lands in the slot it was built for.

use crate::error::SequencerError;
use crate::header::{address_field, b256, propose_args};
use crate::inbox::{InboxFollower, MAX_MESSAGES_PER_BLOCK};
use crate::node::{SequencerConfig, SequencerEvent, Shared};
use alloy::eips::BlockId;
use alloy::primitives::{Address, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::signers::local::PrivateKeySigner;
use provemesh_common::hash::{Fr, GlobalVariables};
use provemesh_common::tx::Tx;
use provemesh_l1::bindings::ProofCommitmentEscrow;
use provemesh_l1::governance::describe_governance_error;
use provemesh_l1::{
    wallet_provider, GovernanceProposerContract, InboxContract, L1Error, RollupContract, Tips,
};
use provemesh_tx_processor::{process_block, BlockToProcess, ProcessedBlock};
use provemesh_world_state::WorldState;
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A block is started only while this many seconds of its slot remain.
pub const SLOT_MARGIN_SECS: u64 = 1;

/// The timestamp the next L1 block will get: anvil's pending block's (wall clock plus
/// any time travel), or the latest block's when there is no pending block.
pub async fn l1_now(provider: &DynProvider) -> Result<u64, SequencerError> {
    let v: serde_json::Value = provider
        .raw_request("eth_getBlockByNumber".into(), ("pending", false))
        .await
        .map_err(|e| SequencerError::L1Time(e.to_string()))?;
    let ts = match v.get("timestamp").and_then(|t| t.as_str()) {
        Some(t) => t.to_string(),
        None => {
            let v: serde_json::Value = provider
                .raw_request("eth_getBlockByNumber".into(), ("latest", false))
                .await
                .map_err(|e| SequencerError::L1Time(e.to_string()))?;
            v.get("timestamp")
                .and_then(|t| t.as_str())
                .ok_or_else(|| SequencerError::L1Time("no timestamp in the latest block".into()))?
                .to_string()
        }
    };
    u64::from_str_radix(ts.trim_start_matches("0x"), 16)
        .map_err(|e| SequencerError::L1Time(format!("timestamp {ts:?}: {e}")))
}

pub(crate) struct SlotLoop {
    shared: Arc<Shared>,
    ws: Arc<Mutex<WorldState>>,
    wallet: DynProvider,
    rollup: RollupContract<DynProvider>,
    inbox: InboxFollower,
    chain_id: u64,
    coinbase: Address,
    fee_recipient: Fr,
    /// A dishonest test sequencer: client proofs are not checked.
    include_invalid_client_proofs: bool,
    client_proofs: crate::node::ClientProofCheck,
    governance_payload: Option<Address>,
    /// Where the votes go; `None` when the deployment has no GovernanceProposer.
    governance: Option<GovernanceProposerContract<DynProvider>>,
    max_txs: usize,
    min_txs: usize,
    poll: Duration,
    last_proposed_slot: Option<u64>,
    claimed: BTreeSet<u64>,
    /// The last transient error logged, so a failing L1 is not logged every poll.
    last_error: Option<String>,
}

fn lock(ws: &Mutex<WorldState>) -> std::sync::MutexGuard<'_, WorldState> {
    // Only the block loop locks it, one blocking task at a time.
    ws.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs `f` on the world state on a blocking thread.
async fn with_ws<T: Send + 'static>(
    ws: &Arc<Mutex<WorldState>>,
    f: impl FnOnce(&mut WorldState) -> T + Send + 'static,
) -> Result<T, SequencerError> {
    let ws = ws.clone();
    tokio::task::spawn_blocking(move || f(&mut lock(&ws)))
        .await
        .map_err(|e| SequencerError::Join(e.to_string()))
}

impl SlotLoop {
    pub(crate) async fn new(
        config: &SequencerConfig,
        key: PrivateKeySigner,
        ws: WorldState,
        shared: Arc<Shared>,
    ) -> Result<Self, SequencerError> {
        let address = key.address();
        let wallet = wallet_provider(config.l1_url.clone(), key);
        let d = config.deployment;
        let inbox = InboxFollower::new(
            InboxContract::new(d.inbox, wallet.clone()),
            d.rollup_l1_block,
        );
        Ok(SlotLoop {
            rollup: RollupContract::new(d.rollup, wallet.clone()),
            inbox,
            chain_id: d.chain_id,
            coinbase: config.coinbase.unwrap_or(address),
            fee_recipient: config.fee_recipient,
            include_invalid_client_proofs: config.include_invalid_client_proofs,
            client_proofs: config.client_proofs.clone(),
            governance_payload: config.governance_payload,
            governance: (d.governance_proposer != Address::ZERO)
                .then(|| GovernanceProposerContract::new(d.governance_proposer, wallet.clone())),
            max_txs: config.max_txs_per_block.max(1),
            min_txs: config.min_txs_per_block,
            poll: config.poll_interval,
            ws: Arc::new(Mutex::new(ws)),
            shared,
            last_proposed_slot: None,
            claimed: BTreeSet::new(),
            last_error: None,
            wallet,
        })
    }

    pub(crate) async fn run(mut self, shutdown: CancellationToken) -> Result<(), SequencerError> {
        match (self.governance_payload, &self.governance) {
            (Some(p), Some(g)) => tracing::info!(
                payload = %p,
                governance_proposer = %g.address(),
                "voting for the governance payload in each slot this sequencer proposes in"
            ),
            (Some(p), None) => tracing::warn!(
                payload = %p,
                "GOVERNANCE_PROPOSER_PAYLOAD_ADDRESS is set, but this deployment has no governance proposer contract: votes are logged each proposed slot, not sent"
            ),
            _ => {}
        }
        loop {
            match self.tick().await {
                Ok(()) => self.last_error = None,
                Err(e) if e.is_fatal() => {
                    tracing::error!("sequencer block loop stops: {e}");
                    return Err(e);
                }
                Err(e) => {
                    let msg = e.to_string();
                    if self.last_error.as_deref() != Some(&msg) {
                        tracing::warn!("sequencer: {msg} (retrying)");
                        self.last_error = Some(msg);
                    }
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = tokio::time::sleep(self.poll) => {}
            }
        }
    }

    async fn tick(&mut self) -> Result<(), SequencerError> {
        let now = l1_now(&self.wallet).await?;
        let timing = self.shared.timing;
        let slot = timing.slot_at(now);
        self.shared.slot.store(slot, Ordering::Release);
        let tips = self.follow_l1().await?;
        if let Err(e) = self.maybe_claim(slot, tips).await {
            tracing::warn!(slot, "claiming an epoch proof right: {e}");
        }
        self.maybe_propose(now, slot).await
    }

    /// Matches the world state to the Rollup's pending chain (unwinding after a prune).
    async fn follow_l1(&mut self) -> Result<Tips, SequencerError> {
        // Asked of the pending block: on an idle anvil the latest block's clock stands
        // still, and a window passes only by the time of the next block.
        let prunable = self
            .rollup
            .instance()
            .canPrune()
            .block(BlockId::pending())
            .call()
            .await
            .map_err(|e| L1Error::from_contract("Rollup", "canPrune", e))?;
        if prunable {
            match self.rollup.prune().await {
                Ok(_) => tracing::info!(
                    "pruned the Rollup's pending chain (its epoch missed its window)"
                ),
                // Someone else pruned first: fine.
                Err(e) => tracing::debug!("prune: {e}"),
            }
        }
        let tips = self.rollup.tips().await?;
        let local = self.shared.tip.load(Ordering::Acquire);
        if tips.pending > local {
            return Err(SequencerError::L1Ahead {
                l1: tips.pending,
                local,
            });
        }
        if tips.pending < local {
            let to = tips.pending;
            with_ws(&self.ws, move |ws| ws.unwind_to(to)).await??;
            self.shared.tip.store(to, Ordering::Release);
            let back = self.shared.pool.unmine_after(to);
            self.last_proposed_slot = None;
            tracing::info!(
                from = local,
                to,
                txs_back = back,
                "L1 pruned the pending chain: world state unwound, txs back in the pool"
            );
            self.shared.emit(SequencerEvent::Pruned {
                to_block: to,
                txs_back: back,
            });
        }
        Ok(tips)
    }

    /// In the claim window of the previous epoch, claims it with the best valid quote.
    async fn maybe_claim(&mut self, slot: u64, tips: Tips) -> Result<(), SequencerError> {
        let timing = self.shared.timing;
        let current = timing.epoch_at_slot(slot);
        if current == 0 {
            return Ok(());
        }
        let epoch = current - 1;
        if slot >= timing.claim_deadline(epoch) || self.claimed.contains(&epoch) {
            return Ok(());
        }
        if tips.pending <= tips.proven {
            return Ok(());
        }
        let first_unproven = self.rollup.block(tips.proven + 1).await?;
        if timing.epoch_at_slot(first_unproven.slotNumber.saturating_to()) != epoch {
            return Ok(());
        }
        if let Some(claim) = self.rollup.proof_claim().await? {
            if claim.epochToProve == U256::from(epoch) {
                self.claimed.insert(epoch);
                return Ok(());
            }
        }
        let escrow = ProofCommitmentEscrow::new(self.shared.deployment.escrow, self.wallet.clone());
        for quote in self.shared.quote_candidates(epoch, slot) {
            let q = &quote.quote;
            let deposit = escrow
                .deposits(q.prover)
                .call()
                .await
                .map_err(|e| L1Error::from_contract("ProofCommitmentEscrow", "deposits", e))?;
            let skip = |reason: String| SequencerEvent::QuoteSkipped {
                epoch,
                prover: q.prover,
                reason,
            };
            if deposit < q.bondAmount {
                let reason = format!("escrow deposit {deposit} below the bond {}", q.bondAmount);
                tracing::info!(epoch, prover = %q.prover, "quote skipped: {reason}");
                self.shared.quote_refused_on_l1(&quote);
                self.shared.emit(skip(reason));
                continue;
            }
            match self.rollup.claim_epoch_proof_right(quote.clone()).await {
                Ok(_) => {
                    tracing::info!(epoch, prover = %q.prover, fee_bps = q.basisPointFee, bond = %q.bondAmount, "epoch proof right claimed");
                    self.claimed.insert(epoch);
                    self.shared.quotes_claimed(epoch);
                    self.shared
                        .stats
                        .epochs_claimed
                        .fetch_add(1, Ordering::Relaxed);
                    self.shared.emit(SequencerEvent::EpochClaimed {
                        epoch,
                        prover: q.prover,
                        basis_point_fee: q.basisPointFee,
                        bond: q.bondAmount,
                    });
                    return Ok(());
                }
                Err(e) => {
                    tracing::warn!(epoch, prover = %q.prover, "the Rollup refused the quote: {e}");
                    self.shared.quote_refused_on_l1(&quote);
                    self.shared.emit(skip(e.to_string()));
                }
            }
        }
        Ok(())
    }

    async fn maybe_propose(&mut self, now: u64, slot: u64) -> Result<(), SequencerError> {
        let timing = self.shared.timing;
        let tip = self.shared.tip.load(Ordering::Acquire);
        if self.last_proposed_slot.is_none() {
            // At start, after a restart or a prune: the Rollup knows the last block's slot
            // (the genesis block's is slot 0, which no proposal may take again).
            self.last_proposed_slot =
                Some(self.rollup.block(tip).await?.slotNumber.saturating_to());
        }
        if self.last_proposed_slot.is_some_and(|s| s >= slot) {
            return Ok(());
        }
        if now + SLOT_MARGIN_SECS >= timing.timestamp_for_slot(slot + 1) {
            return Ok(());
        }
        let number = tip + 1;
        let Some(leaves) = self.inbox.settled_leaves(number).await? else {
            tracing::debug!(block = number, "Inbox bucket still changing; next poll");
            return Ok(());
        };
        if leaves.len() > MAX_MESSAGES_PER_BLOCK {
            return Err(SequencerError::BucketTooLarge {
                block: number,
                count: leaves.len(),
                max: MAX_MESSAGES_PER_BLOCK,
            });
        }
        let txs = self.shared.pool.pending(self.max_txs);
        // min_txs 0: a block every slot, even empty.
        if leaves.is_empty() && txs.len() < self.min_txs {
            return Ok(());
        }
        let block = BlockToProcess {
            global_variables: GlobalVariables {
                chain_id: Fr::from(self.chain_id),
                version: Fr::from(crate::header::ROLLUP_VERSION),
                block_number: number,
                slot_number: slot,
                timestamp: timing.timestamp_for_slot(slot),
                coinbase: address_field(self.coinbase),
                fee_recipient: self.fee_recipient,
            },
            txs: txs.iter().map(|t| Tx::clone(t)).collect(),
            l1_to_l2_messages: leaves
                .iter()
                .map(|l| Fr::from_be_bytes_reduce(l.as_slice()))
                .collect(),
        };
        let dishonest = self.include_invalid_client_proofs;
        let check = self.client_proofs.clone();
        let processed: ProcessedBlock = with_ws(&self.ws, move |ws| {
            if dishonest {
                process_block(ws, &AnyClientProof, &block)
            } else {
                process_block(ws, check.0.as_ref(), &block)
            }
        })
        .await?
        .map_err(|source| SequencerError::Build {
            block: number,
            source,
        })?;
        let rejected: Vec<_> = processed
            .rejected
            .iter()
            .map(|r| (r.tx_hash, r.reason.kind().to_string(), r.reason.to_string()))
            .collect();
        for (hash, kind, reason) in &rejected {
            if let Some(h) = hash {
                tracing::info!(tx = %h, kind, "tx rejected by the block builder: {reason}");
                self.shared.pool.mark_rejected(h, kind, reason);
                self.shared
                    .stats
                    .txs_rejected
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
        if processed.txs.is_empty() && leaves.is_empty() && self.min_txs > 0 {
            with_ws(&self.ws, |ws| ws.rollback()).await??;
            return Ok(());
        }
        let args = propose_args(&processed, &leaves);
        let hashes: Vec<_> = processed.txs.iter().map(|t| t.tx_hash).collect();
        let archive = args.archive;
        match self.rollup.propose(args).await {
            Ok(receipt) => {
                let header = processed.header;
                with_ws(&self.ws, move |ws| ws.commit_block(&header))
                    .await?
                    .map_err(|source| SequencerError::CommitAfterPropose {
                        block: number,
                        source,
                    })?;
                self.shared.tip.store(number, Ordering::Release);
                self.shared.pool.mark_mined(&hashes, number);
                self.last_proposed_slot = Some(slot);
                let s = &self.shared.stats;
                s.blocks_proposed.fetch_add(1, Ordering::Relaxed);
                s.txs_mined
                    .fetch_add(hashes.len() as u64, Ordering::Relaxed);
                tracing::info!(
                    block = number,
                    slot,
                    txs = hashes.len(),
                    rejected = rejected.len(),
                    l1_to_l2_messages = leaves.len(),
                    archive = %archive,
                    "L2 block proposed"
                );
                self.shared.emit(SequencerEvent::BlockProposed {
                    number,
                    slot,
                    txs: hashes,
                    rejected,
                    l1_to_l2_messages: leaves.len(),
                    archive,
                    l1_block: receipt.block_number.unwrap_or_default(),
                });
                debug_assert_eq!(archive, b256(processed.block_root.new_archive.root));
                self.vote(slot).await;
                Ok(())
            }
            Err(e) => {
                with_ws(&self.ws, |ws| ws.rollback()).await??;
                // No block of ours in this slot: no vote either.
                tracing::warn!(
                    block = number,
                    slot,
                    "propose failed, txs stay pending: {e}"
                );
                self.shared.emit(SequencerEvent::ProposeFailed {
                    number,
                    slot,
                    reason: e.to_string(),
                });
                Ok(())
            }
        }
    }

    /// Votes for the governance payload in `slot`, whose block just landed. Only while the
    /// slot lasts (a vote mined in the next slot would count for that one); a failure is
    /// a warning: block production goes on.
    async fn vote(&self, slot: u64) {
        let Some(payload) = self.governance_payload else {
            return;
        };
        let Some(governance) = &self.governance else {
            tracing::info!(slot, payload = %payload, "governance vote for the payload in this slot: not sent (no governance proposer contract in this deployment)");
            return;
        };
        match l1_now(&self.wallet).await {
            Ok(now) if self.shared.timing.slot_at(now) != slot => {
                tracing::warn!(
                    slot,
                    payload = %payload,
                    "governance vote not sent: the slot ended before the block landed"
                );
                return;
            }
            _ => {}
        }
        // Bounded, so that an L1 that does not mine it cannot hold up the next block.
        let within = Duration::from_secs(self.shared.timing.slot_duration.max(1));
        let voted = tokio::time::timeout(within, governance.vote(payload)).await;
        let Ok(voted) = voted else {
            tracing::warn!(slot, payload = %payload, "governance vote not mined within a slot (block production goes on)");
            return;
        };
        match voted {
            Ok(v) => tracing::info!(
                slot,
                round = v.round,
                payload = %payload,
                selected = v.selected,
                "governance vote cast"
            ),
            Err(e) => tracing::warn!(
                slot,
                payload = %payload,
                "governance vote failed (block production goes on): {}",
                describe_governance_error(&e)
            ),
        }
    }
}

/// What a dishonest test sequencer checks of client proofs: nothing.
struct AnyClientProof;

impl provemesh_tx_processor::ClientProofVerifier for AnyClientProof {
    fn verify(
        &self,
        _tx: &provemesh_common::tx::Tx,
    ) -> Result<(), provemesh_common::tx::ClientProofError> {
        Ok(())
    }
}
