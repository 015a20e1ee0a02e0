//! `provemesh devnet --sequencer` (or `--tps N`): deploys the rollup contracts on the
//! devnet's anvil for a fresh world state, runs the sequencer on them with its JSON-RPC
//! API (and P2P when P2P_ENABLED), the load generator, and optionally a stream of
//! L1→L2 messages; prints a line per L2 block.

use crate::genesis::{genesis_archive, Genesis};
use crate::header::b256;
use crate::inbox::inject_message;
use crate::loadgen::{LoadConfig, LoadGenerator, LoadStats, TxFactory};
use crate::node::{start as start_node, SequencerConfig, SequencerEvent, SequencerHandle};
use alloy::primitives::{Address, B256, U256};
use alloy::signers::local::PrivateKeySigner;
use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args};
use provemesh_common::config::values;
use provemesh_l1::{
    deploy_all, wallet_provider, DeployConfig, Deployment, InboxContract, VerifierChoice,
};
use provemesh_p2p::{parse_boot_node, Multiaddr, P2pConfig};
use provemesh_world_state::TreeHeights;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The devnet's sequencer flags.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Sequencer (devnet)")]
pub struct DevnetSequencerArgs {
    /// Deploy the rollup contracts on the devnet's L1 and run the sequencer: a block per
    /// slot from the txs it receives, proposed to L1. Implied by --tps.
    #[arg(long)]
    pub sequencer: bool,

    /// Transactions per second the load generator sends to the sequencer (implies
    /// --sequencer; default 2 when only --sequencer is given, 0.01 with real proofs; 0:
    /// none).
    #[arg(long, value_parser = tps)]
    pub tps: Option<f64>,

    /// Make every K-th generated tx invalid (bad client proof, double spend, unfunded fee
    /// payer, overdraft, in turn): the sequencer must refuse each with its reason.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub invalid_every: Option<u64>,

    /// Seconds per L2 slot (one block per slot at most). Default 4; 300 with real proofs
    /// (an epoch's proof must land within the slots of the proof window: on 2 cores an
    /// epoch of one block with two txs takes 2.5 to 3.5 minutes to prove).
    #[arg(long, value_parser = clap::value_parser!(u64).range(2..=3600))]
    pub slot_duration: Option<u64>,

    /// Slots per epoch. The claim window is the first half of the next epoch, the proof
    /// window all of it. Default 4; 1 with real proofs.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub epoch_duration: Option<u64>,

    /// Most txs in one block. Default 64; 2 with real proofs (at most 8: the block root
    /// circuit's size).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub max_txs_per_block: Option<u64>,

    /// Send an L1→L2 message (Inbox.sendL2Message) this often, e.g. `10s` (0: never).
    #[arg(long, default_value = "0s", value_parser = values::duration)]
    pub l1_to_l2_message_interval: Duration,

    /// Port of the sequencer's JSON-RPC API (AZTEC_NODE_URL / PROVER_COORDINATION_NODE_URL
    /// of a prover node); 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    pub sequencer_port: u16,

    /// Gossip txs and quotes over libp2p.
    #[arg(long = "p2p-enabled", env = "P2P_ENABLED", value_name = "P2P_ENABLED",
          num_args = 0..=1, default_missing_value = "true", default_value_t = false, action = ArgAction::Set,
          value_parser = BoolishValueParser::new())]
    pub p2p_enabled: bool,

    /// TCP port of the sequencer's libp2p listener (0: a free one).
    #[arg(long, default_value_t = 0)]
    pub p2p_port: u16,

    /// Another node to dial at start (a multiaddr, `/ip4/…/tcp/…/p2p/…`).
    #[arg(
        long = "boot-node-url",
        env = "BOOT_NODE_URL",
        value_name = "BOOT_NODE_URL"
    )]
    pub boot_node_url: Option<String>,

    /// A governance payload to vote for on the rollup's GovernanceProposer, once in each
    /// slot the sequencer proposes a block in.
    #[arg(
        long,
        env = "GOVERNANCE_PROPOSER_PAYLOAD_ADDRESS",
        value_name = "GOVERNANCE_PROPOSER_PAYLOAD_ADDRESS"
    )]
    pub governance_proposer_payload_address: Option<Address>,

    /// Real proofs (set by `provemesh devnet --real-proofs`): the Rollup gets the Honk
    /// verifier, blocks and epochs stay within the circuits' sizes, and the timing
    /// defaults leave room for proving.
    #[arg(skip)]
    pub real_proofs: bool,
}

