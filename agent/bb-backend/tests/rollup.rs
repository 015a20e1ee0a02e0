//! The rollup circuits on inputs made by the node itself: blocks processed by the tx
//! processor on a world state with the devnet tree heights, mapped onto the circuits' ABI
//! (tests/support), executed by the ACVM. Valid txs give exactly the tx processor's end
//! state; each invalid case fails with its own assertion message.

mod support;

use provemesh_bb::circuits::{source_tree_artifacts, CircuitSet};
use provemesh_bb::witness::{execute, WitnessError};
use provemesh_common::hash::leaves::fee_juice_balance_slot;
use provemesh_common::hash::{poseidon2_hash, Fr, GlobalVariables};
use provemesh_common::tx::{
    L2ToL1Message, PublicDataWrite, SimulatedClientProof, Tx, TxPublicOutputs,
};
use provemesh_tx_processor::{
    process_block, BlockToProcess, ProcessedBlock, SimulatedClientProofVerifier,
};
use provemesh_world_state::{WorldState, WorldStateConfig};
use serde_json::{json, Value};
use support::*;

const RICH: u64 = 1000;
const EXACT: u64 = 2000;

fn world_state(dir: &std::path::Path) -> WorldState {
    let config = WorldStateConfig {
        genesis_public_data: vec![
            (
                fee_juice_balance_slot(Fr::from(RICH)),
                Fr::from(1_000_000u64),
            ),
            (fee_juice_balance_slot(Fr::from(EXACT)), Fr::from(7u64)),
        ],
        ..WorldStateConfig::default()
    };
    WorldState::open(dir, config).expect("world state")
}

fn tx(o: TxPublicOutputs) -> Tx {
    Tx {
        proof: SimulatedClientProof::create(&o),
        outputs: o,
    }
}

/// Three txs covering the cases: a small one; one at every maximum, paying its fee payer's
/// whole balance; one whose fee payer has never had a balance (fee 0: the balance slot is
/// inserted, not updated).
fn txs(seed: u64) -> Vec<Tx> {
    let f = |i: u64| Fr::from(seed * 1_000_000 + i);
    vec![
        tx(TxPublicOutputs {
            note_hashes: vec![f(1), f(2)],
            nullifiers: vec![f(3), f(4)],
            public_data_writes: vec![PublicDataWrite {
                contract_address: Fr::from(77u64),
                storage_slot: Fr::from(1u64),
                value: f(5),
            }],
            l2_to_l1_messages: vec![L2ToL1Message {
                recipient: f(6),
                content: f(7),
            }],
            fee_payer: Fr::from(RICH),
            fee: Fr::from(10u64),
        }),
        tx(TxPublicOutputs {
            note_hashes: (10..18).map(f).collect(),
            // Unsorted, to exercise the descending order of insertion.
            nullifiers: [23, 21, 27, 20, 25, 22, 26, 24]
                .into_iter()
                .map(f)
                .collect(),
            public_data_writes: (0..8)
                .map(|i| PublicDataWrite {
                    contract_address: Fr::from(78u64),
                    storage_slot: Fr::from(i),
                    value: f(30 + i),
                })
                .collect(),
            l2_to_l1_messages: (0..4)
                .map(|i| L2ToL1Message {
                    recipient: f(40 + i),
                    content: f(50 + i),
                })
                .collect(),
            fee_payer: Fr::from(EXACT),
            fee: Fr::from(7u64),
        }),
        tx(TxPublicOutputs {
            note_hashes: vec![],
            nullifiers: vec![f(60)],
            public_data_writes: vec![],
            l2_to_l1_messages: vec![],
            fee_payer: Fr::from(4242u64),
            fee: Fr::ZERO,
        }),
    ]
}

