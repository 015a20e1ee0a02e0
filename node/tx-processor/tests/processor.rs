//! The tx processor rejects each invalid tx kind with its own reason and keeps
//! processing the rest; its outputs are deterministic and their witnesses verify.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use bytes::Bytes;
use provemesh_common::hash::leaves::fee_juice_balance_slot;
use provemesh_common::hash::{empty_subtree_root, root_from_sibling_path, Fr, GlobalVariables};
use provemesh_common::tx::{
    ClientProof, ClientProofError, PublicDataWrite, SimulatedClientProof, Tx, TxFormatError,
    TxPublicOutputs,
};
use provemesh_tx_processor::{
    process_block, BlockToProcess, SimulatedClientProofVerifier, TxRejection,
};
use provemesh_world_state::{TreeHeights, WorldState, WorldStateConfig};

const RICH: u64 = 1000;
const POOR: u64 = 2000;

fn open(dir: &std::path::Path) -> WorldState {
    let config = WorldStateConfig {
        heights: TreeHeights::uniform(12),
        genesis_public_data: vec![
            (
                fee_juice_balance_slot(Fr::from(RICH)),
                Fr::from(1_000_000u64),
            ),
            (fee_juice_balance_slot(Fr::from(POOR)), Fr::from(5u64)),
        ],
        ..WorldStateConfig::default()
    };
    WorldState::open(dir, config).unwrap()
}

fn outputs(seed: u64, payer: u64, fee: u64) -> TxPublicOutputs {
    TxPublicOutputs {
        note_hashes: vec![Fr::from(seed * 100 + 1), Fr::from(seed * 100 + 2)],
        nullifiers: vec![Fr::from(seed * 100 + 3), Fr::from(seed * 100 + 4)],
        public_data_writes: vec![PublicDataWrite {
            contract_address: Fr::from(77u64),
            storage_slot: Fr::from(seed % 3),
            value: Fr::from(seed),
        }],
        l2_to_l1_messages: vec![],
        fee_payer: Fr::from(payer),
        fee: Fr::from(fee),
    }
}

fn tx(o: TxPublicOutputs) -> Tx {
    Tx {
        proof: SimulatedClientProof::create(&o),
        outputs: o,
    }
}

fn block(number: u64, txs: Vec<Tx>) -> BlockToProcess {
    BlockToProcess {
        global_variables: GlobalVariables {
            block_number: number,
            ..GlobalVariables::default()
        },
        txs,
        l1_to_l2_messages: vec![Fr::from(number * 10 + 1)],
    }
}

#[test]
fn each_invalid_kind_is_rejected_with_its_reason_and_the_rest_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut ws = open(dir.path());
    // Block 1 puts nullifier 103 in the state.
    let out = process_block(
        &mut ws,
        &SimulatedClientProofVerifier,
        &block(1, vec![tx(outputs(1, RICH, 10))]),
    )
    .unwrap();
    assert!(out.rejected.is_empty());
    ws.commit_block(&out.header).unwrap();

    let valid_a = tx(outputs(2, RICH, 10));
    let mut no_nullifier = outputs(3, RICH, 1);
    no_nullifier.nullifiers.clear();
    let mut tampered = tx(outputs(4, RICH, 1));
    tampered.outputs.fee = Fr::from(0u64);
    let honk = Tx {
        outputs: outputs(5, RICH, 1),
        proof: ClientProof::Honk {
            proof: Bytes::from_static(b"x"),
            vk_hash: Fr::ONE,
        },
    };
    let mut in_block = outputs(6, RICH, 1);
    in_block.nullifiers[1] = Fr::from(203u64); // valid_a's first nullifier
    let mut in_state = outputs(7, RICH, 1);
    in_state.nullifiers[1] = Fr::from(103u64);
    let poor = tx(outputs(8, POOR, 6));
    let too_large = Tx {
        outputs: outputs(9, RICH, 1),
        proof: ClientProof::Simulated(Bytes::from(vec![0u8; 70_000])),
    };
    let valid_b = tx(outputs(10, POOR, 5)); // exactly the balance

    let txs = vec![
        valid_a,
        tx(no_nullifier),
        tampered,
        honk,
        tx(in_block),
        tx(in_state),
        poor,
        too_large,
        valid_b,
    ];
    let out = process_block(&mut ws, &SimulatedClientProofVerifier, &block(2, txs)).unwrap();
    let included: Vec<usize> = out.txs.iter().map(|t| t.position).collect();
    assert_eq!(included, vec![0, 8]);
    let reasons: Vec<(usize, TxRejection)> = out
        .rejected
        .iter()
        .map(|r| (r.position, r.reason.clone()))
        .collect();
    assert_eq!(
        reasons[0],
        (1, TxRejection::Format(TxFormatError::NoNullifier))
    );
    assert_eq!(
        reasons[1],
        (2, TxRejection::ClientProof(ClientProofError::WrongOutputs))
    );
    assert_eq!(
        reasons[2],
        (
            3,
            TxRejection::ClientProof(ClientProofError::Unsupported("UltraHonk"))
        )
    );
    assert!(
        matches!(reasons[3], (4, TxRejection::NullifierInBlock { nullifier, .. }) if nullifier == Fr::from(203u64))
    );
    assert_eq!(
        reasons[4],
        (
            5,
            TxRejection::NullifierInState {
                nullifier: Fr::from(103u64)
            }
        )
    );
    assert!(matches!(reasons[5], (6, TxRejection::FeeNotPayable { .. })));
    assert!(matches!(reasons[6], (7, TxRejection::TooLarge { .. })));
    assert_eq!(out.rejected.len(), 7);
    ws.commit_block(&out.header).unwrap();
    assert_eq!(
        ws.public_data_value(fee_juice_balance_slot(Fr::from(POOR)))
            .unwrap(),
        Fr::ZERO
    );
    assert_eq!(out.header.total_fees, Fr::from(15u64));
}

