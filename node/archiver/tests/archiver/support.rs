//! A rollup on a fresh anvil that a test drives block by block (propose, claim and prove
//! epochs, send L1→L2 messages, prune, snapshot and revert L1), an archiver on it, and a
//! TCP proxy that can be killed to take an L1 URL down.

use alloy::primitives::{Address, Bytes, B256, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::signers::local::PrivateKeySigner;
use provemesh_archiver::{Archiver, ArchiverConfig, ArchiverError, SyncStatus};
use provemesh_common::circuit::{SimulatedCircuitInputs, SimulatedProof};
use provemesh_common::{JobId, ProofType};
use provemesh_harness::Anvil;
use provemesh_l1::bindings::Inbox::L2Actor;
use provemesh_l1::bindings::{ProofCommitmentEscrow, TestERC20};
use provemesh_l1::hash::{merkle_root, txs_effects_hash};
use provemesh_l1::public_inputs::{prover_id, verifier_public_input_fields};
use provemesh_l1::{
    deploy_all, dev_chain, quote_domain, sign_quote, wallet_provider, BlockHeader,
    ContentCommitment, DeployConfig, Deployment, EpochProofPublicInputs, EpochProofQuote,
    GlobalVariables, InboxContract, ProposeArgs, RollupContract, RollupTiming, SentMessage,
    StateReference, TreeSnapshot,
};
use std::future::Future;
use std::path::Path;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use url::Url;

pub const CHAIN_ID: u64 = 31337;
pub const EPOCH: u64 = 4;
pub const CLAIM_WINDOW: u64 = 2;
pub const PROOF_WINDOW: u64 = 3;
pub const BOND: u64 = 1_000;
pub const GENESIS_ARCHIVE: B256 = B256::repeat_byte(0x01);

/// Fails the test after `secs` instead of hanging.
pub async fn within<F: Future<Output = ()>>(secs: u64, f: F) {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("test timed out");
}

/// A block as the tests propose it; `variant` makes a different block of the same number.
#[derive(Debug, Clone)]
pub struct TestBlock {
    pub number: u64,
    pub slot: u64,
    pub archive: B256,
    pub out_hash: B256,
    pub tx_hashes: Vec<B256>,
    pub body: Bytes,
}

pub fn block(number: u64, slot: u64, variant: u8) -> TestBlock {
    let mut archive = [variant; 32];
    archive[..8].copy_from_slice(&number.to_be_bytes());
    archive[8..16].copy_from_slice(&slot.to_be_bytes());
    TestBlock {
        number,
        slot,
        archive: B256::from(archive),
        out_hash: B256::from(U256::from(0xB000 + number)),
        tx_hashes: vec![
            B256::from(U256::from(number * 1000 + 1)),
            B256::from(U256::from(number * 1000 + 2)),
        ],
        body: Bytes::from(format!("effects of block {number}, variant {variant}").into_bytes()),
    }
}

pub struct Chain {
    pub anvil: Anvil,
    pub sequencer: DynProvider,
    pub prover_key: PrivateKeySigner,
    pub sequencer_key: PrivateKeySigner,
    pub prover: DynProvider,
    pub d: Deployment,
    pub rollup: RollupContract<DynProvider>,
    pub inbox: InboxContract<DynProvider>,
    pub timing: RollupTiming,
}

/// Dev account `i`'s key; anvil may answer RPC before its banner is in the log.
async fn dev_key(anvil: &Anvil, i: usize) -> PrivateKeySigner {
    for _ in 0..50 {
        if let Some(k) = anvil.dev_private_key(i) {
            return k.parse().expect("key");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no dev key {i} in anvil's banner");
}

impl Chain {
    pub async fn start() -> Chain {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let anvil = Anvil::start(CHAIN_ID).expect("anvil");
        let (sequencer_key, prover_key) = (dev_key(&anvil, 0).await, dev_key(&anvil, 1).await);
        let url: Url = anvil.url().parse().expect("url");
        let sequencer = wallet_provider(url.clone(), sequencer_key.clone());
        let prover = wallet_provider(url, prover_key.clone());
        let cfg = DeployConfig {
            slot_duration: 12,
            epoch_duration: EPOCH,
            claim_window: CLAIM_WINDOW,
            proof_submission_window: PROOF_WINDOW,
            min_bond: U256::from(100),
            sequencer: Some(sequencer_key.address()),
            genesis_archive: GENESIS_ARCHIVE,
            ..DeployConfig::default()
        };
        let d = deploy_all(sequencer.clone(), &cfg).await.expect("deploy");
        let rollup = RollupContract::new(d.rollup, sequencer.clone());
        let timing = rollup.timing().await.expect("timing");
        Chain {
            inbox: InboxContract::new(d.inbox, sequencer.clone()),
            anvil,
            sequencer,
            prover,
            prover_key,
            sequencer_key,
            d,
            rollup,
            timing,
        }
    }

    pub fn url(&self) -> Url {
        self.anvil.url().parse().expect("url")
    }

    pub async fn head(&self) -> u64 {
        self.sequencer.get_block_number().await.expect("head")
    }

    async fn latest_timestamp(&self) -> u64 {
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
        if self.timing.slot_at(now) == slot {
            return;
        }
        let at = self.timing.timestamp_for_slot(slot);
        assert!(now < at, "cannot go back to slot {slot}");
        dev_chain::warp_to(&self.sequencer, at).await.expect("warp");
    }

    pub async fn mine(&self, blocks: u64) {
        for _ in 0..blocks {
            dev_chain::mine(&self.sequencer).await.expect("mine");
        }
    }

    /// Warps to `b`'s slot and proposes it on top of the pending chain.
    pub async fn propose(&self, b: &TestBlock) {
        self.warp_to_slot(b.slot).await;
        let parent = self
            .rollup
            .block(b.number - 1)
            .await
            .map(|l| l.archive)
            .expect("parent block");
        let (in_hash, _) = self.inbox.bucket(b.number).await.expect("bucket");
        let snapshot = |i: u8| TreeSnapshot {
            root: B256::repeat_byte(i),
            nextAvailableLeafIndex: 0,
        };
        let args = ProposeArgs {
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
                totalFees: U256::from(10 * b.number),
            },
            archive: b.archive,
            txHashes: b.tx_hashes.clone(),
            body: b.body.clone(),
        };
        self.rollup
            .propose(args)
            .await
            .unwrap_or_else(|e| panic!("propose block {} in slot {}: {e}", b.number, b.slot));
    }

    /// Sends an L1→L2 message (it goes to the bucket of the next block to be proposed).
    pub async fn send_message(&self, content: u8) -> SentMessage {
        self.inbox
            .send_l2_message(
                L2Actor {
                    actor: B256::repeat_byte(0x42),
                    version: U256::from(1),
                },
                B256::from(U256::from(content)),
                B256::ZERO,
            )
            .await
            .expect("send message")
    }

    /// Mints and deposits the prover's bonds.
    pub async fn fund_prover(&self, amount: u64) {
        let prover = self.prover_key.address();
        let receipt = |r: alloy::rpc::types::TransactionReceipt| assert!(r.status());
        let token = TestERC20::new(self.d.token, &self.sequencer);
        receipt(
            token
                .mint(prover, U256::from(amount))
                .send()
                .await
                .expect("mint")
                .get_receipt()
                .await
                .expect("mint receipt"),
        );
        let token = TestERC20::new(self.d.token, &self.prover);
        receipt(
            token
                .approve(self.d.escrow, U256::from(amount))
                .send()
                .await
                .expect("approve")
                .get_receipt()
                .await
                .expect("approve receipt"),
        );
        let escrow = ProofCommitmentEscrow::new(self.d.escrow, &self.prover);
        receipt(
            escrow
                .deposit(U256::from(amount))
                .send()
                .await
                .expect("deposit")
                .get_receipt()
                .await
                .expect("deposit receipt"),
        );
    }

    /// In the first slot of `epoch + 1`: claims `epoch` on the prover's quote and submits
    /// its simulated root proof over `blocks` (the epoch's blocks, after the proven block
    /// whose archive is `previous_archive`).
    pub async fn claim_and_prove(&self, epoch: u64, previous_archive: B256, blocks: &[TestBlock]) {
        self.warp_to_slot((epoch + 1) * EPOCH).await;
        let quote = EpochProofQuote {
            epochToProve: U256::from(epoch),
            validUntilSlot: U256::from((epoch + 1) * EPOCH + 1),
            bondAmount: U256::from(BOND),
            basisPointFee: 2_500,
            prover: self.prover_key.address(),
        };
        let signed = sign_quote(
            &self.prover_key,
            quote,
            &quote_domain(CHAIN_ID, self.d.rollup),
        )
        .await
        .expect("sign");
        self.rollup
            .claim_epoch_proof_right(signed)
            .await
            .expect("claim");
        let last = blocks.last().expect("blocks");
        let out_hashes: Vec<B256> = blocks.iter().map(|b| b.out_hash).collect();
        let args = EpochProofPublicInputs {
            previousArchive: previous_archive,
            endArchive: last.archive,
            outHash: merkle_root(&out_hashes),
            totalFees: U256::from(blocks.iter().map(|b| 10 * b.number).sum::<u64>()),
            proverId: prover_id(self.prover_key.address()),
        };
        let inputs = SimulatedCircuitInputs {
            public_inputs: verifier_public_input_fields(&args, epoch, last.number),
            payload: ::bytes::Bytes::from_static(b"root rollup witness"),
            ..Default::default()
        };
        let id = JobId::derive(ProofType::RootRollup, &inputs.encode().expect("encode"));
        let proof = Bytes::from(SimulatedProof::create(&id, &inputs, 512));
        RollupContract::new(self.d.rollup, self.prover.clone())
            .submit_epoch_root_proof(epoch, last.number, args, proof)
            .await
            .expect("submit proof");
    }

    /// `evm_snapshot`: an id to revert L1 to.
    pub async fn snapshot(&self) -> U256 {
        self.sequencer
            .raw_request("evm_snapshot".into(), ())
            .await
            .expect("evm_snapshot")
    }

    /// `evm_revert` to `id`: the L1 blocks since the snapshot are dropped.
    pub async fn revert(&self, id: U256) {
        let ok: bool = self
            .sequencer
            .raw_request("evm_revert".into(), (id,))
            .await
            .expect("evm_revert");
        assert!(ok, "evm_revert refused");
    }
}

/// The archiver configuration for `chain` at `urls`, polling fast, reading L1 in small
/// ranges (so that a test spans several).
pub fn config(chain: &Chain, urls: Vec<Url>, dir: &Path) -> ArchiverConfig {
    let mut c = ArchiverConfig::for_deployment(urls, &chain.d, dir);
    c.polling_interval = Duration::from_millis(50);
    c.batch_size = 4;
    c.rpc_timeout = Duration::from_secs(5);
    c
}

/// An archiver running in a task.
pub struct Running {
    pub archiver: Archiver,
    pub shutdown: CancellationToken,
    pub task: JoinHandle<Result<(), ArchiverError>>,
}

impl Running {
    pub fn start(config: ArchiverConfig) -> Running {
        let archiver = Archiver::open(config).expect("open archive");
        let shutdown = CancellationToken::new();
        let (a, s) = (archiver.clone(), shutdown.clone());
        let task = tokio::spawn(async move { a.run(s).await });
        Running {
            archiver,
            shutdown,
            task,
        }
    }

    /// Stops the archiver and closes its archive.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task
            .await
            .expect("archiver task")
            .expect("archiver run");
    }

    /// Waits until the archiver has read L1 up to `chain`'s current head.
    pub async fn synced(&self, chain: &Chain) -> SyncStatus {
        let head = chain.head().await;
        self.wait(|s| s.l1_block.is_some_and(|b| b >= head)).await
    }

    pub async fn wait(&self, mut done: impl FnMut(&SyncStatus) -> bool) -> SyncStatus {
        let mut rx = self.archiver.watch_status();
        loop {
            let s = rx.borrow_and_update().clone();
            if done(&s) {
                return s;
            }
            if self.task.is_finished() {
                panic!("the archiver stopped; status {s:?}");
            }
            let _ = tokio::time::timeout(Duration::from_millis(200), rx.changed()).await;
        }
    }
}

/// A TCP proxy on 127.0.0.1 in front of `target_port`; [`Proxy::kill`] closes its port
/// and every connection through it.
pub struct Proxy {
    pub port: u16,
    task: JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target_port: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("proxy addr").port();
        let task = tokio::spawn(async move {
            // Owned here: aborting this task drops the set, which aborts every connection.
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((mut inbound, _)) = accepted else { continue };
                        conns.spawn(async move {
                            let Ok(mut outbound) =
                                tokio::net::TcpStream::connect(("127.0.0.1", target_port)).await
                            else {
                                return;
                            };
                            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        });
                    }
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        });
        Proxy { port, task }
    }

    pub fn url(&self) -> Url {
        format!("http://127.0.0.1:{}", self.port)
            .parse()
            .expect("url")
    }

    pub async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// A loopback URL nobody listens on.
pub async fn dead_url() -> Url {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    format!("http://127.0.0.1:{port}").parse().expect("url")
}

pub fn host_of(url: &Url) -> String {
    provemesh_archiver::l1::redact_url(url)
}

/// The archive of blocks 1.. as (number, archive) pairs.
pub async fn archives(a: &Archiver) -> Vec<(u64, B256)> {
    use provemesh_archiver::L2BlockSource;
    a.blocks(1..=u64::MAX)
        .await
        .expect("blocks")
        .iter()
        .map(|b| (b.number, b.archive))
        .collect()
}

pub fn unused_address() -> Address {
    Address::repeat_byte(0x5A)
}
