//! Turning a DAG node whose children are proved into its job: the circuit builder for its
//! place, fed with the block data and the children's outputs and proofs.

use crate::circuits::{self, ChildProof, CircuitJob, JobContext};
use crate::dag::{Dag, NodeIdx, NodeKey};
use crate::error::EpochError;
use crate::outputs::{BlockRunOutputs, Outputs, ParityOutputs, TxRunOutputs};
use crate::real::{Proofs, RealChild, RealContext, RealJob};
use bytes::Bytes;
use provemesh_broker::NewJob;
use provemesh_common::circuit::FieldBytes;
use provemesh_common::{EpochNumber, JobId, ProofRef};
use provemesh_tx_processor::ProcessedBlock;
use std::sync::Arc;

/// A node's job, ready to enqueue.
pub(crate) struct Built {
    pub idx: NodeIdx,
    pub id: JobId,
    pub job: NewJob,
    pub outputs: Outputs,
    /// The public inputs its proof must carry.
    pub expected: Vec<FieldBytes>,
}

impl Built {
    /// Encodes the circuit's inputs (the real job's, in real mode) into the job and
    /// derives its id.
    pub fn new(
        idx: NodeIdx,
        node: NodeKey,
        epoch: EpochNumber,
        deadline_ms: Option<u64>,
        circuit: CircuitJob,
        real: Option<RealJob>,
    ) -> Result<Self, EpochError> {
        let err = |reason: String| EpochError::Inputs {
            epoch,
            proof_type: node.proof_type(),
            node,
            reason,
        };
        let (inputs, expected) = match real {
            None => (
                circuit.inputs.encode().map_err(|e| err(e.to_string()))?,
                circuit.outputs.public_inputs(),
            ),
            Some(r) => (
                r.inputs.encode().map_err(|e| err(e.to_string()))?,
                r.expected,
            ),
        };
        let job = NewJob {
            epoch,
            proof_type: node.proof_type(),
            inputs: inputs.into(),
            deadline_ms,
        };
        Ok(Built {
            idx,
            id: job.id(),
            job,
            outputs: circuit.outputs,
            expected,
        })
    }
}

/// Builds the first attempt of leaf jobs (base parities, base rollups: they need only
/// their block), meant for a blocking thread: base rollups recompute tree roots from
/// their witnesses, which is most of the orchestrator's CPU.
pub(crate) fn build_leaves(
    epoch: EpochNumber,
    deadline_ms: Option<u64>,
    proofs: &Proofs,
    blocks: &[Arc<ProcessedBlock>],
    block: &ProcessedBlock,
    leaves: &[(NodeIdx, NodeKey)],
) -> Result<Vec<Built>, EpochError> {
    // The block's effects chain before each tx (cheap next to the tree checks).
    let mut chains = Vec::with_capacity(block.txs.len());
    let mut c = provemesh_common::hash::Fr::ZERO;
    for t in &block.txs {
        chains.push(c);
        c = circuits::effects_chain(c, &t.base_rollup_inputs.tx.outputs.digest());
    }
    leaves
        .iter()
        .map(|&(idx, node)| {
            let err = |reason: String| EpochError::Inputs {
                epoch,
                proof_type: node.proof_type(),
                node,
                reason,
            };
            let ctx = JobContext {
                epoch,
                node,
                retry: 0,
            };
            let circuit = match node {
                NodeKey::BaseParity { index, .. } => block
                    .parity
                    .base
                    .get(index)
                    .map(|p| circuits::base_parity(&ctx, p)),
                NodeKey::BaseRollup { tx, .. } => block.txs.get(tx).map(|t| {
                    let chain = chains.get(tx).copied().unwrap_or_default();
                    circuits::base_rollup(&ctx, &t.base_rollup_inputs, chain)
                }),
                _ => None,
            }
            .ok_or_else(|| err("not a leaf of this block".into()))?
            .map_err(|e| err(e.to_string()))?;
            let real = match proofs {
                Proofs::Simulated => None,
                Proofs::Real(circuits) => Some(
                    RealContext {
                        circuits,
                        epoch,
                        node,
                        retry: 0,
                        blocks,
                        prover_id: [0; 32],
                        expected_root: &[],
                    }
                    .build(&[])
                    .map_err(err)?,
                ),
            };
            Built::new(idx, node, epoch, deadline_ms, circuit, real)
        })
        .collect()
}

/// What the builder needs to know of a proved child.
pub(crate) struct ProvedChild<'a> {
    pub job: JobId,
    pub proof: &'a ProofRef,
    pub outputs: &'a Outputs,
    /// The stored proof and its checked public inputs (real mode).
    pub bytes: &'a Bytes,
    pub public_inputs: &'a [FieldBytes],
}

/// Everything a node's job is made from besides its children.
pub(crate) struct BuildContext<'a> {
    pub epoch: EpochNumber,
    pub dag: &'a Dag,
    pub blocks: &'a [Arc<ProcessedBlock>],
    pub prover_id: FieldBytes,
    pub expected_root: &'a [FieldBytes],
    pub proofs: &'a Proofs,
}