fn process(ws: &mut WorldState, number: u64, txs: Vec<Tx>) -> ProcessedBlock {
    let block = BlockToProcess {
        // A real chain's id and version (the genesis header, block 0, has neither).
        global_variables: GlobalVariables {
            chain_id: Fr::from(31337u64),
            version: Fr::from(1u64),
            block_number: number,
            slot_number: number,
            timestamp: 1000 + number,
            ..GlobalVariables::default()
        },
        txs,
        l1_to_l2_messages: vec![Fr::from(number * 10 + 1), Fr::from(number * 10 + 2)],
    };
    let out = process_block(ws, &SimulatedClientProofVerifier, &block).expect("process");
    assert!(out.rejected.is_empty(), "{:?}", out.rejected);
    out
}

/// A base rollup's client proof for execution only: zeros (the ACVM does not check proofs;
/// bb would refuse to prove on it), with the kernel's key and its vk tree path.
fn placeholder_client_proof(set: &CircuitSet) -> Value {
    let k = set.get("private_kernel_tail").expect("the kernel circuit");
    let (_, path) = set
        .vk_path(k.vk_index.expect("in the vk tree"))
        .expect("vk path");
    json!({
        "proof": vec!["0"; 458],
        "vk": provemesh_bb::proof::fields_hex(&k.vk),
        "vk_hash": k.vk_hash.to_hex(),
        "vk_path": path.iter().map(|p| p.to_hex()).collect::<Vec<_>>(),
    })
}

/// Completes what the prover and the orchestrator add: the vk tree root, and for a base
/// rollup its tx's client proof — a zero placeholder here: the txs carry simulated client
/// proofs and execution does not check proofs (bb does; see bb_epoch and real_epoch).
fn with_root(set: &CircuitSet, mut v: Value) -> Value {
    v["vk_tree_root"] = json!(set.vk_tree_root.to_hex());
    if v.get("tx").is_some() && v.get("client_proof").is_none() {
        v["client_proof"] = placeholder_client_proof(set);
    }
    v
}

fn assertion(r: Result<provemesh_bb::witness::Execution, WitnessError>) -> String {
    match r {
        Err(WitnessError::Assertion { message, .. }) => message,
        Ok(e) => panic!(
            "expected an assertion failure, the circuit returned {}",
            e.return_value
        ),
        Err(e) => panic!("expected an assertion failure, got {e}"),
    }
}

#[test]
fn base_rollup_applies_each_tx_as_the_tx_processor_does() {
    let set = CircuitSet::load(&source_tree_artifacts()).expect("circuits");
    let base = set.get("private_base_rollup").expect("private_base_rollup");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ws = world_state(dir.path());
    let block = process(&mut ws, 1, txs(1));
    let mut chain = Fr::ZERO;
    for (i, t) in block.txs.iter().enumerate() {
        let b = &t.base_rollup_inputs;
        let inputs = with_root(&set, base_rollup(b, chain));
        let exec = execute(&base.artifact, &inputs).unwrap_or_else(|e| panic!("tx {i}: {e}"));
        let out = &exec.return_value;
        assert_eq!(partial_of(&out["start"]), b.start, "tx {i}");
        assert_eq!(
            partial_of(&out["end"]),
            b.end,
            "tx {i}: end state differs from the tx processor's"
        );
        assert_eq!(field(&out["total_fees"]), b.tx.outputs.fee);
        assert_eq!(u64_of(&out["num_txs"]), 1);
        let next = effects_chain(chain, &b.tx.outputs);
        assert_eq!(
            field(&out["effects_chain_end"]),
            next,
            "tx {i}: effects chain (digest, out leaves)"
        );
        assert_eq!(field(&out["constants"]["vk_tree_root"]), set.vk_tree_root);
        assert_eq!(exec.public_inputs.len(), 26);
        chain = next;
    }
}

