//! The compiled circuit set: `circuits/artifacts` as `scripts/circuits` writes it — one
//! artifact and verification key per circuit, and `manifest.json` (proof target, child
//! slots, gates, vk hash, vk tree index; the vk tree itself). Loaded once; every file is
//! checked against the manifest so that a stale or edited artifact is refused at start-up
//! rather than failing a job.

use crate::artifact::{Artifact, ArtifactError};
use crate::bb::Target;
use provemesh_common::hash::{root_from_sibling_path, Fr};
use provemesh_common::ProofType;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A child proof a circuit verifies: where the prover puts it among the parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    /// Parameter path of the child's public inputs (`children[0]`), decoded from the
    /// child proof's public inputs by the ABI type at that path.
    pub inputs: String,
    /// Parameter path of its `types::recursion::ChildProof` (`proofs[0]`).
    pub proof: String,
    /// Circuits whose proofs this slot takes.
    pub circuits: Vec<String>,
}

/// One circuit's entry in `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    pub target: Target,
    /// Leaf index in the vk tree (absent for the root rollup).
    #[serde(default)]
    pub vk_index: Option<u32>,
    pub slots: Vec<Slot>,
    pub bytecode_sha256: String,
    pub gates: u64,
    /// `0x` + 64 hex digits, as bb writes it.
    pub vk_hash: String,
}

/// The verification-key tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VkTree {
    pub height: u32,
    pub leaves: Vec<String>,
    pub root: String,
    pub paths: Vec<Vec<String>>,
}

/// `circuits/artifacts/manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub noir: String,
    pub bb: String,
    pub crs: String,
    pub circuits: BTreeMap<String, ManifestEntry>,
    pub vk_tree: VkTree,
}

#[derive(Debug, thiserror::Error)]
pub enum CircuitsError {
    #[error("circuits in {dir}: {reason}")]
    Manifest { dir: String, reason: String },
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    #[error("circuit {circuit}: {reason}")]
    Inconsistent { circuit: String, reason: String },
}

/// A circuit ready to prove.
#[derive(Debug)]
pub struct CompiledCircuit {
    pub name: String,
    pub artifact: Artifact,
    /// The artifact file (what `bb prove -b` reads).
    pub artifact_path: PathBuf,
    pub target: Target,
    pub gates: u64,
    pub vk: Vec<u8>,
    pub vk_hash: Fr,
    pub vk_index: Option<u32>,
    pub slots: Vec<Slot>,
}

/// Every circuit of `circuits/artifacts`.
#[derive(Debug, Clone)]
pub struct CircuitSet {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub vk_tree_root: Fr,
    circuits: BTreeMap<String, Arc<CompiledCircuit>>,
}

/// The circuits that prove jobs of `t`: what an agent accepts for a job type, and what the
/// node asks of it. A block root is proved by `block_root_rollup`, or, for a block without
/// txs, by `empty_block_root_rollup` (the node picks; both give the same public inputs).
pub fn circuits_for(t: ProofType) -> &'static [&'static str] {
    match t {
        ProofType::BaseParity => &["parity_base"],
        ProofType::RootParity => &["parity_root"],
        ProofType::PrivateBaseRollup => &["private_base_rollup"],
        ProofType::MergeRollup => &["merge_rollup"],
        ProofType::BlockRootRollup => &["block_root_rollup", "empty_block_root_rollup"],
        ProofType::BlockMergeRollup => &["block_merge_rollup"],
        ProofType::RootRollup => &["root_rollup"],
        // Public execution (the AVM) is not part of this rollup.
        ProofType::PublicBaseRollup => &[],
    }
}

/// The checked-in artifacts of this source tree (`circuits/artifacts`).
pub fn source_tree_artifacts() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../circuits/artifacts");
    std::fs::canonicalize(&p).unwrap_or(p)
}

fn parse_fr(circuit: &str, what: &str, s: &str) -> Result<Fr, CircuitsError> {
    s.parse().map_err(|e| CircuitsError::Inconsistent {
        circuit: circuit.to_string(),
        reason: format!("{what} {s:?}: {e}"),
    })
}

