//! The epoch monitor: decides which epochs to bid for, makes sure the escrow can cover the
//! bond, signs and sends EpochProofQuotes, and notices who L1 gave the claim to.
//!
//! An epoch becomes biddable once it has ended: in the next epoch, until its claim
//! deadline, the sequencer claims it on L1 with the best quote it collected (lowest fee,
//! then largest bond). So on every round — a poll of L1, or sooner when the archiver
//! reports new blocks — the monitor looks at epoch `current - 1` and quotes it once when
//!
//! - its claim window is open and nobody holds its claim;
//! - the archive has caught up with L1's pending tip (so the epoch's blocks, and with them
//!   its fees, are complete) and some of its blocks are unproven;
//! - the [`QuotePolicy`] agrees: the expected fee share (per block, as the Rollup pays it)
//!   reaches `min_fee_reward`, and fewer than `max_parallel_epochs` epochs are being
//!   proved now;
//! - the escrow holds the bond as free deposit, topped up from the token balance when
//!   `auto_deposit` is on. A quote whose bond is not there would only be skipped by the
//!   sequencer, so none is sent: [`MonitorEvent::FundsShort`] says what is missing.
//!
//! Claims are read from L1 (`getProofClaim`), never inferred from having quoted: a claim
//! with our address is [`MonitorEvent::Claimed`] with `ours: true` (the node starts
//! proving on that), anyone else's settles our quote as lost. A quote that outlives its
//! validity or the claim window unclaimed is expired.
//!
//! The prover's key signs quotes and escrow transactions; it is never logged, nor shown by
//! any `Debug` here (only its address is).

mod escrow;
mod metrics;
mod policy;
mod record;
mod route;

pub use policy::{expected_reward, mesh_capacity, QuotePolicy, SkipReason, MAX_BPS};
pub use record::{MonitorEvent, MonitorHandle, QuoteFate, QuoteRecord};
pub use route::QuoteRoute;

use alloy::eips::BlockId;
use alloy::primitives::{Address, U256};
use alloy::providers::DynProvider;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::Eip712Domain;
use escrow::{BondAccount, Coverage};
use metrics::metrics;
use provemesh_archiver::{ChainEvent, L2BlockSource};
use provemesh_l1::bindings::ProofCommitmentEscrow;
use provemesh_l1::{
    quote_domain, sign_quote, Deployment, EpochProofQuote, L1Error, RollupContract, RollupTiming,
};
use record::{ClaimSeen, KEEP_EPOCHS};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn, Instrument};

/// Attempts to deliver a quote (transport errors only; a refusal is final), all within the
/// epoch's claim window.
const SEND_ATTEMPTS: usize = 4;

/// Counts the epochs being proved now.
pub type CapacityProbe = Arc<dyn Fn() -> usize + Send + Sync>;

/// The agents present on the mesh now (`Broker::agents`), or why they cannot be read.
pub type ProversProbe = Arc<
    dyn Fn() -> futures::future::BoxFuture<
            'static,
            Result<Vec<provemesh_common::AgentPresence>, String>,
        > + Send
        + Sync,
>;

/// The agents' backend of real proofs (`MonitorConfig::backend`).
pub const REAL_BACKEND: &str = "bb";

/// A probe answering a fixed set of agents (tests, and nodes that take their capacity on
/// trust).
pub fn fixed_provers(agents: Vec<provemesh_common::AgentPresence>) -> ProversProbe {
    Arc::new(move || {
        let a = agents.clone();
        Box::pin(async move { Ok(a) })
    })
}

/// One agent of `backend` pulling every epoch proof type with `concurrency` slots.
pub fn full_agent(backend: &str, concurrency: u32) -> provemesh_common::AgentPresence {
    provemesh_common::AgentPresence {
        agent: provemesh_common::AgentId(format!("{backend}-agent")),
        proof_types: provemesh_common::ProofType::EPOCH_TREE.to_vec(),
        concurrency,
        backend: backend.into(),
        in_flight: 0,
        seen_at_ms: provemesh_common::unix_millis(),
    }
}

