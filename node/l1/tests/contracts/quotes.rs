//! `claimEpochProofRight`: the sequencer claims the previous epoch on a prover's EIP-712
//! quote during the claim window; expired, forged, wrong-epoch, late and second claims are
//! refused, and the bond moves into the escrow.

use crate::support::*;
use alloy::primitives::U256;
use alloy::signers::local::PrivateKeySigner;
use provemesh_l1::bindings::ProofCommitmentEscrow::ProofCommitmentEscrowErrors;
use provemesh_l1::bindings::Rollup::{RollupErrors, RollupEvents};
use provemesh_l1::quote::quote_digest;
use provemesh_l1::{quote_domain, recover_quote_signer, Revert};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_quote_claims_the_epoch_and_locks_the_bond() {
    within(60, async {
        let f = Fixture::start().await;
        f.propose_chain(&[1, 3]).await;
        f.fund_prover_bond(5 * BOND).await;
        f.warp_to_slot(EPOCH).await; // first slot of epoch 1: epoch 0's claim window

        let quote = f.quote(0, EPOCH + 1);
        let signed = f.sign(&f.prover_key, quote.clone()).await;
        // The prover signs, anyone verifies — in Rust and on chain alike.
        let domain = quote_domain(CHAIN_ID, f.d.rollup);
        assert_eq!(
            recover_quote_signer(&signed, &domain).unwrap(),
            f.prover_key.address()
        );
        assert_eq!(
            f.rollup.quote_digest(quote.clone()).await.unwrap(),
            quote_digest(&quote, &domain)
        );

        let receipt = f.rollup.claim_epoch_proof_right(signed).await.unwrap();
        let claim = f.rollup.proof_claim().await.unwrap().expect("a claim");
        assert_eq!(claim.epochToProve, U256::ZERO);
        assert_eq!(claim.prover, f.prover_key.address());
        assert_eq!(claim.proposerClaimant, f.sequencer_key.address());
        assert_eq!(claim.bondAmount, U256::from(BOND));
        assert_eq!(
            f.escrow_balances().await,
            (U256::from(4 * BOND), U256::from(BOND))
        );

        let block = receipt.block_number.unwrap();
        let events = f.rollup.events(block, block).await.unwrap();
        match &events[..] {
            [e] => match &e.event {
                RollupEvents::ProofRightClaimed(c) => {
                    assert_eq!(c.epoch, U256::ZERO);
                    assert_eq!(c.prover, f.prover_key.address());
                    assert_eq!(c.basisPointFee, 2_500);
                }
                other => panic!("unexpected event {other:?}"),
            },
            other => panic!("expected one event, got {other:?}"),
        }

        // A second claim, even on a fresh valid quote, is refused.
        let again = f.sign(&f.prover_key, f.quote(0, EPOCH + 1)).await;
        match revert_of(f.rollup.claim_epoch_proof_right(again).await) {
            Revert::Rollup(RollupErrors::Rollup__ProofRightAlreadyClaimed(e)) => {
                assert_eq!(e.epoch, U256::ZERO);
                assert_eq!(e.prover, f.prover_key.address());
            }
            r => panic!("unexpected {r}"),
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_quotes_are_refused_by_name() {
    within(60, async {
        let f = Fixture::start().await;
        f.propose_chain(&[1]).await;
        f.fund_prover_bond(BOND).await;

        // Epoch 0 cannot be claimed during epoch 0.
        let early = f.sign(&f.prover_key, f.quote(0, 10)).await;
        assert!(matches!(
            revert_of(f.rollup.claim_epoch_proof_right(early).await),
            Revert::Rollup(RollupErrors::Rollup__QuoteForWrongEpoch(_))
        ));

        f.warp_to_slot(EPOCH + 1).await;

        // Expired: valid until a slot already past.
        let expired = f.sign(&f.prover_key, f.quote(0, EPOCH)).await;
        match revert_of(f.rollup.claim_epoch_proof_right(expired).await) {
            Revert::Rollup(RollupErrors::Rollup__QuoteExpired(e)) => {
                assert_eq!(e.validUntilSlot, U256::from(EPOCH));
                assert_eq!(e.currentSlot, U256::from(EPOCH + 1));
            }
            r => panic!("unexpected {r}"),
        }

        // Forged: signed by someone other than the quote's prover.
        let mallory = PrivateKeySigner::random();
        let forged = f.sign(&mallory, f.quote(0, EPOCH + 2)).await;
        match revert_of(f.rollup.claim_epoch_proof_right(forged).await) {
            Revert::Rollup(RollupErrors::Rollup__InvalidQuoteSignature(e)) => {
                assert_eq!(e.prover, f.prover_key.address());
                assert_eq!(e.recovered, mallory.address());
            }
            r => panic!("unexpected {r}"),
        }

        // Tampered after signing (a smaller bond): the signature no longer matches.
        let mut tampered = f.sign(&f.prover_key, f.quote(0, EPOCH + 2)).await;
        tampered.quote.bondAmount = U256::from(100);
        assert!(matches!(
            revert_of(f.rollup.claim_epoch_proof_right(tampered).await),
            Revert::Rollup(RollupErrors::Rollup__InvalidQuoteSignature(_))
        ));

        // Wrong epoch: the current one, or one long gone.
        for epoch in [1, 2] {
            let wrong = f.sign(&f.prover_key, f.quote(epoch, EPOCH + 2)).await;
            match revert_of(f.rollup.claim_epoch_proof_right(wrong).await) {
                Revert::Rollup(RollupErrors::Rollup__QuoteForWrongEpoch(e)) => {
                    assert_eq!(e.quoteEpoch, U256::from(epoch));
                    assert_eq!(e.currentEpoch, U256::from(1));
                }
                r => panic!("unexpected {r}"),
            }
        }

        // A bond below the minimum, and one larger than the prover's deposit.
        let mut small = f.quote(0, EPOCH + 2);
        small.bondAmount = U256::from(99);
        let small = f.sign(&f.prover_key, small).await;
        assert!(matches!(
            revert_of(f.rollup.claim_epoch_proof_right(small).await),
            Revert::Rollup(RollupErrors::Rollup__InsufficientBondAmount(_))
        ));
        let mut big = f.quote(0, EPOCH + 2);
        big.bondAmount = U256::from(2 * BOND);
        let big = f.sign(&f.prover_key, big).await;
        assert!(matches!(
            revert_of(f.rollup.claim_epoch_proof_right(big).await),
            Revert::Escrow(
                ProofCommitmentEscrowErrors::ProofCommitmentEscrow__InsufficientBalance(_)
            )
        ));

        // After the claim window, even a valid quote is too late.
        f.warp_to_slot(EPOCH + CLAIM_WINDOW).await;
        let late = f.sign(&f.prover_key, f.quote(0, 2 * EPOCH)).await;
        match revert_of(f.rollup.claim_epoch_proof_right(late).await) {
            Revert::Rollup(RollupErrors::Rollup__ClaimWindowClosed(e)) => {
                assert_eq!(e.deadlineSlot, U256::from(EPOCH + CLAIM_WINDOW));
            }
            r => panic!("unexpected {r}"),
        }
        assert!(f.rollup.proof_claim().await.unwrap().is_none());
        assert_eq!(f.escrow_balances().await, (U256::from(BOND), U256::ZERO));
    })
    .await
}
