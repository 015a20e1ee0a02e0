#![allow(clippy::unwrap_used)]
//! The archive's bookkeeping without L1: batches of synthetic events, prunes, and
//! rollbacks that must restore exactly the chain as it was at the fork point.

use super::*;
use alloy::primitives::U256;
use provemesh_l1::bindings::Rollup::L2BlockProposed;
use provemesh_l1::{ContentCommitment, GlobalVariables, StateReference, TreeSnapshot};

const EPOCH: u64 = 4;

fn pos(l1: u64, log_index: u64) -> L1Position {
    L1Position {
        block_number: l1,
        block_hash: hash(l1),
        tx_hash: B256::repeat_byte(0x77),
        log_index,
    }
}

fn hash(l1: u64) -> B256 {
    B256::from(U256::from(0xF000_0000u64 + l1))
}

fn cp(l1: u64) -> Checkpoint {
    Checkpoint {
        number: l1,
        hash: hash(l1),
    }
}

fn snap() -> TreeSnapshot {
    TreeSnapshot {
        root: B256::ZERO,
        nextAvailableLeafIndex: 0,
    }
}

/// Block `number` in `slot`, its archive distinct per (number, variant).
fn proposed(number: u64, slot: u64, variant: u8, in_hash: B256) -> ArchiveEvent {
    let header = BlockHeader {
        lastArchive: snap(),
        contentCommitment: ContentCommitment {
            numTxs: U256::from(1),
            txsEffectsHash: B256::ZERO,
            inHash: in_hash,
            outHash: B256::ZERO,
        },
        state: StateReference {
            l1ToL2MessageTree: snap(),
            noteHashTree: snap(),
            nullifierTree: snap(),
            publicDataTree: snap(),
        },
        globalVariables: GlobalVariables {
            chainId: U256::from(31337),
            version: U256::from(1),
            blockNumber: U256::from(number),
            slotNumber: U256::from(slot),
            timestamp: U256::ZERO,
            coinbase: Default::default(),
            feeRecipient: B256::ZERO,
        },
        totalFees: U256::ZERO,
    };
    ArchiveEvent::Proposed(Box::new(L2BlockProposed {
        blockNumber: U256::from(number),
        archive: archive(number, variant),
        slotNumber: U256::from(slot),
        header,
        txHashes: vec![B256::repeat_byte(number as u8)],
        body: Bytes::from(vec![variant; 3]),
    }))
}

fn archive(number: u64, variant: u8) -> B256 {
    let mut b = [variant; 32];
    b[..8].copy_from_slice(&number.to_be_bytes());
    B256::from(b)
}

fn batch(to: u64, events: Vec<(L1Position, ArchiveEvent)>) -> Batch {
    Batch { events, to: cp(to) }
}

fn open() -> (tempfile::TempDir, ArchiveStore) {
    let dir = tempfile::tempdir().unwrap();
    let s = ArchiveStore::open(dir.path()).unwrap();
    (dir, s)
}

fn archives(s: &ArchiveStore) -> Vec<B256> {
    s.blocks(0..=u64::MAX)
        .unwrap()
        .into_iter()
        .map(|b| b.archive)
        .collect()
}

