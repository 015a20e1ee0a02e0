//! Whether a tx may enter the pool: the tx processor's checks, run early so a client
//! hears at once why its tx is refused — format, client proof, nullifiers already in
//! the state or spent by a pending tx, fee payable from the fee payer's balance at the
//! tip — plus one sequencer policy: L2→L1 message recipients must be L1 addresses.
//!
//! The state checks read a snapshot of the committed tip, so they cannot see what
//! pending txs will spend: the block builder checks again, in block order, and a tx
//! that fails there (two txs overdrawing one fee payer) is rejected with its reason then.

use crate::header::field_address;
use crate::pool::{PoolError, TxPool};
use provemesh_common::hash::leaves::fee_juice_balance_slot;
use provemesh_common::tx::{ClientProofError, Tx};
use provemesh_tx_processor::TxRejection;
use provemesh_world_state::{TreeHeights, TreeId, WorldStateSnapshot};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Why a tx was refused, with a stable kind (the JSON-RPC error's `data.kind`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{0}")]
    Tx(TxRejection),
    #[error("{0}")]
    Pool(PoolError),
    #[error(
        "L2→L1 message {index} has recipient {recipient}, which is not an L1 address (20 bytes)"
    )]
    RecipientNotL1Address { index: usize, recipient: String },
    #[error("world state unavailable: {0}")]
    State(String),
}

impl Refusal {
    pub fn kind(&self) -> &'static str {
        match self {
            Refusal::Tx(r) => r.kind(),
            Refusal::Pool(PoolError::Full { .. }) => "pool_full",
            Refusal::Pool(PoolError::NullifierInPool { .. }) => "nullifier_in_pool",
            Refusal::Pool(PoolError::NoHash) => "format",
            Refusal::RecipientNotL1Address { .. } => "l2_to_l1_recipient",
            Refusal::State(_) => "state_unavailable",
        }
    }

    /// Refusals that say the tx itself is invalid (as opposed to stale or the node busy):
    /// a peer gossiping it is penalised.
    pub fn is_invalid_tx(&self) -> bool {
        matches!(
            self,
            Refusal::Tx(TxRejection::Format(_))
                | Refusal::Tx(TxRejection::ClientProof(_))
                | Refusal::Tx(TxRejection::TooLarge { .. })
                | Refusal::RecipientNotL1Address { .. }
        )
    }
}

fn check_format(tx: &Tx) -> Result<(), Refusal> {
    tx.check_format()
        .map_err(|e| Refusal::Tx(TxRejection::Format(e)))
}

fn client_proof_refused(e: ClientProofError) -> Refusal {
    Refusal::Tx(TxRejection::ClientProof(e))
}

/// Checks txs against the format, their proof, the pool and the committed tip.
pub struct Admission {
    pool: Arc<TxPool>,
    db: Arc<redb::Database>,
    heights: TreeHeights,
    /// The world state's committed tip (updated by the block builder).
    tip: Arc<AtomicU64>,
    /// Off only for a dishonest test sequencer (`include_invalid_client_proofs`).
    check_client_proofs: bool,
    client_proofs: crate::node::ClientProofCheck,
}

impl Admission {
    pub fn new(
        pool: Arc<TxPool>,
        db: Arc<redb::Database>,
        heights: TreeHeights,
        tip: Arc<AtomicU64>,
        client_proofs: crate::node::ClientProofCheck,
    ) -> Self {
        Admission {
            pool,
            db,
            heights,
            tip,
            check_client_proofs: true,
            client_proofs,
        }
    }

    /// Whether client proofs are verified (always, but for a dishonest test sequencer).
    pub fn checking_client_proofs(mut self, check: bool) -> Self {
        self.check_client_proofs = check;
        self
    }

    /// Runs every check without changing anything. Blocks while the client proof is
    /// verified (`bb verify`, ~30 ms, with real proofs): async code calls
    /// [`Self::check_async`].
    pub fn check(&self, tx: &Tx) -> Result<(), Refusal> {
        check_format(tx)?;
        if self.check_client_proofs {
            self.client_proofs
                .0
                .verify(tx)
                .map_err(client_proof_refused)?;
        }
        self.check_against_pool_and_tip(tx)
    }

    /// [`Self::check`] for async code: the same checks in the same order, with the client
    /// proof verified on tokio's blocking pool so that `bb verify` does not hold a runtime
    /// thread.
    pub async fn check_async(&self, tx: &Tx) -> Result<(), Refusal> {
        check_format(tx)?;
        if self.check_client_proofs {
            let (check, owned) = (self.client_proofs.clone(), tx.clone());
            match tokio::task::spawn_blocking(move || check.0.verify(&owned)).await {
                Ok(verified) => verified.map_err(client_proof_refused)?,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                // Only a runtime shutting down cancels a blocking task.
                Err(_) => {
                    return Err(client_proof_refused(ClientProofError::Unverifiable(
                        "the check was cancelled: the node is shutting down".into(),
                    )))
                }
            }
        }
        self.check_against_pool_and_tip(tx)
    }

