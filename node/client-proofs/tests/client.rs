//! Client proofs for real: a tx's private kernel tail proved by its sender (ZK UltraHonk,
//! witness by the ACVM, proof by the pinned bb), checked natively as every node checks it
//! before executing the tx, refused when tampered with, bound to other outputs, made with
//! another key or simulated; and handed to the base rollup with the kernel's key. Uses a
//! small INSECURE devnet CRS generated here (same τ as scripts/crs), so it runs in CI.

use provemesh_bb::circuits::{source_tree_artifacts, CircuitSet};
use provemesh_bb::testing::devnet_bb;
use provemesh_bb::witness::WitnessError;
use provemesh_client_proofs::{
    base_rollup_client_proof, ClientError, ClientProver, ClientVerifier, CLIENT_PROOF_FIELDS,
    KERNEL,
};
use provemesh_common::hash::leaves::fee_juice_balance_slot;
use provemesh_common::hash::Fr;
use provemesh_common::hash::GlobalVariables;
use provemesh_common::tx::{
    tx_nullifier, ClientProof, ClientProofError, L2ToL1Message, PublicDataWrite,
    SimulatedClientProof, Tx, TxPublicOutputs,
};
use provemesh_tx_processor::{process_block, BlockToProcess, ClientProofVerifier, TxRejection};
use provemesh_world_state::{WorldState, WorldStateConfig};

