//! Synthetic epochs: the shape of an epoch's proof tree with simulated circuit inputs,
//! driven through the mesh the way the proving orchestrator drives a real epoch — a job is
//! enqueued the moment its children's proofs exist, and every child proof is fetched and
//! checked against its job before it feeds a parent.
//!
//! Used by `provemesh devnet` until the prover node proves real epochs, and by benchmarks.

use bytes::Bytes;
use provemesh_broker::{Broker, NewJob, Results};
use provemesh_common::circuit::{Constraint, SimulatedCircuitInputs, SimulatedProof};
use provemesh_common::ids::sha256;
use provemesh_common::{EpochNumber, JobId, JobOutcome, ProofType};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Blocks per epoch and transactions per block.
#[derive(Debug, Clone, Copy)]
pub struct EpochShape {
    pub blocks: usize,
    pub txs_per_block: usize,
}

/// One circuit of the tree.
#[derive(Debug, Clone)]
pub struct TreeNode {
    pub proof_type: ProofType,
    pub children: Vec<usize>,
    pub parent: Option<usize>,
}

/// Builds the epoch's proof tree: per block, base parity → root parity and one base
/// rollup per tx merged pairwise, joined by the block root; block roots merged pairwise by
/// block merges; the root rollup on top. The last node is the root.
pub fn proof_tree(shape: EpochShape) -> Vec<TreeNode> {
    let mut nodes: Vec<TreeNode> = Vec::new();
    let mut add = |nodes: &mut Vec<TreeNode>, t: ProofType, children: Vec<usize>| {
        let i = nodes.len();
        for &c in &children {
            nodes[c].parent = Some(i);
        }
        nodes.push(TreeNode {
            proof_type: t,
            children,
            parent: None,
        });
        i
    };
    fn pairwise(
        nodes: &mut Vec<TreeNode>,
        add: &mut impl FnMut(&mut Vec<TreeNode>, ProofType, Vec<usize>) -> usize,
        mut layer: Vec<usize>,
        t: ProofType,
    ) -> usize {
        while layer.len() > 1 {
            layer = layer
                .chunks(2)
                .map(|c| {
                    if c.len() == 2 {
                        add(nodes, t, c.to_vec())
                    } else {
                        c[0]
                    }
                })
                .collect();
        }
        layer[0]
    }
    let mut block_roots = Vec::new();
    for _ in 0..shape.blocks.max(1) {
        let base_parity = add(&mut nodes, ProofType::BaseParity, vec![]);
        let root_parity = add(&mut nodes, ProofType::RootParity, vec![base_parity]);
        let bases: Vec<usize> = (0..shape.txs_per_block.max(1))
            .map(|_| add(&mut nodes, ProofType::PrivateBaseRollup, vec![]))
            .collect();
        let merged = pairwise(&mut nodes, &mut add, bases, ProofType::MergeRollup);
        block_roots.push(add(
            &mut nodes,
            ProofType::BlockRootRollup,
            vec![merged, root_parity],
        ));
    }
    let top = pairwise(
        &mut nodes,
        &mut add,
        block_roots,
        ProofType::BlockMergeRollup,
    );
    add(&mut nodes, ProofType::RootRollup, vec![top]);
    nodes
}

/// What proving one epoch took.
#[derive(Debug, Clone)]
pub struct EpochReport {
    pub epoch: EpochNumber,
    pub jobs: usize,
    pub elapsed: Duration,
    pub root: JobId,
}

/// Why an epoch could not be proved.
#[derive(Debug, thiserror::Error)]
pub enum EpochError {
    #[error("epoch {epoch}: job {job} ({proof_type}) failed: {error}")]
    JobFailed {
        epoch: EpochNumber,
        job: String,
        proof_type: ProofType,
        error: String,
    },
    #[error("epoch {epoch}: proof of job {job} ({proof_type}) rejected: {reason}")]
    BadProof {
        epoch: EpochNumber,
        job: String,
        proof_type: ProofType,
        reason: String,
    },
    #[error("epoch {0}: results stream ended")]
    ResultsEnded(EpochNumber),
    #[error("epoch {epoch}: {source}")]
    Broker {
        epoch: EpochNumber,
        #[source]
        source: provemesh_broker::BrokerError,
    },
}

fn inputs_for(
    epoch: EpochNumber,
    index: usize,
    node: &TreeNode,
    child_proofs: &[[u8; 32]],
) -> SimulatedCircuitInputs {
    let mut payload = Vec::new();
    payload.extend_from_slice(&epoch.0.to_be_bytes());
    payload.extend_from_slice(&(index as u64).to_be_bytes());
    for h in child_proofs {
        payload.extend_from_slice(h);
    }
    // The parent commits to its children's proofs: a constraint per child that the proof
    // it verifies is the one it was given (satisfied by construction here).
    let constraints = child_proofs
        .iter()
        .map(|h| Constraint {
            left: *h,
            right: *h,
            message: format!("{} child proof mismatch", node.proof_type),
        })
        .collect();
    SimulatedCircuitInputs {
        public_inputs: vec![sha256(&payload)],
        constraints,
        payload: Bytes::from(payload),
    }
}