#[test]
fn base_rollup_refuses_double_spends_wrong_roots_and_unpaid_fees() {
    let set = CircuitSet::load(&source_tree_artifacts()).expect("circuits");
    let base = set.get("private_base_rollup").expect("private_base_rollup");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ws = world_state(dir.path());
    let first = process(&mut ws, 1, txs(1));
    ws.commit_block(&first.header).expect("commit");
    // One nullifier: the double spend below is its first (and only) insertion, so the low
    // leaf's witness is the committed state's.
    let mut t = txs(2)[0].clone();
    t.outputs.nullifiers.truncate(1);
    t.proof = SimulatedClientProof::create(&t.outputs);
    let block = process(&mut ws, 2, vec![t]);
    let b = &block.txs[0].base_rollup_inputs;
    let good = with_root(&set, base_rollup(b, Fr::ZERO));
    execute(&base.artifact, &good).expect("the untampered inputs are valid");

    // Double spend: a nullifier of block 1, with its true low leaf and witness.
    let spent = first.txs[0].tx_hash.0;
    let mut v = good.clone();
    ws.rollback().expect("rollback");
    let tree = ws.trees_mut().nullifier;
    let (low_index, low) = tree.low_leaf(spent).expect("low leaf");
    let w = tree.witness(low_index).expect("witness");
    let k = b
        .nullifier_insertion
        .sorted_key_indexes
        .iter()
        .position(|&p| p == 0)
        .expect("position of nullifier 0");
    v["tx"]["nullifiers"][0] = hx(spent);
    v["nullifier_hints"]["sorted_nullifiers"][k] = hx(spent);
    v["nullifier_hints"]["low_leaves"][k] = json!({ "nullifier": hx(low.nullifier), "next_nullifier": hx(low.next_nullifier), "next_index": low.next_index });
    v["nullifier_hints"]["low_leaf_witnesses"][k] = witness(&w, 24);
    assert_eq!(
        assertion(execute(&base.artifact, &v)),
        "nullifier already in the nullifier tree (double spend) or wrong low leaf"
    );

    // A client proof under a key other than the kernel's in the vk tree (here the base
    // rollup's own key at the kernel's leaf), and the kernel's key at another leaf.
    let mut v = good.clone();
    v["client_proof"]["vk_hash"] = json!(base.vk_hash.to_hex());
    assert_eq!(
        assertion(execute(&base.artifact, &v)),
        "client proof key is not the private kernel tail's in the vk tree"
    );
    let mut v = good.clone();
    let (_, other_path) = set.vk_path(2).expect("vk path");
    v["client_proof"]["vk_path"] = json!(other_path.iter().map(|p| p.to_hex()).collect::<Vec<_>>());
    assert_eq!(
        assertion(execute(&base.artifact, &v)),
        "client proof key is not the private kernel tail's in the vk tree"
    );

    let mut v = good.clone();
    v["start"]["note_hash_tree"]["root"] = hx(Fr::from(12345u64));
    assert_eq!(
        assertion(execute(&base.artifact, &v)),
        "note hash subtree position is not empty or misaligned"
    );

    let mut v = good.clone();
    v["start"]["public_data_tree"]["root"] = hx(Fr::from(12345u64));
    assert_eq!(
        assertion(execute(&base.artifact, &v)),
        "public data write does not fit the public data tree"
    );

    let mut v = good.clone();
    v["tx"]["fee"] = hx(Fr::from(10_000_000u64));
    assert_eq!(
        assertion(execute(&base.artifact, &v)),
        "fee exceeds the fee payer's fee juice balance"
    );

    let mut v = good.clone();
    v["tx"]["nullifiers"][1] = hx(Fr::from(5u64)); // beyond the count: padding must be zero
    assert_eq!(
        assertion(execute(&base.artifact, &v)),
        "nullifiers: zero within the count or padding not zero"
    );

    let mut v = good.clone();
    v["tx"]["public_data_writes"][0]["contract_address"] = json!("5");
    assert_eq!(
        assertion(execute(&base.artifact, &v)),
        "public data write to the fee juice contract's storage"
    );

    // A tampered note hash changes the subtree root; the claimed end state is not output by
    // the circuit but recomputed, so the tampering shows in the end state instead.
    let mut v = good;
    v["tx"]["note_hashes"][0] = hx(Fr::from(999u64));
    let exec = execute(&base.artifact, &v).expect("executes");
    assert_ne!(partial_of(&exec.return_value["end"]), b.end);
}

