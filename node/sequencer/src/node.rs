//! The sequencer node put together: the tx pool with its admission checks, the quote
//! collector, the JSON-RPC server, the P2P network (optional) and the block loop (when the
//! node has a sequencer key; without one it is a pool-and-relay node: it takes txs and
//! quotes, gossips and serves them, and builds nothing).

use crate::admission::{Admission, Refusal};
use crate::error::SequencerError;
use crate::genesis::{describe, genesis_archive};
use crate::pool::{Added, TxPool};
use crate::quotes::{QuoteAdded, QuoteCollector, QuoteRejection};
use crate::slots::SlotLoop;
use alloy::primitives::{Address, B256, U256};
use alloy::providers::DynProvider;
use alloy::signers::local::PrivateKeySigner;
use provemesh_common::hash::Fr;
use provemesh_common::tx::{Tx, TxHash};
use provemesh_l1::{
    quote_domain, read_provider, Deployment, RollupContract, RollupTiming, SignedEpochProofQuote,
};
use provemesh_p2p::{GossipValidator, P2pConfig, P2pEvent, P2pHandle, Verdict, WorldStateGenesis};
use provemesh_tx_processor::{ClientProofVerifier, SimulatedClientProofVerifier};
use provemesh_world_state::WorldState;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use url::Url;

/// How a sequencer node runs.
#[derive(Clone)]
pub struct SequencerConfig {
    /// The L1 JSON-RPC endpoint (anvil on a devnet).
    pub l1_url: Url,
    pub deployment: Deployment,
    /// Signs `propose` and `claimEpochProofRight`; `None`: a pool-and-relay node that
    /// builds no blocks. Never logged.
    pub sequencer_key: Option<PrivateKeySigner>,
    /// Where the JSON-RPC API listens (port 0: any free port).
    pub rpc_listen: SocketAddr,
    /// P2P (P2P_ENABLED); `None` runs without it (quotes then come over JSON-RPC only).
    pub p2p: Option<P2pConfig>,
    pub max_txs_per_block: usize,
    /// A block is built once this many txs are pending (or when L1→L2 messages wait).
    pub min_txs_per_block: usize,
    pub max_pending_txs: usize,
    /// L1 address credited with the blocks' fees (default: the sequencer's address).
    pub coinbase: Option<Address>,
    /// L2 address in the header's `feeRecipient`.
    pub fee_recipient: Fr,
    /// GOVERNANCE_PROPOSER_PAYLOAD_ADDRESS: the payload to vote for, on the deployment's
    /// GovernanceProposer, once in each slot this sequencer proposes a block in (after the
    /// block landed; a failed vote is only a warning). With no GovernanceProposer in the
    /// deployment (an older record) the vote is logged, not sent.
    pub governance_payload: Option<Address>,
    /// How often the block loop looks at L1 time.
    pub poll_interval: Duration,
    /// Devnet and tests only: a dishonest sequencer that pools and includes txs whose
    /// client proofs do not verify (L1 does not check them), to show that provers refuse
    /// to prove such an epoch. Never set by `provemesh devnet`.
    pub include_invalid_client_proofs: bool,
    /// How txs' client proofs are checked at admission and block building: simulated ones
    /// by default, real private kernel tail proofs with bb when the devnet proves for real.
    pub client_proofs: ClientProofCheck,
}

/// A shared client proof verifier (the sequencer's config stays `Clone`).
#[derive(Clone)]
pub struct ClientProofCheck(pub Arc<dyn ClientProofVerifier + Send + Sync>);

impl Default for ClientProofCheck {
    fn default() -> Self {
        ClientProofCheck(Arc::new(SimulatedClientProofVerifier))
    }
}

impl std::fmt::Debug for ClientProofCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientProofCheck")
    }
}

impl std::fmt::Debug for SequencerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SequencerConfig")
            .field("l1_url", &self.l1_url.as_str())
            .field("rollup", &self.deployment.rollup)
            .field(
                "sequencer",
                &self.sequencer_key.as_ref().map(|k| k.address()),
            )
            .field("rpc_listen", &self.rpc_listen)
            .field("p2p", &self.p2p)
            .field("max_txs_per_block", &self.max_txs_per_block)
            .field("min_txs_per_block", &self.min_txs_per_block)
            .finish_non_exhaustive()
    }
}

