//! A rollup on a fresh anvil for the devnet genesis, dev accounts as signers, the devnet
//! sequencer on it, and (for the tests that prove) a JetStream mesh with simulated agents.
//! Each test states its timing and what it does; every server dies with the fixture.

#![allow(dead_code)] // each test module uses a part

use alloy::primitives::{Address, U256};
use alloy::providers::DynProvider;
use alloy::signers::local::PrivateKeySigner;
use provemesh_harness::Anvil;
use provemesh_l1::bindings::{ProofCommitmentEscrow, TestERC20};
use provemesh_l1::{deploy_all, wallet_provider, DeployConfig, Deployment, RollupContract};
use provemesh_sequencer::genesis::genesis_archive;
use provemesh_sequencer::header::b256;
use provemesh_sequencer::{Genesis, SequencerConfig, SequencerEvent, SequencerHandle};
use provemesh_world_state::{TreeHeights, WorldState};
use std::future::Future;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

pub const CHAIN_ID: u64 = 31337;
pub const SLOT: u64 = 2;
pub const MIN_BOND: u64 = 100;
/// Dev account that deploys the contracts and sequences.
pub const SEQUENCER: usize = 0;
/// Dev account of the prover node under test.
pub const PROVER: usize = 1;
/// Dev account of a competing prover.
pub const RIVAL: usize = 2;

/// Fails the test after `secs` instead of hanging.
pub async fn within<F: Future<Output = ()>>(secs: u64, f: F) {
    // `RUST_LOG=info cargo test …` shows the node's log (captured per test as usual).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("test timed out");
}

/// The genesis every node of a test opens (small trees: fast in debug builds).
pub fn genesis() -> Genesis {
    Genesis::devnet(4, 8, TreeHeights::uniform(16))
}

pub struct Chain {
    pub anvil: Anvil,
    /// Dev accounts 0..6: 0 deploys and sequences, the others are provers and senders.
    pub keys: Vec<PrivateKeySigner>,
    pub deployment: Deployment,
    pub rollup: RollupContract<DynProvider>,
    pub dir: tempfile::TempDir,
    pub timing: Timing,
}

/// The rollup's timing as deployed.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub epoch: u64,
    pub claim_window: u64,
    pub proof_window: u64,
}

async fn dev_key(anvil: &Anvil, i: usize) -> PrivateKeySigner {
    anvil
        .dev_private_key(i)
        .unwrap_or_else(|| panic!("no dev key {i} in anvil's banner"))
        .parse()
        .expect("dev key")
}