#[test]
fn blocks_messages_and_epochs() {
    let (_d, s) = open();
    let m = |index, l2_block, leaf: u8| ArchiveEvent::MessageSent {
        l2_block,
        index,
        leaf: B256::repeat_byte(leaf),
        rolling_hash: B256::repeat_byte(leaf + 100),
    };
    let changes = s
        .apply(
            &batch(
                12,
                vec![
                    (pos(10, 0), m(0, 1, 1)),
                    (pos(10, 1), m(1, 1, 2)),
                    (pos(11, 0), proposed(1, 1, 0, B256::repeat_byte(102))),
                    (pos(11, 1), m(2, 2, 3)),
                    (pos(12, 0), proposed(2, 3, 0, B256::repeat_byte(103))),
                    (pos(12, 1), proposed(3, 5, 0, B256::ZERO)),
                ],
            ),
            EPOCH,
        )
        .unwrap();
    assert_eq!(changes, vec![ChainEvent::BlocksAdded { first: 1, last: 3 }]);
    assert_eq!(
        s.tips().unwrap(),
        Tips {
            pending: 3,
            proven: 0
        }
    );
    assert_eq!(s.cursor().unwrap(), Some(cp(12)));
    assert_eq!(
        s.l1_to_l2_messages(1).unwrap(),
        vec![B256::repeat_byte(1), B256::repeat_byte(2)]
    );
    assert_eq!(s.l1_to_l2_messages(2).unwrap(), vec![B256::repeat_byte(3)]);
    assert!(s.l1_to_l2_messages(3).unwrap().is_empty());
    let e0: Vec<u64> = s
        .blocks_of_epoch(0)
        .unwrap()
        .iter()
        .map(|b| b.number)
        .collect();
    let e1: Vec<u64> = s
        .blocks_of_epoch(1)
        .unwrap()
        .iter()
        .map(|b| b.number)
        .collect();
    assert_eq!((e0, e1), (vec![1, 2], vec![3]));
    let b2 = s.block(2).unwrap().unwrap();
    assert_eq!(b2.l1, pos(12, 0));
    assert_eq!(b2.header.globalVariables.blockNumber, U256::from(2));
    assert_eq!(b2.tx_hashes, vec![B256::repeat_byte(2)]);

    // A block that is not the next one is refused, and nothing of its batch is applied.
    let e = s
        .apply(
            &batch(13, vec![(pos(13, 0), proposed(5, 6, 0, B256::ZERO))]),
            EPOCH,
        )
        .unwrap_err();
    assert!(
        matches!(
            e,
            StoreError::Gap {
                l2_block: 5,
                pending: 3,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(s.cursor().unwrap(), Some(cp(12)));

    // Roll back to L1 block 11: blocks 2 and 3 (L1 block 12) go, message 2 (L1 block 11) stays.
    let tips = s.rollback_to(Some(cp(11))).unwrap();
    assert_eq!(
        tips,
        Tips {
            pending: 1,
            proven: 0
        }
    );
    assert_eq!(s.l1_to_l2_messages(2).unwrap(), vec![B256::repeat_byte(3)]);
    assert!(s.blocks_of_epoch(1).unwrap().is_empty());
    assert_eq!(s.cursor().unwrap(), Some(cp(11)));
    let tips = s.rollback_to(None).unwrap();
    assert_eq!(
        tips,
        Tips {
            pending: 0,
            proven: 0
        }
    );
    assert!(s.l1_to_l2_messages(1).unwrap().is_empty());
    assert_eq!(s.cursor().unwrap(), None);
    assert!(s.checkpoints_desc().unwrap().is_empty());
}

#[test]
fn prunes_and_the_reorgs_that_undo_them() {
    let (_d, s) = open();
    s.apply(
        &batch(
            20,
            vec![
                (pos(10, 0), proposed(1, 1, 0, B256::ZERO)),
                (pos(11, 0), proposed(2, 2, 0, B256::ZERO)),
                (pos(12, 0), proposed(3, 5, 0, B256::ZERO)),
                (
                    pos(13, 0),
                    ArchiveEvent::Proven {
                        epoch: 0,
                        end_block: 2,
                        end_archive: archive(2, 0),
                    },
                ),
            ],
        ),
        EPOCH,
    )
    .unwrap();
    assert_eq!(
        s.tips().unwrap(),
        Tips {
            pending: 3,
            proven: 2
        }
    );

    // Epoch 1 misses its window: block 3 goes; a new block 3 follows.
    let changes = s
        .apply(
            &batch(
                31,
                vec![
                    (
                        pos(30, 2),
                        ArchiveEvent::Pruned {
                            epoch: 1,
                            proven: 2,
                            pruned_pending: 3,
                        },
                    ),
                    (pos(31, 0), proposed(3, 9, 1, B256::ZERO)),
                    (pos(31, 1), proposed(4, 10, 1, B256::ZERO)),
                ],
            ),
            EPOCH,
        )
        .unwrap();
    assert_eq!(
        changes,
        vec![
            ChainEvent::Pruned {
                epoch: 1,
                pending: 2
            },
            ChainEvent::BlocksAdded { first: 3, last: 4 }
        ]
    );
    assert_eq!(
        archives(&s),
        vec![archive(1, 0), archive(2, 0), archive(3, 1), archive(4, 1)]
    );
    assert!(s.blocks_of_epoch(1).unwrap().is_empty());
    assert_eq!(s.blocks_of_epoch(2).unwrap().len(), 2);

    // And a second prune of those.
    s.apply(
        &batch(
            40,
            vec![(
                pos(40, 0),
                ArchiveEvent::Pruned {
                    epoch: 2,
                    proven: 2,
                    pruned_pending: 4,
                },
            )],
        ),
        EPOCH,
    )
    .unwrap();
    assert_eq!(
        s.tips().unwrap(),
        Tips {
            pending: 2,
            proven: 2
        }
    );

    // L1 forgets the second prune: blocks 3' and 4' come back.
    assert_eq!(s.rollback_to(Some(cp(31))).unwrap().pending, 4);
    assert_eq!(
        archives(&s),
        vec![archive(1, 0), archive(2, 0), archive(3, 1), archive(4, 1)]
    );
    // L1 forgets the first prune too (and what followed it): the original block 3 is back.
    assert_eq!(s.rollback_to(Some(cp(20))).unwrap().pending, 3);
    assert_eq!(
        archives(&s),
        vec![archive(1, 0), archive(2, 0), archive(3, 0)]
    );
    assert_eq!(s.blocks_of_epoch(1).unwrap()[0].archive, archive(3, 0));
    assert!(s.blocks_of_epoch(2).unwrap().is_empty());
    // And the proof before the fork, unless the fork is before it.
    assert_eq!(s.tips().unwrap().proven, 2);
    assert_eq!(
        s.rollback_to(Some(cp(12))).unwrap(),
        Tips {
            pending: 3,
            proven: 0
        }
    );
}

#[test]
fn out_roots_follow_reorgs() {
    let (_d, s) = open();
    let root = |epoch, b| {
        (
            pos(10 + epoch, 0),
            ArchiveEvent::OutRoot {
                epoch,
                root: B256::repeat_byte(b),
            },
        )
    };
    s.apply(&batch(12, vec![root(0, 1), root(2, 3)]), EPOCH)
        .unwrap();
    assert_eq!(s.out_root(0).unwrap(), Some(B256::repeat_byte(1)));
    s.rollback_to(Some(cp(11))).unwrap();
    assert_eq!(s.out_root(0).unwrap(), Some(B256::repeat_byte(1)));
    assert_eq!(s.out_root(2).unwrap(), None);
}

#[test]
fn checkpoints_keep_event_blocks_and_recent_batch_ends() {
    let (_d, s) = open();
    s.apply(
        &batch(5, vec![(pos(3, 0), proposed(1, 1, 0, B256::ZERO))]),
        EPOCH,
    )
    .unwrap();
    for to in (100..=3000).step_by(100) {
        s.apply(&batch(to, vec![]), EPOCH).unwrap();
    }
    let kept: Vec<u64> = s
        .checkpoints_desc()
        .unwrap()
        .iter()
        .map(|c| c.number)
        .collect();
    // Batch ends within the horizon, and the one event block; block 5 is gone.
    assert_eq!(kept.first(), Some(&3000));
    assert_eq!(kept.last(), Some(&3));
    assert!(!kept.contains(&5) && !kept.contains(&100));
    assert!(kept.contains(&(3000 - CHECKPOINT_HORIZON + 24)));
}

#[test]
fn reopening_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = ArchiveStore::open(dir.path()).unwrap();
        s.apply(
            &batch(7, vec![(pos(6, 0), proposed(1, 1, 0, B256::ZERO))]),
            EPOCH,
        )
        .unwrap();
        s.set_epoch_duration(EPOCH).unwrap();
    }
    let s = ArchiveStore::open(dir.path()).unwrap();
    assert_eq!(s.cursor().unwrap(), Some(cp(7)));
    assert_eq!(s.tips().unwrap().pending, 1);
    assert_eq!(s.epoch_duration().unwrap(), Some(EPOCH));
}
