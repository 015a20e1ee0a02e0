//! Real-proof jobs (PROVER_REAL_PROOFS=true): each DAG node's job as the `bb` backend takes
//! it — the circuit, its own parameters ([`provemesh_circuit_inputs`]) and its children's
//! stored proofs — and the public inputs its proof must carry.
//!
//! The expected public inputs are the real circuits' layouts (`to_fields` in
//! `circuits/types`): leaves' from the block data, a parent's from its children's (which
//! were checked), the root's are L1's. A proof is accepted only if it is a proof of the
//! node's circuit (name and verification-key hash of the loaded circuit set), carries
//! exactly these public inputs, and — when a verifier is configured — `bb verify` accepts
//! it. So a parent is never built on a proof of the wrong job, and a tampered or foreign
//! proof is proved again instead of failing the parent's job minutes later.

use crate::dag::NodeKey;
use crate::outputs::u64_field;
use bytes::Bytes;
use provemesh_bb::bb::{BbConfig, Verdict};
use provemesh_bb::circuits::{circuits_for, CircuitSet};
use provemesh_bb::job::RealJobInputs;
use provemesh_bb::proof::RealProof;
use provemesh_circuit_inputs as abi;
use provemesh_common::circuit::FieldBytes;
use provemesh_common::hash::{AppendOnlyTreeSnapshot, Fr, GlobalVariables, PartialStateReference};
use provemesh_common::tx::TxPublicOutputs;
use provemesh_common::EpochNumber;
use provemesh_tx_processor::ProcessedBlock;
use serde_json::json;
use std::fmt;
use std::sync::Arc;

/// How an epoch's jobs are proved.
#[derive(Clone, Default)]
pub enum Proofs {
    /// The `simulated` backend: inputs checked like the real circuits, fake proofs bound to
    /// their job.
    #[default]
    Simulated,
    /// Barretenberg proofs of the Noir circuits in the set.
    Real(Arc<RealCircuits>),
}

impl fmt::Debug for Proofs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Proofs::Simulated => f.write_str("Simulated"),
            Proofs::Real(r) => write!(f, "Real({})", r.set.dir.display()),
        }
    }
}

/// The circuit set the agents prove with, and the node's own verifier.
pub struct RealCircuits {
    set: Arc<CircuitSet>,
    bb: Option<BbConfig>,
}

/// Why a real proof is not accepted.
#[derive(Debug)]
pub(crate) enum RealRejection {
    /// Not a proof of this job: proved again.
    Bad(String),
    /// The node's verifier could not run (bb missing, or killed on each of its runs): the
    /// epoch stops with it.
    Verifier(String),
}

impl RealCircuits {
    /// `bb`: verify every proof natively before it feeds a parent (the agents verify
    /// children too; this is the node's own check). `None` checks circuit, key and public
    /// inputs only.
    pub fn new(set: Arc<CircuitSet>, bb: Option<BbConfig>) -> Self {
        RealCircuits { set, bb }
    }

    pub fn vk_tree_root(&self) -> Fr {
        self.set.vk_tree_root
    }

    /// A prover of client proofs with these circuits (what a wallet does; the devnet's load
    /// generator and tests use it). Needs bb.
    pub fn client_prover(&self) -> Result<provemesh_client_proofs::ClientProver, String> {
        let bb = self
            .bb
            .clone()
            .ok_or("client proofs cannot be made without bb")?;
        provemesh_client_proofs::ClientProver::new(&self.set, bb).map_err(|e| e.to_string())
    }

    /// The tx processor's client proof verifier for these circuits: txs' private kernel
    /// tail proofs checked with bb before they are executed (a bad one would otherwise
    /// surface only as a root proof L1 refuses). Needs bb (`new(_, Some(bb))`).
    pub fn client_verifier(&self) -> Result<provemesh_client_proofs::ClientVerifier, String> {
        let bb = self.bb.clone().ok_or(
            "client proofs cannot be checked without bb (real proofs need BB_* and CRS_PATH)",
        )?;
        provemesh_client_proofs::ClientVerifier::new(&self.set, bb).map_err(|e| e.to_string())
    }

