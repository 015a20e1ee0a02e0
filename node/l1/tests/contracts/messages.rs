//! Inbox and Outbox: L1→L2 messages are committed per block with the rolling hash the
//! Rust side computes, and the block consuming them must carry it; an epoch's L2→L1
//! messages land in the Outbox as the Merkle root the Rust side computes, and each can be
//! consumed once by its recipient with a path from `hash::merkle_path`.

use crate::support::*;
use alloy::primitives::{B256, U256};
use provemesh_l1::bindings::Inbox::{InboxErrors, InboxEvents, L2Actor};
use provemesh_l1::bindings::Outbox::{L1Actor, L2Actor as OutL2Actor, L2ToL1Msg, OutboxErrors};
use provemesh_l1::hash::{
    inbox_rolling_hash, l1_to_l2, l1_to_l2_message_leaf, l2_to_l1_message_leaf, merkle_path,
    merkle_root,
};
use provemesh_l1::{InboxContract, Revert};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbox_commits_messages_per_block() {
    within(60, async {
        let f = Fixture::start().await;
        let recipient = L2Actor {
            actor: B256::repeat_byte(0x0a),
            version: U256::from(1),
        };
        // Anyone sends; here the prover's account.
        let inbox = InboxContract::new(f.d.inbox, f.prover.clone());
        let mut leaves = Vec::new();
        for i in 0..3u8 {
            let content = B256::from(U256::from(100 + i));
            let secret = B256::from(U256::from(200 + i));
            let sent = inbox
                .send_l2_message(recipient.clone(), content, secret)
                .await
                .unwrap();
            assert_eq!((sent.l2_block_number, sent.index), (1, i as u64));
            // The leaf is what the Rust side computes from the message.
            let expected = l1_to_l2_message_leaf(&l1_to_l2::L1ToL2Msg {
                sender: l1_to_l2::L1Actor {
                    actor: f.prover_key.address(),
                    chainId: U256::from(CHAIN_ID),
                },
                recipient: l1_to_l2::L2Actor {
                    actor: recipient.actor,
                    version: recipient.version,
                },
                content,
                secretHash: secret,
                index: U256::from(i),
            });
            assert_eq!(sent.leaf, expected);
            leaves.push(sent.leaf);
            assert_eq!(sent.rolling_hash, inbox_rolling_hash(&leaves));
        }
        assert_eq!(
            f.inbox.bucket(1).await.unwrap(),
            (inbox_rolling_hash(&leaves), 3)
        );
        let events = f.inbox.events(0, u64::MAX / 2).await.unwrap();
        assert_eq!(
            events
                .iter()
                .filter(|e| matches!(e.event, InboxEvents::MessageSent(_)))
                .count(),
            3
        );

        // Block 1 must carry the bucket's commitment (propose_args puts it in) and closes it.
        let b1 = block(1, 1, 0, B256::ZERO);
        let mut args = f.propose_args(&b1).await;
        assert_eq!(
            args.header.contentCommitment.inHash,
            inbox_rolling_hash(&leaves)
        );
        f.warp_to_slot(1).await;
        args.header.contentCommitment.inHash = inbox_rolling_hash(&leaves[..2]);
        assert!(matches!(
            revert_of(f.rollup.propose(args).await),
            Revert::Rollup(provemesh_l1::bindings::Rollup::RollupErrors::Rollup__InvalidInHash(_))
        ));
        f.propose(&b1).await.unwrap();
        assert_eq!(f.inbox.in_progress().await.unwrap(), 2);

        // Later messages wait for block 2.
        let sent = inbox
            .send_l2_message(recipient.clone(), B256::from(U256::from(7)), B256::ZERO)
            .await
            .unwrap();
        assert_eq!((sent.l2_block_number, sent.index), (2, 3));
        assert_eq!(
            f.inbox.bucket(2).await.unwrap(),
            (inbox_rolling_hash(&[sent.leaf]), 1)
        );

        // Contents must be field elements, recipients of this rollup's version.
        let too_big = B256::repeat_byte(0xff);
        assert!(matches!(
            revert_of(
                inbox
                    .send_l2_message(recipient.clone(), too_big, B256::ZERO)
                    .await
            ),
            Revert::Inbox(InboxErrors::Inbox__ContentTooLarge(_))
        ));
        let other_version = L2Actor {
            version: U256::from(2),
            ..recipient
        };
        assert!(matches!(
            revert_of(
                inbox
                    .send_l2_message(other_version, B256::ZERO, B256::ZERO)
                    .await
            ),
            Revert::Inbox(InboxErrors::Inbox__InvalidRecipientVersion(_))
        ));
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_holds_proven_epoch_roots_and_consumes_once() {
    within(60, async {
        let f = Fixture::start().await;
        let me = f.sequencer_key.address();
        let msg = |i: u64| L2ToL1Msg {
            sender: OutL2Actor {
                actor: B256::repeat_byte(0x0b),
                version: U256::from(1),
            },
            recipient: L1Actor {
                actor: me,
                chainId: U256::from(CHAIN_ID),
            },
            content: B256::from(U256::from(i)),
        };
        // Block 1 has three messages, block 2 one; each block's out hash is the root of its
        // messages, and the epoch's is the root of the blocks' (block 2's tree is padded
        // to block 1's height so that one path shape serves every leaf).
        let b1_leaves: Vec<B256> = (0..3).map(|i| l2_to_l1_message_leaf(&msg(i))).collect();
        let b2_leaves = vec![l2_to_l1_message_leaf(&msg(3)), B256::ZERO, B256::ZERO];
        let b1 = block(1, 1, 10, merkle_root(&b1_leaves));
        let b2 = block(2, 2, 20, merkle_root(&b2_leaves));
        f.propose(&b1).await.unwrap();
        f.propose(&b2).await.unwrap();
        let epoch_root = merkle_root(&[b1.out_hash, b2.out_hash]);
        assert_eq!(f.rollup.epoch_out_hash(1, 2).await.unwrap(), epoch_root);

        f.fund_prover_bond(BOND).await;
        f.warp_to_slot(EPOCH).await;
        let signed = f.sign(&f.prover_key, f.quote(0, EPOCH)).await;
        f.rollup.claim_epoch_proof_right(signed).await.unwrap();
        let args = f.public_inputs(B256::repeat_byte(1), &[b1.clone(), b2.clone()]);
        assert_eq!(args.outHash, epoch_root);
        f.rollup
            .submit_epoch_root_proof(0, 2, args.clone(), simulated_proof(&args, 0, 2))
            .await
            .unwrap();
        assert_eq!(f.outbox.root(0).await.unwrap(), epoch_root);

        // Message 1 of block 1: path inside the block, then across the epoch's blocks.
        let mut path = merkle_path(&b1_leaves, 1).unwrap();
        path.extend(merkle_path(&[b1.out_hash, b2.out_hash], 0).unwrap());
        let index = 1; // block position 0 << block height 2 | leaf 1
        f.outbox
            .consume(msg(1), 0, index, path.clone())
            .await
            .unwrap();
        match revert_of(f.outbox.consume(msg(1), 0, index, path.clone()).await) {
            Revert::Outbox(OutboxErrors::Outbox__AlreadyConsumed(e)) => {
                assert_eq!(e.leafId, U256::from((1 << path.len()) + index));
            }
            r => panic!("unexpected {r}"),
        }
        // Block 2's message sits at block position 1.
        let mut path2 = merkle_path(&b2_leaves, 0).unwrap();
        path2.extend(merkle_path(&[b1.out_hash, b2.out_hash], 1).unwrap());
        f.outbox.consume(msg(3), 0, 4, path2).await.unwrap();

        // A message that is not in the tree, an unproven epoch, someone else's message.
        assert!(matches!(
            revert_of(f.outbox.consume(msg(9), 0, 2, path.clone()).await),
            Revert::Outbox(OutboxErrors::Outbox__InvalidMerkleProof(_))
        ));
        assert!(matches!(
            revert_of(f.outbox.consume(msg(0), 1, 0, path.clone()).await),
            Revert::Outbox(OutboxErrors::Outbox__NothingToConsumeAtEpoch(_))
        ));
        let theirs = provemesh_l1::OutboxContract::new(f.d.outbox, f.prover.clone());
        assert!(matches!(
            revert_of(theirs.consume(msg(0), 0, 0, path).await),
            Revert::Outbox(OutboxErrors::Outbox__InvalidRecipient(_))
        ));
    })
    .await
}
