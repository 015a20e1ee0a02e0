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
//! - the policy agrees: the expected fee share (per block, as the Rollup pays it:
//!   `totalFees × fee bps / 10 000`) reaches `min_fee_reward`, and fewer than
//!   `max_parallel_epochs` epochs are being proved now;
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

use alloy::eips::BlockId;
use alloy::primitives::{Address, U256};
use alloy::providers::DynProvider;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::Eip712Domain;
use backon::{ExponentialBuilder, Retryable};
use opentelemetry::metrics::Counter;
use opentelemetry::{global, KeyValue};
use provemesh_archiver::{ChainEvent, L2BlockSource};
use provemesh_l1::bindings::ProofCommitmentEscrow;
// The bond token is any ERC-20; `TestERC20`'s binding carries the standard calls used here.
use provemesh_l1::bindings::TestERC20 as Erc20;
use provemesh_l1::{
    quote_domain, sign_quote, EpochProofQuote, L1Error, ProofClaim, RollupContract, RollupTiming,
    SignedEpochProofQuote,
};
use provemesh_p2p::wire::SignedQuoteJson;
use provemesh_p2p::{NodeApiClient, P2pHandle};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn, Instrument};

/// 100% in basis points (`Constants.MAX_BPS`).
pub const MAX_BPS: u32 = 10_000;

/// Epochs whose quote and claim are remembered (for status), besides the current ones.
const KEEP_EPOCHS: usize = 64;

/// How long an escrow transaction (approve, deposit) may take to be mined.
const L1_TX_TIMEOUT: Duration = Duration::from_secs(60);

/// What the prover bids and which epochs it bids for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotePolicy {
    /// The prover's share of the epoch's fees, in basis points (at most 10 000).
    pub basis_point_fee: u32,
    /// The bond staked from the escrow when the quote is claimed (at least the Rollup's
    /// `MIN_BOND_AMOUNT`); slashed if the proof misses its window.
    pub bond_amount: U256,
    /// Epochs whose expected fee share is below this are not bid for.
    pub min_fee_reward: U256,
    /// No bid while this many epochs are being proved (the capacity probe says how many).
    pub max_parallel_epochs: usize,
    /// A quote is valid until the slot it is sent in plus this many slots.
    pub validity_slots: u64,
    /// Top the escrow deposit up to the bond from the prover's token balance
    /// (approve + deposit) when it is short.
    pub auto_deposit: bool,
}

impl QuotePolicy {
    /// Checks the policy against the Rollup's rules, naming the field that is wrong.
    pub fn check(&self, min_bond: U256) -> Result<(), QuoteError> {
        if self.basis_point_fee > MAX_BPS {
            return Err(QuoteError::Policy {
                field: "basis_point_fee",
                reason: format!("{} is above {MAX_BPS} (100%)", self.basis_point_fee),
            });
        }
        if self.bond_amount < min_bond {
            return Err(QuoteError::Policy {
                field: "bond_amount",
                reason: format!(
                    "{} is below the Rollup's MIN_BOND_AMOUNT {min_bond}",
                    self.bond_amount
                ),
            });
        }
        if self.max_parallel_epochs == 0 {
            return Err(QuoteError::Policy {
                field: "max_parallel_epochs",
                reason: "must be at least 1".into(),
            });
        }
        Ok(())
    }
}

/// Where quotes go: the coordination node's JSON-RPC (PROVER_COORDINATION_NODE_URL), or
/// gossip when P2P is on.
#[derive(Clone)]
pub enum QuoteRoute {
    Http(jsonrpsee::http_client::HttpClient),
    P2p(P2pHandle),
}

impl QuoteRoute {
    pub fn name(&self) -> &'static str {
        match self {
            QuoteRoute::Http(_) => "http",
            QuoteRoute::P2p(_) => "p2p",
        }
    }
}

impl std::fmt::Debug for QuoteRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The prover's L1 identity: the key (PROVER_PUBLISHER_PRIVATE_KEY) that signs quotes,
/// and a wallet provider signing with it for the escrow's approve/deposit.
#[derive(Clone)]
pub struct ProverAccount {
    pub signer: PrivateKeySigner,
    pub wallet: DynProvider,
    pub chain_id: u64,
}