fn tps(raw: &str) -> Result<f64, String> {
    let v: f64 = raw
        .trim()
        .parse()
        .map_err(|_| format!("{raw:?} is not a number of txs per second"))?;
    if !(0.0..=10_000.0).contains(&v) {
        return Err(format!("{v} txs per second: expected 0 to 10000"));
    }
    Ok(v)
}

/// The circuits' limits (`circuits/types/src/constants.nr`).
const REAL_MAX_TXS_PER_BLOCK: u64 = 8;
const REAL_MAX_BLOCKS_PER_EPOCH: u64 = 16;

impl DevnetSequencerArgs {
    /// Whether the devnet runs a sequencer.
    pub fn enabled(&self) -> bool {
        self.sequencer || self.tps.is_some()
    }

    pub fn slot_duration(&self) -> u64 {
        self.slot_duration
            .unwrap_or(if self.real_proofs { 300 } else { 4 })
    }

    pub fn epoch_duration(&self) -> u64 {
        self.epoch_duration
            .unwrap_or(if self.real_proofs { 1 } else { 4 })
    }

    pub fn max_txs_per_block(&self) -> u64 {
        self.max_txs_per_block
            .unwrap_or(if self.real_proofs { 2 } else { 64 })
    }

    pub fn tps(&self) -> f64 {
        self.tps
            .unwrap_or(if self.real_proofs { 0.01 } else { 2.0 })
    }

    /// Flags that real proofs cannot take, named.
    pub fn check(&self) -> Result<(), FlagError> {
        if !self.real_proofs {
            return Ok(());
        }
        let flag = |flag: &'static str, reason: String| Err(FlagError { flag, reason });
        if self.max_txs_per_block() > REAL_MAX_TXS_PER_BLOCK {
            return flag(
                "--max-txs-per-block",
                format!(
                    "{}: real proofs take blocks of at most {REAL_MAX_TXS_PER_BLOCK} txs (the block root circuit)",
                    self.max_txs_per_block()
                ),
            );
        }
        if self.epoch_duration() > REAL_MAX_BLOCKS_PER_EPOCH {
            return flag(
                "--epoch-duration",
                format!(
                    "{} slots: real proofs take epochs of at most {REAL_MAX_BLOCKS_PER_EPOCH} blocks (the root rollup circuit)",
                    self.epoch_duration()
                ),
            );
        }
        Ok(())
    }
}

/// A devnet flag the chosen mode cannot take.
#[derive(Debug, thiserror::Error)]
#[error("devnet sequencer: {flag} {reason}")]
pub struct FlagError {
    pub flag: &'static str,
    pub reason: String,
}

