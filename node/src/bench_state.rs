//! `provemesh bench state`: world state insert throughput per tree and tx processor
//! throughput, at the devnet tree heights and at height 32.
//!
//! Everything runs against a real redb database in a temporary directory (fsync on every
//! commit), with simulated client proofs. Per-tree rows insert the way the tx processor
//! does (per-tx subtrees, low-leaf updates, one root per batch) and commit at the end;
//! block rows time `process_block` plus `commit_block` for consecutive blocks.
//!
//! Block rows also count the Poseidon2 permutations per tx and, with the permutation's
//! cost measured in the same run, print the hash-bound ceiling: what this machine's cores
//! could do if they did nothing but hash. The tx processor's time is almost all hashing,
//! so that ceiling, not the code around it, is what bounds txs/s here.

use anyhow::Context as _;
use clap::Args;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use provemesh_common::hash::leaves::fee_juice_balance_slot;
use provemesh_common::hash::{
    permutation_count, poseidon2_hash, poseidon2_permutation, Fr, GlobalVariables,
};
use provemesh_common::tx::{
    PublicDataWrite, SimulatedClientProof, Tx, TxPublicOutputs, NOTE_HASH_SUBTREE_HEIGHT,
    NULLIFIER_SUBTREE_HEIGHT,
};
use provemesh_tx_processor::{process_block, BlockToProcess, SimulatedClientProofVerifier};
use provemesh_world_state::{TreeHeights, WorldState, WorldStateConfig};
use std::time::Instant;

#[derive(Debug, Clone, Args)]
pub struct StateBench {
    /// Block sizes (txs per block) to measure, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "8,64,256")]
    pub block_sizes: Vec<usize>,
    /// Txs processed per block size (rounded up to whole blocks).
    #[arg(long, default_value_t = 1024)]
    pub txs: usize,
    /// Leaves inserted per tree in the insert rows.
    #[arg(long, default_value_t = 4096)]
    pub leaves: usize,
    /// Note hashes per benchmark tx.
    #[arg(long, default_value_t = 2)]
    pub note_hashes: usize,
    /// Nullifiers per benchmark tx (the first is the tx hash).
    #[arg(long, default_value_t = 2)]
    pub nullifiers: usize,
    /// Public data writes per benchmark tx (the fee payment write comes on top).
    #[arg(long, default_value_t = 1)]
    pub public_writes: usize,
    /// Tree heights to measure: "devnet" and/or a number (every tree that tall).
    #[arg(long, value_delimiter = ',', default_value = "devnet,32")]
    pub heights: Vec<String>,
}

const FEE_PAYERS: u64 = 64;

impl StateBench {
    pub async fn run(self) -> anyhow::Result<()> {
        tokio::task::spawn_blocking(move || self.run_blocking()).await?
    }

    fn run_blocking(self) -> anyhow::Result<()> {
        if self.block_sizes.contains(&0) || self.txs == 0 || self.nullifiers == 0 {
            anyhow::bail!("block sizes, txs and nullifiers must be at least 1");
        }
        println!(
            "tx shape: {} note hashes, {} nullifiers, {} public writes + fee write; simulated client proofs; redb with fsync per block",
            self.note_hashes, self.nullifiers, self.public_writes
        );
        let cost = PermutationCost::measure();
        println!(
            "Poseidon2 permutation: {:.2} µs on one core (this run); {} cores",
            cost.micros, cost.cores
        );
        let mut table = Table::new();
        table
            .load_preset(UTF8_FULL_CONDENSED)
            .set_header(vec!["heights", "measure", "result", "detail"]);
        for h in &self.heights {
            let (label, heights) = match h.as_str() {
                "devnet" => ("devnet (24/24/24/20/20)".to_string(), TreeHeights::DEVNET),
                n => {
                    let n: u8 = n.parse().with_context(|| format!("tree height {n:?}"))?;
                    (format!("all {n}"), TreeHeights::uniform(n))
                }
            };
            for (name, leaves_per_s, detail) in self.tree_rows(heights)? {
                table.add_row(vec![
                    label.clone(),
                    format!("{name} insert"),
                    format!("{leaves_per_s:.0} leaves/s"),
                    detail,
                ]);
            }
            for &size in &self.block_sizes {
                let (tps, detail) = self.block_row(heights, size, &cost)?;
                table.add_row(vec![
                    label.clone(),
                    format!("blocks of {size} txs"),
                    format!("{tps:.0} txs/s"),
                    detail,
                ]);
            }
        }
        println!("{table}");
        Ok(())
    }

