//! Quotes: refused at once when forged, too small or for the wrong epoch; collected
//! otherwise; in the claim window the lowest-fee quote that is still valid and covered by
//! the prover's escrow deposit is claimed on L1.

use crate::support::*;
use alloy::primitives::U256;
use alloy::signers::local::PrivateKeySigner;
use jsonrpsee::core::client::Error as ClientError;
use provemesh_l1::{quote_domain, sign_quote, EpochProofQuote, SignedEpochProofQuote};
use provemesh_p2p::api::codes;
use provemesh_p2p::wire::{HexTx, SignedQuoteJson};
use provemesh_p2p::NodeApiClient;
use provemesh_sequencer::loadgen::TxFactory;
use provemesh_sequencer::SequencerEvent;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const BOND: u64 = 1_000;

async fn quote(
    chain: &Chain,
    signer: &PrivateKeySigner,
    prover: usize,
    epoch: u64,
    valid_until: u64,
    bond: u64,
    fee: u32,
) -> SignedQuoteJson {
    let q = EpochProofQuote {
        epochToProve: U256::from(epoch),
        validUntilSlot: U256::from(valid_until),
        bondAmount: U256::from(bond),
        basisPointFee: fee,
        prover: chain.keys[prover].address(),
    };
    let signed: SignedEpochProofQuote =
        sign_quote(signer, q, &quote_domain(CHAIN_ID, chain.deployment.rollup))
            .await
            .unwrap();
    SignedQuoteJson::from(&signed)
}

fn refusal_kind(r: Result<(), ClientError>) -> String {
    match r {
        Err(ClientError::Call(e)) => {
            assert_eq!(e.code(), codes::QUOTE_REJECTED, "{e:?}");
            let data: serde_json::Value = serde_json::from_str(e.data().unwrap().get()).unwrap();
            data["kind"].as_str().unwrap().to_string()
        }
        other => panic!("expected a quote refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_best_valid_quote_is_claimed_and_forged_or_expired_ones_are_not() {
    within(60, async {
        // 2-slot epochs; an epoch is claimable in the first 2 slots of the next.
        let (chain, ws) = Chain::start(2, 2, 2).await;
        // Provers 1, 2 and 5 have bonds in the escrow; prover 3 has none.
        for i in [1, 2, 5] {
            chain.fund_bond(i, BOND).await;
        }
        let shutdown = CancellationToken::new();
        let node = sequencer(chain.config(true), ws, &shutdown).await;
        let mut events = node.subscribe();
        let client = provemesh_p2p::http_client(&node.rpc_url(), Duration::from_secs(5)).unwrap();

        // A block, so that its epoch has something to prove.
        let tx = TxFactory::new(&genesis(), 2).valid();
        client.send_tx(HexTx(tx)).await.unwrap();
        let slot = next_event(&mut events, 20, |e| match e {
            SequencerEvent::BlockProposed { slot, .. } => Some(*slot),
            _ => None,
        })
        .await;
        let epoch = slot / 2;

        // Refused at once.
        let k = &chain.keys;
        let forged = quote(&chain, &k[3], 1, epoch, slot + 10, BOND, 100).await;
        assert_eq!(
            refusal_kind(client.submit_epoch_proof_quote(forged).await),
            "bad_signature"
        );
        let small = quote(&chain, &k[1], 1, epoch, slot + 10, MIN_BOND - 1, 100).await;
        assert_eq!(
            refusal_kind(client.submit_epoch_proof_quote(small).await),
            "bond_too_low"
        );
        let future = quote(&chain, &k[1], 1, epoch + 5, slot + 10, BOND, 100).await;
        assert_eq!(
            refusal_kind(client.submit_epoch_proof_quote(future).await),
            "wrong_epoch"
        );
        let stale = quote(&chain, &k[1], 1, epoch, slot.saturating_sub(1), BOND, 100).await;
        if slot > 0 {
            assert_eq!(
                refusal_kind(client.submit_epoch_proof_quote(stale).await),
                "expired"
            );
        }

        // Collected: the cheapest expires before the claim window, the next has no
        // deposit behind it; prover 5's is the best that can be claimed.
        let expiring = quote(&chain, &k[2], 2, epoch, slot, BOND, 500).await;
        let no_deposit = quote(&chain, &k[3], 3, epoch, slot + 10, BOND, 800).await;
        let best = quote(&chain, &k[5], 5, epoch, slot + 10, BOND, 2_000).await;
        let dearer = quote(&chain, &k[1], 1, epoch, slot + 10, BOND, 3_000).await;
        // On a loaded machine the block's event can come after its slot ended: the
        // expiring quote is then refused at once rather than skipped at claim time.
        let expiring_taken = match client.submit_epoch_proof_quote(expiring).await {
            Ok(()) => true,
            Err(e) => {
                assert_eq!(refusal_kind(Err(e)), "expired");
                false
            }
        };
        for q in [no_deposit, dearer, best] {
            client.submit_epoch_proof_quote(q).await.unwrap();
        }
        assert_eq!(
            node.quotes_for(epoch).len(),
            3 + usize::from(expiring_taken)
        );

        let (skipped, claimed) = {
            let mut skipped = Vec::new();
            let claimed = next_event(&mut events, 20, |e| match e {
                SequencerEvent::QuoteSkipped { prover, reason, .. } => {
                    skipped.push((*prover, reason.clone()));
                    None
                }
                SequencerEvent::EpochClaimed {
                    epoch,
                    prover,
                    basis_point_fee,
                    bond,
                } => Some((*epoch, *prover, *basis_point_fee, *bond)),
                _ => None,
            })
            .await;
            (skipped, claimed)
        };
        assert_eq!(claimed, (epoch, k[5].address(), 2_000, U256::from(BOND)));
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        assert_eq!(skipped[0].0, k[3].address());
        assert!(skipped[0].1.contains("escrow deposit"), "{}", skipped[0].1);

        let claim = chain
            .rollup
            .proof_claim()
            .await
            .unwrap()
            .expect("a claim on L1");
        assert_eq!(claim.prover, k[5].address());
        assert_eq!(claim.epochToProve, U256::from(epoch));
        assert_eq!(claim.basisPointFee, 2_000);
        assert_eq!(chain.bonded(k[5].address()).await, U256::from(BOND));
        assert_eq!(chain.bonded(k[1].address()).await, U256::ZERO);

        shutdown.cancel();
        node.wait().await.unwrap();
    })
    .await
}