impl std::fmt::Debug for ProverAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProverAccount")
            .field("address", &self.signer.address())
            .field("chain_id", &self.chain_id)
            .finish_non_exhaustive()
    }
}

/// How the monitor runs.
#[derive(Debug, Clone)]
pub struct MonitorConfig {
    /// How often L1 is read (claims, slot, tips).
    pub poll_interval: Duration,
    /// Attempts to deliver a quote over HTTP (transport errors only; a refusal is final),
    /// all within the epoch's claim window.
    pub send_attempts: usize,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            poll_interval: Duration::from_secs(1),
            send_attempts: 4,
        }
    }
}

/// Why an epoch was not bid for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum SkipReason {
    BelowMinimumReward { expected: U256, minimum: U256 },
    AtCapacity { proving: usize, max: usize },
}

impl SkipReason {
    pub fn kind(&self) -> &'static str {
        match self {
            SkipReason::BelowMinimumReward { .. } => "below_min_reward",
            SkipReason::AtCapacity { .. } => "at_capacity",
        }
    }
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::BelowMinimumReward { expected, minimum } => write!(
                f,
                "expected fee share {expected} is below the minimum reward {minimum}"
            ),
            SkipReason::AtCapacity { proving, max } => {
                write!(f, "{proving} epochs being proved, at most {max} at a time")
            }
        }
    }
}

/// What the monitor reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum MonitorEvent {
    QuoteSent {
        epoch: u64,
        basis_point_fee: u32,
        bond: U256,
        valid_until_slot: u64,
    },
    QuoteSkipped {
        epoch: u64,
        reason: SkipReason,
    },
    /// L1 gave `epoch`'s proof right to `prover` (`ours`: to us: prove it).
    Claimed {
        epoch: u64,
        prover: Address,
        ours: bool,
        bond: U256,
        basis_point_fee: u32,
    },
    /// The escrow cannot cover the bond: `need` is the bond, `have` what could back it
    /// (free deposit, plus the token balance when auto-deposit is on).
    FundsShort {
        epoch: u64,
        need: U256,
        have: U256,
    },
}

/// How a quote of ours ended (or stands).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "fate")]
pub enum QuoteFate {
    /// Delivered; no claim for its epoch yet.
    Pending,
    /// Claimed with our address: ours to prove.
    Won,
    /// Another prover's quote was claimed.
    Lost { winner: Address },
    /// Its validity or the claim window ended without a claim.
    Expired,
    /// The coordination node refused it (JSON-RPC error): why.
    Refused { reason: String },
    /// Could not be delivered within the claim window (transport errors).
    Undelivered { reason: String },
}

/// One quote of ours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuoteRecord {
    pub epoch: u64,
    pub basis_point_fee: u32,
    pub bond: U256,
    pub valid_until_slot: u64,
    pub route: &'static str,
    pub sent_at_ms: u64,
    pub fate: QuoteFate,
}