impl SequencerConfig {
    /// Devnet defaults: RPC on a free loopback port, no P2P, blocks of 1–64 txs.
    pub fn new(
        l1_url: Url,
        deployment: Deployment,
        sequencer_key: Option<PrivateKeySigner>,
    ) -> Self {
        SequencerConfig {
            l1_url,
            deployment,
            sequencer_key,
            rpc_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            p2p: None,
            max_txs_per_block: 64,
            min_txs_per_block: 1,
            max_pending_txs: 10_000,
            coinbase: None,
            fee_recipient: Fr::ZERO,
            governance_payload: None,
            poll_interval: Duration::from_millis(200),
            include_invalid_client_proofs: false,
            client_proofs: ClientProofCheck::default(),
        }
    }
}

/// What the sequencer did, for the devnet's output and for tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SequencerEvent {
    BlockProposed {
        number: u64,
        slot: u64,
        txs: Vec<TxHash>,
        /// Txs the block builder left out: (hash, kind, reason).
        rejected: Vec<(Option<TxHash>, String, String)>,
        l1_to_l2_messages: usize,
        archive: B256,
        l1_block: u64,
    },
    ProposeFailed {
        number: u64,
        slot: u64,
        reason: String,
    },
    EpochClaimed {
        epoch: u64,
        prover: Address,
        basis_point_fee: u32,
        bond: U256,
    },
    /// A quote the Rollup would not take (or the escrow could not cover): skipped.
    QuoteSkipped {
        epoch: u64,
        prover: Address,
        reason: String,
    },
    /// L1 pruned the pending chain: the world state went back to `to_block` and the pruned
    /// blocks' txs are pending again.
    Pruned { to_block: u64, txs_back: usize },
}

/// Counters since start.
#[derive(Debug, Default)]
pub struct Stats {
    pub blocks_proposed: AtomicU64,
    pub txs_mined: AtomicU64,
    pub txs_rejected: AtomicU64,
    pub quotes_received: AtomicU64,
    pub epochs_claimed: AtomicU64,
}

/// What the RPC server, the P2P task and the block loop share.
pub(crate) struct Shared {
    pub pool: Arc<TxPool>,
    pub admission: Admission,
    pub quotes: Mutex<QuoteCollector>,
    /// The world state's committed tip.
    pub tip: Arc<AtomicU64>,
    /// L1's current slot as the block loop last saw it.
    pub slot: AtomicU64,
    pub deployment: Deployment,
    pub timing: RollupTiming,
    pub rollup_read: RollupContract<DynProvider>,
    pub p2p: OnceLock<P2pHandle>,
    pub genesis: WorldStateGenesis,
    pub events: broadcast::Sender<SequencerEvent>,
    pub stats: Stats,
}

impl Shared {
    pub fn emit(&self, event: SequencerEvent) {
        // No subscriber is fine.
        let _ = self.events.send(event);
    }

    fn quotes(&self) -> std::sync::MutexGuard<'_, QuoteCollector> {
        self.quotes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Checks a tx and adds it to the pool; a refusal is recorded so the tx's receipt says
    /// why. A new tx submitted here (not gossiped to us) is gossiped on.
    pub async fn submit_tx(&self, tx: Tx, gossiped: bool) -> Result<Added, Refusal> {
        if let Some(h) = tx.hash() {
            if let Some(status @ crate::pool::PoolStatus::Mined { .. }) = self.pool.status(&h) {
                return Ok(Added::Known(h, status));
            }
        }
        if let Err(r) = self.admission.check_async(&tx).await {
            tracing::debug!(tx = ?tx.hash(), kind = r.kind(), gossiped, "tx refused: {r}");
            self.stats.txs_rejected.fetch_add(1, Ordering::Relaxed);
            if !matches!(
                r,
                Refusal::Pool(crate::pool::PoolError::Full { .. }) | Refusal::State(_)
            ) {
                self.pool.record_rejected(tx, r.kind(), &r.to_string());
            }
            return Err(r);
        }
        let added = self.pool.add(tx.clone()).map_err(Refusal::Pool)?;
        if let (Added::New(h), false, Some(p2p)) = (&added, gossiped, self.p2p.get()) {
            if let Err(e) = p2p.publish_tx(&tx).await {
                tracing::warn!(tx = %h, "gossiping tx: {e}");
            }
        }
        Ok(added)
    }

