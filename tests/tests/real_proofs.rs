//! The README's first command with real proofs, end to end (its own test binary, so it
//! runs alone: real proving needs the machine's cores within an L1 proof window):
//! `provemesh devnet --real-proofs` deploys the Rollup with the generated Honk verifier,
//! the sequencer makes blocks of two txs, the prover node wins the epoch, the agents prove
//! every circuit of its tree with Barretenberg (INSECURE devnet CRS from scripts/crs) into
//! the local S3 server, the node checks each proof with `bb verify` before building on it,
//! and L1's Honk verifier accepts the root proof (`submitEpochRootProof`). Each tx carries a
//! real client proof (the private kernel tail), checked by the sequencer and the node and
//! verified recursively by its base rollup. Minutes, not seconds.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let p = dir.join(name);
    assert!(
        p.is_file(),
        "{} is not built: run `cargo build --bins` (scripts/test does)",
        p.display()
    );
    p
}

#[test]
fn devnet_proves_an_epoch_for_real_and_l1s_honk_verifier_accepts_it() {
    let started = Instant::now();
    // The real-proof defaults: 1-slot epochs of 300 s (room for proving an epoch's 8
    // circuits on two cores within its proof window), blocks of at most two txs; a load
    // that fills the first block; one agent (bb uses every core).
    let mut child = Command::new(binary("provemesh"))
        .args([
            "devnet",
            "--real-proofs",
            "--epochs",
            "1",
            "--agents",
            "1",
            "--tps",
            "1",
            "--proof-store",
            "s3",
        ])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("LOG_LEVEL", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("devnet");
    // Bounded: the devnet exits after its epoch; kill it if it has not after 25 minutes.
    let pid = child.id();
    let watchdog = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(1500);
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_secs(1));
            if std::fs::metadata(format!("/proc/{pid}")).is_err() {
                return false;
            }
        }
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        true
    });
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let err = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let out = std::io::read_to_string(stdout).unwrap_or_default();
    let status = child.wait().expect("wait");
    let killed = watchdog.join().unwrap_or(false);
    let err = err.join().unwrap_or_default();
    assert!(!killed, "devnet still running after 25 minutes:\n{out}");
    assert!(status.success(), "devnet failed:\n{out}\n{err}");

    assert!(
        out.lines()
            .any(|l| l.contains("epoch verifier") && l.contains("HonkVerifier")),
        "the Rollup verifies with the generated Honk verifier:\n{out}"
    );
    assert!(
        out.lines().any(|l| l.contains("REAL proofs")),
        "agents prove with bb:\n{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.contains("client proofs") && l.contains("private kernel tail")),
        "txs carry real client proofs:\n{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.contains("proof store") && l.contains("s3://")),
        "proofs go to the S3 server:\n{out}"
    );
    let proven: Vec<&str> = out
        .lines()
        .filter(|l| l.contains(" proven: ") && l.contains("verified on L1"))
        .collect();
    assert_eq!(proven.len(), 1, "one epoch verified on L1:\n{out}");
    // 1 block of 2 txs: 2 base parities, root parity, 2 base rollups, merge, block root,
    // root.
    assert!(
        proven[0].contains(": 1 blocks, 8 jobs"),
        "the epoch's proof tree: {}",
        proven[0]
    );
    assert!(
        out.contains("fees earned by the prover"),
        "the epoch paid its prover:\n{out}"
    );
    eprintln!(
        "devnet with real proofs: {:.0} s\n{out}",
        started.elapsed().as_secs_f64()
    );
}