/// Executes `circuit` on `inputs`, panicking with the circuit's message on failure.
fn run(set: &CircuitSet, circuit: &str, inputs: &Value) -> Value {
    let c = set.get(circuit).expect("circuit");
    execute(&c.artifact, inputs)
        .unwrap_or_else(|e| panic!("{circuit}: {e}"))
        .return_value
}

fn fails(set: &CircuitSet, circuit: &str, inputs: &Value) -> String {
    assertion(execute(
        &set.get(circuit).expect("circuit").artifact,
        inputs,
    ))
}

/// One block's proof tree executed: base rollups, merges left to right, parities, the block
/// root. Returns the block root's output, and checks it against the tx processor's header
/// (through the archive: the header hash is its new leaf).
fn prove_block(
    set: &CircuitSet,
    ws: &mut WorldState,
    number: u64,
    txs: Vec<Tx>,
    out_chain: Fr,
) -> (Value, ProcessedBlock) {
    let root = json!(set.vk_tree_root.to_hex());
    let previous_header = ws.tip_record().header;
    let leaf = ws.tip_record().archive.next_available_leaf_index - 1;
    let previous_path = ws
        .trees_mut()
        .archive
        .sibling_path(leaf)
        .expect("archive path");
    let block = process(ws, number, txs);

    let mut chain = Fr::ZERO;
    let mut acc: Option<(Value, &str)> = None;
    for t in &block.txs {
        let b = &t.base_rollup_inputs;
        let out = run(
            set,
            "private_base_rollup",
            &with_root(set, base_rollup(b, chain)),
        );
        chain = effects_chain(chain, &b.tx.outputs);
        acc = Some(match acc {
            None => (out, "private_base_rollup"),
            Some((left, lc)) => {
                let inputs = json!({
                    "children": [left, out],
                    "proofs": [placeholder_proof(set, lc), placeholder_proof(set, "private_base_rollup")],
                    "vk_tree_root": root,
                });
                (run(set, "merge_rollup", &inputs), "merge_rollup")
            }
        });
    }
    let (rollup, rollup_circuit) = acc.expect("a block with txs");
    assert_eq!(partial_of(&rollup["end"]), block.block_root.end);

    let msgs = &block.block_root.l1_to_l2_messages;
    let bases: Vec<Value> = msgs
        .chunks(8)
        .map(|c| run(set, "parity_base", &json!({ "msgs": c.iter().map(|m| m.to_hex()).collect::<Vec<_>>(), "vk_tree_root": root })))
        .collect();
    let parity = run(
        set,
        "parity_root",
        &json!({
            "children": bases,
            "proofs": [placeholder_proof(set, "parity_base"), placeholder_proof(set, "parity_base")],
            "vk_tree_root": root,
        }),
    );
    assert_eq!(field(&parity["sha_root"]), block.parity.sha_root);
    assert_eq!(
        field(&parity["converted_root"]),
        block.parity.converted_root
    );

    let outputs: Vec<&TxPublicOutputs> = block
        .txs
        .iter()
        .map(|t| &t.base_rollup_inputs.tx.outputs)
        .collect();
    let mut inputs = block_root(
        &block.block_root,
        &previous_header,
        &previous_path,
        &outputs,
        out_chain,
    );
    inputs["rollup"] = rollup;
    inputs["rollup_proof"] = placeholder_proof(set, rollup_circuit);
    inputs["parity"] = parity;
    inputs["parity_proof"] = placeholder_proof(set, "parity_root");
    inputs["vk_tree_root"] = root;
    let out = run(set, "block_root_rollup", &inputs);
    assert_eq!(
        snapshot_of(&out["new_archive"]),
        block.block_root.new_archive,
        "block {number}: the circuit's header is not the tx processor's"
    );

    // The block root refuses a previous header that is not the archive's last leaf, and txs
    // that are not the ones its rollups proved.
    let mut bad = inputs.clone();
    bad["previous_header"]["total_fees"] = hx(Fr::from(1u64));
    assert_eq!(
        fails(set, "block_root_rollup", &bad),
        "previous header is not the last leaf of the archive"
    );
    let mut bad = inputs.clone();
    bad["txs"][0]["digest"][0] = json!(7);
    assert_eq!(
        fails(set, "block_root_rollup", &bad),
        "tx effects do not match the block's rollups"
    );
    let mut bad = inputs;
    bad["start_l1_to_l2_message_tree"]["root"] = hx(Fr::from(3u64));
    assert_eq!(
        fails(set, "block_root_rollup", &bad),
        "L1 to L2 message tree does not continue from the previous block"
    );

    ws.commit_block(&block.header).expect("commit");
    (out, block)
}