    /// Collects a quote (checked at the current slot); a new one submitted here is
    /// gossiped on.
    pub async fn submit_quote(
        &self,
        quote: SignedEpochProofQuote,
        gossiped: bool,
    ) -> Result<QuoteAdded, QuoteRejection> {
        let slot = self.slot.load(Ordering::Acquire);
        let added = self.quotes().add(quote.clone(), slot);
        match &added {
            Ok(a) => {
                self.stats.quotes_received.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    epoch = %quote.quote.epochToProve,
                    prover = %quote.quote.prover,
                    fee_bps = quote.quote.basisPointFee,
                    bond = %quote.quote.bondAmount,
                    gossiped,
                    outcome = ?a,
                    "epoch proof quote collected"
                );
                if let (QuoteAdded::New | QuoteAdded::Replaced, false, Some(p2p)) =
                    (a, gossiped, self.p2p.get())
                {
                    if let Err(e) = p2p.publish_quote(&quote).await {
                        tracing::warn!("gossiping quote: {e}");
                    }
                }
            }
            Err(r) => tracing::info!(
                prover = %quote.quote.prover,
                kind = r.kind(),
                gossiped,
                "epoch proof quote refused: {r}"
            ),
        }
        added
    }

    pub(crate) fn quote_candidates(&self, epoch: u64, slot: u64) -> Vec<SignedEpochProofQuote> {
        self.quotes().candidates(epoch, slot)
    }

    pub(crate) fn quote_refused_on_l1(&self, quote: &SignedEpochProofQuote) {
        self.quotes().remove(quote);
    }

    pub(crate) fn quotes_claimed(&self, epoch: u64) {
        self.quotes().clear(epoch);
    }
}

/// Gossip validation: the same checks as submission, without changing anything. Only
/// what is wrong with the message itself penalises the peer; stale or known messages
/// are ignored.
struct Validator(Arc<Shared>);

impl GossipValidator for Validator {
    fn validate_tx(&self, tx: &Tx) -> Verdict {
        if let Some(status) = tx.hash().and_then(|h| self.0.pool.status(&h)) {
            return Verdict::Ignore(format!("known tx ({status:?})"));
        }
        // On the blocking pool (the p2p network asks there), so a `bb verify` may run here.
        match self.0.admission.check(tx) {
            Ok(()) => Verdict::Accept,
            Err(r) if r.is_invalid_tx() => Verdict::Reject(r.to_string()),
            Err(r) => Verdict::Ignore(r.to_string()),
        }
    }

    fn validate_quote(&self, quote: &SignedEpochProofQuote) -> Verdict {
        let slot = self.0.slot.load(Ordering::Acquire);
        match self.0.quotes().check(quote, slot) {
            Ok(_) => Verdict::Accept,
            Err(r) if r.is_invalid() => Verdict::Reject(r.to_string()),
            Err(r) => Verdict::Ignore(r.to_string()),
        }
    }
}

/// A running sequencer node.
pub struct SequencerHandle {
    shared: Arc<Shared>,
    rpc_addr: SocketAddr,
    tasks: JoinSet<Result<(), SequencerError>>,
    shutdown: CancellationToken,
}

impl SequencerHandle {
    /// `http://<addr>`: the node's JSON-RPC URL (AZTEC_NODE_URL, PROVER_COORDINATION_NODE_URL).
    pub fn rpc_url(&self) -> String {
        format!("http://{}", self.rpc_addr)
    }