/// The block the node cannot execute as L1 recorded it, and why (the world state
/// synchronizer's stuck block), if any: no epoch ending at or after it can be proved.
pub type UnprovableProbe = Arc<dyn Fn() -> Option<(u64, String)> + Send + Sync>;

/// What the monitor is built from.
pub struct MonitorConfig<S> {
    /// The Rollup, for reads (slot, claim, tips, timing).
    pub rollup: RollupContract<DynProvider>,
    /// Signs with `signer`: the escrow's approve/deposit when auto-deposit is on.
    pub wallet: DynProvider,
    /// The contracts: the chain id (quotes' EIP-712 domain), escrow and bond token.
    pub deployment: Deployment,
    /// PROVER_PUBLISHER_PRIVATE_KEY: signs the quotes; the quotes' prover is its address.
    /// Never logged.
    pub signer: PrivateKeySigner,
    pub policy: QuotePolicy,
    pub route: QuoteRoute,
    /// Where the epochs' blocks are read (the archiver).
    pub source: Arc<S>,
    /// How many epochs are being proved now, for `max_parallel_epochs`.
    pub in_progress: CapacityProbe,
    /// What the node cannot execute: no bid for an epoch it could not prove.
    pub unprovable: UnprovableProbe,
    /// The agents on the mesh: no bid without agents that can prove the epoch, and no more
    /// epochs at once than their job slots.
    pub provers: ProversProbe,
    /// The backend the node's jobs need (`simulated`, `bb`).
    pub backend: &'static str,
    /// How often L1 is read.
    pub poll_interval: Duration,
}

impl<S> std::fmt::Debug for MonitorConfig<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonitorConfig")
            .field("rollup", &self.rollup.address())
            .field("deployment", &self.deployment)
            .field("prover", &self.signer.address())
            .field("policy", &self.policy)
            .field("route", &self.route)
            .field("poll_interval", &self.poll_interval)
            .finish_non_exhaustive()
    }
}

/// Why the monitor stopped, or why one round failed (logged, retried next round).
#[derive(Debug, thiserror::Error)]
pub enum QuoteError {
    /// A setting the Rollup (or the monitor) cannot work with.
    #[error("epoch monitor configuration: {field}: {reason}")]
    Config { field: &'static str, reason: String },
    /// The deployment disagrees with L1 (a stale or foreign deployment file).
    #[error("the deployment's {what} is {configured}, L1 says {on_l1}")]
    WrongDeployment {
        what: &'static str,
        configured: Address,
        on_l1: Address,
    },
    #[error(transparent)]
    L1(#[from] L1Error),
    #[error("L2 block source: {0}")]
    Source(String),
}

impl QuoteError {
    /// A configuration the Rollup would never accept, as opposed to an L1 or archive
    /// hiccup.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            QuoteError::Config { .. } | QuoteError::WrongDeployment { .. }
        )
    }
}

/// Bids for epochs and follows their claims. See the module documentation.
pub struct EpochMonitor<S> {
    config: MonitorConfig<S>,
    handle: MonitorHandle,
}

impl<S> std::fmt::Debug for EpochMonitor<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.config.fmt(f)
    }
}

/// What the monitor reads from L1 once at start.
struct Deployed {
    timing: RollupTiming,
    domain: Eip712Domain,
}

/// What one run remembers besides the record.
#[derive(Default)]
struct RoundState {
    /// Epochs whose claim was reported.
    claims_seen: BTreeSet<u64>,
    /// Epochs not bid for, by the last reason reported: below the minimum reward is
    /// final (an ended epoch's fees do not change); at capacity and short of funds are
    /// checked again each round and reported once.
    skipped: BTreeMap<u64, &'static str>,
    last_error: Option<String>,
}

/// How an epoch short of bond funds is reported among skips (logs, metrics).
const FUNDS_SHORT: &str = "funds_short";

impl RoundState {
    fn forget_old(&mut self, current_epoch: u64) {
        let keep_from = current_epoch.saturating_sub(KEEP_EPOCHS as u64);
        self.claims_seen = self.claims_seen.split_off(&keep_from);
        self.skipped = self.skipped.split_off(&keep_from);
    }