#[test]
fn an_epoch_of_two_blocks_executes_up_to_the_l1_public_inputs() {
    // L1's Hash.merkleRoot node: sha256(left ‖ right) shifted right by a byte.
    let l1_node = |l: Fr, r: Fr| {
        use sha2::Digest;
        let mut buf = [0u8; 64];
        buf[..32].copy_from_slice(&l.to_be_bytes());
        buf[32..].copy_from_slice(&r.to_be_bytes());
        let d: [u8; 32] = sha2::Sha256::digest(buf).into();
        let mut out = [0u8; 32];
        out[1..].copy_from_slice(&d[..31]);
        Fr::from_be_bytes(&out).expect("field")
    };
    let set = CircuitSet::load(&source_tree_artifacts()).expect("circuits");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ws = world_state(dir.path());
    let genesis_archive = ws.tip_record().archive;

    let (b1, p1) = prove_block(&set, &mut ws, 1, txs(1), Fr::ZERO);
    let oh1 = p1.header.content_commitment.out_hash;
    let chain1 = poseidon2_hash(&[Fr::ZERO, oh1]);
    let mut t2 = txs(2)[0].clone();
    t2.outputs.fee_payer = Fr::from(RICH);
    let (b2, p2) = prove_block(&set, &mut ws, 2, vec![t2], chain1);
    let oh2 = p2.header.content_commitment.out_hash;

    let root = json!(set.vk_tree_root.to_hex());
    let merge = json!({
        "children": [b1.clone(), b2.clone()],
        "proofs": [placeholder_proof(&set, "block_root_rollup"), placeholder_proof(&set, "block_root_rollup")],
        "vk_tree_root": root,
    });
    let merged = run(&set, "block_merge_rollup", &merge);
    let mut swapped = merge.clone();
    swapped["children"] = json!([b2, b1]);
    assert_eq!(
        fails(&set, "block_merge_rollup", &swapped),
        "merged blocks do not chain: archive"
    );

    let mut hashes = vec![hx(oh1), hx(oh2)];
    hashes.resize(16, hx(Fr::ZERO));
    let inputs = json!({
        "child": merged,
        "child_proof": placeholder_proof(&set, "block_merge_rollup"),
        "block_out_hashes": hashes,
        "prover_id": "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266",
        "epoch": "3",
    });
    let c = set.get("root_rollup").expect("root_rollup");
    let exec = execute(&c.artifact, &inputs).expect("root rollup");
    let want = [
        genesis_archive.root,
        p2.block_root.new_archive.root,
        l1_node(oh1, oh2),
        p1.header.total_fees + p2.header.total_fees,
        "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
            .parse()
            .expect("address"),
        Fr::from(3u64),
        Fr::from(2u64),
    ];
    let got: Vec<Fr> = exec
        .public_inputs
        .iter()
        .map(|f| Fr::from_be_bytes_reduce(&acir::AcirField::to_be_bytes(*f)))
        .collect();
    assert_eq!(
        got, want,
        "the root rollup's public inputs are L1's, in L1's order"
    );

    let mut bad = inputs.clone();
    bad["block_out_hashes"][1] = hx(Fr::from(5u64));
    assert_eq!(
        fails(&set, "root_rollup", &bad),
        "block out hashes do not match the epoch's blocks"
    );
    let mut bad = inputs;
    bad["child"]["vk_tree_root"] = hx(Fr::from(5u64));
    assert_eq!(
        fails(&set, "root_rollup", &bad),
        "epoch proved under another vk tree"
    );
}

