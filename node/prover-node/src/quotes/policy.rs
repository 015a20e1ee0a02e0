//! What the prover bids and for which epochs: the policy, checked once against the
//! Rollup's rules, and the expected fee share it compares with its minimum.

use super::QuoteError;
use alloy::primitives::U256;
use provemesh_common::{AgentPresence, ProofType};
use serde::Serialize;

/// 100% in basis points (`Constants.MAX_BPS`).
pub const MAX_BPS: u32 = 10_000;

/// What the prover bids and which epochs it bids for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotePolicy {
    /// The prover's share of the epoch's fees, in basis points (at most 10 000).
    pub basis_point_fee: u32,
    /// The bond staked from the escrow when the quote is claimed (at least the Rollup's
    /// `MIN_BOND_AMOUNT`); slashed if the proof misses its window.
    pub bond_amount: U256,
    /// Epochs whose expected fee share is below this are not bid for.
    pub min_fee_reward: U256,
    /// No bid while this many epochs are being proved (the capacity probe says how many).
    pub max_parallel_epochs: usize,
    /// A quote is valid until the slot it is sent in plus this many slots (it is never
    /// claimable after its epoch's claim window anyway).
    pub validity_slots: u64,
    /// Top the escrow deposit up to the bond from the prover's token balance
    /// (approve + deposit) when it is short.
    pub auto_deposit: bool,
}

impl QuotePolicy {
    /// Checks the policy against the Rollup's rules, naming the field that is wrong: a
    /// quote breaking them would be refused every time.
    pub fn check(&self, min_bond: U256) -> Result<(), QuoteError> {
        let wrong = |field, reason| Err(QuoteError::Config { field, reason });
        if self.basis_point_fee > MAX_BPS {
            return wrong(
                "basis_point_fee",
                format!("{} is above {MAX_BPS} (100%)", self.basis_point_fee),
            );
        }
        if self.bond_amount < min_bond {
            return wrong(
                "bond_amount",
                format!(
                    "{} is below the Rollup's MIN_BOND_AMOUNT {min_bond}",
                    self.bond_amount
                ),
            );
        }
        if self.max_parallel_epochs == 0 {
            return wrong("max_parallel_epochs", "must be at least 1".into());
        }
        Ok(())
    }
}

/// Why an epoch was not bid for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum SkipReason {
    BelowMinimumReward {
        expected: U256,
        minimum: U256,
    },
    AtCapacity {
        proving: usize,
        max: usize,
    },
    /// The node cannot execute `block` (at or before the epoch's last block) as L1
    /// recorded it, or (real proofs) the block or epoch is bigger than the circuits take:
    /// a quote won would end in a missed window and a slashed bond.
    Unprovable {
        block: u64,
        reason: String,
    },
    /// The mesh has no agents that could prove the epoch (none present, none with the
    /// node's backend, or a proof type nobody pulls): a quote won would be slashed.
    NoProvers {
        reason: String,
    },
}

impl SkipReason {
    pub const BELOW_MIN_REWARD: &'static str = "below_min_reward";
    pub const AT_CAPACITY: &'static str = "at_capacity";
    pub const UNPROVABLE: &'static str = "unprovable";
    pub const NO_PROVERS: &'static str = "no_provers";

    /// A stable short name (logs, metrics).
    pub fn kind(&self) -> &'static str {
        match self {
            SkipReason::BelowMinimumReward { .. } => Self::BELOW_MIN_REWARD,
            SkipReason::AtCapacity { .. } => Self::AT_CAPACITY,
            SkipReason::Unprovable { .. } => Self::UNPROVABLE,
            SkipReason::NoProvers { .. } => Self::NO_PROVERS,
        }
    }
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::BelowMinimumReward { expected, minimum } => write!(
                f,
                "expected fee share {expected} is below the minimum reward {minimum}"
            ),
            SkipReason::AtCapacity { proving, max } => {
                write!(f, "{proving} epochs being proved, at most {max} at a time")
            }
            SkipReason::Unprovable { block, reason } => {
                write!(
                    f,
                    "block {block} cannot be proved as L1 recorded it: {reason}"
                )
            }
            SkipReason::NoProvers { reason } => write!(f, "no agents to prove it: {reason}"),
        }
    }
}

