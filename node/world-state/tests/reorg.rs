//! Unwinding: remove two blocks, apply different ones, and the roots equal a fresh build
//! of the same chain. Snapshots keep seeing their block through commits and unwinds.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use provemesh_common::hash::{poseidon2_hash, Fr};
use provemesh_world_state::{TreeHeights, TreeId, WorldState, WorldStateConfig};

fn open(dir: &std::path::Path) -> WorldState {
    let config = WorldStateConfig {
        heights: TreeHeights::uniform(12),
        cached_levels: 6,
        ..WorldStateConfig::default()
    };
    WorldState::open(dir, config).unwrap()
}

/// Applies block `tag`'s deterministic contents to every tree and commits it.
fn apply(ws: &mut WorldState, tag: u64) {
    let f = |i: u64| poseidon2_hash(&[Fr::from(tag), Fr::from(i)]);
    let t = ws.trees_mut();
    t.note_hash.append_subtree(&[f(1), f(2)], 3).unwrap();
    t.nullifier.batch_insert(&[f(3), f(4), f(5)], 3).unwrap();
    t.public_data.sequential_insert(f(6), f(7), true).unwrap();
    t.public_data
        .sequential_insert(Fr::from(tag % 3 + 100), f(8), true)
        .unwrap();
    t.l1_to_l2_message.append_subtree(&[f(9)], 4).unwrap();
    let mut header = ws.tip_record().header;
    header.global_variables.block_number = ws.tip() + 1;
    header.last_archive = ws.tip_record().archive;
    header.state = ws.state_reference().unwrap();
    ws.trees_mut().archive.append_leaf(header.hash()).unwrap();
    ws.commit_block(&header).unwrap();
}

fn roots(ws: &mut WorldState) -> Vec<(Fr, u64)> {
    TreeId::ALL
        .iter()
        .map(|t| {
            let s = ws.tree_snapshot(*t).unwrap();
            (s.root, s.next_available_leaf_index)
        })
        .collect()
}

#[test]
fn unwind_two_blocks_and_reapply_matches_fresh_build() {
    let dir = tempfile::tempdir().unwrap();
    let mut ws = open(dir.path());
    for tag in [1, 2, 3, 4] {
        apply(&mut ws, tag);
    }
    let snap3 = ws.snapshot(3).unwrap();
    let root3 = snap3.tree_snapshot(TreeId::Nullifier).root;
    ws.unwind_to(2).unwrap();
    assert_eq!(ws.tip(), 2);
    assert!(ws.snapshot(3).is_err(), "unwound blocks are gone");
    // A snapshot taken before the unwind still reads its block.
    assert_eq!(snap3.root(TreeId::Nullifier).unwrap(), root3);
    for tag in [30, 40] {
        apply(&mut ws, tag);
    }
    let dir2 = tempfile::tempdir().unwrap();
    let mut fresh = open(dir2.path());
    for tag in [1, 2, 30, 40] {
        apply(&mut fresh, tag);
    }
    assert_eq!(roots(&mut ws), roots(&mut fresh));
    // Reopened from disk, historical snapshots agree too.
    drop(ws);
    let ws = open(dir.path());
    for b in 0..=4 {
        let (a, f) = (ws.snapshot(b).unwrap(), fresh.snapshot(b).unwrap());
        for t in TreeId::ALL {
            assert_eq!(a.tree_snapshot(t), f.tree_snapshot(t), "block {b} {t}");
            assert_eq!(
                a.root(t).unwrap(),
                f.tree_snapshot(t).root,
                "block {b} {t} from storage"
            );
        }
    }
}

#[test]
fn snapshot_reads_witnesses_of_its_block() {
    let dir = tempfile::tempdir().unwrap();
    let mut ws = open(dir.path());
    apply(&mut ws, 1);
    let snap = ws.snapshot(1).unwrap();
    apply(&mut ws, 2);
    let key = poseidon2_hash(&[Fr::from(1u64), Fr::from(3u64)]);
    let index = snap
        .find_key(TreeId::Nullifier, key)
        .unwrap()
        .expect("inserted in block 1");
    let w = snap.membership_witness(TreeId::Nullifier, index).unwrap();
    let leaf = snap.leaf(TreeId::Nullifier, index).unwrap();
    assert_eq!(w.root_for(leaf), snap.tree_snapshot(TreeId::Nullifier).root);
    // Non-membership at block 1 of a key inserted in block 2.
    let later = poseidon2_hash(&[Fr::from(2u64), Fr::from(3u64)]);
    assert_eq!(snap.find_key(TreeId::Nullifier, later).unwrap(), None);
    let (low, lw) = snap
        .low_leaf_witness::<provemesh_common::hash::NullifierLeafPreimage>(TreeId::Nullifier, later)
        .unwrap();
    use provemesh_common::hash::IndexedLeafPreimage;
    assert!(low.nullifier < later && (low.next_nullifier.is_zero() || later < low.next_nullifier));
    assert_eq!(
        lw.root_for(low.leaf_hash()),
        snap.tree_snapshot(TreeId::Nullifier).root
    );
    // Rolling back a pending block restores the committed roots.
    let before = roots(&mut ws);
    ws.trees_mut()
        .note_hash
        .append_subtree(&[Fr::from(5u64)], 3)
        .unwrap();
    ws.rollback().unwrap();
    assert_eq!(roots(&mut ws), before);
}