#[test]
fn merges_refuse_rollups_that_do_not_chain() {
    let set = CircuitSet::load(&source_tree_artifacts()).expect("circuits");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ws = world_state(dir.path());
    let block = process(&mut ws, 1, txs(1));
    let root = json!(set.vk_tree_root.to_hex());
    let b0 = &block.txs[0].base_rollup_inputs;
    let b1 = &block.txs[1].base_rollup_inputs;
    let out0 = run(
        &set,
        "private_base_rollup",
        &with_root(&set, base_rollup(b0, Fr::ZERO)),
    );
    let out1 = run(
        &set,
        "private_base_rollup",
        &with_root(
            &set,
            base_rollup(b1, effects_chain(Fr::ZERO, &b0.tx.outputs)),
        ),
    );
    let proofs = json!([
        placeholder_proof(&set, "private_base_rollup"),
        placeholder_proof(&set, "private_base_rollup")
    ]);
    let merge = |l: &Value, r: &Value| json!({ "children": [l, r], "proofs": proofs, "vk_tree_root": root });
    let m = run(&set, "merge_rollup", &merge(&out0, &out1));
    assert_eq!(u64_of(&m["num_txs"]), 2);
    assert_eq!(partial_of(&m["end"]), b1.end);
    assert_eq!(
        fails(&set, "merge_rollup", &merge(&out1, &out0)),
        "merged rollups do not chain: the left end state is not the right start state"
    );
    let mut other = out1.clone();
    other["constants"]["global_variables"]["block_number"] = hx(Fr::from(9u64));
    assert_eq!(
        fails(&set, "merge_rollup", &merge(&out0, &other)),
        "merged rollups are of different blocks (constants differ)"
    );
    let mut other = out1;
    other["effects_chain_start"] = hx(Fr::from(9u64));
    assert_eq!(
        fails(&set, "merge_rollup", &merge(&out0, &other)),
        "merged rollups do not chain: tx effects"
    );
}

/// Writes the base rollup's noir_js execution cases (circuits/private_base_rollup/cases):
/// the tx at every maximum of `txs(1)` and the same tx with a fee beyond the balance. Run by
/// hand after changing the base rollup's inputs, then scripts/circuits records noir_js's
/// witnesses, which `acvm_witnesses_equal_noir_js_on_every_recorded_case` compares.
#[test]
#[ignore = "writes circuits/private_base_rollup/cases"]
fn write_base_rollup_cases() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ws = world_state(dir.path());
    let block = process(&mut ws, 1, txs(1));
    let mut inputs = base_rollup(&block.txs[1].base_rollup_inputs, Fr::ZERO);
    inputs["vk_tree_root"] = json!("$vk_tree_root");
    // The client proof is not checked by execution: zeros, with the kernel's key in the tree.
    inputs["client_proof"] = json!({
        "proof": "$zeros:458",
        "vk": "$zeros:115",
        "vk_hash": "$vk_hash:private_kernel_tail",
        "vk_path": "$vk_path:private_kernel_tail",
    });
    let cases = source_tree_artifacts().join("../private_base_rollup/cases");
    std::fs::create_dir_all(&cases).expect("mkdir");
    let write = |name: &str, v: Value| {
        std::fs::write(
            cases.join(name),
            serde_json::to_string_pretty(&v).expect("json") + "\n",
        )
        .expect("write")
    };
    write("max_tx.json", json!({ "inputs": inputs.clone() }));
    inputs["tx"]["fee"] = hx(Fr::from(8u64));
    write(
        "fee_unpaid.json",
        json!({ "expect_error": "fee exceeds the fee payer's fee juice balance", "inputs": inputs }),
    );
}

