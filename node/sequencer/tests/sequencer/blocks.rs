//! The sequencer turns generated txs into L1 blocks: every valid tx is proposed (once, in
//! a block whose event carries it), every invalid one is refused with its reason and
//! never proposed, L1→L2 messages are consumed, and txs come back by hash over JSON-RPC.

use crate::support::*;
use alloy::primitives::{B256, U256};
use jsonrpsee::core::client::{ClientT, Error as ClientError};
use jsonrpsee::core::params::ArrayParams;
use provemesh_common::hash::Fr;
use provemesh_common::tx::TxHash;
use provemesh_l1::bindings::Inbox::InboxEvents;
use provemesh_l1::InboxContract;
use provemesh_p2p::api::codes;
use provemesh_p2p::wire::HexTxHash;
use provemesh_p2p::{NodeApiClient, TxStatus};
use provemesh_sequencer::header::{b256, l2_global_variables, propose_args};
use provemesh_sequencer::inbox::inject_message;
use provemesh_sequencer::loadgen::{InvalidKind, LoadConfig, LoadGenerator, TxFactory};
use provemesh_sequencer::SequencerEvent;
use provemesh_tx_processor::{process_block, BlockToProcess, SimulatedClientProofVerifier};
use std::collections::HashMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_of_generated_txs_reach_l1_and_invalid_txs_never_do() {
    within(80, async {
        let (chain, ws) = Chain::start(32, 16, 32).await;
        let shutdown = CancellationToken::new();
        let node = sequencer(chain.config(true), ws, &shutdown).await;
        let mut events = node.subscribe();
        let client = provemesh_p2p::http_client(&node.rpc_url(), Duration::from_secs(5)).unwrap();

        // Two L1→L2 messages from account 2, while txs flow.
        let inbox = InboxContract::new(chain.deployment.inbox, chain.wallet(2));
        for n in 1..=2u64 {
            inject_message(
                &inbox,
                B256::repeat_byte(7),
                B256::from(U256::from(n)),
                B256::ZERO,
            )
            .await
            .unwrap();
        }

        // 24 txs at 20/s, every 3rd invalid: two of each invalid kind.
        let generator = LoadGenerator::new(
            LoadConfig {
                rpc_url: node.rpc_url(),
                tps: 20.0,
                invalid_every: Some(3),
                max_txs: Some(24),
            },
            TxFactory::new(&genesis(), 1),
        );
        let sent = generator.run(shutdown.clone()).await.unwrap();
        let valid: Vec<TxHash> = sent
            .iter()
            .filter(|s| s.invalid.is_none())
            .map(|s| {
                assert_eq!(s.refused, None, "a valid tx was refused: {s:?}");
                s.hash
            })
            .collect();
        let invalid: Vec<_> = sent.iter().filter(|s| s.invalid.is_some()).collect();
        assert_eq!(invalid.len(), 8);
        for kind in InvalidKind::ALL {
            assert_eq!(
                invalid.iter().filter(|s| s.invalid == Some(kind)).count(),
                2,
                "{kind:?}"
            );
        }

        // Wait until every valid tx is mined and every invalid one settled.
        let mut in_block = HashMap::new();
        let mut messages = 0;
        while in_block.len() < valid.len() {
            let (number, txs, n) = next_event(&mut events, 30, |e| match e {
                SequencerEvent::BlockProposed {
                    number,
                    txs,
                    l1_to_l2_messages,
                    ..
                } => Some((*number, txs.clone(), *l1_to_l2_messages)),
                _ => None,
            })
            .await;
            messages += n;
            for h in txs {
                assert!(
                    in_block.insert(h, number).is_none(),
                    "tx {h} proposed twice"
                );
            }
        }
        assert_eq!(messages, 2, "both L1→L2 messages consumed");

        // L1's view: the events carry exactly the valid txs, in chained blocks whose
        // bodies bind each tx's outputs.
        let proposed = chain.rollup.proposed_blocks(0, u64::MAX / 2).await.unwrap();
        let tips = chain.rollup.tips().await.unwrap();
        assert_eq!(tips.pending, proposed.len() as u64);
        assert_eq!(client.block_number().await.unwrap(), tips.pending);
        let mut previous = chain.rollup.block(0).await.unwrap().archive;
        let mut on_l1 = HashMap::new();
        let mut in_hashes = 0;
        for ev in &proposed {
            let b = &ev.event;
            assert_eq!(
                b.header.lastArchive.root, previous,
                "block {} builds on the one before",
                b.blockNumber
            );
            previous = b.archive;
            if b.header.contentCommitment.inHash != B256::ZERO {
                in_hashes += 1;
            }
            assert_eq!(b.body.len(), 32 * b.txHashes.len());
            let hashes: Vec<HexTxHash> = b
                .txHashes
                .iter()
                .map(|h| {
                    HexTxHash(TxHash(
                        provemesh_common::hash::Fr::from_be_bytes(&h.0).unwrap(),
                    ))
                })
                .collect();
            let txs = client.txs_by_hash(hashes.clone()).await.unwrap();
            for (i, (h, tx)) in hashes.iter().zip(txs).enumerate() {
                let tx = tx
                    .unwrap_or_else(|| panic!("tx {h} of block {} not served", b.blockNumber))
                    .0;
                assert_eq!(tx.hash(), Some(h.0));
                assert_eq!(
                    &b.body[32 * i..32 * (i + 1)],
                    tx.outputs.digest().as_slice(),
                    "body binds tx {h}"
                );
                on_l1.insert(h.0, b.blockNumber.saturating_to::<u64>());
            }
        }
        assert_eq!(in_hashes, 1, "one block consumed the messages");
        assert!(
            proposed
                .iter()
                .any(|ev| ev.event.header.contentCommitment.outHash != B256::ZERO),
            "some generated txs send L2→L1 messages"
        );
        assert_eq!(on_l1, in_block, "L1 events = what the sequencer reported");
        for h in &valid {
            let r = client.tx_receipt(HexTxHash(*h)).await.unwrap();
            assert_eq!(r.status, TxStatus::Mined);
            assert_eq!(r.block_number, on_l1.get(h).copied());
            let tx = client
                .tx_by_hash(HexTxHash(*h))
                .await
                .unwrap()
                .expect("served by hash");
            assert_eq!(tx.0.hash(), Some(*h));
        }

        // Every invalid tx: refused with its reason (at submission, or by the block builder
        // for the overdraft), and never on L1.
        for s in &invalid {
            assert!(!on_l1.contains_key(&s.hash), "invalid tx {:?} proposed", s);
            let r = client.tx_receipt(HexTxHash(s.hash)).await.unwrap();
            assert_eq!(r.status, TxStatus::Rejected, "{s:?}");
            let kind = r.error_kind.clone().unwrap();
            let expected: &[&str] = match s.invalid {
                Some(InvalidKind::BadClientProof) => &["client_proof"],
                Some(InvalidKind::DoubleSpend) => &["nullifier_in_pool", "nullifier_in_state"],
                Some(InvalidKind::UnfundedFeePayer) | Some(InvalidKind::Overdraft) => {
                    &["fee_not_payable"]
                }
                None => unreachable!(),
            };
            assert!(expected.contains(&kind.as_str()), "{s:?}: kind {kind}");
            match (&s.refused, s.invalid) {
                (Some((code, k, msg)), _) => {
                    assert_eq!(*code, codes::TX_REJECTED);
                    assert_eq!(k, &kind);
                    assert!(msg.starts_with("tx rejected: "), "{msg}");
                }
                (None, Some(InvalidKind::Overdraft)) => {
                    assert!(r.error.unwrap().contains("cannot pay fee"));
                }
                (None, _) => panic!("{s:?} was accepted at submission"),
            }
        }
        assert!(
            client
                .tx_by_hash(HexTxHash(invalid[0].hash))
                .await
                .unwrap()
                .is_none(),
            "rejected txs are not served"
        );

        // Bad input: JSON-RPC errors, not panics.
        let unknown = HexTxHash(TxHash(Fr::from(12345u64)));
        assert_eq!(client.txs_by_hash(vec![unknown]).await.unwrap(), vec![None]);
        assert_eq!(
            client.tx_receipt(unknown).await.unwrap().status,
            TxStatus::Unknown
        );
        for (method, param) in [
            ("node_sendTx", "0x1234"),
            ("node_sendTx", "not hex"),
            ("node_getTxByHash", "0xzz"),
            (
                "node_getTxByHash",
                "0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001",
            ),
        ] {
            let mut p = ArrayParams::new();
            p.insert(param).unwrap();
            match client.request::<serde_json::Value, _>(method, p).await {
                Err(ClientError::Call(e)) => {
                    assert_eq!(e.code(), -32602, "{method}({param}): {e:?}")
                }
                other => panic!("{method}({param}): {other:?}"),
            }
        }
        // What a prover node or an archiver does: re-execute every block from L1 data alone
        // (the event's header, the txs by hash, the Inbox bucket) on a world state of the
        // same genesis — and arrive at the same header and archive.
        let mut replay = genesis()
            .open_world_state(&chain.dir.path().join("replay"))
            .unwrap();
        let mut buckets: HashMap<u64, Vec<B256>> = HashMap::new();
        for log in inbox.events(0, u64::MAX / 2).await.unwrap() {
            if let InboxEvents::MessageSent(m) = log.event {
                buckets
                    .entry(m.l2BlockNumber.saturating_to())
                    .or_default()
                    .push(m.hash);
            }
        }
        for ev in &proposed {
            let b = &ev.event;
            let number = b.blockNumber.saturating_to::<u64>();
            let hashes: Vec<HexTxHash> = b
                .txHashes
                .iter()
                .map(|h| HexTxHash(TxHash(Fr::from_be_bytes(&h.0).unwrap())))
                .collect();
            let txs = client.txs_by_hash(hashes).await.unwrap();
            let leaves = buckets.get(&number).cloned().unwrap_or_default();
            let block = BlockToProcess {
                global_variables: l2_global_variables(&b.header).unwrap(),
                txs: txs.into_iter().map(|t| t.unwrap().0).collect(),
                l1_to_l2_messages: leaves
                    .iter()
                    .map(|l| Fr::from_be_bytes(&l.0).unwrap())
                    .collect(),
            };
            let processed =
                process_block(&mut replay, &SimulatedClientProofVerifier, &block).unwrap();
            assert!(processed.rejected.is_empty());
            assert_eq!(
                b256(processed.block_root.new_archive.root),
                b.archive,
                "block {number}'s archive"
            );
            assert_eq!(
                propose_args(&processed, &leaves).header,
                b.header,
                "block {number}'s header"
            );
            replay.commit_block(&processed.header).unwrap();
        }

        let addresses = client.l1_contract_addresses().await.unwrap();
        assert_eq!(addresses.rollup_address, chain.deployment.rollup);
        assert_eq!(addresses.inbox_address, chain.deployment.inbox);
        let genesis = client.world_state_genesis().await.unwrap();
        assert_eq!(
            genesis.genesis_archive,
            chain.rollup.block(0).await.unwrap().archive
        );

        shutdown.cancel();
        node.wait().await.unwrap();
    })
    .await
}