    pub fn p2p(&self) -> Option<&P2pHandle> {
        self.shared.p2p.get()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<SequencerEvent> {
        self.shared.events.subscribe()
    }

    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    pub fn timing(&self) -> RollupTiming {
        self.shared.timing
    }

    /// The quotes held for `epoch`, in arrival order.
    pub fn quotes_for(&self, epoch: u64) -> Vec<SignedEpochProofQuote> {
        self.shared.quotes().quotes_for(epoch)
    }

    /// Stops every task.
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Waits for the node to stop (after [`SequencerHandle::shutdown`], or a fatal error of
    /// the block loop, which stops the rest too); the first error, if any.
    pub async fn wait(mut self) -> Result<(), SequencerError> {
        let mut first = Ok(());
        while let Some(r) = self.tasks.join_next().await {
            let r = r
                .map_err(|e| SequencerError::Join(e.to_string()))
                .and_then(|r| r);
            if let Err(e) = r {
                self.shutdown.cancel();
                if first.is_ok() {
                    first = Err(e);
                }
            }
        }
        first
    }
}

impl Drop for SequencerHandle {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Starts a sequencer node on `ws` (opened from the genesis the Rollup was deployed for)
/// and returns once its RPC server (and P2P, if configured) listen. Everything stops when
/// `shutdown` is cancelled.
pub async fn start(
    config: SequencerConfig,
    ws: WorldState,
    shutdown: CancellationToken,
) -> Result<SequencerHandle, SequencerError> {
    let shutdown = shutdown.child_token();
    let started = start_inner(config, ws, shutdown.clone()).await;
    if started.is_err() {
        // Stops whatever started before the failure (the P2P task, the RPC server).
        shutdown.cancel();
    }
    started
}

async fn start_inner(
    config: SequencerConfig,
    ws: WorldState,
    shutdown: CancellationToken,
) -> Result<SequencerHandle, SequencerError> {
    let d = config.deployment;
    let read = read_provider(config.l1_url.clone());
    let rollup_read = RollupContract::new(d.rollup, read.clone());
    let timing = rollup_read.timing().await?;
    let min_bond = rollup_read
        .instance()
        .MIN_BOND_AMOUNT()
        .call()
        .await
        .map_err(|e| provemesh_l1::L1Error::from_contract("Rollup", "MIN_BOND_AMOUNT", e))?;

    let local = genesis_archive(&ws)?;
    let l1 = rollup_read.block(0).await?.archive;
    if crate::header::b256(local) != l1 {
        return Err(SequencerError::GenesisMismatch {
            local: local.to_hex(),
            l1: l1.to_string(),
        });
    }

    let pool = Arc::new(TxPool::new(config.max_pending_txs));
    let tip = Arc::new(AtomicU64::new(ws.tip()));
    let (events, _) = broadcast::channel(1024);
    let shared = Arc::new(Shared {
        admission: Admission::new(
            pool.clone(),
            ws.database(),
            ws.heights(),
            tip.clone(),
            config.client_proofs.clone(),
        )
        .checking_client_proofs(!config.include_invalid_client_proofs),
        pool: pool.clone(),
        quotes: Mutex::new(QuoteCollector::new(
            quote_domain(d.chain_id, d.rollup),
            min_bond,
            timing.epoch_duration,
        )),
        tip,
        slot: AtomicU64::new(0),
        deployment: d,
        timing,
        rollup_read,
        p2p: OnceLock::new(),
        genesis: describe(ws.config(), local),
        events,
        stats: Stats::default(),
    });
    let mut tasks = JoinSet::new();

    if let Some(p2p_config) = config.p2p.clone() {
        let (handle, mut p2p_events) = provemesh_p2p::start(
            p2p_config,
            Arc::new(Validator(shared.clone())),
            pool.clone(),
            shutdown.clone(),
        )
        .await?;
        let _ = shared.p2p.set(handle);
        let s = shared.clone();
        let stop = shutdown.clone();
        tasks.spawn(async move {
            loop {
                let event = tokio::select! {
                    _ = stop.cancelled() => break,
                    e = p2p_events.recv() => match e { Some(e) => e, None => break },
                };
                match event {
                    P2pEvent::Tx { tx, from } => {
                        if let Err(r) = s.submit_tx(tx, true).await {
                            tracing::debug!(%from, "gossiped tx not pooled: {r}");
                        }
                    }
                    P2pEvent::Quote { quote, from } => {
                        if let Err(r) = s.submit_quote(quote, true).await {
                            tracing::debug!(%from, "gossiped quote not collected: {r}");
                        }
                    }
                }
            }
            Ok(())
        });
    }

    let rpc_addr = crate::rpc::serve(
        config.rpc_listen,
        shared.clone(),
        shutdown.clone(),
        &mut tasks,
    )
    .await?;

    if let Some(key) = config.sequencer_key.clone() {
        let slot_loop = SlotLoop::new(&config, key, ws, shared.clone()).await?;
        tasks.spawn(slot_loop.run(shutdown.clone()));
    } else {
        // The slot is still needed to check quotes.
        let s = shared.clone();
        let stop = shutdown.clone();
        let url = config.l1_url.clone();
        tasks.spawn(async move {
            let read = read_provider(url);
            while !stop.is_cancelled() {
                if let Ok(now) = crate::slots::l1_now(&read).await {
                    s.slot.store(s.timing.slot_at(now), Ordering::Release);
                }
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
            drop(ws);
            Ok(())
        });
    }
    tracing::info!(rpc = %rpc_addr, rollup = %d.rollup, "sequencer node running");
    Ok(SequencerHandle {
        shared,
        rpc_addr,
        tasks,
        shutdown,
    })
}
