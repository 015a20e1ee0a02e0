//! GovernanceProposer on the real Rollup: the Rollup's sequencer votes once per slot, a
//! non-proposer and a second vote in a slot are refused by name, votes count per round and
//! the quorum selects the payload; the deployment record stays readable without it.

use crate::support::*;
use alloy::primitives::{Address, U256};
use provemesh_l1::bindings::GovernanceProposer::{
    GovernanceProposerErrors, GovernanceProposerEvents,
};
use provemesh_l1::{governance_revert, Deployment, GovernanceProposerContract, L1Error};

const ROUND: u64 = 4;
const QUORUM: u64 = 3;

fn refusal<T: std::fmt::Debug>(r: Result<T, L1Error>) -> GovernanceProposerErrors {
    match r {
        Err(e) => governance_revert(&e).unwrap_or_else(|| panic!("not a governance revert: {e}")),
        Ok(v) => panic!("expected a refusal, got {v:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequencer_votes_once_per_slot_and_the_quorum_selects() {
    within(60, async {
        let mut cfg = config();
        cfg.governance_round_size = ROUND;
        cfg.governance_quorum = QUORUM;
        let f = Fixture::start_with(cfg).await;
        assert_ne!(f.d.governance_proposer, Address::ZERO);
        let gov = GovernanceProposerContract::new(f.d.governance_proposer, f.sequencer.clone());
        assert_eq!(gov.round_and_quorum().await.unwrap(), (ROUND, QUORUM));
        assert_eq!(
            gov.instance().ROLLUP().call().await.unwrap(),
            f.d.rollup,
            "bound to the rollup"
        );
        let payload = Address::repeat_byte(0xAB);
        let other = Address::repeat_byte(0xCD);

        // Slot 1 (round 0): one vote, then a second is refused.
        f.warp_to_slot(1).await;
        let v = gov.vote(payload).await.unwrap();
        assert_eq!((v.round, v.payload, v.selected), (0, payload, false));
        match refusal(gov.vote(other).await) {
            GovernanceProposerErrors::GovernanceProposer__AlreadyVotedThisSlot(e) => {
                assert_eq!(e.slot, U256::from(1))
            }
            e => panic!("unexpected {e:?}"),
        }

        // Not the Rollup's sequencer: refused, naming both.
        f.warp_to_slot(2).await;
        let outsider = GovernanceProposerContract::new(f.d.governance_proposer, f.prover.clone());
        match refusal(outsider.vote(payload).await) {
            GovernanceProposerErrors::GovernanceProposer__NotProposer(e) => {
                assert_eq!(e.caller, f.prover_key.address());
                assert_eq!(e.proposer, f.sequencer_key.address());
            }
            e => panic!("unexpected {e:?}"),
        }
        assert!(matches!(
            refusal(gov.vote(Address::ZERO).await),
            GovernanceProposerErrors::GovernanceProposer__ZeroPayload(_)
        ));
        // The refusals took nothing: the sequencer still votes in slot 2.
        assert!(!gov.vote(payload).await.unwrap().selected);
        assert_eq!(gov.votes(0, payload).await.unwrap(), 2);
        assert_eq!(gov.selected_payload(0).await.unwrap(), None);

        // Round 1 (slots 4..8) starts from zero: three votes reach the quorum.
        for slot in [4, 5] {
            f.warp_to_slot(slot).await;
            assert!(!gov.vote(payload).await.unwrap().selected, "slot {slot}");
        }
        f.warp_to_slot(6).await;
        let v = gov.vote(payload).await.unwrap();
        assert_eq!((v.round, v.selected), (1, true));
        assert_eq!(gov.selected_payload(1).await.unwrap(), Some(payload));
        assert_eq!(gov.votes(1, payload).await.unwrap(), QUORUM);
        assert_eq!(
            gov.selected_payload(0).await.unwrap(),
            None,
            "round 0 short"
        );

        // The events: five VoteCasts by the sequencer, one PayloadSelected.
        let events = gov.events(0, v.l1_block).await.unwrap();
        let votes: Vec<_> = events
            .iter()
            .filter_map(|e| match &e.event {
                GovernanceProposerEvents::VoteCast(c) => Some((c.round, c.payload, c.voter)),
                _ => None,
            })
            .collect();
        assert_eq!(votes.len(), 5);
        assert!(votes
            .iter()
            .all(|(_, p, who)| *p == payload && *who == f.sequencer_key.address()));
        let selected: Vec<_> = events
            .iter()
            .filter_map(|e| match &e.event {
                GovernanceProposerEvents::PayloadSelected(s) => Some((s.round, s.payload)),
                _ => None,
            })
            .collect();
        assert_eq!(selected, vec![(U256::from(1), payload)]);
    })
    .await
}

#[test]
fn a_deployment_record_without_governance_still_reads() {
    let old = r#"{"chain_id":31337,
        "token":"0x0101010101010101010101010101010101010101",
        "escrow":"0x0202020202020202020202020202020202020202",
        "verifier":"0x0303030303030303030303030303030303030303",
        "inbox":"0x0404040404040404040404040404040404040404",
        "outbox":"0x0505050505050505050505050505050505050505",
        "rollup":"0x0606060606060606060606060606060606060606",
        "rollup_l1_block":42}"#;
    let d: Deployment = serde_json::from_str(old).unwrap();
    assert_eq!(d.governance_proposer, Address::ZERO);
    assert_eq!(d.rollup_l1_block, 42);
    let back: Deployment = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
    assert_eq!(back, d);
}