impl BuildContext<'_> {
    /// Builds the job of `idx` (attempt `retry`) from its proved children: the simulated
    /// circuit (whose outputs parents are built from), and in real mode the real job.
    pub fn build<'s>(
        &self,
        idx: NodeIdx,
        retry: u32,
        child: impl Fn(NodeIdx) -> Option<ProvedChild<'s>>,
    ) -> Result<(CircuitJob, Option<RealJob>), EpochError> {
        let node = self.dag.node(idx);
        let err = |reason: String| EpochError::Inputs {
            epoch: self.epoch,
            proof_type: node.proof_type,
            node: node.key,
            reason,
        };
        let kids: Vec<ProvedChild<'s>> = node
            .children
            .iter()
            .map(|&c| child(c).ok_or_else(|| err(format!("child {c} has no checked proof"))))
            .collect::<Result<_, _>>()?;
        let proofs: Vec<ChildProof> = kids
            .iter()
            .map(|k| ChildProof {
                job: k.job,
                proof_sha256: k.proof.sha256,
            })
            .collect();
        let tx_run = |i: usize| match kids.get(i).map(|k| k.outputs) {
            Some(Outputs::TxRun(o)) => Ok(*o),
            _ => Err(err(format!("child {i} is not a tx run"))),
        };
        let block_run = |i: usize| -> Result<BlockRunOutputs, EpochError> {
            match kids.get(i).map(|k| k.outputs) {
                Some(Outputs::BlockRun(o)) => Ok(*o),
                _ => Err(err(format!("child {i} is not a block run"))),
            }
        };
        let parity = |k: &ProvedChild<'s>| -> Result<ParityOutputs, EpochError> {
            match k.outputs {
                Outputs::Parity(p) => Ok(*p),
                _ => Err(err("a parity child is not a parity".into())),
            }
        };
        let block = |b: usize| {
            self.blocks
                .get(b)
                .ok_or_else(|| err(format!("block {b} is unknown")))
        };
        let ctx = JobContext {
            epoch: self.epoch,
            node: node.key,
            retry,
        };
        let built = match node.key {
            NodeKey::BaseParity { block: b, index } => {
                let p = block(b)?
                    .parity
                    .base
                    .get(index)
                    .ok_or_else(|| err(format!("base parity {index} is unknown")))?;
                circuits::base_parity(&ctx, p)
            }
            NodeKey::RootParity { .. } => {
                let parts = kids.iter().map(parity).collect::<Result<Vec<_>, _>>()?;
                circuits::root_parity(&ctx, &proofs, &parts)
            }
            NodeKey::BaseRollup { block: b, tx } => {
                let t = block(b)?
                    .txs
                    .get(tx)
                    .ok_or_else(|| err(format!("tx {tx} is unknown")))?;
                let chain = circuits::effects_chain_before(block(b)?, tx);
                circuits::base_rollup(&ctx, &t.base_rollup_inputs, chain)
            }
            NodeKey::Merge { .. } => {
                circuits::merge_rollup(&ctx, &proofs, &tx_run(0)?, &tx_run(1)?)
            }
            NodeKey::BlockRoot { block: b } => {
                let nodes = self
                    .dag
                    .blocks()
                    .get(b)
                    .ok_or_else(|| err(format!("block {b} has no nodes")))?;
                // Children are (txs, parity), or (parity) for a block without txs.
                let (txs, par): (Option<TxRunOutputs>, _) = match kids.as_slice() {
                    [p] if nodes.txs_top.is_none() => (None, parity(p)?),
                    [_, p] if nodes.txs_top.is_some() => (Some(tx_run(0)?), parity(p)?),
                    _ => return Err(err("unexpected children of a block root".into())),
                };
                circuits::block_root(&ctx, &proofs, txs.as_ref(), &par, block(b)?)
            }
            NodeKey::BlockMerge { .. } => {
                circuits::block_merge_rollup(&ctx, &proofs, &block_run(0)?, &block_run(1)?)
            }
            NodeKey::Root => circuits::root_rollup(
                &ctx,
                &proofs,
                &block_run(0)?,
                self.prover_id,
                self.expected_root,
            ),
        };
        let built = built.map_err(|e| err(e.to_string()))?;
        let real = match self.proofs {
            Proofs::Simulated => None,
            Proofs::Real(circuits) => {
                let children: Vec<RealChild<'_>> = kids
                    .iter()
                    .map(|k| RealChild {
                        proof: k.bytes,
                        public_inputs: k.public_inputs,
                    })
                    .collect();
                Some(
                    RealContext {
                        circuits,
                        epoch: self.epoch,
                        node: node.key,
                        retry,
                        blocks: self.blocks,
                        prover_id: self.prover_id,
                        expected_root: self.expected_root,
                    }
                    .build(&children)
                    .map_err(err)?,
                )
            }
        };
        Ok((built, real))
    }
}
