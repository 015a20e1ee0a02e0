//! `propose`: the pending chain grows one valid block per slot, the event carries the whole
//! block, and every invalid proposal is refused with its named error.

use crate::support::*;
use alloy::primitives::{Bytes, B256, U256};
use provemesh_l1::bindings::Rollup::{L2BlockProposed, RollupErrors, RollupEvents};
use provemesh_l1::{Revert, RollupContract};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn propose_builds_the_pending_chain_and_emits_full_blocks() {
    within(60, async {
        let f = Fixture::start().await;
        assert_eq!(f.rollup.tips().await.unwrap().pending, 0);
        let blocks = f.propose_chain(&[1, 2, 5]).await;

        let tips = f.rollup.tips().await.unwrap();
        assert_eq!((tips.pending, tips.proven), (3, 0));
        for b in &blocks {
            let log = f.rollup.block(b.number).await.unwrap();
            assert_eq!(log.archive, b.archive);
            assert_eq!(log.slotNumber, U256::from(b.slot));
            assert_eq!(log.totalFees, U256::from(b.fees));
        }
        assert_eq!(
            f.rollup.block(0).await.unwrap().archive,
            B256::repeat_byte(1)
        );

        // The archiver's view: one event per block, with header, tx hashes and body.
        let proposed = f.rollup.proposed_blocks(0, u64::MAX / 2).await.unwrap();
        assert_eq!(proposed.len(), 3);
        for (ev, b) in proposed.iter().zip(&blocks) {
            let L2BlockProposed {
                blockNumber,
                archive,
                slotNumber,
                header,
                txHashes,
                body,
            } = &ev.event;
            assert_eq!(*blockNumber, U256::from(b.number));
            assert_eq!(*archive, b.archive);
            assert_eq!(*slotNumber, U256::from(b.slot));
            assert_eq!(
                *header,
                f.propose_args(b).await.header,
                "header round-trips"
            );
            assert_eq!(*txHashes, b.tx_hashes);
            assert_eq!(*body, b.body);
            assert!(ev.l1_block_number > f.d.rollup_l1_block);
        }
        let all = f
            .rollup
            .events(f.d.rollup_l1_block, u64::MAX / 2)
            .await
            .unwrap();
        assert_eq!(
            all.iter()
                .filter(|e| matches!(e.event, RollupEvents::L2BlockProposed(_)))
                .count(),
            3
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_proposals_are_refused_by_name() {
    within(60, async {
        let f = Fixture::start().await;
        f.propose_chain(&[1]).await;
        f.warp_to_slot(3).await;
        let good = block(2, 3, 0, B256::ZERO);
        let args = f.propose_args(&good).await;
        let rejected = |a| async { revert_of(f.rollup.propose(a).await) };

        let mut a = args.clone();
        a.header.globalVariables.blockNumber = U256::from(3);
        assert!(matches!(
            rejected(a).await,
            Revert::Rollup(RollupErrors::Rollup__InvalidBlockNumber(_))
        ));

        let mut a = args.clone();
        a.header.lastArchive.root = B256::repeat_byte(9);
        assert!(matches!(
            rejected(a).await,
            Revert::Rollup(RollupErrors::Rollup__InvalidArchive(_))
        ));

        let mut a = args.clone();
        a.header.globalVariables.slotNumber = U256::from(4);
        let err = f.rollup.propose(a).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "Rollup.propose: reverted: Rollup__InvalidSlot { currentSlot: 3, headerSlot: 4 }",
            "errors name the contract, the call and the decoded revert"
        );

        let mut a = args.clone();
        a.header.globalVariables.timestamp += U256::from(1);
        assert!(matches!(
            rejected(a).await,
            Revert::Rollup(RollupErrors::Rollup__InvalidTimestamp(_))
        ));

        let mut a = args.clone();
        a.header.globalVariables.chainId = U256::from(1);
        assert!(matches!(
            rejected(a).await,
            Revert::Rollup(RollupErrors::Rollup__InvalidChainId(_))
        ));

        let mut a = args.clone();
        a.txHashes.pop();
        assert!(matches!(
            rejected(a).await,
            Revert::Rollup(RollupErrors::Rollup__InvalidTxCount(_))
        ));

        let mut a = args.clone();
        a.body = Bytes::from_static(b"other effects");
        assert!(matches!(
            rejected(a).await,
            Revert::Rollup(RollupErrors::Rollup__InvalidTxsEffectsHash(_))
        ));

        let mut a = args.clone();
        a.header.contentCommitment.inHash = B256::repeat_byte(3);
        assert!(matches!(
            rejected(a).await,
            Revert::Rollup(RollupErrors::Rollup__InvalidInHash(_))
        ));

        // Only the sequencer proposes.
        let other = RollupContract::new(f.d.rollup, f.prover.clone());
        match revert_of(other.propose(args.clone()).await) {
            Revert::Rollup(RollupErrors::Rollup__NotSequencer(e)) => {
                assert_eq!(e.caller, f.prover_key.address());
                assert_eq!(e.sequencer, f.sequencer_key.address());
            }
            r => panic!("unexpected {r}"),
        }

        // The valid one goes in; a second block in the same slot does not.
        f.rollup.propose(args).await.unwrap();
        let again = f.propose_args(&block(3, 3, 0, B256::ZERO)).await;
        match revert_of(f.rollup.propose(again).await) {
            Revert::Rollup(RollupErrors::Rollup__SlotAlreadyInChain(e)) => {
                assert_eq!((e.lastSlot, e.proposedSlot), (U256::from(3), U256::from(3)));
            }
            r => panic!("unexpected {r}"),
        }
        assert_eq!(f.rollup.tips().await.unwrap().pending, 2);
    })
    .await
}
