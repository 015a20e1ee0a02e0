//! GOVERNANCE_PROPOSER_PAYLOAD_ADDRESS: the sequencer votes for the payload on the
//! GovernanceProposer once in each slot it proposes a block in, and in no other slot.

use crate::support::*;
use alloy::primitives::Address;
use alloy::providers::Provider;
use provemesh_l1::bindings::GovernanceProposer::GovernanceProposerEvents;
use provemesh_l1::GovernanceProposerContract;
use provemesh_sequencer::SequencerEvent;
use std::collections::BTreeSet;
use tokio_util::sync::CancellationToken;

/// Blocks the test watches; each must get its vote.
const BLOCKS: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sequencer_votes_for_the_payload_in_each_slot_it_proposes_in() {
    within(60, async {
        let (chain, ws) = Chain::start(32, 16, 32).await;
        let payload = Address::repeat_byte(0x6F);
        let mut config = chain.config(true);
        config.min_txs_per_block = 0; // a block every slot, no txs needed
        config.governance_payload = Some(payload);
        let shutdown = CancellationToken::new();
        let node = sequencer(config, ws, &shutdown).await;
        let timing = node.timing();
        let mut events = node.subscribe();

        let mut proposed = BTreeSet::new();
        while proposed.len() < BLOCKS {
            let slot = next_event(&mut events, 20, |e| match e {
                SequencerEvent::BlockProposed { slot, .. } => Some(*slot),
                _ => None,
            })
            .await;
            proposed.insert(slot);
        }

        let read = chain.wallet(1);
        let gov = GovernanceProposerContract::new(chain.deployment.governance_proposer, read);
        let sequencer = chain.keys[0].address();
        let (round_size, _) = gov.round_and_quorum().await.unwrap();
        let voted: Vec<u64> = eventually(20, "a vote for each watched block", || async {
            let latest = gov.instance().provider().get_block_number().await.ok()?;
            let mut slots = Vec::new();
            for e in gov.events(0, latest).await.ok()? {
                let GovernanceProposerEvents::VoteCast(v) = &e.event else {
                    continue;
                };
                assert_eq!((v.payload, v.voter), (payload, sequencer));
                let block = gov
                    .instance()
                    .provider()
                    .get_block_by_number(e.l1_block_number.into())
                    .await
                    .ok()??;
                let slot = timing.slot_at(block.header.timestamp);
                assert_eq!(v.round.to::<u64>(), slot / round_size, "round of {slot}");
                slots.push(slot);
            }
            proposed.iter().all(|s| slots.contains(s)).then_some(slots)
        })
        .await;

        let stats = node
            .stats()
            .blocks_proposed
            .load(std::sync::atomic::Ordering::Relaxed);
        shutdown.cancel();
        // One vote per slot, and only in slots with a block of ours.
        let distinct: BTreeSet<u64> = voted.iter().copied().collect();
        assert_eq!(
            distinct.len(),
            voted.len(),
            "two votes in a slot: {voted:?}"
        );
        let rollup_slots = {
            let mut s = BTreeSet::new();
            for n in 1..=chain.rollup.tips().await.unwrap().pending {
                s.insert(chain.rollup.block(n).await.unwrap().slotNumber.to::<u64>());
            }
            s
        };
        assert!(
            distinct.is_subset(&rollup_slots),
            "votes in slots {distinct:?}, blocks in {rollup_slots:?}"
        );
        assert!(voted.len() >= BLOCKS && stats >= BLOCKS as u64);
        let round = *proposed.first().unwrap() / round_size;
        assert!(gov.votes(round, payload).await.unwrap() >= 1);
    })
    .await
}