    /// Whether `epoch` is newly skipped for `reason` (so to be reported).
    fn newly_skipped(&mut self, epoch: u64, reason: &'static str) -> bool {
        self.skipped.insert(epoch, reason) != Some(reason)
    }

    /// Logs a round's error once until it changes or a round succeeds: a failing L1
    /// should not fill the log every poll.
    fn log_error(&mut self, msg: String) {
        if self.last_error.as_deref() != Some(&msg) {
            warn!("epoch monitor: {msg} (retrying)");
            self.last_error = Some(msg);
        }
    }
}

impl<S: L2BlockSource + 'static> EpochMonitor<S> {
    /// A monitor of `config.rollup` bidding as `config.signer`. Nothing runs until
    /// [`EpochMonitor::run`].
    pub fn new(config: MonitorConfig<S>) -> Self {
        EpochMonitor {
            config,
            handle: MonitorHandle::new(),
        }
    }

    /// Quotes and events, readable after [`EpochMonitor::run`] took the monitor.
    pub fn handle(&self) -> MonitorHandle {
        self.handle.clone()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<MonitorEvent> {
        self.handle.subscribe()
    }

    pub fn quotes(&self) -> Vec<QuoteRecord> {
        self.handle.quotes()
    }

    fn prover(&self) -> Address {
        self.config.signer.address()
    }

    /// Bids and follows claims until `shutdown` (then `Ok`). Fails only on a configuration
    /// it cannot work with ([`QuoteError::is_fatal`]); L1 and archive errors are logged and
    /// retried each round.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), QuoteError> {
        if self.config.poll_interval.is_zero() {
            return Err(QuoteError::Config {
                field: "poll_interval",
                reason: "must be more than zero".into(),
            });
        }
        let mut tick = tokio::time::interval(self.config.poll_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut state = RoundState::default();
        let deployed = loop {
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = tick.tick() => {}
            }
            match self.read_deployment().await {
                Ok(d) => break d,
                Err(e) if e.is_fatal() => {
                    error!("epoch monitor stops: {e}");
                    return Err(e);
                }
                Err(e) => state.log_error(format!("start: {e}")),
            }
        };
        info!(
            prover = %self.prover(),
            route = self.config.route.name(),
            fee_bps = self.config.policy.basis_point_fee,
            bond = %self.config.policy.bond_amount,
            escrow = %self.config.deployment.escrow,
            "epoch monitor running"
        );
        let mut chain = Some(self.config.source.subscribe());
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = tick.tick() => {}
                ev = next_chain_event(&mut chain) => match ev {
                    // New blocks may complete the view of an ended epoch: look now.
                    Ok(ChainEvent::BlocksAdded { .. })
                    | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Closed) => {
                        chain = None;
                        continue;
                    }
                },
            }
            match self.round(&deployed, &mut state, &shutdown).await {
                Ok(()) => state.last_error = None,
                Err(e) => state.log_error(e.to_string()),
            }
        }
    }

    async fn read_deployment(&self) -> Result<Deployed, QuoteError> {
        let rollup = &self.config.rollup;
        let timing = rollup.timing().await?;
        let r = rollup.instance();
        let min_bond = r
            .MIN_BOND_AMOUNT()
            .call()
            .await
            .map_err(|e| L1Error::from_contract("Rollup", "MIN_BOND_AMOUNT", e))?;
        self.config.policy.check(min_bond)?;
        // The claim stakes the bond from the Rollup's escrow, in its token: a deposit
        // anywhere else would never back a quote.
        let d = &self.config.deployment;
        let escrow = r
            .PROOF_COMMITMENT_ESCROW()
            .call()
            .await
            .map_err(|e| L1Error::from_contract("Rollup", "PROOF_COMMITMENT_ESCROW", e))?;
        let token = ProofCommitmentEscrow::new(escrow, r.provider())
            .token()
            .call()
            .await
            .map_err(|e| L1Error::from_contract("ProofCommitmentEscrow", "token", e))?;
        for (what, configured, on_l1) in [
            ("escrow (Rollup.PROOF_COMMITMENT_ESCROW)", d.escrow, escrow),
            ("bond token (ProofCommitmentEscrow.token)", d.token, token),
        ] {
            if configured != on_l1 {
                return Err(QuoteError::WrongDeployment {
                    what,
                    configured,
                    on_l1,
                });
            }
        }
        Ok(Deployed {
            timing,
            domain: quote_domain(self.config.deployment.chain_id, rollup.address()),
        })
    }

    /// One look at L1: settle claims and expiries, then bid for the ended epoch if due.
    async fn round(
        &self,
        d: &Deployed,
        state: &mut RoundState,
        shutdown: &CancellationToken,
    ) -> Result<(), QuoteError> {
        // The slot a transaction sent now lands in (on an idle chain the latest block's
        // clock stands still), as the sequencer reckons it.
        let slot: u64 = self
            .config
            .rollup
            .instance()
            .getCurrentSlot()
            .block(BlockId::pending())
            .call()
            .await
            .map_err(|e| L1Error::from_contract("Rollup", "getCurrentSlot", e))?
            .saturating_to();
        if let Some(claim) = self.config.rollup.proof_claim().await? {
            self.notice_claim(ClaimSeen::from(&claim), state);
        }
        for epoch in self.handle.expire(slot, &d.timing) {
            info!(epoch, slot, "our quote expired unclaimed");
            metrics().expired();
        }

        let current = d.timing.epoch_at_slot(slot);
        state.forget_old(current);
        let Some(epoch) = current.checked_sub(1) else {
            return Ok(());
        };
        if slot >= d.timing.claim_deadline(epoch)
            || self.handle.quoted(epoch)
            || state.claims_seen.contains(&epoch)
            || state.skipped.get(&epoch) == Some(&SkipReason::BELOW_MIN_REWARD)
        {
            return Ok(());
        }
        self.consider(epoch, slot, d, state, shutdown)
            .instrument(tracing::info_span!("quote", epoch))
            .await
    }

    fn notice_claim(&self, claim: ClaimSeen, state: &mut RoundState) {
        if !state.claims_seen.insert(claim.epoch) {
            return;
        }
        let me = self.prover();
        let ours = claim.prover == me;
        let had_quote = self.handle.settle_claim(&claim, me);
        if had_quote {
            metrics().claimed(ours);
        }
        info!(
            epoch = claim.epoch,
            prover = %claim.prover,
            ours,
            our_quote = had_quote,
            fee_bps = claim.basis_point_fee,
            bond = %claim.bond,
            "epoch proof right claimed on L1"
        );
        self.handle.emit(MonitorEvent::Claimed {
            epoch: claim.epoch,
            prover: claim.prover,
            ours,
            bond: claim.bond,
            basis_point_fee: claim.basis_point_fee,
        });
    }

    /// Applies the policy to ended `epoch` and quotes it if it passes.
    async fn consider(
        &self,
        epoch: u64,
        slot: u64,
        d: &Deployed,
        state: &mut RoundState,
        shutdown: &CancellationToken,
    ) -> Result<(), QuoteError> {
        let l1_tips = self.config.rollup.tips().await?;
        let source_err = |e: S::Error| QuoteError::Source(e.to_string());
        let archive_tips = self.config.source.tips().await.map_err(source_err)?;
        if archive_tips.pending < l1_tips.pending {
            debug!(
                archive = archive_tips.pending,
                l1 = l1_tips.pending,
                "archive behind L1: the epoch's blocks may be incomplete"
            );
            return Ok(());
        }
        let blocks = self
            .config
            .source
            .blocks_of_epoch(epoch)
            .await
            .map_err(source_err)?;
        let unproven: Vec<_> = blocks
            .iter()
            .filter(|b| b.number > l1_tips.proven)
            .collect();
        if unproven.is_empty() {
            return Ok(());
        }

        let expected = expected_reward(
            unproven.iter().map(|b| b.header.totalFees),
            self.config.policy.basis_point_fee,
        );
        if expected < self.config.policy.min_fee_reward {
            let minimum = self.config.policy.min_fee_reward;
            let reason = SkipReason::BelowMinimumReward { expected, minimum };
            self.skip(epoch, reason, state);
            return Ok(());
        }
        if let Some((block, reason)) = (self.config.unprovable)() {
            let last = unproven.last().map_or(0, |b| b.number);
            if block <= last {
                self.skip(epoch, SkipReason::Unprovable { block, reason }, state);
                return Ok(());
            }
        }
        // Real proofs: the circuits' sizes bound what can be proved at all.
        if self.config.backend == REAL_BACKEND {
            let too_big = unproven.iter().find_map(|b| {
                let txs = usize::try_from(b.header.contentCommitment.numTxs).unwrap_or(usize::MAX);
                provemesh_orchestrator::unprovable_block(txs).map(|r| (b.number, r))
            });
            let too_long = provemesh_orchestrator::unprovable_epoch(unproven.len())
                .map(|r| (unproven.last().map_or(0, |b| b.number), r));
            if let Some((block, reason)) = too_big.or(too_long) {
                self.skip(epoch, SkipReason::Unprovable { block, reason }, state);
                return Ok(());
            }
        }
        let agents = match (self.config.provers)().await {
            Ok(a) => a,
            Err(e) => {
                let reason = format!("cannot read the agents on the mesh: {e}");
                self.skip(epoch, SkipReason::NoProvers { reason }, state);
                return Ok(());
            }
        };
        let slots = match mesh_capacity(&agents, self.config.backend) {
            Ok(n) => n,
            Err(reason) => {
                self.skip(epoch, SkipReason::NoProvers { reason }, state);
                return Ok(());
            }
        };
        let proving = (self.config.in_progress)();
        let max = self.config.policy.max_parallel_epochs.min(slots);
        if proving >= max {
            self.skip(epoch, SkipReason::AtCapacity { proving, max }, state);
            return Ok(());
        }

        let need = self.config.policy.bond_amount;
        let account = BondAccount {
            wallet: &self.config.wallet,
            prover: self.prover(),
            escrow: self.config.deployment.escrow,
            token: self.config.deployment.token,
        };
        match account.cover(need, self.config.policy.auto_deposit).await? {
            Coverage::Covered { deposited } if deposited > U256::ZERO => {
                info!(deposited = %deposited, "escrow deposit topped up to the bond");
            }
            Coverage::Covered { .. } => {}
            Coverage::Short { have, why } => {
                if state.newly_skipped(epoch, FUNDS_SHORT) {
                    error!(
                        need = %need,
                        have = %have,
                        "not bidding: the bond needs {need} bond tokens, the prover {} has {have} ({why}); deposit the difference in the escrow {}",
                        self.prover(),
                        self.config.deployment.escrow
                    );
                    metrics().skipped(FUNDS_SHORT);
                    self.handle
                        .emit(MonitorEvent::FundsShort { epoch, need, have });
                }
                return Ok(());
            }
        }
        info!(
            blocks = unproven.len(),
            expected_reward = %expected,
            "bidding for the epoch"
        );
        self.quote(epoch, slot, d, shutdown).await
    }

    fn skip(&self, epoch: u64, reason: SkipReason, state: &mut RoundState) {
        if !state.newly_skipped(epoch, reason.kind()) {
            return;
        }
        info!(kind = reason.kind(), "not bidding for the epoch: {reason}");
        metrics().skipped(reason.kind());
        self.handle
            .emit(MonitorEvent::QuoteSkipped { epoch, reason });
    }

    /// Signs and sends the quote for `epoch`, and records how it went.
    async fn quote(
        &self,
        epoch: u64,
        slot: u64,
        d: &Deployed,
        shutdown: &CancellationToken,
    ) -> Result<(), QuoteError> {
        let valid_until_slot = slot.saturating_add(self.config.policy.validity_slots);
        let quote = EpochProofQuote {
            epochToProve: U256::from(epoch),
            validUntilSlot: U256::from(valid_until_slot),
            bondAmount: self.config.policy.bond_amount,
            basisPointFee: self.config.policy.basis_point_fee,
            prover: self.prover(),
        };
        let signed = sign_quote(&self.config.signer, quote, &d.domain).await?;
        let sent_at_ms = unix_ms();
        // Delivery is worth something only while the sequencer can still claim.
        let deadline_slot = d.timing.claim_deadline(epoch);
        let window =
            Duration::from_secs(deadline_slot.saturating_sub(slot) * d.timing.slot_duration);
        let route = self.config.route.name();
        let delivery =
            tokio::time::timeout(window, self.config.route.deliver(&signed, SEND_ATTEMPTS));
        let fate = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            r = delivery => match r {
                Ok(Ok(())) => QuoteFate::Pending,
                Ok(Err(fate)) => fate,
                Err(_) => QuoteFate::Undelivered {
                    reason: format!(
                        "not delivered before the claim window closed (slot {deadline_slot})"
                    ),
                },
            },
        };
        match &fate {
            QuoteFate::Pending => {
                info!(
                    route,
                    fee_bps = self.config.policy.basis_point_fee,
                    bond = %self.config.policy.bond_amount,
                    valid_until_slot,
                    "epoch proof quote sent"
                );
                metrics().sent(route);
                self.handle.emit(MonitorEvent::QuoteSent {
                    epoch,
                    basis_point_fee: self.config.policy.basis_point_fee,
                    bond: self.config.policy.bond_amount,
                    valid_until_slot,
                });
            }
            QuoteFate::Refused { reason } => {
                warn!(route, "epoch proof quote refused: {reason}");
                metrics().failed(route, "refused");
            }
            QuoteFate::Undelivered { reason } => {
                warn!(route, "epoch proof quote not delivered: {reason}");
                metrics().failed(route, "undelivered");
            }
            QuoteFate::Won | QuoteFate::Lost { .. } | QuoteFate::Expired => {}
        }
        self.handle.record(QuoteRecord {
            epoch,
            basis_point_fee: self.config.policy.basis_point_fee,
            bond: self.config.policy.bond_amount,
            valid_until_slot,
            route,
            sent_at_ms,
            fate,
        });
        Ok(())
    }
}

