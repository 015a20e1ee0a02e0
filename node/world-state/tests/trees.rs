//! Property tests: random insert sequences into each tree against a naive in-memory
//! reference; indexed-tree linked-list invariants; every witness the trees return
//! verifies against the roots before and after, as a circuit would check it.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use proptest::prelude::*;
use provemesh_common::hash::{
    empty_subtree_root, merkle_root, root_from_sibling_path, Fr, IndexedLeafPreimage,
    NullifierLeafPreimage, PublicDataLeafPreimage,
};
use provemesh_world_state::{IndexedTree, TreeHeights, WorldState, WorldStateConfig};
use std::collections::BTreeMap;

const HEIGHT: u8 = 10;

fn open(dir: &std::path::Path) -> WorldState {
    let config = WorldStateConfig {
        heights: TreeHeights::uniform(HEIGHT),
        nullifier_prefill: 8,
        public_data_prefill: 2,
        cached_levels: 4,
        ..WorldStateConfig::default()
    };
    WorldState::open(dir, config).unwrap()
}

fn commit(ws: &mut WorldState) {
    let mut header = ws.tip_record().header;
    header.global_variables.block_number = ws.tip() + 1;
    header.state = ws.state_reference().unwrap();
    ws.commit_block(&header).unwrap();
}

/// Leaf hashes of an indexed tree linked the naive way (each key's successor found by
/// search); `None` is an unused slot.
fn naive_indexed<L: IndexedLeafPreimage>(slots: &[Option<(Fr, Fr)>]) -> Vec<Fr> {
    let sorted: BTreeMap<Fr, usize> = slots
        .iter()
        .enumerate()
        .filter_map(|(i, e)| e.map(|(k, _)| (k, i)))
        .collect();
    slots
        .iter()
        .map(|e| match e {
            None => Fr::ZERO,
            Some((k, v)) => {
                let next = sorted
                    .range((std::ops::Bound::Excluded(*k), std::ops::Bound::Unbounded))
                    .next();
                let (nk, ni) = next.map(|(k, i)| (*k, *i as u64)).unwrap_or((Fr::ZERO, 0));
                L::from_parts(*k, *v, nk, ni).leaf_hash()
            }
        })
        .collect()
}

/// Walks the linked list from leaf 0: keys strictly increase and every leaf is visited.
fn check_linked_list<L: IndexedLeafPreimage>(tree: &IndexedTree<L>, size: u64) {
    let mut seen = 0;
    let mut index = 0;
    let mut prev: Option<Fr> = None;
    loop {
        let leaf = tree
            .leaf_preimage(index)
            .unwrap()
            .expect("linked leaf exists");
        if let Some(p) = prev {
            assert!(p < leaf.key(), "keys increase along the list");
        }
        prev = Some(leaf.key());
        seen += 1;
        if leaf.next_key().is_zero() {
            break;
        }
        assert_eq!(
            tree.leaf_preimage(leaf.next_index())
                .unwrap()
                .unwrap()
                .key(),
            leaf.next_key()
        );
        index = leaf.next_index();
    }
    assert_eq!(seen, size, "every used leaf is on the list");
}

