//! L1 reorgs (anvil `evm_snapshot` / `evm_revert`, then a different chain) and L2 prunes
//! (`PrunedPending`), including a reorg that undoes a prune.

use crate::support::*;
use provemesh_archiver::{ChainEvent, L2BlockSource};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolls_back_an_l1_reorg_to_the_fork_point() {
    within(60, async {
        let chain = Chain::start().await;
        let dir = tempfile::tempdir().unwrap();
        let run = Running::start(config(&chain, vec![chain.url()], dir.path()));
        let mut events = run.archiver.subscribe();
        let b1 = block(1, 1, 0);
        chain.propose(&b1).await;
        run.synced(&chain).await;

        // Fork A: a message for block 2, blocks 2 and 3.
        let fork = chain.snapshot().await;
        let fork_height = chain.head().await;
        let m = chain.send_message(9).await;
        let (a2, a3) = (block(2, 2, 0xA), block(3, 3, 0xA));
        chain.propose(&a2).await;
        chain.propose(&a3).await;
        let s = run.synced(&chain).await;
        assert_eq!(s.tips.pending, 3);
        assert_eq!(
            run.archiver.l1_to_l2_messages(2).await.unwrap(),
            vec![m.leaf]
        );
        let height_a = chain.head().await;

        // L1 drops fork A; fork B has another block 2, no message, and grows past A.
        chain.revert(fork).await;
        assert_eq!(chain.head().await, fork_height);
        let b2 = block(2, 5, 0xB);
        chain.propose(&b2).await;
        let now = chain.head().await;
        chain.mine(height_a + 2 - now).await;

        let s = run.synced(&chain).await;
        assert_eq!(s.reorgs, 1, "{s:?}");
        assert_eq!(s.tips.pending, 2);
        assert_eq!(
            archives(&run.archiver).await,
            vec![(1, b1.archive), (2, b2.archive)]
        );
        assert!(run.archiver.l1_to_l2_messages(2).await.unwrap().is_empty());
        assert_eq!(run.archiver.blocks_of_epoch(0).await.unwrap().len(), 1);
        assert_eq!(run.archiver.epoch_of(2).await.unwrap(), Some(1));

        let mut seen = Vec::new();
        while let Ok(ev) = events.try_recv() {
            seen.push(ev);
        }
        let reorg = seen
            .iter()
            .position(|e| matches!(e, ChainEvent::L1Reorg { .. }))
            .unwrap_or_else(|| panic!("no reorg event in {seen:?}"));
        match seen[reorg] {
            ChainEvent::L1Reorg { l1_block, tips } => {
                // Rolled back to at most the fork point (a block the chain still has).
                assert!(l1_block.is_some_and(|b| b <= fork_height), "{l1_block:?}");
                assert_eq!(tips.pending, 1);
            }
            _ => unreachable!(),
        }
        assert_eq!(
            seen[reorg + 1..],
            [ChainEvent::BlocksAdded { first: 2, last: 2 }]
        );
        run.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drops_pruned_blocks_and_restores_them_when_l1_forgets_the_prune() {
    within(60, async {
        let chain = Chain::start().await;
        let dir = tempfile::tempdir().unwrap();
        let run = Running::start(config(&chain, vec![chain.url()], dir.path()));
        let mut events = run.archiver.subscribe();
        let (b1, b2) = (block(1, 1, 0), block(2, 2, 0));
        chain.propose(&b1).await;
        chain.propose(&b2).await;
        assert_eq!(run.synced(&chain).await.tips.pending, 2);
        let before_prune = chain.snapshot().await;

        // Nobody claims epoch 0: past its claim window, the Rollup prunes it.
        chain.warp_to_slot(EPOCH + CLAIM_WINDOW).await;
        chain.rollup.prune().await.unwrap();
        let s = run.synced(&chain).await;
        assert_eq!((s.tips.pending, s.prunes), (0, 1), "{s:?}");
        assert!(archives(&run.archiver).await.is_empty());
        assert!(run.archiver.blocks_of_epoch(0).await.unwrap().is_empty());
        assert_eq!(run.archiver.block(1).await.unwrap(), None);

        // The chain goes on from genesis with another block 1.
        let c1 = block(1, EPOCH + CLAIM_WINDOW + 1, 0xC);
        chain.propose(&c1).await;
        let s = run.synced(&chain).await;
        assert_eq!(s.tips.pending, 1);
        assert_eq!(archives(&run.archiver).await, vec![(1, c1.archive)]);
        assert_eq!(run.archiver.epoch_of(1).await.unwrap(), Some(1));

        let mut seen = Vec::new();
        while let Ok(ev) = events.try_recv() {
            seen.push(ev);
        }
        let pruned = seen
            .iter()
            .position(|e| {
                *e == ChainEvent::Pruned {
                    epoch: 0,
                    pending: 0,
                }
            })
            .unwrap_or_else(|| panic!("no prune event in {seen:?}"));
        assert_eq!(
            seen[pruned + 1..],
            [ChainEvent::BlocksAdded { first: 1, last: 1 }]
        );

        // L1 reorgs to before the prune: the pruned blocks are the chain again.
        let height = chain.head().await;
        chain.revert(before_prune).await;
        let now = chain.head().await;
        chain.mine(height + 2 - now).await;
        let s = run.synced(&chain).await;
        assert_eq!((s.tips.pending, s.reorgs), (2, 1), "{s:?}");
        assert_eq!(
            archives(&run.archiver).await,
            vec![(1, b1.archive), (2, b2.archive)]
        );
        assert_eq!(run.archiver.blocks_of_epoch(0).await.unwrap().len(), 2);
        run.stop().await;
    })
    .await
}