/// Why the monitor stopped, or why one round failed (logged, retried next round).
#[derive(Debug, thiserror::Error)]
pub enum QuoteError {
    #[error("quote policy: {field}: {reason}")]
    Policy { field: &'static str, reason: String },
    #[error(transparent)]
    L1(#[from] L1Error),
    #[error("L2 block source: {0}")]
    Source(String),
}

impl QuoteError {
    /// A wrong configuration, as opposed to an L1 or archive hiccup.
    pub fn is_fatal(&self) -> bool {
        matches!(self, QuoteError::Policy { .. })
    }
}

/// The quotes and events of a monitor, readable while it runs (the node's JSON-RPC).
#[derive(Clone)]
pub struct MonitorHandle {
    records: Arc<Mutex<BTreeMap<u64, QuoteRecord>>>,
    events: broadcast::Sender<MonitorEvent>,
}

impl MonitorHandle {
    fn new() -> Self {
        MonitorHandle {
            records: Arc::default(),
            events: broadcast::channel(256).0,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, QuoteRecord>> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Our quotes of the last epochs, oldest first.
    pub fn quotes(&self) -> Vec<QuoteRecord> {
        self.lock().values().cloned().collect()
    }

    /// Events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<MonitorEvent> {
        self.events.subscribe()
    }

    fn emit(&self, event: MonitorEvent) {
        // No subscriber is fine.
        let _ = self.events.send(event);
    }

    fn quoted(&self, epoch: u64) -> bool {
        self.lock().contains_key(&epoch)
    }

    fn record(&self, r: QuoteRecord) {
        let mut records = self.lock();
        records.insert(r.epoch, r);
        while records.len() > KEEP_EPOCHS {
            records.pop_first();
        }
    }

    /// Settles our quote for `claim`'s epoch; whether we had one.
    fn settle_claim(&self, claim: &ClaimSeen, me: Address) -> bool {
        let mut records = self.lock();
        let Some(r) = records.get_mut(&claim.epoch) else {
            return false;
        };
        // Expired too: the claim is L1's word, our clock may have run ahead of it.
        if matches!(r.fate, QuoteFate::Pending | QuoteFate::Expired) {
            r.fate = if claim.prover == me {
                QuoteFate::Won
            } else {
                QuoteFate::Lost {
                    winner: claim.prover,
                }
            };
            return true;
        }
        false
    }

    /// Marks pending quotes expired at `slot`; the epochs that expired.
    fn expire(&self, slot: u64, timing: &RollupTiming) -> Vec<u64> {
        let mut expired = Vec::new();
        for r in self.lock().values_mut() {
            if r.fate == QuoteFate::Pending
                && (slot > r.valid_until_slot || slot >= timing.claim_deadline(r.epoch))
            {
                r.fate = QuoteFate::Expired;
                expired.push(r.epoch);
            }
        }
        expired
    }
}

/// The claim L1 holds, as the monitor uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ClaimSeen {
    epoch: u64,
    prover: Address,
    bond: U256,
    basis_point_fee: u32,
}

impl From<&ProofClaim> for ClaimSeen {
    fn from(c: &ProofClaim) -> Self {
        ClaimSeen {
            epoch: c.epochToProve.saturating_to(),
            prover: c.prover,
            bond: c.bondAmount,
            basis_point_fee: c.basisPointFee,
        }
    }
}

/// The prover's fee share of blocks with `block_fees`, as the Rollup pays it (per block,
/// rounded down).
pub fn expected_reward(block_fees: impl IntoIterator<Item = U256>, basis_point_fee: u32) -> U256 {
    let bps = U256::from(basis_point_fee);
    let max = U256::from(MAX_BPS);
    block_fees.into_iter().fold(U256::ZERO, |acc, fees| {
        acc.saturating_add(fees.saturating_mul(bps) / max)
    })
}

/// Counts the number of epochs being proved now (the capacity probe).
pub type CapacityProbe = Arc<dyn Fn() -> usize + Send + Sync>;

/// Bids for epochs and follows their claims. See the module documentation.
pub struct EpochMonitor<S> {
    rollup: RollupContract<DynProvider>,
    account: ProverAccount,
    source: Arc<S>,
    route: QuoteRoute,
    policy: QuotePolicy,
    config: MonitorConfig,
    capacity: CapacityProbe,
    handle: MonitorHandle,
}

impl<S> std::fmt::Debug for EpochMonitor<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpochMonitor")
            .field("rollup", &self.rollup.address())
            .field("account", &self.account)
            .field("route", &self.route)
            .field("policy", &self.policy)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// What the monitor reads from L1 once at start.
struct Deployed {
    timing: RollupTiming,
    domain: Eip712Domain,
    escrow: Address,
    token: Address,
}

/// Per-run memory that is not part of the record.
#[derive(Default)]
struct RoundState {
    /// Epochs whose claim was reported.
    claims_seen: BTreeSet<u64>,
    /// Epochs skipped for good (their fees will not change), or reported at capacity or
    /// short of funds (re-checked each round, reported once).
    skipped: BTreeMap<u64, &'static str>,
    last_error: Option<String>,
}

impl RoundState {
    fn forget_old(&mut self, current_epoch: u64) {
        let keep_from = current_epoch.saturating_sub(KEEP_EPOCHS as u64);
        self.claims_seen = self.claims_seen.split_off(&keep_from);
        self.skipped = self.skipped.split_off(&keep_from);
    }
}

impl<S: L2BlockSource + 'static> EpochMonitor<S> {
    /// A monitor of `rollup` (read calls) that bids as `account` through `route`, reading
    /// epochs' blocks from `source`. Nothing runs until [`EpochMonitor::run`].
    pub fn new(
        rollup: RollupContract<DynProvider>,
        account: ProverAccount,
        source: Arc<S>,
        route: QuoteRoute,
        policy: QuotePolicy,
        config: MonitorConfig,
    ) -> Self {
        EpochMonitor {
            rollup,
            account,
            source,
            route,
            policy,
            config,
            capacity: Arc::new(|| 0),
            handle: MonitorHandle::new(),
        }
    }

    /// How many epochs are being proved now (default: none), for `max_parallel_epochs`.
    pub fn with_capacity_probe(
        mut self,
        probe: impl Fn() -> usize + Send + Sync + 'static,
    ) -> Self {
        self.capacity = Arc::new(probe);
        self
    }

    /// Quotes and events, readable after `run` took the monitor.
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
        self.account.signer.address()
    }

