//! A deployed rollup on a fresh anvil, with a sequencer (dev account 0) and a prover (dev
//! account 1) each holding a provider, and helpers that build valid blocks, quotes and
//! simulated proofs — so each test states only what it changes.

use alloy::primitives::{Bytes, B256, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::signers::local::PrivateKeySigner;
use provemesh_common::circuit::{SimulatedCircuitInputs, SimulatedProof};
use provemesh_common::{JobId, ProofType};
use provemesh_harness::Anvil;
use provemesh_l1::bindings::{ProofCommitmentEscrow, TestERC20};
use provemesh_l1::hash::txs_effects_hash;
use provemesh_l1::public_inputs::{prover_id, verifier_public_input_fields};
use provemesh_l1::wallet_provider;
use provemesh_l1::{
    deploy_all, dev_chain, quote_domain, sign_quote, BlockHeader, ContentCommitment, DeployConfig,
    Deployment, EpochProofPublicInputs, EpochProofQuote, GlobalVariables, InboxContract, L1Error,
    OutboxContract, ProposeArgs, Revert, RollupContract, RollupTiming, SignedEpochProofQuote,
    StateReference, TreeSnapshot,
};
use std::future::Future;
use std::time::Duration;

pub const CHAIN_ID: u64 = 31337;
pub const EPOCH: u64 = 4;
pub const CLAIM_WINDOW: u64 = 2;
pub const PROOF_WINDOW: u64 = 3;
pub const BOND: u64 = 1_000;

/// Fails the test after `secs` instead of hanging.
pub async fn within<F: Future<Output = ()>>(secs: u64, f: F) {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("test timed out");
}

pub fn config() -> DeployConfig {
    DeployConfig {
        slot_duration: 12,
        epoch_duration: EPOCH,
        claim_window: CLAIM_WINDOW,
        proof_submission_window: PROOF_WINDOW,
        min_bond: U256::from(100),
        sequencer: None,
        genesis_archive: B256::repeat_byte(0x01),
        ..DeployConfig::default()
    }
}

pub struct Fixture {
    /// Kept alive for the test: dropping it stops anvil.
    pub _anvil: Anvil,
    pub sequencer: DynProvider,
    pub prover: DynProvider,
    pub sequencer_key: PrivateKeySigner,
    pub prover_key: PrivateKeySigner,
    pub d: Deployment,
    pub rollup: RollupContract<DynProvider>,
    pub inbox: InboxContract<DynProvider>,
    pub outbox: OutboxContract<DynProvider>,
    pub timing: RollupTiming,
}

/// A block as the tests propose it; `archive` is made up, distinct per block.
#[derive(Clone)]
pub struct TestBlock {
    pub number: u64,
    pub slot: u64,
    pub archive: B256,
    pub out_hash: B256,
    pub fees: u64,
    pub tx_hashes: Vec<B256>,
    pub body: Bytes,
}

pub fn provider(url: &str, key: &PrivateKeySigner) -> DynProvider {
    wallet_provider(url.parse().expect("anvil url"), key.clone())
}

/// Dev account `i`'s key from anvil's banner. Anvil may answer RPC a moment before its
/// banner reaches the log file, so a missing key is looked for again briefly.
async fn dev_key(anvil: &Anvil, i: usize) -> PrivateKeySigner {
    for _ in 0..50 {
        if let Some(k) = anvil.dev_private_key(i) {
            return k.parse().expect("key");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no dev key {i} in anvil's banner");
}

impl Fixture {
    pub async fn start() -> Fixture {
        Self::start_with(config()).await
    }

    pub async fn start_with(mut cfg: DeployConfig) -> Fixture {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let anvil = Anvil::start(CHAIN_ID).expect("anvil");
        let (sequencer_key, prover_key) = (dev_key(&anvil, 0).await, dev_key(&anvil, 1).await);
        let sequencer = provider(&anvil.url(), &sequencer_key);
        let prover = provider(&anvil.url(), &prover_key);
        if cfg.sequencer.is_none() {
            cfg.sequencer = Some(sequencer_key.address());
        }
        let d = deploy_all(sequencer.clone(), &cfg).await.expect("deploy");
        let rollup = RollupContract::new(d.rollup, sequencer.clone());
        let timing = rollup.timing().await.expect("timing");
        Fixture {
            inbox: InboxContract::new(d.inbox, sequencer.clone()),
            outbox: OutboxContract::new(d.outbox, sequencer.clone()),
            _anvil: anvil,
            sequencer,
            prover,
            sequencer_key,
            prover_key,
            d,
            rollup,
            timing,
        }
    }

    pub async fn latest_timestamp(&self) -> u64 {
        self.sequencer
            .get_block_by_number(Default::default())
            .await
            .expect("latest block")
            .expect("a latest block")
            .header
            .timestamp
    }

    /// Moves L1 time to the start of `slot` (no-op when already inside it).
    pub async fn warp_to_slot(&self, slot: u64) {
        let now = self.latest_timestamp().await;
        let at = self.timing.timestamp_for_slot(slot);
        if self.timing.slot_at(now) == slot {
            return;
        }
        assert!(now < at, "cannot go back to slot {slot}");
        dev_chain::warp_to(&self.sequencer, at).await.expect("warp");
    }

    /// The arguments of `propose` for `b`: a header on top of the pending chain's block
    /// `b.number - 1`, with the Inbox bucket's commitment as inHash.
    pub async fn propose_args(&self, b: &TestBlock) -> ProposeArgs {
        let parent = self
            .rollup
            .block(b.number - 1)
            .await
            .map(|l| l.archive)
            .unwrap_or_default();
        let (in_hash, _) = self.inbox.bucket(b.number).await.expect("bucket");
        let snapshot = |i: u8| TreeSnapshot {
            root: B256::repeat_byte(i),
            nextAvailableLeafIndex: 0,
        };
        ProposeArgs {
            header: BlockHeader {
                lastArchive: TreeSnapshot {
                    root: parent,
                    nextAvailableLeafIndex: b.number as u32,
                },
                contentCommitment: ContentCommitment {
                    numTxs: U256::from(b.tx_hashes.len()),
                    txsEffectsHash: txs_effects_hash(&b.body),
                    inHash: in_hash,
                    outHash: b.out_hash,
                },
                state: StateReference {
                    l1ToL2MessageTree: snapshot(1),
                    noteHashTree: snapshot(2),
                    nullifierTree: snapshot(3),
                    publicDataTree: snapshot(4),
                },
                globalVariables: GlobalVariables {
                    chainId: U256::from(CHAIN_ID),
                    version: U256::from(1),
                    blockNumber: U256::from(b.number),
                    slotNumber: U256::from(b.slot),
                    timestamp: U256::from(self.timing.timestamp_for_slot(b.slot)),
                    coinbase: self.sequencer_key.address(),
                    feeRecipient: B256::ZERO,
                },
                totalFees: U256::from(b.fees),
            },
            archive: b.archive,
            txHashes: b.tx_hashes.clone(),
            body: b.body.clone(),
        }
    }

    /// Warps to the block's slot and proposes it.
    pub async fn propose(&self, b: &TestBlock) -> Result<(), L1Error> {
        self.warp_to_slot(b.slot).await;
        let args = self.propose_args(b).await;
        self.rollup.propose(args).await.map(|_| ())
    }

    /// Proposes blocks 1.. at `slots`, each with fees 100·n and no L2→L1 messages.
    pub async fn propose_chain(&self, slots: &[u64]) -> Vec<TestBlock> {
        let mut out = Vec::new();
        for (i, slot) in slots.iter().enumerate() {
            let n = i as u64 + 1;
            let b = block(n, *slot, 100 * n, B256::ZERO);
            self.propose(&b).await.expect("propose");
            out.push(b);
        }
        out
    }

    /// Mints bond tokens to the prover and deposits `amount` in the escrow.
    pub async fn fund_prover_bond(&self, amount: u64) {
        let token = TestERC20::new(self.d.token, &self.sequencer);
        let prover = self.prover_key.address();
        token
            .mint(prover, U256::from(amount))
            .send()
            .await
            .expect("mint")
            .get_receipt()
            .await
            .expect("mint receipt");
        let token = TestERC20::new(self.d.token, &self.prover);
        token
            .approve(self.d.escrow, U256::from(amount))
            .send()
            .await
            .expect("approve")
            .get_receipt()
            .await
            .expect("approve receipt");
        let escrow = ProofCommitmentEscrow::new(self.d.escrow, &self.prover);
        let r = escrow
            .deposit(U256::from(amount))
            .send()
            .await
            .expect("deposit")
            .get_receipt()
            .await
            .expect("deposit receipt");
        assert!(r.status());
    }

    pub async fn escrow_balances(&self) -> (U256, U256) {
        let escrow = ProofCommitmentEscrow::new(self.d.escrow, &self.sequencer);
        let who = self.prover_key.address();
        (
            escrow.deposits(who).call().await.expect("deposits"),
            escrow.bonded(who).call().await.expect("bonded"),
        )
    }

    pub fn quote(&self, epoch: u64, valid_until_slot: u64) -> EpochProofQuote {
        EpochProofQuote {
            epochToProve: U256::from(epoch),
            validUntilSlot: U256::from(valid_until_slot),
            bondAmount: U256::from(BOND),
            basisPointFee: 2_500,
            prover: self.prover_key.address(),
        }
    }

    /// `quote` signed by `key`.
    pub async fn sign(
        &self,
        key: &PrivateKeySigner,
        quote: EpochProofQuote,
    ) -> SignedEpochProofQuote {
        sign_quote(key, quote, &quote_domain(CHAIN_ID, self.d.rollup))
            .await
            .expect("sign")
    }

    /// The public inputs of the epoch ending with `blocks.last()` after proven block
    /// `previous` (archive `previous_archive`).
    pub fn public_inputs(
        &self,
        previous_archive: B256,
        blocks: &[TestBlock],
    ) -> EpochProofPublicInputs {
        let out_hashes: Vec<B256> = blocks.iter().map(|b| b.out_hash).collect();
        EpochProofPublicInputs {
            previousArchive: previous_archive,
            endArchive: blocks.last().expect("blocks").archive,
            outHash: provemesh_l1::hash::merkle_root(&out_hashes),
            totalFees: U256::from(blocks.iter().map(|b| b.fees).sum::<u64>()),
            proverId: prover_id(self.prover_key.address()),
        }
    }
}

/// Block `number` at `slot` with `fees` and `out_hash`; archive, tx hashes and body are
/// made up, distinct per (number, slot).
pub fn block(number: u64, slot: u64, fees: u64, out_hash: B256) -> TestBlock {
    TestBlock {
        number,
        slot,
        archive: B256::from(U256::from(0xA0_0000 + number * 0x100 + slot)),
        out_hash,
        fees,
        tx_hashes: vec![B256::repeat_byte(number as u8), B256::repeat_byte(0xEE)],
        body: Bytes::from(format!("effects of block {number} in slot {slot}").into_bytes()),
    }
}

/// The simulated root rollup proof over the verifier inputs of `args`.
pub fn simulated_proof(args: &EpochProofPublicInputs, epoch: u64, end_block: u64) -> Bytes {
    let inputs = SimulatedCircuitInputs {
        public_inputs: verifier_public_input_fields(args, epoch, end_block),
        payload: ::bytes::Bytes::from_static(b"root rollup witness"),
        ..Default::default()
    };
    let id = JobId::derive(ProofType::RootRollup, &inputs.encode().expect("encode"));
    Bytes::from(SimulatedProof::create(&id, &inputs, 512))
}

/// The decoded revert of a failed call, or a panic saying what happened instead.
pub fn revert_of<T: std::fmt::Debug>(r: Result<T, L1Error>) -> Revert {
    match r {
        Err(e) => e
            .revert()
            .cloned()
            .unwrap_or_else(|| panic!("expected a revert, got {e}")),
        Ok(v) => panic!("expected a revert, got success: {v:?}"),
    }
}