fn outputs(secret: Fr, nonce: Fr) -> TxPublicOutputs {
    TxPublicOutputs {
        note_hashes: vec![Fr::from(11u64), Fr::from(12u64)],
        nullifiers: vec![tx_nullifier(secret, nonce), Fr::from(13u64)],
        public_data_writes: vec![PublicDataWrite {
            contract_address: Fr::from(0x1001u64),
            storage_slot: Fr::from(2u64),
            value: Fr::from(3u64),
        }],
        l2_to_l1_messages: vec![L2ToL1Message {
            recipient: Fr::from(0xe1_0000u64),
            content: Fr::from(77u64),
        }],
        fee_payer: Fr::from(1000u64),
        fee: Fr::from(10u64),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_proof_is_made_checked_and_handed_to_the_base_rollup() {
    let set = CircuitSet::load(&source_tree_artifacts()).expect("circuits load");
    let kernel = set.get(KERNEL).expect("kernel").clone();
    let tmp = tempfile::tempdir().expect("tempdir");
    // The kernel is tiny (a few thousand gates): a small CRS of the devnet's τ suffices, and
    // its key is the checked-in one (a key depends only on the points it uses).
    let points = provemesh_bb::bb::crs_points_needed(kernel.gates) * 2;
    let bb = devnet_bb(tmp.path(), points);
    let prover = ClientProver::new(&set, bb.clone()).expect("prover");
    let verifier = ClientVerifier::new(&set, bb.clone()).expect("verifier");

    let (secret, nonce) = (Fr::from(0x5ec2e7u64), Fr::from(1u64));
    let o = outputs(secret, nonce);
    let proof = prover.prove(&o, secret, nonce).await.expect("client proof");
    let ClientProof::Honk {
        proof: bytes,
        vk_hash,
    } = &proof
    else {
        panic!("a real proof")
    };
    assert_eq!(bytes.len(), CLIENT_PROOF_FIELDS * 32);
    assert_eq!(*vk_hash, kernel.vk_hash);
    let tx = Tx {
        outputs: o.clone(),
        proof: proof.clone(),
    };
    assert_eq!(verifier.verify(&tx), Ok(()), "the sender's proof verifies");

    // Someone without the secret cannot prove the tx: the circuit refuses by its message.
    match prover.prove(&o, Fr::from(999u64), nonce).await {
        Err(ClientError::Witness(WitnessError::Assertion { message, .. })) => assert_eq!(
            message,
            "the tx's first nullifier is not derived from the sender's secret"
        ),
        other => panic!("expected the kernel's assertion, got {other:?}"),
    }

    // The proof is bound to the outputs: a changed fee or note hash is refused by bb.
    let mut other = tx.clone();
    other.outputs.fee = Fr::from(1u64);
    assert!(
        matches!(verifier.verify(&other), Err(ClientProofError::Invalid(_))),
        "{:?}",
        verifier.verify(&other)
    );
    let mut other = tx.clone();
    other.outputs.note_hashes[1] = Fr::from(99u64);
    assert!(matches!(
        verifier.verify(&other),
        Err(ClientProofError::Invalid(_))
    ));

    // A tampered proof byte is refused.
    let mut tampered = bytes.to_vec();
    tampered[32 * 30 + 9] ^= 0x21;
    let bad = Tx {
        outputs: o.clone(),
        proof: ClientProof::Honk {
            proof: tampered.into(),
            vk_hash: *vk_hash,
        },
    };
    assert!(matches!(
        verifier.verify(&bad),
        Err(ClientProofError::Invalid(_))
    ));

    // Shapes refused before bb runs: another key, a truncated proof, a simulated proof.
    let wrong_key = Tx {
        outputs: o.clone(),
        proof: ClientProof::Honk {
            proof: bytes.clone(),
            vk_hash: Fr::from(5u64),
        },
    };
    assert!(matches!(
        verifier.verify(&wrong_key),
        Err(ClientProofError::WrongKey { .. })
    ));
    let short = Tx {
        outputs: o.clone(),
        proof: ClientProof::Honk {
            proof: bytes.slice(..32 * 100),
            vk_hash: *vk_hash,
        },
    };
    assert_eq!(
        verifier.verify(&short),
        Err(ClientProofError::WrongLength {
            got: 3200,
            want: CLIENT_PROOF_FIELDS * 32
        })
    );
    let simulated = Tx {
        proof: SimulatedClientProof::create(&o),
        outputs: o.clone(),
    };
    assert_eq!(
        verifier.verify(&simulated),
        Err(ClientProofError::SimulatedWhereRealRequired)
    );

    // The tx processor with this verifier: the sound tx is applied, the tampered one
    // (another tx, so no double spend) rejected by name, the block goes on.
    let (secret2, nonce2) = (Fr::from(0x5ec2e8u64), Fr::from(2u64));
    let mut o2 = outputs(secret2, nonce2);
    o2.note_hashes = vec![Fr::from(21u64)];
    o2.nullifiers[1] = Fr::from(23u64);
    let mut second = Tx {
        proof: prover.prove(&o2, secret2, nonce2).await.expect("proof"),
        outputs: o2,
    };
    if let ClientProof::Honk { proof, vk_hash } = &second.proof {
        let mut b = proof.to_vec();
        b[32 * 40 + 3] ^= 0x10;
        second.proof = ClientProof::Honk {
            proof: b.into(),
            vk_hash: *vk_hash,
        };
    }
    let ws_dir = tempfile::tempdir().expect("tempdir");
    let mut ws = WorldState::open(
        ws_dir.path(),
        WorldStateConfig {
            genesis_public_data: vec![(
                fee_juice_balance_slot(Fr::from(1000u64)),
                Fr::from(1_000_000u64),
            )],
            ..WorldStateConfig::default()
        },
    )
    .expect("world state");
    let block = process_block(
        &mut ws,
        &verifier,
        &BlockToProcess {
            global_variables: GlobalVariables {
                block_number: 1,
                slot_number: 1,
                timestamp: 1001,
                ..GlobalVariables::default()
            },
            txs: vec![tx.clone(), second.clone()],
            l1_to_l2_messages: vec![],
        },
    )
    .expect("process");
    assert_eq!(block.txs.len(), 1, "the sound tx is applied");
    assert_eq!(block.txs[0].tx_hash, tx.hash().unwrap());
    assert_eq!(block.rejected.len(), 1);
    assert_eq!(block.rejected[0].tx_hash, second.hash());
    assert!(
        matches!(
            block.rejected[0].reason,
            TxRejection::ClientProof(ClientProofError::Invalid(_))
        ),
        "{}",
        block.rejected[0].reason
    );
    assert_eq!(block.rejected[0].reason.kind(), "client_proof");

    // The base rollup's parameter: the proof as fields, the kernel's key and its tree path.
    let param = base_rollup_client_proof(&set, &tx).expect("param");
    assert_eq!(
        param["proof"].as_array().unwrap().len(),
        CLIENT_PROOF_FIELDS
    );
    assert_eq!(param["vk"].as_array().unwrap().len(), kernel.vk.len() / 32);
    assert_eq!(param["vk_hash"], kernel.vk_hash.to_hex());
    let (_, path) = set.vk_path(kernel.vk_index.unwrap()).unwrap();
    assert_eq!(param["vk_path"].as_array().unwrap().len(), path.len());
    match base_rollup_client_proof(&set, &simulated) {
        Err(e @ ClientError::Simulated { .. }) => {
            let text = e.to_string();
            assert!(text.contains(&tx.hash().unwrap().to_string()), "{text}");
            assert!(text.contains("simulated client proof"), "{text}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(matches!(
        base_rollup_client_proof(&set, &wrong_key),
        Err(ClientError::Proof {
            source: ClientProofError::WrongKey { .. },
            ..
        })
    ));
}
