//! The load generator: txs at a steady rate over the node's JSON-RPC API, as a wallet
//! would send them — valid ones (unique nullifiers, simulated client proofs, fee payers
//! funded at genesis, an L2→L1 message in every fifth) and, on request, every K-th one invalid, cycling through the ways
//! a tx can be wrong:
//!
//! | kind | what is wrong | refused |
//! |---|---|---|
//! | bad client proof | the proof's bytes tampered | at submission (`client_proof`) |
//! | double spend | a second nullifier of an earlier valid tx | at submission (`nullifier_in_pool` / `nullifier_in_state`) |
//! | unfunded fee payer | a fee payer with no fee juice | at submission (`fee_not_payable`) |
//! | overdraft | two txs of a fee payer that can pay only one | the second by the block builder (`fee_not_payable`), or at submission if the first is already mined |
//!
//! Each invalid tx's refusal is recorded with its JSON-RPC code and reason.

use crate::genesis::{Genesis, LIMITED_BALANCE};
use jsonrpsee::core::client::Error as ClientError;
use provemesh_common::hash::Fr;
use provemesh_common::tx::{
    tx_nullifier, ClientProof, L2ToL1Message, PublicDataWrite, SimulatedClientProof, Tx, TxHash,
    TxPublicOutputs,
};
use provemesh_p2p::wire::HexTx;
use provemesh_p2p::NodeApiClient;
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The fee of every generated tx.
pub const TX_FEE: u64 = 10;

/// How a generated tx is made invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvalidKind {
    BadClientProof,
    DoubleSpend,
    UnfundedFeePayer,
    /// The second of two txs of a payer who can pay for one.
    Overdraft,
}

impl InvalidKind {
    pub const ALL: [InvalidKind; 4] = [
        InvalidKind::BadClientProof,
        InvalidKind::DoubleSpend,
        InvalidKind::UnfundedFeePayer,
        InvalidKind::Overdraft,
    ];
}

/// Makes txs: deterministic from a seed, unique per (seed, counter).
pub struct TxFactory {
    seed: u64,
    counter: u64,
    funded: Vec<Fr>,
    limited: Vec<Fr>,
    next_limited: usize,
    /// Nullifiers of valid txs made so far (for double spends).
    spent: Vec<Fr>,
    /// The sender secrets of the latest txs, by first nullifier: what a real client proof
    /// is made from ([`TxFactory::sender_secret`]).
    secrets: std::collections::VecDeque<(Fr, (Fr, Fr))>,
}

/// Sender secrets remembered for proving (a tx is proved right after it is made).
const REMEMBERED_SECRETS: usize = 64;

impl TxFactory {
    /// A factory paying from `genesis`'s fee payers; `seed` keeps two generators'
    /// nullifiers apart.
    pub fn new(genesis: &Genesis, seed: u64) -> Self {
        TxFactory {
            seed,
            counter: 0,
            funded: genesis.funded.clone(),
            limited: genesis.limited.clone(),
            next_limited: 0,
            spent: Vec::new(),
            secrets: std::collections::VecDeque::new(),
        }
    }

    fn field(&self, tag: &str, i: u64) -> Fr {
        let mut h = Sha256::new();
        h.update(b"provemesh/loadgen/v1\0");
        h.update(tag.as_bytes());
        h.update(self.seed.to_be_bytes());
        h.update(self.counter.to_be_bytes());
        h.update(i.to_be_bytes());
        let d: [u8; 32] = h.finalize().into();
        // 31 bytes: below the modulus, never zero in practice.
        Fr::from_be_bytes_reduce(&d[1..])
    }

    fn outputs(&mut self, fee_payer: Fr, fee: u64) -> TxPublicOutputs {
        self.counter += 1;
        let c = self.counter;
        // The first nullifier (the tx hash) comes from the sender's secret, as the private
        // kernel tail requires; the others stand for the notes the tx spends.
        let (secret, nonce) = (self.field("secret", 0), Fr::from(c));
        let first = tx_nullifier(secret, nonce);
        if self.secrets.len() == REMEMBERED_SECRETS {
            self.secrets.pop_front();
        }
        self.secrets.push_back((first, (secret, nonce)));
        TxPublicOutputs {
            note_hashes: (0..2).map(|i| self.field("note", i)).collect(),
            nullifiers: vec![first, self.field("nullifier", 1)],
            public_data_writes: vec![PublicDataWrite {
                contract_address: Fr::from(0x1000 + c % 4),
                storage_slot: Fr::from(c % 16),
                value: Fr::from(c),
            }],
            // Every 5th tx sends a message to an L1 address.
            l2_to_l1_messages: if c.is_multiple_of(5) {
                vec![L2ToL1Message {
                    recipient: Fr::from(0xe1_0000_u64 + c % 7),
                    content: self.field("message", 0),
                }]
            } else {
                vec![]
            },
            fee_payer,
            fee: Fr::from(fee),
        }
    }