/// Proves one synthetic epoch through the mesh, consuming `results` (a consumer filtered
/// to this epoch, or shared with no other epoch in flight).
pub async fn prove_epoch(
    broker: &Broker,
    results: &mut Results,
    epoch: EpochNumber,
    shape: EpochShape,
) -> Result<EpochReport, EpochError> {
    let started = Instant::now();
    let tree = proof_tree(shape);
    let broker_err = |source| EpochError::Broker { epoch, source };
    let mut by_id: HashMap<JobId, (usize, SimulatedCircuitInputs)> = HashMap::new();
    let mut proof_hash: Vec<Option<[u8; 32]>> = vec![None; tree.len()];

    let mut leaves = Vec::new();
    for (i, n) in tree
        .iter()
        .enumerate()
        .filter(|(_, n)| n.children.is_empty())
    {
        let inputs = inputs_for(epoch, i, n, &[]);
        let job = NewJob {
            epoch,
            proof_type: n.proof_type,
            inputs: inputs
                .encode()
                .map_err(|e| EpochError::BadProof {
                    epoch,
                    job: "-".into(),
                    proof_type: n.proof_type,
                    reason: e.to_string(),
                })?
                .into(),
            deadline_ms: None,
        };
        by_id.insert(job.id(), (i, inputs));
        leaves.push(job);
    }
    broker.enqueue_many(leaves).await.map_err(broker_err)?;

    let root = tree.len() - 1;
    loop {
        let delivery = match results.next().await {
            Some(Ok(d)) => d,
            Some(Err(e)) => return Err(broker_err(e)),
            None => return Err(EpochError::ResultsEnded(epoch)),
        };
        let r = delivery.result.clone();
        let Some((index, inputs)) = by_id.get(&r.id).cloned() else {
            // Another epoch's result, or a duplicate delivery of one already handled.
            delivery.ack().await.map_err(broker_err)?;
            continue;
        };
        if proof_hash[index].is_some() {
            delivery.ack().await.map_err(broker_err)?;
            continue;
        }
        let node = &tree[index];
        let proof = match &r.outcome {
            JobOutcome::Proved(p) => p.clone(),
            JobOutcome::Failed { error, .. } => {
                return Err(EpochError::JobFailed {
                    epoch,
                    job: r.id.to_hex(),
                    proof_type: node.proof_type,
                    error: error.clone(),
                })
            }
        };
        let bad = |reason: String| EpochError::BadProof {
            epoch,
            job: r.id.to_hex(),
            proof_type: node.proof_type,
            reason,
        };
        let bytes = broker
            .store()
            .get_verified(&proof)
            .await
            .map_err(|e| bad(e.to_string()))?;
        SimulatedProof::verify(&bytes, &r.id, &inputs.public_inputs)
            .map_err(|e| bad(e.to_string()))?;
        proof_hash[index] = Some(proof.sha256);
        delivery.ack().await.map_err(broker_err)?;

        if index == root {
            return Ok(EpochReport {
                epoch,
                jobs: tree.len(),
                elapsed: started.elapsed(),
                root: r.id,
            });
        }
        let Some(parent) = node.parent else { continue };
        let children: Option<Vec<[u8; 32]>> = tree[parent]
            .children
            .iter()
            .map(|&c| proof_hash[c])
            .collect();
        if let Some(child_proofs) = children {
            let inputs = inputs_for(epoch, parent, &tree[parent], &child_proofs);
            let job = NewJob {
                epoch,
                proof_type: tree[parent].proof_type,
                inputs: inputs.encode().map_err(|e| bad(e.to_string()))?.into(),
                deadline_ms: None,
            };
            by_id.insert(job.id(), (parent, inputs));
            broker.enqueue(job).await.map_err(broker_err)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_shape() {
        let t = proof_tree(EpochShape {
            blocks: 2,
            txs_per_block: 4,
        });
        let count = |ty| t.iter().filter(|n| n.proof_type == ty).count();
        assert_eq!(count(ProofType::PrivateBaseRollup), 8);
        assert_eq!(count(ProofType::MergeRollup), 6);
        assert_eq!(count(ProofType::BaseParity), 2);
        assert_eq!(count(ProofType::RootParity), 2);
        assert_eq!(count(ProofType::BlockRootRollup), 2);
        assert_eq!(count(ProofType::BlockMergeRollup), 1);
        assert_eq!(t.last().unwrap().proof_type, ProofType::RootRollup);
        assert_eq!(
            t.iter().filter(|n| n.parent.is_none()).count(),
            1,
            "one root"
        );
        // Odd sizes: a lone node passes up unmerged.
        let t = proof_tree(EpochShape {
            blocks: 3,
            txs_per_block: 3,
        });
        assert_eq!(
            t.iter()
                .filter(|n| n.proof_type == ProofType::MergeRollup)
                .count(),
            6
        );
        assert_eq!(
            t.iter()
                .filter(|n| n.proof_type == ProofType::BlockMergeRollup)
                .count(),
            2
        );
    }
}