impl CircuitSet {
    /// Loads and checks every circuit listed in `dir/manifest.json`.
    pub fn load(dir: &Path) -> Result<Self, CircuitsError> {
        let m = |reason: String| CircuitsError::Manifest {
            dir: dir.display().to_string(),
            reason,
        };
        let text = std::fs::read(dir.join("manifest.json"))
            .map_err(|e| m(format!("manifest.json: {e}")))?;
        let manifest: Manifest =
            serde_json::from_slice(&text).map_err(|e| m(format!("manifest.json: {e}")))?;
        let vk_tree_root = parse_fr("vk_tree", "root", &manifest.vk_tree.root)?;
        let mut circuits = BTreeMap::new();
        for (name, e) in &manifest.circuits {
            let bad = |reason: String| CircuitsError::Inconsistent {
                circuit: name.clone(),
                reason,
            };
            let artifact_path = dir.join(format!("{name}.json"));
            let artifact = Artifact::load(name, &artifact_path)?;
            if hex::encode(artifact.bytecode_sha256) != e.bytecode_sha256 {
                return Err(bad(
                    "artifact bytecode does not match manifest.json (run scripts/circuits)".into(),
                ));
            }
            let vk = std::fs::read(dir.join(format!("{name}.vk")))
                .map_err(|err| bad(format!("{name}.vk: {err}")))?;
            let vk_hash = parse_fr(name, "vk hash", &e.vk_hash)?;
            if let Some(i) = e.vk_index {
                let leaf = manifest
                    .vk_tree
                    .leaves
                    .get(i as usize)
                    .map(|l| parse_fr(name, "vk tree leaf", l))
                    .transpose()?;
                if leaf != Some(vk_hash) {
                    return Err(bad(format!(
                        "vk tree leaf {i} is not this circuit's vk hash"
                    )));
                }
            }
            for s in &e.slots {
                if let Some(c) = s
                    .circuits
                    .iter()
                    .find(|c| !manifest.circuits.contains_key(*c))
                {
                    return Err(bad(format!("slot {} takes unknown circuit {c}", s.proof)));
                }
            }
            circuits.insert(
                name.clone(),
                Arc::new(CompiledCircuit {
                    name: name.clone(),
                    artifact,
                    artifact_path,
                    target: e.target,
                    gates: e.gates,
                    vk,
                    vk_hash,
                    vk_index: e.vk_index,
                    slots: e.slots.clone(),
                }),
            );
        }
        let set = CircuitSet {
            dir: dir.to_path_buf(),
            manifest,
            vk_tree_root,
            circuits,
        };
        // The recorded sibling paths must lead to the recorded root (common::hash's Merkle).
        for i in 0..set.manifest.vk_tree.leaves.len() {
            let (leaf, path) = set.vk_path(i as u32)?;
            if root_from_sibling_path(leaf, u64::from(i as u32), &path) != vk_tree_root {
                return Err(m(format!("vk tree path {i} does not lead to the root")));
            }
        }
        Ok(set)
    }

    pub fn get(&self, name: &str) -> Option<&Arc<CompiledCircuit>> {
        self.circuits.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<CompiledCircuit>> {
        self.circuits.values()
    }

    /// The largest circuit's gate count (what the CRS must cover).
    pub fn max_gates(&self) -> u64 {
        self.circuits.values().map(|c| c.gates).max().unwrap_or(0)
    }

    /// Leaf `index` of the vk tree and its sibling path.
    pub fn vk_path(&self, index: u32) -> Result<(Fr, Vec<Fr>), CircuitsError> {
        let t = &self.manifest.vk_tree;
        let bad = |reason: String| CircuitsError::Manifest {
            dir: self.dir.display().to_string(),
            reason,
        };
        let leaf = t
            .leaves
            .get(index as usize)
            .ok_or_else(|| bad(format!("no vk tree leaf {index}")))?;
        let path = t
            .paths
            .get(index as usize)
            .ok_or_else(|| bad(format!("no vk tree path {index}")))?;
        Ok((
            parse_fr("vk_tree", "leaf", leaf)?,
            path.iter()
                .map(|p| parse_fr("vk_tree", "path", p))
                .collect::<Result<_, _>>()?,
        ))
    }
}

/// sha256 of a byte string, hex (for logs and caches).
pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}
