//! Pruning: an epoch nobody claims is cut from the pending chain when its claim window
//! passes; a claimed epoch whose proof misses the submission window is cut too, and the
//! prover's bond is slashed.

use crate::support::*;
use alloy::primitives::{B256, U256};
use provemesh_l1::bindings::ProofCommitmentEscrow;
use provemesh_l1::bindings::Rollup::{RollupErrors, RollupEvents};
use provemesh_l1::Revert;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unclaimed_epoch_is_pruned_after_its_claim_window() {
    within(60, async {
        let f = Fixture::start().await;
        f.propose_chain(&[1, 2]).await;

        // Within the claim window nothing is due.
        f.warp_to_slot(EPOCH + CLAIM_WINDOW - 1).await;
        assert!(!f.rollup.can_prune().await.unwrap());
        assert!(matches!(
            revert_of(f.rollup.prune().await),
            Revert::Rollup(RollupErrors::Rollup__NothingToPrune(_))
        ));

        f.warp_to_slot(EPOCH + CLAIM_WINDOW).await;
        assert!(f.rollup.can_prune().await.unwrap());
        let receipt = f.rollup.prune().await.unwrap();
        let tips = f.rollup.tips().await.unwrap();
        assert_eq!((tips.pending, tips.proven), (0, 0));
        let at = receipt.block_number.unwrap();
        match &f.rollup.events(at, at).await.unwrap()[..] {
            [e] => match &e.event {
                RollupEvents::PrunedPending(p) => {
                    assert_eq!(p.epoch, U256::ZERO);
                    assert_eq!(p.prunedPendingBlockNumber, U256::from(2));
                    assert!(!p.bondSlashed);
                }
                other => panic!("unexpected {other:?}"),
            },
            other => panic!("expected one event, got {other:?}"),
        }

        // The chain goes on from the proven tip: block 1 again, in a later slot, consuming
        // the same (already closed) Inbox bucket.
        let again = block(1, EPOCH + CLAIM_WINDOW + 1, 0, B256::ZERO);
        f.propose(&again).await.unwrap();
        assert_eq!(f.rollup.tips().await.unwrap().pending, 1);
        assert_eq!(f.rollup.block(1).await.unwrap().archive, again.archive);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proposing_prunes_a_missed_epoch_first() {
    within(60, async {
        let f = Fixture::start().await;
        f.propose_chain(&[1]).await;
        // Skip past epoch 0's claim window: block 2 cannot build on block 1 any more, so
        // it must be block 1 again, on genesis.
        let stale = block(2, 2 * EPOCH, 0, B256::ZERO);
        f.warp_to_slot(stale.slot).await;
        let args = f.propose_args(&stale).await;
        assert!(matches!(
            revert_of(f.rollup.propose(args).await),
            Revert::Rollup(RollupErrors::Rollup__InvalidBlockNumber(_))
        ));
        f.propose(&block(1, 2 * EPOCH, 0, B256::ZERO))
            .await
            .unwrap();
        assert_eq!(f.rollup.tips().await.unwrap().pending, 1);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missed_submission_window_slashes_the_bond() {
    within(60, async {
        let f = Fixture::start().await;
        let blocks = f.propose_chain(&[1, 2]).await;
        f.fund_prover_bond(3 * BOND).await;
        f.warp_to_slot(EPOCH).await;
        let signed = f.sign(&f.prover_key, f.quote(0, EPOCH)).await;
        f.rollup.claim_epoch_proof_right(signed).await.unwrap();
        assert_eq!(
            f.escrow_balances().await,
            (U256::from(2 * BOND), U256::from(BOND))
        );

        // Claimed: the claim window passing prunes nothing; the submission window does.
        f.warp_to_slot(EPOCH + CLAIM_WINDOW).await;
        assert!(!f.rollup.can_prune().await.unwrap());
        f.warp_to_slot(EPOCH + PROOF_WINDOW).await;
        assert!(f.rollup.can_prune().await.unwrap());

        // Too late for the proof.
        let args = f.public_inputs(B256::repeat_byte(1), &blocks);
        match revert_of(
            f.rollup
                .submit_epoch_root_proof(0, 2, args.clone(), simulated_proof(&args, 0, 2))
                .await,
        ) {
            Revert::Rollup(RollupErrors::Rollup__ProofWindowClosed(e)) => {
                assert_eq!(e.deadlineSlot, U256::from(EPOCH + PROOF_WINDOW));
            }
            r => panic!("unexpected {r}"),
        }

        let receipt = f.rollup.prune().await.unwrap();
        assert_eq!(f.rollup.tips().await.unwrap().pending, 0);
        assert!(f.rollup.proof_claim().await.unwrap().is_none());
        // The bond is gone: not bonded, not back in the deposit.
        assert_eq!(
            f.escrow_balances().await,
            (U256::from(2 * BOND), U256::ZERO)
        );
        let escrow = ProofCommitmentEscrow::new(f.d.escrow, &f.sequencer);
        assert_eq!(
            escrow.totalSlashed().call().await.unwrap(),
            U256::from(BOND)
        );

        let block = receipt.block_number.unwrap();
        let rollup_events = f.rollup.events(block, block).await.unwrap();
        assert!(rollup_events.iter().any(|e| matches!(
            &e.event,
            RollupEvents::PrunedPending(p) if p.bondSlashed && p.epoch == U256::ZERO
        )));
        let logs = escrow
            .BondSlashed_filter()
            .from_block(block)
            .to_block(block)
            .query()
            .await
            .unwrap();
        assert_eq!(logs.len(), 1);
        assert_eq!(logs[0].0.prover, f.prover_key.address());
        assert_eq!(logs[0].0.amount, U256::from(BOND));
    })
    .await
}