    /// Checks a stored proof is `node`'s, over `expected`; returns it decoded.
    pub(crate) async fn check(
        &self,
        node: NodeKey,
        bytes: &[u8],
        expected: &[FieldBytes],
    ) -> Result<RealProof, RealRejection> {
        let bad = RealRejection::Bad;
        let circuits = circuits_for(node.proof_type());
        if circuits.is_empty() {
            return Err(RealRejection::Verifier(format!(
                "no circuit proves {}",
                node.proof_type()
            )));
        }
        let p = RealProof::decode(bytes).map_err(|e| bad(e.to_string()))?;
        // Which of the type's circuits (a block root's depends on its block) is bound by
        // the public inputs checked below: they are the ones computed for this node.
        let Some(want) = circuits.iter().copied().find(|c| *c == p.circuit) else {
            return Err(bad(format!(
                "a proof of {}, not of {}",
                p.circuit,
                circuits.join(" or ")
            )));
        };
        let c = self
            .set
            .get(want)
            .ok_or_else(|| RealRejection::Verifier(format!("circuit {want} is not in the set")))?;
        if Fr::from_be_bytes(&p.vk_hash).ok() != Some(c.vk_hash) {
            return Err(bad(format!(
                "{want}: made with another verification key than the circuit set's"
            )));
        }
        if p.public_inputs.len() != expected.len() {
            return Err(bad(format!(
                "{want}: {} public inputs, the job's proof has {}",
                p.public_inputs.len(),
                expected.len()
            )));
        }
        if let Some(i) = (0..expected.len()).find(|&i| p.public_inputs[i] != expected[i]) {
            return Err(bad(format!(
                "{want}: public input {i} is not the job's (a proof of other inputs)"
            )));
        }
        if let Some(bb) = &self.bb {
            // A bb killed by a signal (out of memory on a busy node) concluded nothing about
            // the proof: it is run again a few times before the epoch stops on it.
            let verdict = bb
                .verify_retrying_kills(&c.name, &c.vk, &p.proof, &p.public_inputs_bytes(), c.target)
                .await;
            match verdict {
                Ok(Verdict::Valid) => {}
                Ok(Verdict::Invalid(why)) => {
                    return Err(bad(format!("{want}: bb verify refuses it: {why}")))
                }
                Err(e) => return Err(RealRejection::Verifier(e.to_string())),
            }
        }
        Ok(p)
    }
}

/// The circuit that closes a block without txs.
const EMPTY_BLOCK_ROOT: &str = "empty_block_root_rollup";

/// Why a block of `txs` txs cannot be proved for real (the block root circuit's size), if
/// it cannot. The epoch monitor asks before bidding; the orchestrator before enqueueing.
pub fn unprovable_block(txs: usize) -> Option<String> {
    (txs > abi::MAX_TXS_PER_BLOCK).then(|| {
        format!(
            "{txs} txs; real proofs take blocks of at most {} txs (the block root circuit)",
            abi::MAX_TXS_PER_BLOCK
        )
    })
}

/// Why an epoch of `blocks` blocks cannot be proved for real, if it cannot.
pub fn unprovable_epoch(blocks: usize) -> Option<String> {
    (blocks > abi::MAX_BLOCKS_PER_EPOCH).then(|| {
        format!(
            "{blocks} blocks; real proofs take epochs of at most {} blocks (the root rollup circuit)",
            abi::MAX_BLOCKS_PER_EPOCH
        )
    })
}

/// A real-proof job and what its proof must expose.
pub(crate) struct RealJob {
    pub inputs: RealJobInputs,
    pub expected: Vec<FieldBytes>,
}

/// A proved child as a parent's job takes it.
pub(crate) struct RealChild<'a> {
    pub proof: &'a Bytes,
    pub public_inputs: &'a [FieldBytes],
}

/// What a node's real job is built from.
pub(crate) struct RealContext<'a> {
    pub circuits: &'a RealCircuits,
    pub epoch: EpochNumber,
    pub node: NodeKey,
    pub retry: u32,
    /// The epoch's blocks so far (all of them for the root).
    pub blocks: &'a [Arc<ProcessedBlock>],
    pub prover_id: FieldBytes,
    pub expected_root: &'a [FieldBytes],
}

fn fr(f: Fr) -> FieldBytes {
    f.to_be_bytes()
}

fn snapshot(s: &AppendOnlyTreeSnapshot) -> [FieldBytes; 2] {
    [fr(s.root), u64_field(s.next_available_leaf_index)]
}

fn partial(p: &PartialStateReference) -> Vec<FieldBytes> {
    [&p.note_hash_tree, &p.nullifier_tree, &p.public_data_tree]
        .into_iter()
        .flat_map(snapshot)
        .collect()
}

fn global_variables(g: &GlobalVariables) -> [FieldBytes; 7] {
    [
        fr(g.chain_id),
        fr(g.version),
        u64_field(g.block_number),
        u64_field(g.slot_number),
        u64_field(g.timestamp),
        fr(g.coinbase),
        fr(g.fee_recipient),
    ]
}