/// Why the devnet's sequencer did not start.
#[derive(Debug, thiserror::Error)]
pub enum DevnetSequencerError {
    #[error(transparent)]
    Flag(#[from] FlagError),
    #[error("devnet sequencer: L1 URL {0:?} is not a URL")]
    BadL1Url(String),
    #[error("devnet sequencer: anvil's banner has no dev account {0}")]
    NoDevKey(usize),
    #[error("devnet sequencer: dev account {0}: not a private key")]
    BadDevKey(usize),
    #[error(transparent)]
    Config(#[from] provemesh_p2p::P2pError),
    #[error("devnet sequencer: world state in {dir}: {source}")]
    WorldState {
        dir: String,
        #[source]
        source: provemesh_world_state::WorldStateError,
    },
    #[error("devnet sequencer: deploying the rollup contracts: {0}")]
    Deploy(#[source] provemesh_l1::L1Error),
    #[error(transparent)]
    Sequencer(#[from] crate::error::SequencerError),
    #[error(transparent)]
    Load(#[from] crate::loadgen::LoadError),
    #[error("devnet sequencer: real proofs need real client proofs (the private kernel tail's prover and verifier)")]
    NoClientProofs,
}

/// Real client proofs for a devnet that proves for real: the load generator proves each
/// tx's private kernel tail, and the sequencer checks them as every node does.
pub struct DevnetClientProofs {
    pub prover: provemesh_client_proofs::ClientProver,
    pub verifier: provemesh_client_proofs::ClientVerifier,
}

/// The devnet's running sequencer and its helpers.
pub struct DevnetSequencer {
    pub node: SequencerHandle,
    pub deployment: Deployment,
    pub load: Option<Arc<LoadStats>>,
    tasks: Vec<JoinHandle<()>>,
}

impl DevnetSequencer {
    /// Stops the helpers and the node; the node's error, if it failed.
    pub async fn stop(self) -> Result<(), crate::error::SequencerError> {
        self.node.shutdown();
        for t in self.tasks {
            let _ = t.await;
        }
        self.node.wait().await
    }
}

async fn dev_key(
    dev_key: &(dyn Fn(usize) -> Option<String> + Sync),
    i: usize,
) -> Result<PrivateKeySigner, DevnetSequencerError> {
    // Anvil may answer RPC a moment before its banner reaches its log.
    for _ in 0..50 {
        if let Some(k) = dev_key(i) {
            return k.parse().map_err(|_| DevnetSequencerError::BadDevKey(i));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(DevnetSequencerError::NoDevKey(i))
}

/// Prints to stdout, ignoring a closed stdout.
fn say(line: String) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// Deploys the rollup on the anvil at `l1_url` (dev account 0 deploys and sequences,
/// account 2 sends L1→L2 messages) for a world state in `data_dir`, and starts the
/// sequencer, the load generator and the message sender.
pub async fn start(
    args: &DevnetSequencerArgs,
    l1_url: &str,
    dev_keys: &(dyn Fn(usize) -> Option<String> + Sync),
    data_dir: &Path,
    mint: &[(Address, U256)],
    client_proofs: Option<DevnetClientProofs>,
    shutdown: CancellationToken,
) -> Result<DevnetSequencer, DevnetSequencerError> {
    args.check()?;
    if args.real_proofs && client_proofs.is_none() {
        return Err(DevnetSequencerError::NoClientProofs);
    }
    let (client_prover, client_verifier) = match client_proofs {
        Some(c) => (Some(c.prover), Some(c.verifier)),
        None => (None, None),
    };
    let url: url::Url = l1_url
        .parse()
        .map_err(|_| DevnetSequencerError::BadL1Url(l1_url.to_string()))?;
    let sequencer_key = dev_key(dev_keys, 0).await?;
    let messenger_key = dev_key(dev_keys, 2).await?;

    let genesis = Genesis::devnet(16, 64, TreeHeights::DEVNET);
    let ws_dir = data_dir.join("sequencer-world-state");
    let ws =
        genesis
            .open_world_state(&ws_dir)
            .map_err(|source| DevnetSequencerError::WorldState {
                dir: ws_dir.display().to_string(),
                source,
            })?;
    let archive = genesis_archive(&ws).map_err(|source| DevnetSequencerError::WorldState {
        dir: ws_dir.display().to_string(),
        source,
    })?;
    let deploy_config = DeployConfig {
        slot_duration: args.slot_duration(),
        epoch_duration: args.epoch_duration(),
        claim_window: (args.epoch_duration() / 2).max(1),
        proof_submission_window: args.epoch_duration(),
        sequencer: Some(sequencer_key.address()),
        genesis_archive: b256(archive),
        verifier: if args.real_proofs {
            VerifierChoice::Honk
        } else {
            VerifierChoice::Simulated
        },
        ..DeployConfig::default()
    };
    let deployment = deploy_all(
        wallet_provider(url.clone(), sequencer_key.clone()),
        &deploy_config,
    )
    .await
    .map_err(DevnetSequencerError::Deploy)?;

    // Bond tokens for the devnet's provers, minted by the token's owner (the deployer, who
    // is also the sequencer: before the sequencer sends its own transactions from it).
    let owner = wallet_provider(url.clone(), sequencer_key.clone());
    for (to, amount) in mint {
        let receipt = provemesh_l1::bindings::TestERC20::new(deployment.token, &owner)
            .mint(*to, *amount)
            .send()
            .await
            .map_err(|e| {
                DevnetSequencerError::Deploy(provemesh_l1::L1Error::from_contract(
                    "TestERC20",
                    "mint",
                    e,
                ))
            })?
            .get_receipt()
            .await
            .map_err(|e| {
                DevnetSequencerError::Deploy(provemesh_l1::L1Error::from_contract(
                    "TestERC20",
                    "mint",
                    e.into(),
                ))
            })?;
        if !receipt.status() {
            return Err(DevnetSequencerError::Deploy(
                provemesh_l1::L1Error::FailedOnChain {
                    contract: "TestERC20",
                    call: "mint",
                    tx_hash: receipt.transaction_hash,
                },
            ));
        }
    }

    let mut config = SequencerConfig::new(url.clone(), deployment, Some(sequencer_key));
    config.rpc_listen = SocketAddr::from(([127, 0, 0, 1], args.sequencer_port));
    config.max_txs_per_block = args.max_txs_per_block() as usize;
    config.governance_payload = args.governance_proposer_payload_address;
    if let Some(v) = client_verifier {
        config.client_proofs = crate::node::ClientProofCheck(Arc::new(v));
    }
    if args.p2p_enabled {
        let boot: Vec<Multiaddr> = args
            .boot_node_url
            .as_deref()
            .map(parse_boot_node)
            .transpose()?
            .into_iter()
            .collect();
        let mut p2p = P2pConfig::loopback(boot);
        p2p.listen = vec![provemesh_p2p::loopback_addr(args.p2p_port)];
        config.p2p = Some(p2p);
    }
    let node = start_node(config, ws, shutdown.clone()).await?;

    say(format!(
        "  rollup (L1)      Rollup {}  Inbox {}  Outbox {}  escrow {}  fee/bond token {}",
        deployment.rollup, deployment.inbox, deployment.outbox, deployment.escrow, deployment.token
    ));
    say(format!(
        "  epoch verifier   {} {}",
        if args.real_proofs {
            "HonkVerifier (real root rollup proofs)"
        } else {
            "SimulatedVerifier"
        },
        deployment.verifier
    ));
    say(format!(
        "  sequencer        JSON-RPC {}  ({}s slots, {}-slot epochs, at most {} txs per block)",
        node.rpc_url(),
        args.slot_duration(),
        args.epoch_duration(),
        args.max_txs_per_block()
    ));
    if let Some(p) = args.governance_proposer_payload_address {
        say(format!(
            "  governance       voting for payload {p} on GovernanceProposer {} in each proposed slot",
            deployment.governance_proposer
        ));
    }
    if let Some(p2p) = node.p2p() {
        for a in p2p.listen_addrs() {
            say(format!(
                "  sequencer P2P    {a}  (BOOT_NODE_URL for other nodes)"
            ));
        }
    }

    let mut tasks = Vec::new();
    let mut events = node.subscribe();
    let stop = shutdown.clone();
    tasks.push(tokio::spawn(async move {
        loop {
            let ev = tokio::select! {
                _ = stop.cancelled() => break,
                e = events.recv() => e,
            };
            match ev {
                Ok(SequencerEvent::BlockProposed { number, slot, txs, rejected, l1_to_l2_messages, archive, .. }) => say(format!(
                    "L2 block {number:>4} (slot {slot:>4}): {:>3} txs, {} rejected, {l1_to_l2_messages} L1→L2 messages, archive {}…",
                    txs.len(),
                    rejected.len(),
                    &archive.to_string()[..12]
                )),
                Ok(SequencerEvent::Pruned { to_block, txs_back }) => say(format!(
                    "L1 pruned the unproven chain back to block {to_block} (no epoch proof in time); {txs_back} txs back in the pool"
                )),
                Ok(SequencerEvent::EpochClaimed { epoch, prover, basis_point_fee, .. }) => say(format!(
                    "epoch {epoch} claimed for prover {prover} at {basis_point_fee} bps"
                )),
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => break,
            }
        }
    }));

    let load = match args.tps() {
        t if t > 0.0 => {
            let generator = LoadGenerator::new(
                LoadConfig {
                    rpc_url: node.rpc_url(),
                    tps: t,
                    invalid_every: args.invalid_every,
                    max_txs: None,
                },
                TxFactory::new(&genesis, rand::random()),
            );
            let generator = match client_prover {
                Some(p) => generator.with_client_prover(p),
                None => generator,
            };
            let stats = generator.stats();
            let stop = shutdown.clone();
            tasks.push(tokio::spawn(async move {
                if let Err(e) = generator.run(stop).await {
                    tracing::error!("{e}");
                }
            }));
            say(format!(
                "  load generator   {t} txs/s{}",
                args.invalid_every
                    .map(|k| format!(", every {k}th invalid"))
                    .unwrap_or_default()
            ));
            Some(stats)
        }
        _ => None,
    };

    if !args.l1_to_l2_message_interval.is_zero() {
        let inbox = InboxContract::new(deployment.inbox, wallet_provider(url, messenger_key));
        let every = args.l1_to_l2_message_interval;
        let stop = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(every) => {}
                }
                n += 1;
                let content = B256::from(U256::from(n));
                if let Err(e) = inject_message(
                    &inbox,
                    B256::from(U256::from(0xdead_u64)),
                    content,
                    B256::ZERO,
                )
                .await
                {
                    tracing::warn!("sending an L1→L2 message: {e}");
                }
            }
        }));
    }
    Ok(DevnetSequencer {
        node,
        deployment,
        load,
        tasks,
    })
}