/// How many epochs the agents present on the mesh can prove at once for a node whose jobs
/// need `backend` (`simulated` or `bb`), or why none: every epoch proof type must be pulled
/// by some agent with that backend, and each epoch needs at least one job slot, so the
/// capacity is the agents' job slots (capped by the node's own limit elsewhere).
pub fn mesh_capacity(agents: &[AgentPresence], backend: &str) -> Result<usize, String> {
    let ours: Vec<&AgentPresence> = agents.iter().filter(|a| a.backend == backend).collect();
    if ours.is_empty() {
        return Err(if agents.is_empty() {
            "no agents on the mesh".into()
        } else {
            format!(
                "{} agents on the mesh, none with the {backend} backend this node's jobs need",
                agents.len()
            )
        });
    }
    let missing: Vec<String> = ProofType::EPOCH_TREE
        .iter()
        .filter(|t| !ours.iter().any(|a| a.proof_types.contains(t)))
        .map(|t| t.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(format!("no {backend} agent proves {}", missing.join(", ")));
    }
    Ok(ours
        .iter()
        .map(|a| a.concurrency as usize)
        .sum::<usize>()
        .max(1))
}

/// The prover's fee share of blocks with `block_fees`, as the Rollup pays it: per block,
/// rounded down.
pub fn expected_reward(block_fees: impl IntoIterator<Item = U256>, basis_point_fee: u32) -> U256 {
    let bps = U256::from(basis_point_fee);
    let max = U256::from(MAX_BPS);
    block_fees.into_iter().fold(U256::ZERO, |acc, fees| {
        acc.saturating_add(fees.saturating_mul(bps) / max)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(id: &str, backend: &str, types: &[ProofType], concurrency: u32) -> AgentPresence {
        AgentPresence {
            agent: provemesh_common::AgentId(id.into()),
            proof_types: types.to_vec(),
            concurrency,
            backend: backend.into(),
            in_flight: 0,
            seen_at_ms: 0,
        }
    }

    #[test]
    fn capacity_counts_the_slots_of_agents_that_cover_every_proof_type() {
        assert_eq!(
            mesh_capacity(&[], "simulated").unwrap_err(),
            "no agents on the mesh"
        );
        let all = agent("a", "simulated", &ProofType::EPOCH_TREE, 2);
        assert_eq!(
            mesh_capacity(std::slice::from_ref(&all), "simulated"),
            Ok(2)
        );
        // A real-proof node cannot use simulated agents.
        let e = mesh_capacity(std::slice::from_ref(&all), "bb").unwrap_err();
        assert!(e.contains("none with the bb backend"), "{e}");
        // Split allow-lists that together cover the tree count; a gap is named.
        let bases = agent(
            "b",
            "bb",
            &[ProofType::PrivateBaseRollup, ProofType::BaseParity],
            4,
        );
        let e = mesh_capacity(std::slice::from_ref(&bases), "bb").unwrap_err();
        assert!(
            e.contains("root_rollup") && !e.contains("base_parity"),
            "{e}"
        );
        let rest = agent("c", "bb", &ProofType::EPOCH_TREE[1..], 1);
        assert_eq!(mesh_capacity(&[bases, rest, all], "bb"), Ok(5));
    }

    #[test]
    fn reward_is_the_per_block_share_rounded_down_like_the_rollup() {
        let fees = [U256::from(10), U256::from(10), U256::from(95)];
        // 10 × 15% = 1.5 → 1, twice; 95 × 15% = 14.25 → 14.
        assert_eq!(expected_reward(fees, 1_500), U256::from(16));
        assert_eq!(expected_reward(fees, 0), U256::ZERO);
        assert_eq!(expected_reward(fees, MAX_BPS), U256::from(115));
        assert_eq!(
            expected_reward([U256::MAX], MAX_BPS),
            U256::MAX / U256::from(MAX_BPS)
        );
    }

    fn policy() -> QuotePolicy {
        QuotePolicy {
            basis_point_fee: 100,
            bond_amount: U256::from(1_000),
            min_fee_reward: U256::ZERO,
            max_parallel_epochs: 1,
            validity_slots: 4,
            auto_deposit: false,
        }
    }

    #[test]
    fn policy_errors_name_the_field() {
        assert!(policy().check(U256::from(1_000)).is_ok());
        let too_dear = QuotePolicy {
            basis_point_fee: 10_001,
            ..policy()
        };
        let e = too_dear.check(U256::ZERO).unwrap_err().to_string();
        assert!(e.contains("basis_point_fee") && e.contains("10001"), "{e}");
        let e = policy().check(U256::from(1_001)).unwrap_err().to_string();
        assert!(
            e.contains("bond_amount") && e.contains("MIN_BOND_AMOUNT 1001"),
            "{e}"
        );
        let none = QuotePolicy {
            max_parallel_epochs: 0,
            ..policy()
        };
        assert!(none.check(U256::ZERO).unwrap_err().is_fatal());
    }

    #[test]
    fn skip_reasons_say_the_numbers() {
        let r = SkipReason::BelowMinimumReward {
            expected: U256::from(3),
            minimum: U256::from(10),
        };
        assert_eq!(
            r.to_string(),
            "expected fee share 3 is below the minimum reward 10"
        );
        assert_eq!(r.kind(), "below_min_reward");
    }
}
