//! Following a healthy chain: blocks, proofs, messages, out roots and events over several
//! epochs; and a restart that resumes from the stored L1 position.

use crate::support::*;
use alloy::primitives::B256;
use provemesh_archiver::{ChainEvent, L2BlockSource};
use provemesh_l1::hash::merkle_root;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_four_proven_epochs() {
    within(60, async {
        let chain = Chain::start().await;
        chain.fund_prover(2 * BOND).await;
        let dir = tempfile::tempdir().unwrap();
        let run = Running::start(config(&chain, vec![chain.url()], dir.path()));
        let mut events = run.archiver.subscribe();

        // Epoch e: blocks in slots 4e+1 and 4e+2, claimed and proven in slot 4(e+1).
        let mut all = Vec::new();
        let mut message = None;
        let mut previous = GENESIS_ARCHIVE;
        for e in 0..4u64 {
            let epoch_blocks = [
                block(2 * e + 1, EPOCH * e + 1, 0),
                block(2 * e + 2, EPOCH * e + 2, 0),
            ];
            chain.propose(&epoch_blocks[0]).await;
            if e == 0 {
                message = Some(chain.send_message(7).await);
            }
            chain.propose(&epoch_blocks[1]).await;
            chain.claim_and_prove(e, previous, &epoch_blocks).await;
            previous = epoch_blocks[1].archive;
            all.extend(epoch_blocks);
        }

        let status = run.synced(&chain).await;
        let a = &run.archiver;
        assert_eq!(
            (status.tips.pending, status.tips.proven),
            (8, 8),
            "{status:?}"
        );
        assert_eq!(a.tips().await.unwrap(), status.tips);
        assert!(
            status.caught_up && status.reorgs == 0 && status.prunes == 0,
            "{status:?}"
        );
        assert_eq!(status.first_l1_block_read, Some(chain.d.rollup_l1_block));
        assert_eq!(status.l1_host, Some(host_of(&chain.url())));

        let expected: Vec<(u64, B256)> = all.iter().map(|b| (b.number, b.archive)).collect();
        assert_eq!(archives(a).await, expected);
        for e in 0..4u64 {
            let blocks = a.blocks_of_epoch(e).await.unwrap();
            let numbers: Vec<u64> = blocks.iter().map(|b| b.number).collect();
            assert_eq!(numbers, vec![2 * e + 1, 2 * e + 2]);
            let hashes: Vec<B256> = all[2 * e as usize..2 * e as usize + 2]
                .iter()
                .flat_map(|b| b.tx_hashes.clone())
                .collect();
            assert_eq!(a.tx_hashes_of_epoch(e).await.unwrap(), hashes);
            assert_eq!(a.epoch_of(2 * e + 2).await.unwrap(), Some(e));
            let outs: Vec<B256> = blocks
                .iter()
                .map(|b| b.header.contentCommitment.outHash)
                .collect();
            assert_eq!(a.out_root(e).unwrap(), Some(merkle_root(&outs)));
        }
        assert_eq!(a.epoch_of(9).await.unwrap(), None);
        assert!(a.tx_hashes_of_epoch(4).await.unwrap().is_empty());

        // The message sent after block 1 is block 2's, and block 2 committed to it.
        let m = message.unwrap();
        assert_eq!(m.l2_block_number, 2);
        assert_eq!(a.l1_to_l2_messages(2).await.unwrap(), vec![m.leaf]);
        assert!(a.l1_to_l2_messages(1).await.unwrap().is_empty());
        let b2 = a.block(2).await.unwrap().unwrap();
        assert_eq!(b2.header.contentCommitment.inHash, m.rolling_hash);
        assert_eq!(b2.body, all[1].body);
        assert!(b2.l1.block_number > chain.d.rollup_l1_block);

        // Subscribers saw every block once and every proof, in order.
        let mut added = Vec::new();
        let mut proven = Vec::new();
        while let Ok(ev) = events.try_recv() {
            match ev {
                ChainEvent::BlocksAdded { first, last } => added.extend(first..=last),
                ChainEvent::Proven { epoch, block } => proven.push((epoch, block)),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(added, (1..=8).collect::<Vec<_>>());
        assert_eq!(proven, vec![(0, 2), (1, 4), (2, 6), (3, 8)]);
        run.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumes_where_it_stopped_after_a_restart() {
    within(60, async {
        let chain = Chain::start().await;
        let dir = tempfile::tempdir().unwrap();
        let blocks: Vec<TestBlock> = (1..=5).map(|n| block(n, n, 0)).collect();
        for b in &blocks[..3] {
            chain.propose(b).await;
        }
        let run = Running::start(config(&chain, vec![chain.url()], dir.path()));
        let before = run.synced(&chain).await;
        assert_eq!(before.tips.pending, 3);
        assert_eq!(before.first_l1_block_read, Some(chain.d.rollup_l1_block));
        run.stop().await;
        let stopped_at = before.l1_block.unwrap();

        for b in &blocks[3..] {
            chain.propose(b).await;
        }
        chain.mine(2).await;

        let run = Running::start(config(&chain, vec![chain.url()], dir.path()));
        // The archive is there before any L1 read.
        assert_eq!(run.archiver.tips().await.unwrap().pending, 3);
        let after = run.synced(&chain).await;
        // It read on from its stored position, not from the rollup's deployment block.
        assert_eq!(after.first_l1_block_read, Some(stopped_at + 1), "{after:?}");
        assert!(stopped_at + 1 > chain.d.rollup_l1_block);
        assert_eq!(after.tips.pending, 5);
        let expected: Vec<(u64, B256)> = blocks.iter().map(|b| (b.number, b.archive)).collect();
        assert_eq!(
            archives(&run.archiver).await,
            expected,
            "no block twice, none missing"
        );
        run.stop().await;
    })
    .await
}
