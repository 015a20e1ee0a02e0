//! The root rollup's L1 verifier (contracts/generated/HonkVerifier.sol, compiled into
//! contracts/out by scripts/contracts) on anvil, with a REAL root rollup proof made by
//! `scripts/real-proofs --fixture` (tests/fixtures/root_rollup_proof.json: one block of two
//! txs, proved through the whole tree with the INSECURE devnet CRS):
//!
//! - the verifier's G2 point is the devnet CRS's [τ]G2 (not the ceremony's);
//! - `verify(proof, publicInputs)` accepts the proof; a changed public input, a tampered
//!   proof and a truncated one are refused;
//! - `deploy_all` with the verifier (`VerifierChoice::Existing`) and the proof's genesis
//!   archive: the block is proposed with the proof's archive, out hash and fees, the epoch
//!   claimed, and `submitEpochRootProof` accepts the real proof (proven tip 1); a tampered
//!   one is refused first.
//!
//! The fixture must belong to the current root rollup circuit (its vk hash is checked):
//! after changing a circuit, regenerate it with `scripts/real-proofs --fixture`.

#![allow(clippy::unwrap_used)]

use alloy::primitives::{Bytes, B256, U256};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol;
use provemesh_bb::circuits::{source_tree_artifacts, CircuitSet};
use provemesh_bb::crs::{g2_bytes, g2_evm_words, g2_tau, insecure_devnet_tau};
use provemesh_harness::Anvil;
use provemesh_l1::public_inputs::prover_id;
use provemesh_l1::{
    deploy_all, dev_chain, quote_domain, sign_quote, BlockHeader, ContentCommitment, DeployConfig,
    EpochProofPublicInputs, EpochProofQuote, GlobalVariables, ProposeArgs, RollupContract,
    StateReference, TreeSnapshot, VerifierChoice,
};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

sol! {
    #[sol(rpc)]
    contract HonkVerifier {
        function verify(bytes calldata proof, bytes32[] calldata publicInputs) external view returns (bool);
    }
}

const CHAIN_ID: u64 = 31337;
const EPOCH_DURATION: u64 = 4;

fn repo() -> PathBuf {
    source_tree_artifacts().join("../..")
}

struct Fixture {
    public_inputs: Vec<B256>,
    proof: Bytes,
}