    fn seal(outputs: TxPublicOutputs) -> Tx {
        Tx {
            proof: SimulatedClientProof::create(&outputs),
            outputs,
        }
    }

    /// The sender's (secret, nonce) of one of the latest txs made here, by its first
    /// nullifier: what its real client proof is made from.
    pub fn sender_secret(&self, tx: &Tx) -> Option<(Fr, Fr)> {
        let first = tx.outputs.nullifiers.first()?;
        self.secrets
            .iter()
            .rev()
            .find(|(n, _)| n == first)
            .map(|(_, s)| *s)
    }

    /// A valid tx (given its fee payer still has fee juice).
    pub fn valid(&mut self) -> Tx {
        let payer = self
            .funded
            .get((self.counter as usize) % self.funded.len().max(1))
            .copied()
            .unwrap_or(Fr::ZERO);
        let o = self.outputs(payer, TX_FEE);
        self.spent.extend(o.nullifiers.iter().copied());
        Self::seal(o)
    }

    /// Invalid tx(s) of `kind`; for an overdraft, a valid tx and then the invalid one.
    pub fn invalid(&mut self, kind: InvalidKind) -> Vec<Tx> {
        match kind {
            InvalidKind::BadClientProof => {
                let recorded = self.spent.len();
                let mut tx = self.valid();
                // Never in the pool, so not a nullifier a double spend could reuse.
                self.spent.truncate(recorded);
                if let ClientProof::Simulated(p) = &tx.proof {
                    let mut b = p.to_vec();
                    if let Some(x) = b.get_mut(8 + 32 + 5) {
                        *x ^= 0x55;
                    }
                    tx.proof = ClientProof::Simulated(b.into());
                }
                vec![tx]
            }
            InvalidKind::DoubleSpend => {
                let Some(old) = self.spent.last().copied() else {
                    return self.invalid(InvalidKind::BadClientProof);
                };
                let payer = self.funded.first().copied().unwrap_or(Fr::ZERO);
                let mut o = self.outputs(payer, TX_FEE);
                o.nullifiers[1] = old;
                vec![Self::seal(o)]
            }
            InvalidKind::UnfundedFeePayer => {
                let payer = self.field("unfunded payer", 0);
                vec![Self::seal(self.outputs(payer, TX_FEE))]
            }
            InvalidKind::Overdraft => {
                let Some(payer) = self.limited.get(self.next_limited).copied() else {
                    return self.invalid(InvalidKind::UnfundedFeePayer);
                };
                self.next_limited += 1;
                // Each fee is more than half of what the payer has.
                let fee = LIMITED_BALANCE / 2 + 1;
                let first = Self::seal(self.outputs(payer, fee));
                let second = Self::seal(self.outputs(payer, fee));
                vec![first, second]
            }
        }
    }
}

/// How the load generator runs.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The node's JSON-RPC URL.
    pub rpc_url: String,
    /// Txs per second.
    pub tps: f64,
    /// Every K-th tx is invalid (`None`: all valid).
    pub invalid_every: Option<u64>,
    /// Stop after this many txs (`None`: until shutdown).
    pub max_txs: Option<u64>,
}

/// A tx the generator sent and what the node answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub hash: TxHash,
    /// `None`: a valid tx; else how it was made invalid.
    pub invalid: Option<InvalidKind>,
    /// `None`: accepted into the pool; else the JSON-RPC error (code, kind, message).
    pub refused: Option<(i32, String, String)>,
}

/// Counters, readable while the generator runs.
#[derive(Debug, Default)]
pub struct LoadStats {
    pub sent: AtomicU64,
    pub accepted: AtomicU64,
    pub refused: AtomicU64,
    pub transport_errors: AtomicU64,
    /// Txs not sent because their real client proof could not be made.
    pub proof_errors: AtomicU64,
}

/// Sends txs to a node until told to stop.
pub struct LoadGenerator {
    config: LoadConfig,
    factory: TxFactory,
    /// Real client proofs (private kernel tail, bb) instead of simulated ones.
    prover: Option<provemesh_client_proofs::ClientProver>,
    stats: Arc<LoadStats>,
    sent: Arc<Mutex<Vec<Sent>>>,
}

/// The load generator could not start.
#[derive(Debug, thiserror::Error)]
#[error("load generator: JSON-RPC client for {url}: {reason}")]
pub struct LoadError {
    pub url: String,
    pub reason: String,
}