impl Chain {
    /// Deploys a rollup with `epoch`-slot epochs and the given windows (2-second slots)
    /// for [`genesis`], and returns the world state the sequencer starts from.
    pub async fn start(timing: Timing) -> (Chain, WorldState) {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let anvil = Anvil::start(CHAIN_ID).expect("anvil");
        let mut keys = Vec::new();
        for i in 0..6 {
            keys.push(dev_key(&anvil, i).await);
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let ws = genesis()
            .open_world_state(&dir.path().join("sequencer"))
            .expect("world state");
        let config = DeployConfig {
            slot_duration: SLOT,
            epoch_duration: timing.epoch,
            claim_window: timing.claim_window,
            proof_submission_window: timing.proof_window,
            min_bond: U256::from(MIN_BOND),
            sequencer: Some(keys[SEQUENCER].address()),
            genesis_archive: b256(genesis_archive(&ws).expect("genesis archive")),
            ..DeployConfig::default()
        };
        let deployment = deploy_all(wallet(&anvil, &keys[SEQUENCER]), &config)
            .await
            .expect("deploy");
        let rollup = RollupContract::new(
            deployment.rollup,
            provemesh_l1::read_provider(anvil.url().parse().expect("url")),
        );
        (
            Chain {
                anvil,
                keys,
                deployment,
                rollup,
                dir,
                timing,
            },
            ws,
        )
    }

    pub fn url(&self) -> url::Url {
        self.anvil.url().parse().expect("url")
    }

    pub fn wallet(&self, i: usize) -> DynProvider {
        wallet(&self.anvil, &self.keys[i])
    }

    /// A sequencer config for this chain: the block builder signs with account 0.
    pub fn sequencer_config(&self) -> SequencerConfig {
        let mut c = SequencerConfig::new(
            self.url(),
            self.deployment,
            Some(self.keys[SEQUENCER].clone()),
        );
        c.poll_interval = Duration::from_millis(100);
        c
    }

    /// Mints `amount` bond tokens to account `i` and, when `deposit`, deposits them in the
    /// escrow. Call before the sequencer starts: account 0 (the token's owner) is also the
    /// sequencer, and both send transactions from it.
    pub async fn fund(&self, i: usize, amount: u64, deposit: bool) {
        let prover = self.keys[i].address();
        let owner = self.wallet(SEQUENCER);
        TestERC20::new(self.deployment.token, &owner)
            .mint(prover, U256::from(amount))
            .send()
            .await
            .expect("mint")
            .get_receipt()
            .await
            .expect("mint receipt");
        if !deposit {
            return;
        }
        let p = self.wallet(i);
        TestERC20::new(self.deployment.token, &p)
            .approve(self.deployment.escrow, U256::from(amount))
            .send()
            .await
            .expect("approve")
            .get_receipt()
            .await
            .expect("approve receipt");
        let r = ProofCommitmentEscrow::new(self.deployment.escrow, &p)
            .deposit(U256::from(amount))
            .send()
            .await
            .expect("deposit")
            .get_receipt()
            .await
            .expect("deposit receipt");
        assert!(r.status());
    }

    /// Bond tokens `who` has deposited in the escrow and not staked.
    pub async fn deposited(&self, who: Address) -> U256 {
        let p = self.wallet(SEQUENCER);
        ProofCommitmentEscrow::new(self.deployment.escrow, &p)
            .deposits(who)
            .call()
            .await
            .expect("deposits")
    }

    /// Bond tokens of `who` staked on a claim.
    pub async fn bonded(&self, who: Address) -> U256 {
        let p = self.wallet(SEQUENCER);
        ProofCommitmentEscrow::new(self.deployment.escrow, &p)
            .bonded(who)
            .call()
            .await
            .expect("bonded")
    }
}

pub fn wallet(anvil: &Anvil, key: &PrivateKeySigner) -> DynProvider {
    wallet_provider(anvil.url().parse().expect("url"), key.clone())
}

/// Starts a sequencer node with `config` on `ws`; stops with `shutdown`.
pub async fn sequencer(
    config: SequencerConfig,
    ws: WorldState,
    shutdown: &CancellationToken,
) -> SequencerHandle {
    provemesh_sequencer::start(config, ws, shutdown.clone())
        .await
        .expect("sequencer starts")
}

/// The next event matching `pred` (panics after `secs`).
pub async fn next_event<T>(
    rx: &mut broadcast::Receiver<SequencerEvent>,
    secs: u64,
    mut pred: impl FnMut(&SequencerEvent) -> Option<T>,
) -> T {
    let wait = async {
        loop {
            match rx.recv().await {
                Ok(e) => {
                    if let Some(t) = pred(&e) {
                        return t;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("event stream ended: {e}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(secs), wait)
        .await
        .expect("the expected sequencer event did not come in time")
}

/// Polls `f` every 100 ms until it gives `Some` (panics after `secs`, naming `what`).
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(t) = f().await {
            return t;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl Chain {
    /// `EpochProven` events of `epoch` on the Rollup so far.
    pub async fn proven_events(&self, epoch: u64) -> usize {
        use alloy::providers::Provider as _;
        use provemesh_l1::bindings::Rollup::RollupEvents;
        let head = self
            .rollup
            .instance()
            .provider()
            .get_block_number()
            .await
            .expect("L1 head");
        let events = self.rollup.events(0, head).await.expect("rollup events");
        events
            .iter()
            .filter(|l| matches!(&l.event, RollupEvents::EpochProven(e) if e.epoch == U256::from(epoch)))
            .count()
    }
}

impl Chain {
    /// `evm_snapshot`: an id to revert L1 to.
    pub async fn snapshot(&self) -> U256 {
        use alloy::providers::Provider as _;
        self.wallet(SEQUENCER)
            .raw_request("evm_snapshot".into(), ())
            .await
            .expect("evm_snapshot")
    }

    /// `evm_revert` to `id` (the L1 blocks since the snapshot are gone), then mine empty
    /// blocks until the new chain is `mine` blocks longer than the old one: a reorg replaces
    /// a chain with a heavier one, so watchers that wait on a shorter head see it.
    pub async fn revert(&self, id: U256, mine: u64) {
        use alloy::providers::Provider as _;
        let p = self.wallet(SEQUENCER);
        let old_head = p.get_block_number().await.expect("eth_blockNumber");
        let ok: bool = p
            .raw_request("evm_revert".into(), (id,))
            .await
            .expect("evm_revert");
        assert!(ok, "evm_revert refused");
        let new_head = p.get_block_number().await.expect("eth_blockNumber");
        let blocks = old_head.saturating_sub(new_head) + mine;
        let _: serde_json::Value = p
            .raw_request("anvil_mine".into(), (U256::from(blocks),))
            .await
            .expect("anvil_mine");
    }
}