/// A block without txs (L1→L2 messages only) closes with the empty block root: its header
/// is the tx processor's (through the archive), it refuses a block that does not continue
/// from the previous one, and it chains with a block of txs in a block merge.
#[test]
fn an_empty_block_closes_with_the_empty_block_root_and_merges() {
    let set = CircuitSet::load(&source_tree_artifacts()).expect("circuits");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ws = world_state(dir.path());
    let root = json!(set.vk_tree_root.to_hex());
    let (b1, p1) = prove_block(&set, &mut ws, 1, txs(1), Fr::ZERO);
    let chain1 = poseidon2_hash(&[Fr::ZERO, p1.header.content_commitment.out_hash]);

    let block = process(&mut ws, 2, vec![]);
    assert!(block.txs.is_empty());
    let msgs = &block.block_root.l1_to_l2_messages;
    let bases: Vec<Value> = msgs
        .chunks(8)
        .map(|c| run(&set, "parity_base", &json!({ "msgs": c.iter().map(|m| m.to_hex()).collect::<Vec<_>>(), "vk_tree_root": root })))
        .collect();
    let parity = run(
        &set,
        "parity_root",
        &json!({
            "children": bases,
            "proofs": [placeholder_proof(&set, "parity_base"), placeholder_proof(&set, "parity_base")],
            "vk_tree_root": root,
        }),
    );
    let mut inputs =
        provemesh_circuit_inputs::empty_block_root(&block.block_root, chain1).expect("inputs");
    inputs["parity"] = parity;
    inputs["parity_proof"] = placeholder_proof(&set, "parity_root");
    inputs["vk_tree_root"] = root.clone();
    let b2 = run(&set, "empty_block_root_rollup", &inputs);
    assert_eq!(
        snapshot_of(&b2["new_archive"]),
        block.block_root.new_archive,
        "the circuit's empty header is not the tx processor's"
    );
    assert_eq!(field(&b2["total_fees"]), Fr::ZERO);
    assert_eq!(
        field(&b2["out_hash_chain_end"]),
        poseidon2_hash(&[chain1, block.header.content_commitment.out_hash])
    );

    let mut bad = inputs.clone();
    bad["previous_header"]["total_fees"] = hx(Fr::from(1u64));
    assert_eq!(
        fails(&set, "empty_block_root_rollup", &bad),
        "previous header is not the last leaf of the archive"
    );
    let mut bad = inputs.clone();
    bad["global_variables"]["block_number"] = json!(3);
    assert_eq!(
        fails(&set, "empty_block_root_rollup", &bad),
        "block number does not follow the previous block's"
    );
    let mut bad = inputs;
    bad["start_l1_to_l2_message_tree"]["root"] = hx(Fr::from(3u64));
    assert_eq!(
        fails(&set, "empty_block_root_rollup", &bad),
        "L1 to L2 message tree does not continue from the previous block"
    );

    // A block of txs and the empty block after it merge; the other order does not chain.
    let merge = json!({
        "children": [b1.clone(), b2.clone()],
        "proofs": [placeholder_proof(&set, "block_root_rollup"), placeholder_proof(&set, "empty_block_root_rollup")],
        "vk_tree_root": root,
    });
    let merged = run(&set, "block_merge_rollup", &merge);
    assert_eq!(
        snapshot_of(&merged["new_archive"]),
        block.block_root.new_archive
    );
    let mut swapped = merge;
    swapped["children"] = json!([b2, b1]);
    assert_eq!(
        fails(&set, "block_merge_rollup", &swapped),
        "merged blocks do not chain: archive"
    );
    // The tx processor's header for it is an ordinary empty block's.
    assert_eq!(block.header.content_commitment.num_txs, 0);
}
