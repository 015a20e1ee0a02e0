//! `deploy_all`: the contracts are wired to each other, the deployment record survives a
//! JSON round trip (the devnet serves it), and the Rollup refuses windows that do not fit.

use crate::support::*;
use alloy::primitives::U256;
use provemesh_l1::bindings::{Inbox, Outbox, ProofCommitmentEscrow, Rollup::RollupErrors};
use provemesh_l1::{deploy_all, Deployment, Revert};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_is_wired_and_serializable() {
    within(60, async {
        let f = Fixture::start().await;
        let d = f.d;
        assert_eq!(d.chain_id, CHAIN_ID);
        let r = f.rollup.instance();
        assert_eq!(r.INBOX().call().await.unwrap(), d.inbox);
        assert_eq!(r.OUTBOX().call().await.unwrap(), d.outbox);
        assert_eq!(r.VERIFIER().call().await.unwrap(), d.verifier);
        assert_eq!(r.PROOF_COMMITMENT_ESCROW().call().await.unwrap(), d.escrow);
        assert_eq!(r.FEE_ASSET().call().await.unwrap(), d.token);
        assert_eq!(
            r.SEQUENCER().call().await.unwrap(),
            f.sequencer_key.address()
        );
        let p = &f.sequencer;
        assert_eq!(
            ProofCommitmentEscrow::new(d.escrow, p)
                .rollup()
                .call()
                .await
                .unwrap(),
            d.rollup
        );
        assert_eq!(
            Inbox::new(d.inbox, p).rollup().call().await.unwrap(),
            d.rollup
        );
        assert_eq!(
            Outbox::new(d.outbox, p).rollup().call().await.unwrap(),
            d.rollup
        );
        let t = f.timing;
        assert_eq!(
            (
                t.slot_duration,
                t.epoch_duration,
                t.claim_window,
                t.proof_submission_window
            ),
            (12, EPOCH, CLAIM_WINDOW, PROOF_WINDOW)
        );

        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(serde_json::from_str::<Deployment>(&json).unwrap(), d);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollup_refuses_windows_that_do_not_fit() {
    within(60, async {
        let f = Fixture::start().await;
        let mut cfg = config();
        cfg.claim_window = PROOF_WINDOW + 1;
        match revert_of(deploy_all(f.sequencer.clone(), &cfg).await) {
            Revert::Rollup(RollupErrors::Rollup__InvalidWindows(e)) => {
                assert_eq!(e.claimWindow, U256::from(PROOF_WINDOW + 1));
                assert_eq!(e.proofSubmissionWindow, U256::from(PROOF_WINDOW));
            }
            r => panic!("unexpected {r}"),
        }
    })
    .await
}