impl LoadGenerator {
    pub fn new(config: LoadConfig, factory: TxFactory) -> Self {
        LoadGenerator {
            config,
            factory,
            prover: None,
            stats: Arc::default(),
            sent: Arc::default(),
        }
    }

    /// Gives every tx a real client proof made with `prover` (a tx meant to carry a bad
    /// client proof gets a real one with a byte flipped).
    pub fn with_client_prover(mut self, prover: provemesh_client_proofs::ClientProver) -> Self {
        self.prover = Some(prover);
        self
    }

    /// Replaces `tx`'s simulated client proof with a real one.
    async fn prove(&self, tx: &mut Tx, tamper: bool) -> Result<(), String> {
        let Some(prover) = &self.prover else {
            return Ok(());
        };
        let (secret, nonce) = self
            .factory
            .sender_secret(tx)
            .ok_or("the tx's sender secret is not remembered")?;
        let proof = prover
            .prove(&tx.outputs, secret, nonce)
            .await
            .map_err(|e| e.to_string())?;
        tx.proof = match proof {
            ClientProof::Honk { proof, vk_hash } if tamper => {
                let mut b = proof.to_vec();
                if let Some(x) = b.get_mut(32 * 20 + 7) {
                    *x ^= 0x55;
                }
                ClientProof::Honk {
                    proof: b.into(),
                    vk_hash,
                }
            }
            p => p,
        };
        Ok(())
    }

    pub fn stats(&self) -> Arc<LoadStats> {
        self.stats.clone()
    }

    /// Every tx sent so far, in order (shared, growing while the generator runs).
    pub fn sent(&self) -> Arc<Mutex<Vec<Sent>>> {
        self.sent.clone()
    }

    /// Runs until `shutdown` (or `max_txs`); returns every tx sent.
    pub async fn run(mut self, shutdown: CancellationToken) -> Result<Vec<Sent>, LoadError> {
        let client = provemesh_p2p::http_client(&self.config.rpc_url, Duration::from_secs(10))
            .map_err(|e| LoadError {
                url: self.config.rpc_url.clone(),
                reason: e.to_string(),
            })?;
        let period = Duration::from_secs_f64(1.0 / self.config.tps.max(0.001));
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut n = 0u64;
        let mut invalid_turn = 0usize;
        while self.config.max_txs.is_none_or(|m| n < m) {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            n += 1;
            let invalid = self
                .config
                .invalid_every
                .filter(|k| *k > 0 && n.is_multiple_of(*k))
                .map(|_| {
                    let k = InvalidKind::ALL[invalid_turn % InvalidKind::ALL.len()];
                    invalid_turn += 1;
                    k
                });
            let txs = match invalid {
                None => vec![(self.factory.valid(), None)],
                Some(kind) => {
                    let mut txs = self.factory.invalid(kind);
                    let last = txs.pop();
                    let mut out: Vec<_> = txs.into_iter().map(|t| (t, None)).collect();
                    out.extend(last.map(|t| (t, Some(kind))));
                    out
                }
            };
            for (mut tx, invalid) in txs {
                let Some(hash) = tx.hash() else { continue };
                if let Err(e) = self
                    .prove(&mut tx, invalid == Some(InvalidKind::BadClientProof))
                    .await
                {
                    tracing::warn!(tx = %hash, "load generator: client proof: {e}");
                    self.stats.proof_errors.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                self.stats.sent.fetch_add(1, Ordering::Relaxed);
                let refused = match client.send_tx(HexTx(tx)).await {
                    Ok(_) => {
                        self.stats.accepted.fetch_add(1, Ordering::Relaxed);
                        None
                    }
                    Err(ClientError::Call(e)) => {
                        self.stats.refused.fetch_add(1, Ordering::Relaxed);
                        let kind = e
                            .data()
                            .and_then(|d| serde_json::from_str::<serde_json::Value>(d.get()).ok())
                            .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(String::from))
                            .unwrap_or_default();
                        if invalid.is_none() {
                            tracing::warn!(tx = %hash, "load generator: a valid tx was refused: {}", e.message());
                        }
                        Some((e.code(), kind, e.message().to_string()))
                    }
                    Err(e) => {
                        self.stats.transport_errors.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(tx = %hash, "load generator: sending: {e}");
                        Some((0, "transport".into(), e.to_string()))
                    }
                };
                if let Ok(mut s) = self.sent.lock() {
                    s.push(Sent {
                        hash,
                        invalid,
                        refused,
                    });
                }
            }
        }
        Ok(self.sent.lock().map(|s| s.clone()).unwrap_or_default())
    }
}
