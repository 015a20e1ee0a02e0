//! `submitEpochRootProof` and the SimulatedVerifier: a proof made by the Rust
//! `SimulatedProof::create` over the Rollup's public inputs is accepted on chain, advances
//! the proven tip, returns the bond and pays the fees; wrong public inputs and tampered
//! proofs are refused by name.

use crate::support::*;
use alloy::primitives::{Bytes, B256, U256};
use provemesh_l1::bindings::Rollup::{RollupErrors, RollupEvents};
use provemesh_l1::bindings::SimulatedVerifier::{self, SimulatedVerifierErrors};
use provemesh_l1::bindings::TestERC20;
use provemesh_l1::public_inputs::verifier_public_inputs;
use provemesh_l1::{Revert, RollupContract};

/// Proposes blocks at slots 1 and 3 (epoch 0) and 5 (epoch 1), funds the prover and
/// claims epoch 0 in slot EPOCH + 1.
async fn claimed_epoch_zero(f: &Fixture) -> Vec<TestBlock> {
    let mut blocks = f.propose_chain(&[1, 3]).await;
    let third = block(3, EPOCH + 1, 1_000, B256::ZERO);
    f.propose(&third).await.unwrap();
    blocks.push(third);
    f.fund_prover_bond(BOND).await;
    let signed = f.sign(&f.prover_key, f.quote(0, EPOCH + 1)).await;
    f.rollup.claim_epoch_proof_right(signed).await.unwrap();
    blocks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_proof_from_rust_verifies_on_chain() {
    within(60, async {
        let f = Fixture::start().await;
        let verifier = SimulatedVerifier::new(f.d.verifier, &f.sequencer);
        let args = f.public_inputs(B256::repeat_byte(1), &[block(1, 1, 7, B256::ZERO)]);
        let inputs = verifier_public_inputs(&args, 0, 1);
        let proof = simulated_proof(&args, 0, 1);
        assert!(verifier
            .verify(proof.clone(), inputs.clone())
            .call()
            .await
            .unwrap());

        let decode =
            |e: alloy::contract::Error| Revert::decode(&e.as_revert_data().expect("revert data"));
        // Other public inputs than the proof commits to.
        let mut other = inputs.clone();
        other[3] = B256::from(U256::from(8));
        let e = verifier
            .verify(proof.clone(), other)
            .call()
            .await
            .unwrap_err();
        assert!(matches!(
            decode(e),
            Revert::Verifier(SimulatedVerifierErrors::SimulatedVerifier__WrongPublicInputs(_))
        ));
        // A flipped witness-hash bit breaks the binding tag.
        let mut t = proof.to_vec();
        t[8 + 32 * 2] ^= 1;
        let e = verifier
            .verify(Bytes::from(t), inputs.clone())
            .call()
            .await
            .unwrap_err();
        assert!(matches!(
            decode(e),
            Revert::Verifier(SimulatedVerifierErrors::SimulatedVerifier__Tampered(_))
        ));
        // Not a simulated proof at all.
        let e = verifier
            .verify(Bytes::from(vec![0u8; 200]), inputs)
            .call()
            .await
            .unwrap_err();
        assert!(matches!(
            decode(e),
            Revert::Verifier(SimulatedVerifierErrors::SimulatedVerifier__Malformed(_))
        ));
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn epoch_proof_advances_the_proven_chain_and_pays_out() {
    within(60, async {
        let f = Fixture::start().await;
        let blocks = claimed_epoch_zero(&f).await;
        let epoch0 = &blocks[..2];
        let args = f.public_inputs(B256::repeat_byte(1), epoch0);

        // The Rollup's public inputs are the ones the Rust side builds.
        let on_chain = f
            .rollup
            .epoch_proof_public_inputs(0, 2, args.clone())
            .await
            .unwrap();
        assert_eq!(on_chain, verifier_public_inputs(&args, 0, 2));

        let proof = simulated_proof(&args, 0, 2);
        let receipt = f
            .rollup
            .submit_epoch_root_proof(0, 2, args.clone(), proof)
            .await
            .unwrap();
        let tips = f.rollup.tips().await.unwrap();
        assert_eq!((tips.pending, tips.proven), (3, 2));
        assert!(f.rollup.proof_claim().await.unwrap().is_none());
        assert_eq!(
            f.escrow_balances().await,
            (U256::from(BOND), U256::ZERO),
            "bond returned"
        );
        assert_eq!(f.outbox.root(0).await.unwrap(), args.outHash);

        // Fees of blocks 1 and 2 (100 + 200): 25% to the prover, the rest to the coinbase.
        assert_eq!(
            f.rollup.fees_of(f.prover_key.address()).await.unwrap(),
            U256::from(75)
        );
        assert_eq!(
            f.rollup.fees_of(f.sequencer_key.address()).await.unwrap(),
            U256::from(225)
        );
        let block = receipt.block_number.unwrap();
        let proven = f.rollup.events(block, block).await.unwrap();
        assert!(proven.iter().any(|e| matches!(
            &e.event,
            RollupEvents::EpochProven(p)
                if p.epoch == U256::ZERO && p.startBlockNumber == U256::from(1)
                    && p.endBlockNumber == U256::from(2) && p.endArchive == args.endArchive
        )));

        // The prover takes its fees out of the rollup's fee-asset balance.
        let prover_rollup = RollupContract::new(f.d.rollup, f.prover.clone());
        assert!(matches!(
            revert_of(prover_rollup.claim_fees().await),
            Revert::Rollup(RollupErrors::Rollup__InsufficientFeeAssetBalance(_))
        ));
        let token = TestERC20::new(f.d.token, &f.sequencer);
        token
            .mint(f.d.rollup, U256::from(1_000))
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        prover_rollup.claim_fees().await.unwrap();
        assert_eq!(
            token
                .balanceOf(f.prover_key.address())
                .call()
                .await
                .unwrap(),
            U256::from(75)
        );
        assert!(matches!(
            revert_of(prover_rollup.claim_fees().await),
            Revert::Rollup(RollupErrors::Rollup__NoFeesToClaim(_))
        ));
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_public_inputs_and_tampered_proofs_are_refused() {
    within(60, async {
        let f = Fixture::start().await;
        let blocks = claimed_epoch_zero(&f).await;
        let epoch0 = &blocks[..2];
        let good = f.public_inputs(B256::repeat_byte(1), epoch0);
        let rollup = &f.rollup;
        let submit = |args, end, proof| async move {
            revert_of(rollup.submit_epoch_root_proof(0, end, args, proof).await)
        };
        let proof_for = |args: &provemesh_l1::EpochProofPublicInputs| simulated_proof(args, 0, 2);

        // Each public input is checked against the chain before the proof is looked at.
        let mut a = good.clone();
        a.previousArchive = B256::repeat_byte(7);
        assert!(matches!(
            submit(a.clone(), 2, proof_for(&a)).await,
            Revert::Rollup(RollupErrors::Rollup__InvalidPreviousArchive(_))
        ));
        let mut a = good.clone();
        a.endArchive = B256::repeat_byte(7);
        assert!(matches!(
            submit(a.clone(), 2, proof_for(&a)).await,
            Revert::Rollup(RollupErrors::Rollup__InvalidEndArchive(_))
        ));
        let mut a = good.clone();
        a.outHash = B256::repeat_byte(7);
        assert!(matches!(
            submit(a.clone(), 2, proof_for(&a)).await,
            Revert::Rollup(RollupErrors::Rollup__InvalidOutHash(_))
        ));
        let mut a = good.clone();
        a.totalFees = U256::from(1);
        match submit(a.clone(), 2, proof_for(&a)).await {
            Revert::Rollup(RollupErrors::Rollup__InvalidFees(e)) => {
                assert_eq!((e.expected, e.got), (U256::from(300), U256::from(1)));
            }
            r => panic!("unexpected {r}"),
        }
        let mut a = good.clone();
        a.proverId = B256::repeat_byte(7);
        assert!(matches!(
            submit(a.clone(), 2, proof_for(&a)).await,
            Revert::Rollup(RollupErrors::Rollup__InvalidProverId(_))
        ));
        // The epoch's range: it must end at its last block, and not stray into the next.
        assert!(matches!(
            submit(good.clone(), 1, simulated_proof(&good, 0, 1)).await,
            Revert::Rollup(RollupErrors::Rollup__EpochNotComplete(_))
        ));
        assert!(matches!(
            submit(good.clone(), 3, simulated_proof(&good, 0, 3)).await,
            Revert::Rollup(RollupErrors::Rollup__EndBlockNotInEpoch(_))
        ));
        assert!(matches!(
            revert_of(
                f.rollup
                    .submit_epoch_root_proof(1, 3, good.clone(), proof_for(&good))
                    .await
            ),
            Revert::Rollup(RollupErrors::Rollup__EpochNotClaimed(_))
        ));

        // Right inputs, but a proof of other inputs, or a tampered one: the verifier says no.
        let mut other = good.clone();
        other.totalFees = U256::from(301);
        assert!(matches!(
            submit(good.clone(), 2, proof_for(&other)).await,
            Revert::Verifier(SimulatedVerifierErrors::SimulatedVerifier__WrongPublicInputs(_))
        ));
        let mut t = proof_for(&good).to_vec();
        t[8 + 32 * 3] ^= 0x80;
        assert!(matches!(
            submit(good.clone(), 2, Bytes::from(t)).await,
            Revert::Verifier(SimulatedVerifierErrors::SimulatedVerifier__Tampered(_))
        ));

        // Nothing moved; the right proof still goes through.
        assert_eq!(f.rollup.tips().await.unwrap().proven, 0);
        f.rollup
            .submit_epoch_root_proof(0, 2, good.clone(), proof_for(&good))
            .await
            .unwrap();
        assert_eq!(f.rollup.tips().await.unwrap().proven, 2);
    })
    .await
}