    /// Bids and follows claims until `shutdown` (then `Ok`). Fails only on a policy the
    /// Rollup would never accept; L1 and archive errors are logged and retried each round.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), QuoteError> {
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
                Err(e) => state.log_error(format!("epoch monitor start: {e}")),
            }
        };
        info!(
            prover = %self.prover(),
            route = self.route.name(),
            fee_bps = self.policy.basis_point_fee,
            bond = %self.policy.bond_amount,
            escrow = %deployed.escrow,
            "epoch monitor running"
        );
        let mut chain = Some(self.source.subscribe());
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = tick.tick() => {}
                ev = next_chain_event(&mut chain) => match ev {
                    // New blocks may complete the view of an ended epoch: look now.
                    Ok(ChainEvent::BlocksAdded { .. }) | Err(broadcast::error::RecvError::Lagged(_)) => {}
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
        let r = self.rollup.instance();
        let timing = self.rollup.timing().await?;
        let min_bond = r
            .MIN_BOND_AMOUNT()
            .call()
            .await
            .map_err(|e| L1Error::from_contract("Rollup", "MIN_BOND_AMOUNT", e))?;
        self.policy.check(min_bond)?;
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
        Ok(Deployed {
            timing,
            domain: quote_domain(self.account.chain_id, self.rollup.address()),
            escrow,
            token,
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
        // clock stands still).
        let slot: u64 = self
            .rollup
            .instance()
            .getCurrentSlot()
            .block(BlockId::pending())
            .call()
            .await
            .map_err(|e| L1Error::from_contract("Rollup", "getCurrentSlot", e))?
            .saturating_to();
        let claim = self
            .rollup
            .proof_claim()
            .await?
            .map(|c| ClaimSeen::from(&c));
        if let Some(claim) = claim {
            self.notice_claim(claim, state);
        }
        for epoch in self.handle.expire(slot, &d.timing) {
            info!(epoch, slot, "our quote expired unclaimed");
            metrics().expired.add(1, &[]);
        }

        let current = d.timing.epoch_at_slot(slot);
        state.forget_old(current);
        let Some(epoch) = current.checked_sub(1) else {
            return Ok(());
        };
        if slot >= d.timing.claim_deadline(epoch)
            || self.handle.quoted(epoch)
            || state.claims_seen.contains(&epoch)
            || state.skipped.get(&epoch) == Some(&"below_min_reward")
        {
            return Ok(());
        }
        self.consider(epoch, slot, d, state, shutdown)
            .instrument(tracing::info_span!("epoch_quote", epoch))
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
            if ours {
                metrics().won.add(1, &[]);
            } else {
                metrics().lost.add(1, &[]);
            }
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
        let l1_tips = self.rollup.tips().await?;
        let source_err = |e: S::Error| QuoteError::Source(e.to_string());
        let archive_tips = self.source.tips().await.map_err(source_err)?;
        if archive_tips.pending < l1_tips.pending {
            debug!(
                archive = archive_tips.pending,
                l1 = l1_tips.pending,
                "archive behind L1: the epoch's blocks may be incomplete"
            );
            return Ok(());
        }
        let blocks = self
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
            self.policy.basis_point_fee,
        );
        if expected < self.policy.min_fee_reward {
            self.skip(
                epoch,
                SkipReason::BelowMinimumReward {
                    expected,
                    minimum: self.policy.min_fee_reward,
                },
                state,
            );
            return Ok(());
        }
        let proving = (self.capacity)();
        if proving >= self.policy.max_parallel_epochs {
            self.skip(
                epoch,
                SkipReason::AtCapacity {
                    proving,
                    max: self.policy.max_parallel_epochs,
                },
                state,
            );
            return Ok(());
        }
        if !self.bond_covered(epoch, d, state).await? {
            return Ok(());
        }
        self.quote(epoch, slot, unproven.len(), expected, d, shutdown)
            .await
    }

    fn skip(&self, epoch: u64, reason: SkipReason, state: &mut RoundState) {
        if state.skipped.insert(epoch, reason.kind()) == Some(reason.kind()) {
            return;
        }
        info!(
            epoch,
            kind = reason.kind(),
            "not bidding for the epoch: {reason}"
        );
        metrics()
            .skipped
            .add(1, &[KeyValue::new("reason", reason.kind())]);
        self.handle
            .emit(MonitorEvent::QuoteSkipped { epoch, reason });
    }

    /// Whether the escrow's free deposit covers the bond, after topping it up from the
    /// token balance when allowed. Reports [`MonitorEvent::FundsShort`] (once per epoch)
    /// when it cannot.
    async fn bond_covered(
        &self,
        epoch: u64,
        d: &Deployed,
        state: &mut RoundState,
    ) -> Result<bool, QuoteError> {
        let me = self.prover();
        let wallet = &self.account.wallet;
        let escrow = ProofCommitmentEscrow::new(d.escrow, wallet);
        let need = self.policy.bond_amount;
        // `deposits` is the free part already: a claim moves the bond to `bonded`.
        let free = escrow
            .deposits(me)
            .call()
            .await
            .map_err(|e| L1Error::from_contract("ProofCommitmentEscrow", "deposits", e))?;
        if free >= need {
            return Ok(true);
        }
        let shortfall = need - free;
        let (have, why) = if self.policy.auto_deposit {
            let token = Erc20::new(d.token, wallet);
            let balance = token
                .balanceOf(me)
                .call()
                .await
                .map_err(|e| L1Error::from_contract("ERC20", "balanceOf", e))?;
            if balance >= shortfall {
                self.deposit(&token, &escrow, shortfall).await?;
                info!(epoch, deposited = %shortfall, "escrow topped up to the bond");
                return Ok(true);
            }
            (
                free.saturating_add(balance),
                format!("escrow deposit {free} + token balance {balance}"),
            )
        } else {
            (free, format!("escrow deposit {free}, auto-deposit off"))
        };
        if state.skipped.insert(epoch, "funds_short") != Some("funds_short") {
            error!(
                epoch,
                prover = %me,
                need = %need,
                have = %have,
                "not bidding: the bond needs {need} bond tokens, the prover has {have} ({why}); deposit in the escrow {} to bid",
                d.escrow
            );
            metrics()
                .skipped
                .add(1, &[KeyValue::new("reason", "funds_short")]);
            self.handle
                .emit(MonitorEvent::FundsShort { epoch, need, have });
        }
        Ok(false)
    }

    /// Approves (if needed) and deposits `amount` in the escrow.
    async fn deposit(
        &self,
        token: &Erc20::TestERC20Instance<&DynProvider>,
        escrow: &ProofCommitmentEscrow::ProofCommitmentEscrowInstance<&DynProvider>,
        amount: U256,
    ) -> Result<(), QuoteError> {
        let me = self.prover();
        let allowance = token
            .allowance(me, *escrow.address())
            .call()
            .await
            .map_err(|e| L1Error::from_contract("ERC20", "allowance", e))?;
        if allowance < amount {
            let pending = token
                .approve(*escrow.address(), amount)
                .send()
                .await
                .map_err(|e| L1Error::from_contract("ERC20", "approve", e))?;
            confirm("ERC20", "approve", pending).await?;
        }
        let pending = escrow
            .deposit(amount)
            .send()
            .await
            .map_err(|e| L1Error::from_contract("ProofCommitmentEscrow", "deposit", e))?;
        confirm("ProofCommitmentEscrow", "deposit", pending).await
    }

    /// Signs and sends the quote for `epoch`, and records it.
    async fn quote(
        &self,
        epoch: u64,
        slot: u64,
        blocks: usize,
        expected: U256,
        d: &Deployed,
        shutdown: &CancellationToken,
    ) -> Result<(), QuoteError> {
        let valid_until_slot = slot.saturating_add(self.policy.validity_slots);
        let quote = EpochProofQuote {
            epochToProve: U256::from(epoch),
            validUntilSlot: U256::from(valid_until_slot),
            bondAmount: self.policy.bond_amount,
            basisPointFee: self.policy.basis_point_fee,
            prover: self.prover(),
        };
        let signed = sign_quote(&self.account.signer, quote, &d.domain).await?;
        let sent_at_ms = unix_ms();
        // Delivery is only worth anything while the sequencer can still claim.
        let window_left =
            d.timing.claim_deadline(epoch).saturating_sub(slot) * d.timing.slot_duration;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(window_left);
        let route = self.route.name();
        let fate = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            r = tokio::time::timeout_at(deadline, self.send(&signed)) => match r {
                Ok(Ok(())) => QuoteFate::Pending,
                Ok(Err(fate)) => fate,
                Err(_) => QuoteFate::Undelivered {
                    reason: format!("not delivered before the claim window closed (slot {})", d.timing.claim_deadline(epoch)),
                },
            },
        };
        match &fate {
            QuoteFate::Pending => {
                info!(
                    epoch,
                    route,
                    blocks,
                    expected_reward = %expected,
                    fee_bps = self.policy.basis_point_fee,
                    bond = %self.policy.bond_amount,
                    valid_until_slot,
                    "epoch proof quote sent"
                );
                metrics().sent.add(1, &[KeyValue::new("route", route)]);
                self.handle.emit(MonitorEvent::QuoteSent {
                    epoch,
                    basis_point_fee: self.policy.basis_point_fee,
                    bond: self.policy.bond_amount,
                    valid_until_slot,
                });
            }
            QuoteFate::Refused { reason } | QuoteFate::Undelivered { reason } => {
                warn!(epoch, route, "epoch proof quote not taken: {reason}");
                let outcome = if matches!(fate, QuoteFate::Refused { .. }) {
                    "refused"
                } else {
                    "undelivered"
                };
                metrics().failed.add(
                    1,
                    &[
                        KeyValue::new("route", route),
                        KeyValue::new("outcome", outcome),
                    ],
                );
            }
            _ => {}
        }
        self.handle.record(QuoteRecord {
            epoch,
            basis_point_fee: self.policy.basis_point_fee,
            bond: self.policy.bond_amount,
            valid_until_slot,
            route,
            sent_at_ms,
            fate,
        });
        Ok(())
    }

    /// Delivers `signed` by the route; the fate when it was not taken.
    async fn send(&self, signed: &SignedEpochProofQuote) -> Result<(), QuoteFate> {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(200))
            .with_max_delay(Duration::from_secs(2))
            .with_max_times(self.config.send_attempts.saturating_sub(1));
        let epoch = signed.quote.epochToProve.saturating_to::<u64>();
        match &self.route {
            QuoteRoute::Http(client) => {
                let json = SignedQuoteJson::from(signed);
                let attempt = || client.submit_epoch_proof_quote(json.clone());
                attempt
                    .retry(backoff)
                    .when(|e| !matches!(e, jsonrpsee::core::client::Error::Call(_)))
                    .notify(|e, after| {
                        warn!(
                            epoch,
                            ?after,
                            "sending the epoch proof quote: {e} (retrying)"
                        )
                    })
                    .await
                    .map_err(|e| match e {
                        jsonrpsee::core::client::Error::Call(refusal) => QuoteFate::Refused {
                            reason: refusal_reason(&refusal),
                        },
                        other => QuoteFate::Undelivered {
                            reason: other.to_string(),
                        },
                    })
            }
            QuoteRoute::P2p(p2p) => {
                let attempt = || p2p.publish_quote(signed);
                attempt
                    .retry(backoff)
                    .notify(|e, after| {
                        warn!(
                            epoch,
                            ?after,
                            "gossiping the epoch proof quote: {e} (retrying)"
                        )
                    })
                    .await
                    .map(|outcome| debug!(epoch, ?outcome, "epoch proof quote gossiped"))
                    .map_err(|e| QuoteFate::Undelivered {
                        reason: e.to_string(),
                    })
            }
        }
    }
}

