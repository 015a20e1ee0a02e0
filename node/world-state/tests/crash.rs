//! Crash safety: a child process commits blocks in a loop and is killed with SIGKILL at
//! a different moment of its hash-then-commit cycle each round; reopening the
//! world state yields exactly the last committed block, equal to a fresh build of the
//! same chain. Three kill rounds, each resuming the previous round's database.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use provemesh_common::hash::{poseidon2_hash, Fr};
use provemesh_world_state::{TreeHeights, TreeId, WorldState, WorldStateConfig};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "PROVEMESH_CRASH_CHILD_DIR";

fn open(dir: &std::path::Path) -> WorldState {
    let config = WorldStateConfig {
        heights: TreeHeights::uniform(16),
        ..WorldStateConfig::default()
    };
    WorldState::open(dir, config).unwrap()
}

/// Block `n`'s deterministic contents: many leaves, so its commit writes many nodes.
fn apply(ws: &mut WorldState, n: u64) {
    let f = |i: u64| poseidon2_hash(&[Fr::from(n), Fr::from(i)]);
    let t = ws.trees_mut();
    for b in 0..24 {
        let keys: Vec<Fr> = (0..8).map(|i| f(b * 8 + i)).collect();
        t.nullifier.batch_insert(&keys, 3).unwrap();
        t.note_hash.append_subtree(&keys, 3).unwrap();
    }
    let mut header = ws.tip_record().header;
    header.global_variables.block_number = n;
    header.last_archive = ws.tip_record().archive;
    header.state = ws.state_reference().unwrap();
    ws.trees_mut().archive.append_leaf(header.hash()).unwrap();
    ws.commit_block(&header).unwrap();
}

/// The child: resumes from its database's tip and commits blocks until killed.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return; // Only runs as the child of `kill_during_commit_keeps_last_block`.
    };
    let mut ws = open(std::path::Path::new(&dir));
    loop {
        let n = ws.tip() + 1;
        apply(&mut ws, n);
        println!("committed {n}");
    }
}

fn snapshot_of(ws: &mut WorldState) -> Vec<(Fr, u64)> {
    TreeId::ALL
        .iter()
        .map(|t| {
            let s = ws.tree_snapshot(*t).unwrap();
            (s.root, s.next_available_leaf_index)
        })
        .collect()
}

#[test]
fn kill_during_commit_keeps_last_block() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut last_seen = 0;
    for round in 0..3u64 {
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let pid = Pid::from_raw(child.id() as i32);
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let deadline = Instant::now() + Duration::from_secs(60);
        let target = last_seen + 2;
        while last_seen < target {
            let line = lines.next().expect("child output").unwrap();
            if let Some(n) = line.strip_prefix("committed ") {
                last_seen = n.parse().unwrap();
            }
            assert!(Instant::now() < deadline, "child too slow");
        }
        // Land somewhere in the next block's work; a different spot each round.
        std::thread::sleep(Duration::from_millis(5 + 37 * round));
        kill(pid, Signal::SIGKILL).unwrap();
        child.wait().unwrap();

        let mut ws = open(dir.path());
        let tip = ws.tip();
        assert!(
            tip == last_seen || tip == last_seen + 1,
            "tip {tip}, child reported {last_seen}"
        );
        last_seen = tip;
        let fresh_dir = tempfile::tempdir().unwrap();
        let mut fresh = open(fresh_dir.path());
        for n in 1..=tip {
            apply(&mut fresh, n);
        }
        assert_eq!(
            snapshot_of(&mut ws),
            snapshot_of(&mut fresh),
            "round {round}, tip {tip}"
        );
        let a = ws.snapshot(tip).unwrap();
        assert_eq!(
            a.root(TreeId::Nullifier).unwrap(),
            fresh.tree_snapshot(TreeId::Nullifier).unwrap().root
        );
    }
}