    fn config(heights: TreeHeights) -> WorldStateConfig {
        WorldStateConfig {
            heights,
            genesis_public_data: (0..FEE_PAYERS)
                .map(|p| {
                    (
                        fee_juice_balance_slot(Fr::from(1000 + p)),
                        Fr::from(u64::MAX),
                    )
                })
                .collect(),
            ..WorldStateConfig::default()
        }
    }

    fn tree_rows(&self, heights: TreeHeights) -> anyhow::Result<Vec<(&'static str, f64, String)>> {
        let n = self.leaves;
        let mut rows = Vec::new();
        let mut measure = |name: &'static str,
                           detail: &str,
                           f: &mut dyn FnMut(&mut WorldState) -> anyhow::Result<()>|
         -> anyhow::Result<()> {
            let dir = tempfile::tempdir()?;
            let mut ws = WorldState::open(dir.path(), Self::config(heights))?;
            let started = Instant::now();
            f(&mut ws)?;
            let mut header = ws.tip_record().header;
            header.global_variables.block_number = ws.tip() + 1;
            header.state = ws.state_reference()?;
            ws.commit_block(&header)?;
            rows.push((
                name,
                n as f64 / started.elapsed().as_secs_f64(),
                detail.to_string(),
            ));
            Ok(())
        };
        let key = |i: usize| poseidon2_hash(&[Fr::from(i as u64 + 7)]);
        measure("note hash", "subtrees of 8, root per subtree", &mut |ws| {
            let t = ws.trees_mut().note_hash;
            for c in (0..n).collect::<Vec<_>>().chunks(8) {
                let leaves: Vec<Fr> = c.iter().map(|&i| key(i)).collect();
                t.append_subtree(&leaves, NOTE_HASH_SUBTREE_HEIGHT)?;
                t.root()?;
            }
            Ok(())
        })?;
        measure(
            "nullifier",
            "batches of 8 random keys, root per batch",
            &mut |ws| {
                let t = ws.trees_mut().nullifier;
                for c in (0..n).collect::<Vec<_>>().chunks(8) {
                    let keys: Vec<Fr> = c.iter().map(|&i| key(i)).collect();
                    t.batch_insert(&keys, NULLIFIER_SUBTREE_HEIGHT)?;
                    t.merkle().root()?;
                }
                Ok(())
            },
        )?;
        measure(
            "public data",
            "sequential inserts of random slots, root each",
            &mut |ws| {
                let t = ws.trees_mut().public_data;
                for i in 0..n {
                    t.sequential_insert(key(i), Fr::from(i as u64), true)?;
                    t.merkle().root()?;
                }
                Ok(())
            },
        )?;
        measure(
            "L1→L2 message",
            "subtrees of 16, root per subtree",
            &mut |ws| {
                let t = ws.trees_mut().l1_to_l2_message;
                for c in (0..n).collect::<Vec<_>>().chunks(16) {
                    let leaves: Vec<Fr> = c.iter().map(|&i| key(i)).collect();
                    t.append_subtree(&leaves, 4)?;
                    t.root()?;
                }
                Ok(())
            },
        )?;
        measure("archive", "single leaves, root each", &mut |ws| {
            let t = ws.trees_mut().archive;
            for i in 0..n {
                t.append_leaf(key(i))?;
                t.root()?;
            }
            Ok(())
        })?;
        Ok(rows)
    }