/// The next archiver event; never, once the stream ended.
async fn next_chain_event(
    rx: &mut Option<broadcast::Receiver<ChainEvent>>,
) -> Result<ChainEvent, broadcast::error::RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use provemesh_archiver::Archiver;

    #[test]
    fn the_key_never_shows_in_debug() {
        // reqwest, under the providers, wants a process-wide TLS provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let signer = PrivateKeySigner::random();
        let key = alloy::primitives::hex::encode(signer.to_bytes());
        let url: url::Url = "http://127.0.0.1:1".parse().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let deployment = Deployment {
            chain_id: 31337,
            token: Address::repeat_byte(1),
            escrow: Address::repeat_byte(2),
            verifier: Address::repeat_byte(3),
            inbox: Address::repeat_byte(4),
            outbox: Address::repeat_byte(5),
            rollup: Address::repeat_byte(6),
            rollup_l1_block: 0,
            governance_proposer: Address::ZERO,
        };
        let archiver = Archiver::open(provemesh_archiver::ArchiverConfig::for_deployment(
            vec![url.clone()],
            &deployment,
            dir.path(),
        ))
        .unwrap();
        let monitor = EpochMonitor::new(MonitorConfig {
            rollup: RollupContract::new(
                deployment.rollup,
                provemesh_l1::read_provider(url.clone()),
            ),
            wallet: provemesh_l1::wallet_provider(url, signer.clone()),
            deployment,
            signer: signer.clone(),
            policy: QuotePolicy {
                basis_point_fee: 100,
                bond_amount: U256::from(1_000),
                min_fee_reward: U256::ZERO,
                max_parallel_epochs: 1,
                validity_slots: 4,
                auto_deposit: true,
            },
            route: QuoteRoute::Http(
                provemesh_p2p::http_client("http://127.0.0.1:1", Duration::from_secs(1)).unwrap(),
            ),
            source: Arc::new(archiver),
            in_progress: Arc::new(|| 0),
            unprovable: Arc::new(|| None),
            provers: fixed_provers(vec![full_agent("simulated", 4)]),
            backend: "simulated",
            poll_interval: Duration::from_secs(1),
        });
        let shown = format!("{monitor:?}");
        assert!(!shown.contains(&key), "{shown}");
        assert!(
            shown.contains(&format!("{:?}", signer.address())),
            "{shown}"
        );
    }
}