#[test]
fn outputs_are_deterministic_and_witnesses_verify() {
    let txs: Vec<Tx> = (1..=6).map(|s| tx(outputs(s, RICH, s))).collect();
    let dir = tempfile::tempdir().unwrap();
    let mut ws = open(dir.path());
    let first = process_block(
        &mut ws,
        &SimulatedClientProofVerifier,
        &block(1, txs.clone()),
    )
    .unwrap();
    ws.rollback().unwrap();
    let again = process_block(
        &mut ws,
        &SimulatedClientProofVerifier,
        &block(1, txs.clone()),
    )
    .unwrap();
    assert_eq!(first, again, "same block twice, same outputs");
    let dir2 = tempfile::tempdir().unwrap();
    let mut other = open(dir2.path());
    let elsewhere =
        process_block(&mut other, &SimulatedClientProofVerifier, &block(1, txs)).unwrap();
    assert_eq!(first, elsewhere, "same block on another node, same outputs");

    let br = &first.block_root;
    assert_eq!(br.start, first.txs[0].base_rollup_inputs.start);
    for pair in first.txs.windows(2) {
        assert_eq!(
            pair[0].base_rollup_inputs.end,
            pair[1].base_rollup_inputs.start
        );
    }
    for t in &first.txs {
        let b = &t.base_rollup_inputs;
        let nh = b.start.note_hash_tree;
        assert_eq!(
            root_from_sibling_path(
                empty_subtree_root(3),
                nh.next_available_leaf_index >> 3,
                &b.note_hash_subtree_sibling_path
            ),
            nh.root
        );
        let low = &b.nullifier_insertion.low_leaves[0];
        use provemesh_common::hash::IndexedLeafPreimage;
        assert_eq!(
            low.witness.root_for(low.preimage.leaf_hash()),
            b.start.nullifier_tree.root
        );
        let w = &b.public_data_writes[0].hint.low_leaf;
        assert_eq!(
            w.witness.root_for(w.preimage.leaf_hash()),
            b.start.public_data_tree.root
        );
        assert_eq!(
            b.public_data_writes.last().unwrap().leaf_slot,
            b.fee_payment.balance_slot
        );
    }
    assert_eq!(br.end, first.txs.last().unwrap().base_rollup_inputs.end);
    let archive = br.constants.last_archive;
    assert_eq!(
        root_from_sibling_path(
            Fr::ZERO,
            archive.next_available_leaf_index,
            &br.new_archive_sibling_path
        ),
        archive.root
    );
    assert_eq!(
        root_from_sibling_path(
            br.header.hash(),
            archive.next_available_leaf_index,
            &br.new_archive_sibling_path
        ),
        br.new_archive.root
    );
    assert_eq!(first.parity.base.len(), 2);
    ws.commit_block(&first.header).unwrap();
    assert_eq!(ws.tip_record().archive, br.new_archive);
}