    fn tx(&self, seq: u64) -> Tx {
        let f = |tag: u64, i: usize| {
            poseidon2_hash(&[Fr::from(tag), Fr::from(seq), Fr::from(i as u64)])
        };
        let outputs = TxPublicOutputs {
            note_hashes: (0..self.note_hashes).map(|i| f(1, i)).collect(),
            nullifiers: (0..self.nullifiers).map(|i| f(2, i)).collect(),
            public_data_writes: (0..self.public_writes)
                .map(|i| PublicDataWrite {
                    contract_address: Fr::from(0x1234u64),
                    storage_slot: Fr::from((seq * 7 + i as u64) % 4096),
                    value: Fr::from(seq),
                })
                .collect(),
            l2_to_l1_messages: vec![],
            fee_payer: Fr::from(1000 + seq % FEE_PAYERS),
            fee: Fr::from(1u64),
        };
        Tx {
            proof: SimulatedClientProof::create(&outputs),
            outputs,
        }
    }

    fn block_row(
        &self,
        heights: TreeHeights,
        size: usize,
        cost: &PermutationCost,
    ) -> anyhow::Result<(f64, String)> {
        let dir = tempfile::tempdir()?;
        let mut ws = WorldState::open(dir.path(), Self::config(heights))?;
        let blocks = self.txs.div_ceil(size);
        let mut seq = 0u64;
        let (mut processing, mut committing) = (0.0f64, 0.0f64);
        let mut permutations = 0u64;
        for b in 0..blocks {
            let txs: Vec<Tx> = (0..size)
                .map(|_| {
                    seq += 1;
                    self.tx(seq)
                })
                .collect();
            let block = BlockToProcess {
                global_variables: GlobalVariables {
                    block_number: b as u64 + 1,
                    ..GlobalVariables::default()
                },
                txs,
                l1_to_l2_messages: vec![Fr::from(b as u64 + 1)],
            };
            let p0 = permutation_count();
            let t0 = Instant::now();
            let out = process_block(&mut ws, &SimulatedClientProofVerifier, &block)?;
            let t1 = Instant::now();
            ws.commit_block(&out.header)?;
            processing += (t1 - t0).as_secs_f64();
            committing += t1.elapsed().as_secs_f64();
            permutations += permutation_count() - p0;
            anyhow::ensure!(
                out.rejected.is_empty(),
                "benchmark tx rejected: {:?}",
                out.rejected.first()
            );
        }
        let n = (blocks * size) as f64;
        let per_tx = permutations as f64 / n;
        Ok((
            n / (processing + committing),
            format!(
                "{blocks} blocks; process {:.0} µs/tx, commit {:.0} µs/tx; {per_tx:.0} permutations/tx, hash-bound ceiling {:.0} txs/s",
                1e6 * processing / n,
                1e6 * committing / n,
                cost.ceiling(per_tx)
            ),
        ))
    }
}

/// What one Poseidon2 permutation costs on this machine, now.
struct PermutationCost {
    micros: f64,
    cores: usize,
}

impl PermutationCost {
    /// Times a chain of permutations on one thread (~0.3 s).
    fn measure() -> Self {
        const N: u32 = 20_000;
        let mut state = [Fr::ONE, Fr::from(2u64), Fr::from(3u64), Fr::from(4u64)];
        let started = Instant::now();
        for _ in 0..N {
            state = poseidon2_permutation(state);
        }
        let micros = started.elapsed().as_secs_f64() * 1e6 / f64::from(N);
        std::hint::black_box(state);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        PermutationCost { micros, cores }
    }

    /// Txs/s if every core did nothing but `per_tx` permutations per tx.
    fn ceiling(&self, per_tx: f64) -> f64 {
        self.cores as f64 * 1e6 / (per_tx * self.micros)
    }
}