fn fixture(set: &CircuitSet) -> Fixture {
    let path = repo().join("agent/bb-backend/tests/fixtures/root_rollup_proof.json");
    let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let root = set.get("root_rollup").unwrap();
    assert_eq!(
        v["vk_hash"].as_str().unwrap(),
        root.vk_hash.to_hex(),
        "{} is a proof of another root rollup circuit: regenerate it with scripts/real-proofs --fixture",
        path.display()
    );
    Fixture {
        public_inputs: v["public_inputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().parse().unwrap())
            .collect(),
        proof: v["proof"].as_str().unwrap().parse().unwrap(),
    }
}

async fn dev_key(anvil: &Anvil, i: usize) -> PrivateKeySigner {
    for _ in 0..50 {
        if let Some(k) = anvil.dev_private_key(i) {
            return k.parse().unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no dev key {i} in anvil's banner");
}

#[test]
fn the_generated_verifier_carries_the_devnet_g2_point() {
    let sol = std::fs::read_to_string(repo().join("contracts/generated/HonkVerifier.sol")).unwrap();
    let at = sol
        .find("// G2 point from VK")
        .expect("the verifier's G2 constants");
    let words = g2_evm_words(&g2_bytes(&g2_tau(insecure_devnet_tau())));
    let tail = &sol[at..at + 600];
    for w in words {
        assert!(
            tail.contains(&format!("0x{}", hex::encode(w))),
            "G2 word {} missing",
            hex::encode(w)
        );
    }
    let set = CircuitSet::load(&source_tree_artifacts()).unwrap();
    assert!(sol.contains(&format!(
        "VK_HASH = {}",
        set.get("root_rollup").unwrap().vk_hash.to_hex()
    )));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_root_proof_verifies_on_l1_and_tampered_ones_do_not() {
    let set = CircuitSet::load(&source_tree_artifacts()).unwrap();
    let f = fixture(&set);
    assert_eq!(f.public_inputs.len(), 7);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let anvil = Anvil::start(CHAIN_ID).unwrap();
    let (seq_key, prover_key) = (dev_key(&anvil, 0).await, dev_key(&anvil, 1).await);
    let url: url::Url = anvil.url().parse().unwrap();
    let seq = provemesh_l1::wallet_provider(url.clone(), seq_key.clone());
    let prover = provemesh_l1::wallet_provider(url, prover_key.clone());
    assert_eq!(
        f.public_inputs[4],
        prover_id(prover_key.address()),
        "the fixture's prover is anvil's dev account 1"
    );

    // The verifier alone.
    let verifier = provemesh_l1::deploy_honk_verifier(&seq).await.unwrap();
    let v = HonkVerifier::new(verifier, &seq);
    assert!(v
        .verify(f.proof.clone(), f.public_inputs.clone())
        .call()
        .await
        .unwrap());
    let gas = v
        .verify(f.proof.clone(), f.public_inputs.clone())
        .estimate_gas()
        .await
        .unwrap();
    eprintln!(
        "HonkVerifier.verify: {gas} gas, proof {} bytes",
        f.proof.len()
    );
    let mut other = f.public_inputs.clone();
    other[3] = B256::from(U256::from(1));
    assert!(
        v.verify(f.proof.clone(), other).call().await.is_err(),
        "a changed public input verifies"
    );
    let mut t = f.proof.to_vec();
    t[32 * 40 + 31] ^= 1;
    assert!(
        v.verify(Bytes::from(t.clone()), f.public_inputs.clone())
            .call()
            .await
            .is_err(),
        "a tampered proof verifies"
    );
    assert!(v
        .verify(
            Bytes::from(f.proof[..f.proof.len() - 32].to_vec()),
            f.public_inputs.clone()
        )
        .call()
        .await
        .is_err());

    // The rollup with this verifier: propose the proven block, claim, submit the proof.
    let cfg = DeployConfig {
        epoch_duration: EPOCH_DURATION,
        claim_window: 2,
        proof_submission_window: 3,
        min_bond: U256::from(100),
        sequencer: Some(seq_key.address()),
        genesis_archive: f.public_inputs[0],
        verifier: VerifierChoice::Existing(verifier),
        ..DeployConfig::default()
    };
    let d = deploy_all(seq.clone(), &cfg).await.unwrap();
    assert_eq!(d.verifier, verifier);
    let rollup = RollupContract::new(d.rollup, seq.clone());
    let timing = rollup.timing().await.unwrap();
    dev_chain::warp_to(&seq, timing.timestamp_for_slot(1))
        .await
        .unwrap();
    let (in_hash, _) = provemesh_l1::InboxContract::new(d.inbox, seq.clone())
        .bucket(1)
        .await
        .unwrap();
    let body = Bytes::from_static(b"block 1 effects");
    let snap = |i: u8| TreeSnapshot {
        root: B256::repeat_byte(i),
        nextAvailableLeafIndex: 0,
    };
    let fees = U256::from_be_bytes(f.public_inputs[3].0);
    rollup
        .propose(ProposeArgs {
            header: BlockHeader {
                lastArchive: TreeSnapshot {
                    root: f.public_inputs[0],
                    nextAvailableLeafIndex: 1,
                },
                contentCommitment: ContentCommitment {
                    numTxs: U256::from(2),
                    txsEffectsHash: provemesh_l1::hash::txs_effects_hash(&body),
                    inHash: in_hash,
                    outHash: f.public_inputs[2],
                },
                state: StateReference {
                    l1ToL2MessageTree: snap(1),
                    noteHashTree: snap(2),
                    nullifierTree: snap(3),
                    publicDataTree: snap(4),
                },
                globalVariables: GlobalVariables {
                    chainId: U256::from(CHAIN_ID),
                    version: U256::from(1),
                    blockNumber: U256::from(1),
                    slotNumber: U256::from(1),
                    timestamp: U256::from(timing.timestamp_for_slot(1)),
                    coinbase: seq_key.address(),
                    feeRecipient: B256::ZERO,
                },
                totalFees: fees,
            },
            archive: f.public_inputs[1],
            txHashes: vec![B256::repeat_byte(1), B256::repeat_byte(2)],
            body,
        })
        .await
        .unwrap();

    dev_chain::warp_to(&seq, timing.timestamp_for_slot(EPOCH_DURATION))
        .await
        .unwrap();
    let bond = U256::from(1_000);
    let token = provemesh_l1::bindings::TestERC20::new(d.token, &seq);
    token
        .mint(prover_key.address(), bond)
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let token = provemesh_l1::bindings::TestERC20::new(d.token, &prover);
    token
        .approve(d.escrow, bond)
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let escrow = provemesh_l1::bindings::ProofCommitmentEscrow::new(d.escrow, &prover);
    escrow
        .deposit(bond)
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let quote = EpochProofQuote {
        epochToProve: U256::from(0),
        validUntilSlot: U256::from(EPOCH_DURATION + 1),
        bondAmount: bond,
        basisPointFee: 2_500,
        prover: prover_key.address(),
    };
    let signed = sign_quote(&prover_key, quote, &quote_domain(CHAIN_ID, d.rollup))
        .await
        .unwrap();
    rollup.claim_epoch_proof_right(signed).await.unwrap();

    let args = EpochProofPublicInputs {
        previousArchive: f.public_inputs[0],
        endArchive: f.public_inputs[1],
        outHash: f.public_inputs[2],
        totalFees: fees,
        proverId: f.public_inputs[4],
    };
    assert_eq!(
        u64::try_from(U256::from_be_bytes(f.public_inputs[5].0)).unwrap(),
        0,
        "epoch 0"
    );
    assert_eq!(
        u64::try_from(U256::from_be_bytes(f.public_inputs[6].0)).unwrap(),
        1,
        "end block 1"
    );
    let e = rollup
        .submit_epoch_root_proof(0, 1, args.clone(), Bytes::from(t))
        .await;
    assert!(e.is_err(), "a tampered proof was accepted");
    rollup
        .submit_epoch_root_proof(0, 1, args, f.proof.clone())
        .await
        .unwrap();
    assert_eq!(rollup.tips().await.unwrap().proven, 1);
}