fn field(b: &FieldBytes) -> Result<Fr, String> {
    Fr::from_be_bytes(b).map_err(|e| format!("a child's public input is not a field: {e}"))
}

fn tx_outputs(block: &ProcessedBlock, tx: usize) -> Result<&TxPublicOutputs, String> {
    block
        .txs
        .get(tx)
        .map(|t| &t.base_rollup_inputs.tx.outputs)
        .ok_or_else(|| format!("tx {tx} is unknown"))
}

/// The block's real effects chain before its tx `tx`.
fn effects_chain_before(block: &ProcessedBlock, tx: usize) -> Fr {
    block.txs.iter().take(tx).fold(Fr::ZERO, |c, t| {
        abi::effects_chain(c, &t.base_rollup_inputs.tx.outputs)
    })
}

/// The epoch's out hash chain before its block `b`.
fn out_hash_chain_before(blocks: &[Arc<ProcessedBlock>], b: usize) -> Fr {
    blocks.iter().take(b).fold(Fr::ZERO, |c, blk| {
        abi::out_hash_chain(c, blk.header.content_commitment.out_hash)
    })
}

impl RealContext<'_> {
    fn block(&self, b: usize) -> Result<&ProcessedBlock, String> {
        self.blocks
            .get(b)
            .map(|b| b.as_ref())
            .ok_or_else(|| format!("block {b} is unknown"))
    }

    fn child<'c>(
        kids: &'c [RealChild<'_>],
        i: usize,
        len: usize,
    ) -> Result<&'c [FieldBytes], String> {
        match kids.get(i) {
            Some(k) if k.public_inputs.len() == len => Ok(k.public_inputs),
            Some(k) => Err(format!(
                "child {i} has {} public inputs, not {len}",
                k.public_inputs.len()
            )),
            None => Err(format!("child {i} is missing")),
        }
    }

    /// Builds the node's job from the block data and its checked children (in slot order).
    pub fn build(&self, kids: &[RealChild<'_>]) -> Result<RealJob, String> {
        let vk_root = fr(self.circuits.vk_tree_root());
        let e = |x: abi::InputsError| x.to_string();
        let (params, expected) = match self.node {
            NodeKey::BaseParity { block, index } => {
                let p = self
                    .block(block)?
                    .parity
                    .base
                    .get(index)
                    .ok_or_else(|| format!("base parity {index} is unknown"))?;
                let msgs = &p.l1_to_l2_messages;
                let expected = vec![
                    fr(provemesh_common::hash::header::sha256_merkle_root(msgs)),
                    fr(provemesh_common::hash::merkle_root(
                        msgs,
                        msgs.len().trailing_zeros() as u8,
                    )),
                    vk_root,
                ];
                (abi::base_parity(msgs).map_err(e)?, expected)
            }
            NodeKey::RootParity { block } => {
                let parity = &self.block(block)?.parity;
                let n = parity.base.len();
                for i in 0..n {
                    Self::child(kids, i, 3)?;
                }
                let expected = vec![fr(parity.sha_root), fr(parity.converted_root), vk_root];
                (json!({}), expected)
            }
            NodeKey::BaseRollup { block: b, tx } => {
                let block = self.block(b)?;
                let t = &block
                    .txs
                    .get(tx)
                    .ok_or_else(|| format!("tx {tx} is unknown"))?
                    .base_rollup_inputs;
                let chain = effects_chain_before(block, tx);
                let mut params = abi::base_rollup(t, chain).map_err(e)?;
                // The tx's client proof, verified again inside the base rollup.
                params["client_proof"] =
                    provemesh_client_proofs::base_rollup_client_proof(&self.circuits.set, &t.tx)
                        .map_err(|err| err.to_string())?;
                let o = tx_outputs(block, tx)?;
                let c = &t.constants;
                let mut expected = Vec::with_capacity(26);
                expected.extend(snapshot(&c.last_archive));
                expected.extend(global_variables(&c.global_variables));
                expected.push(vk_root);
                expected.extend(partial(&t.start));
                let end = tx_end_state(block, tx)?;
                expected.extend(partial(&end));
                expected.push(u64_field(1));
                expected.push(fr(o.fee));
                expected.push(fr(chain));
                expected.push(fr(abi::effects_chain(chain, o)));
                (params, expected)
            }
            NodeKey::Merge { .. } => {
                let (l, r) = (Self::child(kids, 0, 26)?, Self::child(kids, 1, 26)?);
                let mut expected = l[..16].to_vec();
                expected.extend_from_slice(&r[16..22]);
                expected.push(fr(field(&l[22])? + field(&r[22])?));
                expected.push(fr(field(&l[23])? + field(&r[23])?));
                expected.push(l[24]);
                expected.push(r[25]);
                (json!({}), expected)
            }
            NodeKey::BlockRoot { block: b } => {
                let block = self.block(b)?;
                let txs: Vec<&TxPublicOutputs> = block
                    .txs
                    .iter()
                    .map(|t| &t.base_rollup_inputs.tx.outputs)
                    .collect();
                let chain = out_hash_chain_before(self.blocks, b);
                let params = if txs.is_empty() {
                    // Only the root parity below it (the DAG gives an empty block no
                    // rollup child).
                    Self::child(kids, 0, 3)?;
                    abi::empty_block_root(&block.block_root, chain).map_err(e)?
                } else {
                    Self::child(kids, 0, 26)?;
                    Self::child(kids, 1, 3)?;
                    abi::block_root(&block.block_root, &txs, chain).map_err(e)?
                };
                let br = &block.block_root;
                let n = br.constants.global_variables.block_number;
                let mut expected = Vec::with_capacity(10);
                expected.extend(snapshot(&br.constants.last_archive));
                expected.extend(snapshot(&br.new_archive));
                expected.push(u64_field(n));
                expected.push(u64_field(n));
                expected.push(fr(block.header.total_fees));
                expected.push(fr(chain));
                expected.push(fr(abi::out_hash_chain(
                    chain,
                    block.header.content_commitment.out_hash,
                )));
                expected.push(vk_root);
                (params, expected)
            }
            NodeKey::BlockMerge { .. } => {
                let (l, r) = (Self::child(kids, 0, 10)?, Self::child(kids, 1, 10)?);
                let mut expected = l[..2].to_vec();
                expected.extend_from_slice(&r[2..4]);
                expected.push(l[4]);
                expected.push(r[5]);
                expected.push(fr(field(&l[6])? + field(&r[6])?));
                expected.push(l[7]);
                expected.push(r[8]);
                expected.push(vk_root);
                (json!({}), expected)
            }
            NodeKey::Root => {
                Self::child(kids, 0, 10)?;
                let hashes: Vec<Fr> = self
                    .blocks
                    .iter()
                    .map(|b| b.header.content_commitment.out_hash)
                    .collect();
                let prover = Fr::from_be_bytes(&self.prover_id)
                    .map_err(|e| format!("prover id is not a field: {e}"))?;
                let params = abi::root_rollup(&hashes, prover, self.epoch.0).map_err(e)?;
                (params, self.expected_root.to_vec())
            }
        };
        let children = kids
            .iter()
            .enumerate()
            .map(|(i, k)| RealProof::decode(k.proof).map_err(|e| format!("child {i}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let circuit = match self.node {
            NodeKey::BlockRoot { block } if self.block(block)?.txs.is_empty() => EMPTY_BLOCK_ROOT,
            n => circuits_for(n.proof_type())
                .first()
                .copied()
                .ok_or_else(|| format!("no circuit proves {}", n.proof_type()))?,
        };
        Ok(RealJob {
            inputs: RealJobInputs {
                circuit: circuit.into(),
                inputs_json: params.to_string(),
                children,
                tag: format!("epoch {} {} attempt {}", self.epoch, self.node, self.retry),
            },
            expected,
        })
    }
}

/// The state after a block's tx `tx`: the next tx's start, or the block's end.
fn tx_end_state(block: &ProcessedBlock, tx: usize) -> Result<PartialStateReference, String> {
    match block.txs.get(tx + 1) {
        Some(next) => Ok(next.base_rollup_inputs.start),
        None if tx < block.txs.len() => Ok(block.block_root.end),
        None => Err(format!("tx {tx} is unknown")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_circuits_sizes_bound_what_is_provable_for_real() {
        assert_eq!(
            unprovable_block(0),
            None,
            "an empty block closes with its own circuit"
        );
        assert_eq!(unprovable_block(1), None);
        assert_eq!(unprovable_block(8), None);
        assert!(unprovable_block(9).is_some_and(|r| r.contains("at most 8 txs")));
        assert_eq!(unprovable_epoch(16), None);
        assert!(unprovable_epoch(17).is_some_and(|r| r.contains("at most 16 blocks")));
    }
}