    /// The checks after format and client proof: L2→L1 recipients, the pool's pending
    /// nullifiers, and the committed tip's nullifiers and fee payer balance.
    fn check_against_pool_and_tip(&self, tx: &Tx) -> Result<(), Refusal> {
        for (index, m) in tx.outputs.l2_to_l1_messages.iter().enumerate() {
            if field_address(m.recipient).is_none() {
                return Err(Refusal::RecipientNotL1Address {
                    index,
                    recipient: m.recipient.to_hex(),
                });
            }
        }
        for n in &tx.outputs.nullifiers {
            if let Some(by) = self.pool.pending_spender(n) {
                if Some(by) != tx.hash() {
                    return Err(Refusal::Pool(PoolError::NullifierInPool {
                        nullifier: *n,
                        by,
                    }));
                }
            }
        }
        let snapshot = self.snapshot()?;
        let state = |e: provemesh_world_state::WorldStateError| Refusal::State(e.to_string());
        for n in &tx.outputs.nullifiers {
            if snapshot
                .find_key(TreeId::Nullifier, *n)
                .map_err(state)?
                .is_some()
            {
                return Err(Refusal::Tx(TxRejection::NullifierInState { nullifier: *n }));
            }
        }
        let o = &tx.outputs;
        let balance = snapshot
            .public_data_value(fee_juice_balance_slot(o.fee_payer))
            .map_err(state)?;
        if balance < o.fee {
            return Err(Refusal::Tx(TxRejection::FeeNotPayable {
                fee_payer: o.fee_payer,
                balance,
                fee: o.fee,
            }));
        }
        Ok(())
    }

    fn snapshot(&self) -> Result<WorldStateSnapshot, Refusal> {
        // The tip can move (commit) or shrink (unwind after a prune) between reading it and
        // opening the snapshot; a second try reads the new tip.
        let mut last = None;
        for _ in 0..3 {
            let tip = self.tip.load(Ordering::Acquire);
            match WorldStateSnapshot::open(&self.db, self.heights, tip) {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(Refusal::State(
            last.map(|e| e.to_string()).unwrap_or_default(),
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test
    use super::*;
    use crate::node::ClientProofCheck;
    use provemesh_common::hash::Fr;
    use provemesh_common::tx::{SimulatedClientProof, TxPublicOutputs};
    use provemesh_tx_processor::ClientProofVerifier;
    use std::time::Duration;

    /// A verifier as slow as a real `bb verify` can be, that refuses every proof.
    struct Slow;

    impl ClientProofVerifier for Slow {
        fn verify(&self, _: &Tx) -> Result<(), ClientProofError> {
            std::thread::sleep(Duration::from_millis(200));
            Err(ClientProofError::Invalid(
                "Proof verification failed".into(),
            ))
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_async_check_verifies_client_proofs_off_the_runtime_thread() {
        let dir = tempfile::tempdir().unwrap();
        let db = redb::Database::create(dir.path().join("state.redb")).unwrap();
        let admission = Admission::new(
            Arc::new(TxPool::new(10)),
            Arc::new(db),
            TreeHeights::uniform(16),
            Arc::new(AtomicU64::new(0)),
            ClientProofCheck(Arc::new(Slow)),
        );
        let outputs = TxPublicOutputs {
            note_hashes: vec![],
            nullifiers: vec![Fr::from(7u64)],
            public_data_writes: vec![],
            l2_to_l1_messages: vec![],
            fee_payer: Fr::from(1u64),
            fee: Fr::from(1u64),
        };
        let tx = Tx {
            proof: SimulatedClientProof::create(&outputs),
            outputs,
        };
        // The only runtime thread keeps running other tasks while the proof is checked.
        let (ticks, ticker) = crate::test_support::spawn_ticker();
        let refused = admission.check_async(&tx).await;
        ticker.abort();
        assert!(
            ticks.load(Ordering::Relaxed) >= 5,
            "the runtime thread was held"
        );
        let expected = Refusal::Tx(TxRejection::ClientProof(ClientProofError::Invalid(
            "Proof verification failed".into(),
        )));
        assert_eq!(refused, Err(expected.clone()));
        assert_eq!(admission.check(&tx), Err(expected));
    }
}