fn key_strategy() -> impl Strategy<Value = u64> {
    // Small keys collide often (duplicates, updates); 2..: keys 0 and 1 are prefilled.
    prop_oneof![2u64..40, 40u64..u64::MAX]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn note_hash_subtrees_match_reference(batches in prop::collection::vec(
        (prop::collection::vec(1u64..u64::MAX, 0..=8), any::<bool>()), 1..12)) {
        let dir = tempfile::tempdir().unwrap();
        let mut ws = open(dir.path());
        let mut reference: Vec<Fr> = Vec::new();
        for (leaves, do_commit) in batches {
            let leaves: Vec<Fr> = leaves.into_iter().map(Fr::from).collect();
            let t = ws.trees_mut().note_hash;
            let before = t.snapshot().unwrap();
            let path = t.append_subtree(&leaves, 3).unwrap();
            // The path proves an empty subtree before and the new one after.
            prop_assert_eq!(root_from_sibling_path(empty_subtree_root(3), before.next_available_leaf_index >> 3, &path), before.root);
            let start = reference.len();
            reference.extend(&leaves);
            reference.resize(start + 8, Fr::ZERO);
            let after = t.snapshot().unwrap();
            prop_assert_eq!(root_from_sibling_path(merkle_root(&reference[start..], 3), (start >> 3) as u64, &path), after.root);
            prop_assert_eq!(after.root, merkle_root(&reference, HEIGHT));
            for i in [0, reference.len() / 2, reference.len() - 1] {
                let p = t.sibling_path(i as u64).unwrap();
                prop_assert_eq!(root_from_sibling_path(reference[i], i as u64, &p), after.root);
            }
            if do_commit {
                commit(&mut ws);
            }
        }
        commit(&mut ws);
        let root = ws.trees_mut().note_hash.root().unwrap();
        drop(ws);
        let mut reopened = open(dir.path());
        prop_assert_eq!(reopened.trees_mut().note_hash.root().unwrap(), root);
        let snap = reopened.snapshot(reopened.tip()).unwrap();
        prop_assert_eq!(snap.root(provemesh_world_state::TreeId::NoteHash).unwrap(), root);
    }

    #[test]
    fn nullifier_batches_match_reference(batches in prop::collection::vec(
        (prop::collection::vec(key_strategy(), 1..=8), any::<bool>()), 1..10)) {
        let dir = tempfile::tempdir().unwrap();
        let mut ws = open(dir.path());
        let mut slots: Vec<Option<(Fr, Fr)>> = (0..8u64).map(|i| Some((Fr::from(i), Fr::ZERO))).collect();
        for (keys, do_commit) in batches {
            let keys: Vec<Fr> = keys.into_iter().map(Fr::from).collect();
            let t = ws.trees_mut().nullifier;
            let before = t.merkle().snapshot().unwrap();
            let dup = keys.iter().enumerate().any(|(i, k)| keys[..i].contains(k) || slots.iter().flatten().any(|(e, _)| e == k));
            let result = t.batch_insert(&keys, 3);
            if dup {
                prop_assert!(result.is_err());
                prop_assert_eq!(t.merkle().snapshot().unwrap(), before, "a refused batch changes nothing");
                continue;
            }
            let hints = result.unwrap();
            // Replay what the circuit checks: each low leaf against the running root.
            let mut root = before.root;
            for (k, low) in hints.sorted_keys.iter().zip(&hints.low_leaves) {
                prop_assert_eq!(low.witness.root_for(low.preimage.leaf_hash()), root);
                prop_assert!(low.preimage.nullifier < *k && (low.preimage.next_nullifier.is_zero() || *k < low.preimage.next_nullifier));
                let pos = hints.sorted_key_indexes[hints.sorted_keys.iter().position(|x| x == k).unwrap()];
                let updated = low.preimage.with_next(*k, hints.start_index + u64::from(pos));
                root = low.witness.root_for(updated.leaf_hash());
            }
            prop_assert_eq!(root_from_sibling_path(empty_subtree_root(3), hints.start_index >> 3, &hints.subtree_sibling_path), root);
            let mut sub: Vec<Fr> = keys.iter().map(|k| hints.new_leaves.iter().find(|l| l.nullifier == *k).unwrap().leaf_hash()).collect();
            sub.resize(8, Fr::ZERO);
            let after = t.merkle().snapshot().unwrap();
            prop_assert_eq!(root_from_sibling_path(merkle_root(&sub, 3), hints.start_index >> 3, &hints.subtree_sibling_path), after.root);
            let start = slots.len();
            slots.extend(keys.iter().map(|k| Some((*k, Fr::ZERO))));
            slots.resize(start + 8, None);
            prop_assert_eq!(after.root, merkle_root(&naive_indexed::<NullifierLeafPreimage>(&slots), HEIGHT));
            check_linked_list(t, slots.iter().flatten().count() as u64);
            if do_commit {
                commit(&mut ws);
            }
        }
    }

    #[test]
    fn public_data_writes_match_reference(writes in prop::collection::vec((key_strategy(), any::<u64>(), any::<bool>()), 1..30)) {
        let dir = tempfile::tempdir().unwrap();
        let mut ws = open(dir.path());
        let mut entries: Vec<(Fr, Fr)> = vec![(Fr::ZERO, Fr::ZERO), (Fr::from(1u64), Fr::ZERO)];
        for (slot, value, do_commit) in writes {
            let (slot, value) = (Fr::from(slot), Fr::from(value));
            let t = ws.trees_mut().public_data;
            let before = t.merkle().root().unwrap();
            let hint = t.sequential_insert(slot, value, true).unwrap();
            let low = &hint.low_leaf;
            prop_assert_eq!(low.witness.root_for(low.preimage.leaf_hash()), before);
            match entries.iter_mut().find(|(k, _)| *k == slot) {
                Some(e) => { e.1 = value; prop_assert!(hint.insertion.is_none()); }
                None => {
                    entries.push((slot, value));
                    let ins = hint.insertion.as_ref().unwrap();
                    let mid = low.witness.root_for(low.preimage.with_next(slot, ins.leaf_index).leaf_hash());
                    prop_assert_eq!(ins.root_for(Fr::ZERO), mid);
                }
            }
            let root = t.merkle().root().unwrap();
            let slots: Vec<Option<(Fr, Fr)>> = entries.iter().copied().map(Some).collect();
            prop_assert_eq!(root, merkle_root(&naive_indexed::<PublicDataLeafPreimage>(&slots), HEIGHT));
            check_linked_list(t, entries.len() as u64);
            prop_assert_eq!(t.value_of(slot).unwrap(), Some(value));
            if do_commit {
                commit(&mut ws);
            }
        }
    }
}
