//! The circuits of an epoch's proof tree, named as Aztec's prover-client names its proving
//! request types. A proof type is also a NATS subject token and a consumer name, so its
//! string form is stable and lowercase.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// One circuit of the epoch proof tree.
///
/// Per block: base parity(s) → root parity; per tx: a base rollup; merges pair base
/// rollups; the block root joins the merge tree with the root parity; block merges join
/// blocks; the root rollup closes the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProofType {
    BaseParity,
    RootParity,
    PrivateBaseRollup,
    PublicBaseRollup,
    MergeRollup,
    BlockRootRollup,
    BlockMergeRollup,
    RootRollup,
}

impl ProofType {
    /// Every proof type, leaves first.
    pub const ALL: [ProofType; 8] = [
        ProofType::BaseParity,
        ProofType::RootParity,
        ProofType::PrivateBaseRollup,
        ProofType::PublicBaseRollup,
        ProofType::MergeRollup,
        ProofType::BlockRootRollup,
        ProofType::BlockMergeRollup,
        ProofType::RootRollup,
    ];

    /// The types of an epoch's proof tree as the orchestrator builds it (every type but the
    /// public base rollup: no public execution in this rollup).
    pub const EPOCH_TREE: [ProofType; 7] = [
        ProofType::BaseParity,
        ProofType::RootParity,
        ProofType::PrivateBaseRollup,
        ProofType::MergeRollup,
        ProofType::BlockRootRollup,
        ProofType::BlockMergeRollup,
        ProofType::RootRollup,
    ];

    /// The stable lowercase name: subject token, consumer suffix, CLI value.
    pub const fn as_str(self) -> &'static str {
        match self {
            ProofType::BaseParity => "base_parity",
            ProofType::RootParity => "root_parity",
            ProofType::PrivateBaseRollup => "private_base_rollup",
            ProofType::PublicBaseRollup => "public_base_rollup",
            ProofType::MergeRollup => "merge_rollup",
            ProofType::BlockRootRollup => "block_root_rollup",
            ProofType::BlockMergeRollup => "block_merge_rollup",
            ProofType::RootRollup => "root_rollup",
        }
    }

    /// Scheduling rank: lower is served first by an agent with a free slot.
    ///
    /// The mesh's priority levels are its per-type queues (one consumer per type, swept
    /// by agents in this order; FIFO within a type, which serves older epochs first), so
    /// this rank is where a scheduling policy meets the mesh. The policy is
    /// longest-remaining-path-first: a job's priority is the proving time on the longest
    /// path from it to the root (its own time plus its parent's remaining path), longer
    /// first. Every job's path is longer than its parent's, so the leaves that everything
    /// else waits on (base rollups, then the tx merges above them, then the parities)
    /// come first and the root last; serving the root first instead starves the wide base
    /// layer and leaves agents idle at the end of an epoch. The orchestrator computes the
    /// per-job paths from the epoch's DAG and per-type time estimates
    /// (`provemesh_orchestrator::priority`), and its tests check that the types' paths
    /// come out in this order for the epoch shapes and proving times it knows.
    pub const fn critical_path_rank(self) -> u8 {
        match self {
            // Public base rollups carry the AVM proof: longer than private ones.
            ProofType::PublicBaseRollup => 0,
            ProofType::PrivateBaseRollup => 1,
            ProofType::MergeRollup => 2,
            ProofType::BaseParity => 3,
            ProofType::RootParity => 4,
            ProofType::BlockRootRollup => 5,
            ProofType::BlockMergeRollup => 6,
            ProofType::RootRollup => 7,
        }
    }

    /// The given types sorted by [`Self::critical_path_rank`], duplicates removed.
    pub fn by_priority(types: &[ProofType]) -> Vec<ProofType> {
        let mut v = types.to_vec();
        v.sort_by_key(|t| t.critical_path_rank());
        v.dedup();
        v
    }
}

impl fmt::Display for ProofType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A proof type name that is not one of [`ProofType::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown proof type '{0}' (known: {known})", known = known_names())]
pub struct UnknownProofType(pub String);

fn known_names() -> String {
    ProofType::ALL
        .iter()
        .map(|t| t.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl FromStr for ProofType {
    type Err = UnknownProofType;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase().replace('-', "_");
        ProofType::ALL
            .into_iter()
            .find(|t| t.as_str() == norm)
            .ok_or_else(|| UnknownProofType(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_subject_safe() {
        for t in ProofType::ALL {
            assert_eq!(t.as_str().parse::<ProofType>(), Ok(t));
            assert!(t
                .as_str()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_'));
        }
        assert_eq!(
            "Merge-Rollup".parse::<ProofType>(),
            Ok(ProofType::MergeRollup)
        );
    }

    #[test]
    fn unknown_name_lists_the_known_ones() {
        let err = "tube".parse::<ProofType>().unwrap_err().to_string();
        assert!(
            err.contains("'tube'") && err.contains("root_rollup"),
            "{err}"
        );
    }

    #[test]
    fn ranks_are_distinct_leaves_first_and_root_last() {
        let sorted = ProofType::by_priority(&ProofType::ALL);
        assert_eq!(sorted.len(), 8);
        assert_eq!(sorted[0], ProofType::PublicBaseRollup);
        assert_eq!(sorted[7], ProofType::RootRollup);
    }
}
