//! An epoch nobody claims is pruned from L1: the sequencer unwinds its world state to the
//! proven tip and proposes the pruned txs again.

use crate::support::*;
use provemesh_p2p::wire::{HexTx, HexTxHash};
use provemesh_p2p::{NodeApiClient, TxStatus};
use provemesh_sequencer::loadgen::TxFactory;
use provemesh_sequencer::SequencerEvent;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pruned_block_is_unwound_and_its_txs_proposed_again() {
    within(60, async {
        // 2-slot epochs claimable in 1 slot: an unclaimed epoch is pruned 3 slots after it ends.
        let (chain, ws) = Chain::start(2, 1, 1).await;
        let shutdown = CancellationToken::new();
        let node = sequencer(chain.config(true), ws, &shutdown).await;
        let mut events = node.subscribe();
        let client = provemesh_p2p::http_client(&node.rpc_url(), Duration::from_secs(5)).unwrap();

        let tx = TxFactory::new(&genesis(), 4).valid();
        let h = tx.hash().unwrap();
        client.send_tx(HexTx(tx)).await.unwrap();
        let (first, archive) = next_event(&mut events, 20, |e| match e {
            SequencerEvent::BlockProposed {
                number,
                txs,
                archive,
                ..
            } if txs.contains(&h) => Some((*number, *archive)),
            _ => None,
        })
        .await;
        assert_eq!(first, 1);

        let to = next_event(&mut events, 20, |e| match e {
            SequencerEvent::Pruned { to_block, txs_back } => {
                assert_eq!(*txs_back, 1);
                Some(*to_block)
            }
            _ => None,
        })
        .await;
        assert_eq!(to, 0);

        // Proposed again as block 1, in a later slot: same txs and state, another archive
        // (the header's slot and timestamp differ).
        let (again, archive_again) = next_event(&mut events, 20, |e| match e {
            SequencerEvent::BlockProposed {
                number,
                txs,
                archive,
                ..
            } if txs.contains(&h) => Some((*number, *archive)),
            _ => None,
        })
        .await;
        assert_eq!(again, 1);
        assert_ne!(archive_again, archive);
        assert_eq!(chain.rollup.tips().await.unwrap().pending, 1);
        assert_eq!(chain.rollup.block(1).await.unwrap().archive, archive_again);
        let r = client.tx_receipt(HexTxHash(h)).await.unwrap();
        assert_eq!((r.status, r.block_number), (TxStatus::Mined, Some(1)));

        shutdown.cancel();
        node.wait().await.unwrap();
    })
    .await
}
