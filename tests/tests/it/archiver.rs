//! `provemesh start --archiver` as an operator meets it: the archiver's variables are
//! checked at start-up with errors naming them, and an L1 node on another chain than
//! L1_CHAIN_ID stops the process with an error naming L1_CHAIN_ID (and never the URL's
//! credentials). The archiver's behaviour on a live chain is tested in
//! `node/archiver/tests/`.

use crate::support::*;
use provemesh_harness::Anvil;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const ROLLUP: &str = "0x00000000000000000000000000000000000000a1";
const INBOX: &str = "0x00000000000000000000000000000000000000a2";
const OUTBOX: &str = "0x00000000000000000000000000000000000000a3";

/// Runs `provemesh start --archiver` with `env` (and nothing else from this process's
/// environment); kills it after 30 s.
fn start_archiver(env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(binary("provemesh"));
    cmd.args(["start", "--archiver"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("LOG_LEVEL", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn provemesh");
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "provemesh start --archiver still running after 30 s: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

#[test]
fn archiver_variables_are_checked_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let base = [
        ("ETHEREUM_HOSTS", "http://127.0.0.1:8545"),
        ("L1_CHAIN_ID", "31337"),
        ("DATA_DIRECTORY", data),
    ];

    let out = start_archiver(&base);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("ROLLUP_CONTRACT_ADDRESS"), "{stderr}");

    let mut env = base.to_vec();
    env.extend([
        ("ROLLUP_CONTRACT_ADDRESS", ROLLUP),
        ("INBOX_CONTRACT_ADDRESS", "0x12"),
        ("OUTBOX_CONTRACT_ADDRESS", OUTBOX),
    ]);
    let out = start_archiver(&env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("INBOX_CONTRACT_ADDRESS"), "{stderr}");

    let file = dir.path().join("deployment.json");
    std::fs::write(&file, "{\"rollup\": 1}").unwrap();
    let mut env = base.to_vec();
    env.push(("L1_DEPLOYMENT_FILE", file.to_str().unwrap()));
    let out = start_archiver(&env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("invalid L1_DEPLOYMENT_FILE"), "{stderr}");
}

#[test]
fn archiver_refuses_an_l1_node_on_another_chain() {
    let anvil = Anvil::start(31337).expect("anvil");
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://operator:s3cr3t@127.0.0.1:{}", anvil.port);
    let out = start_archiver(&[
        ("ETHEREUM_HOSTS", url.as_str()),
        ("L1_CHAIN_ID", "1"),
        ("DATA_DIRECTORY", dir.path().to_str().unwrap()),
        ("ROLLUP_CONTRACT_ADDRESS", ROLLUP),
        ("INBOX_CONTRACT_ADDRESS", INBOX),
        ("OUTBOX_CONTRACT_ADDRESS", OUTBOX),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("L1_CHAIN_ID is 1") && stderr.contains("31337"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("s3cr3t") && !stderr.contains("operator"),
        "{stderr}"
    );
}