impl RoundState {
    /// Logs a round's error once until it changes or a round succeeds (a failing L1
    /// should not fill the log every poll).
    fn log_error(&mut self, msg: String) {
        if self.last_error.as_deref() != Some(&msg) {
            warn!("epoch monitor: {msg} (retrying)");
            self.last_error = Some(msg);
        }
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

/// A refusal as the coordination node put it: its message and stable kind.
fn refusal_reason(e: &jsonrpsee::types::ErrorObjectOwned) -> String {
    let kind = e
        .data()
        .and_then(|d| serde_json::from_str::<serde_json::Value>(d.get()).ok())
        .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_owned));
    match kind {
        Some(kind) => format!("{} ({kind}, code {})", e.message(), e.code()),
        None => format!("{} (code {})", e.message(), e.code()),
    }
}

/// Waits for an escrow transaction's receipt and requires success.
async fn confirm(
    contract: &'static str,
    call: &'static str,
    pending: alloy::providers::PendingTransactionBuilder<alloy::network::Ethereum>,
) -> Result<(), QuoteError> {
    let receipt = pending
        .with_timeout(Some(L1_TX_TIMEOUT))
        .get_receipt()
        .await
        .map_err(|e| L1Error::from_contract(contract, call, e.into()))?;
    if !receipt.status() {
        return Err(L1Error::FailedOnChain {
            contract,
            call,
            tx_hash: receipt.transaction_hash,
        }
        .into());
    }
    Ok(())
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

struct QuoteMetrics {
    sent: Counter<u64>,
    won: Counter<u64>,
    lost: Counter<u64>,
    skipped: Counter<u64>,
    failed: Counter<u64>,
    expired: Counter<u64>,
}

/// The instruments, created on first use (after the binary installed its meter provider).
fn metrics() -> &'static QuoteMetrics {
    static M: OnceLock<QuoteMetrics> = OnceLock::new();
    M.get_or_init(|| {
        let m = global::meter("provemesh");
        let counter = |name: &'static str, description: &'static str| {
            m.u64_counter(name).with_description(description).build()
        };
        QuoteMetrics {
            sent: counter(
                "provemesh.node.quotes.sent",
                "Epoch proof quotes delivered, by route (http, p2p)",
            ),
            won: counter(
                "provemesh.node.quotes.won",
                "Our quotes claimed on L1 (epochs ours to prove)",
            ),
            lost: counter(
                "provemesh.node.quotes.lost",
                "Our quotes beaten by another prover's claim",
            ),
            skipped: counter(
                "provemesh.node.quotes.skipped",
                "Ended epochs not bid for, by reason (below_min_reward, at_capacity, funds_short)",
            ),
            failed: counter(
                "provemesh.node.quotes.failed",
                "Quotes not taken, by route and outcome (refused, undelivered)",
            ),
            expired: counter(
                "provemesh.node.quotes.expired",
                "Our quotes whose validity or claim window ended unclaimed",
            ),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reward_is_the_per_block_share_rounded_down_like_the_rollup() {
        let fees = [U256::from(10), U256::from(10), U256::from(95)];
        // 10 × 15% = 1.5 → 1, twice; 95 × 15% = 14.25 → 14.
        assert_eq!(expected_reward(fees, 1_500), U256::from(16));
        assert_eq!(expected_reward(fees, 0), U256::ZERO);
        assert_eq!(expected_reward(fees, MAX_BPS), U256::from(115));
        assert_eq!(
            expected_reward([U256::MAX], MAX_BPS),
            U256::MAX / U256::from(MAX_BPS)
        );
    }

    fn policy() -> QuotePolicy {
        QuotePolicy {
            basis_point_fee: 100,
            bond_amount: U256::from(1_000),
            min_fee_reward: U256::ZERO,
            max_parallel_epochs: 1,
            validity_slots: 4,
            auto_deposit: false,
        }
    }

    #[test]
    fn policy_errors_name_the_field() {
        assert!(policy().check(U256::from(1_000)).is_ok());
        let too_dear = QuotePolicy {
            basis_point_fee: 10_001,
            ..policy()
        };
        let e = too_dear.check(U256::ZERO).unwrap_err().to_string();
        assert!(e.contains("basis_point_fee") && e.contains("10001"), "{e}");
        let e = policy().check(U256::from(1_001)).unwrap_err().to_string();
        assert!(
            e.contains("bond_amount") && e.contains("MIN_BOND_AMOUNT 1001"),
            "{e}"
        );
        let none = QuotePolicy {
            max_parallel_epochs: 0,
            ..policy()
        };
        assert!(none.check(U256::ZERO).unwrap_err().is_fatal());
    }

    fn record(epoch: u64, valid_until_slot: u64) -> QuoteRecord {
        QuoteRecord {
            epoch,
            basis_point_fee: 100,
            bond: U256::from(1_000),
            valid_until_slot,
            route: "http",
            sent_at_ms: 0,
            fate: QuoteFate::Pending,
        }
    }

    fn timing() -> RollupTiming {
        RollupTiming {
            genesis_time: 0,
            slot_duration: 2,
            epoch_duration: 2,
            claim_window: 2,
            proof_submission_window: 4,
        }
    }

    #[test]
    fn claims_settle_quotes_and_unclaimed_ones_expire() {
        let h = MonitorHandle::new();
        let me = Address::repeat_byte(1);
        let rival = Address::repeat_byte(2);
        // Epoch 0's window: slots 2..4; epoch 1's: 4..6.
        h.record(record(0, 5));
        h.record(record(1, 4));
        h.record(record(2, 20));
        let claim = |epoch, prover| ClaimSeen {
            epoch,
            prover,
            bond: U256::from(1_000),
            basis_point_fee: 50,
        };
        assert!(h.settle_claim(&claim(0, rival), me));
        assert!(!h.settle_claim(&claim(7, me), me), "no quote for epoch 7");
        // Slot 5: epoch 1's quote is past its validity (4) and its window (6 not yet).
        assert_eq!(h.expire(5, &timing()), vec![1]);
        // Epoch 2's window closes at slot 8 although the quote says 20.
        assert_eq!(h.expire(8, &timing()), vec![2]);
        // A claim L1 shows after we thought the quote expired wins over our clock.
        assert!(h.settle_claim(&claim(2, me), me));
        let fates: Vec<_> = h.quotes().into_iter().map(|r| r.fate).collect();
        assert_eq!(
            fates,
            vec![
                QuoteFate::Lost { winner: rival },
                QuoteFate::Expired,
                QuoteFate::Won
            ]
        );
    }

    #[test]
    fn records_serialize_for_the_node_api() {
        let mut r = record(3, 9);
        r.fate = QuoteFate::Lost {
            winner: Address::repeat_byte(0xab),
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["epoch"], 3);
        assert_eq!(v["route"], "http");
        assert_eq!(v["fate"]["fate"], "lost");
        assert_eq!(
            v["fate"]["winner"],
            "0xabababababababababababababababababababab"
        );
        let skipped = MonitorEvent::QuoteSkipped {
            epoch: 1,
            reason: SkipReason::AtCapacity { proving: 1, max: 1 },
        };
        let v = serde_json::to_value(&skipped).unwrap();
        assert_eq!(v["event"], "quote_skipped");
        assert_eq!(v["reason"]["kind"], "at_capacity");
    }

    #[test]
    fn the_key_never_shows_in_debug() {
        // reqwest, under the wallet provider, wants a process-wide TLS provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let signer = PrivateKeySigner::random();
        let key = alloy::primitives::hex::encode(signer.to_bytes());
        let url: url::Url = "http://127.0.0.1:1".parse().unwrap();
        let account = ProverAccount {
            wallet: provemesh_l1::wallet_provider(url, signer.clone()),
            signer,
            chain_id: 31337,
        };
        let shown = format!("{account:?}");
        assert!(!shown.contains(&key), "{shown}");
        assert!(shown.contains("address"), "{shown}");
    }
}
