//! The product as an operator runs it: `provemesh start --prover-node --archiver
//! --prover-broker` as a process, configured by the seed's variables alone, wins and proves
//! epochs of a live rollup (agents elsewhere on the mesh), survives `kill -9` mid-epoch (the
//! restarted process finishes the epoch, and every epoch lands on L1 once), answers on
//! AZTEC_PORT, and stops cleanly on SIGTERM without ever printing its key.

use crate::support::{within, PROVER};
use crate::system::{System, SLOW_TIMING};
use provemesh_prover_node::rpc::ProverNodeApiClient as _;
use std::process::{Command, Stdio};
use std::time::Duration;

fn provemesh_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let bin = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target dir")
        .join("provemesh");
    assert!(
        bin.is_file(),
        "{} is not built: run `cargo build --bins` (scripts/test does)",
        bin.display()
    );
    bin
}

/// A `provemesh start --prover-node --archiver --prover-broker` process for `sys`, its data
/// in `dir`, JSON-RPC on `port`, its output in `log`.
fn spawn_node(
    sys: &System,
    dir: &std::path::Path,
    port: u16,
    key: &str,
    log: &tempfile::NamedTempFile,
    extra: &[(&str, String)],
) -> std::process::Child {
    Command::new(provemesh_binary())
        .args(["start", "--prover-node", "--archiver", "--prover-broker"])
        .env_clear()
        .env("ETHEREUM_HOSTS", sys.chain.url().as_str())
        .env("L1_CHAIN_ID", crate::support::CHAIN_ID.to_string())
        .env("DATA_DIRECTORY", dir)
        .env("AZTEC_PORT", port.to_string())
        .env("PROVER_RPC_LISTEN_IP", "127.0.0.1")
        .env("PROVER_PUBLISHER_PRIVATE_KEY", key)
        .env("AZTEC_NODE_URL", sys.seq.rpc_url())
        .env("PROVER_COORDINATION_NODE_URL", sys.seq.rpc_url())
        .env("PROVER_BROKER_HOST", &sys.mesh.url)
        .env("PROVER_MESH_ACK_WAIT", "2s")
        .env(
            "PROVER_PROOF_STORE",
            format!("file://{}", sys.mesh.dir.path().join("proofs").display()),
        )
        .env("QUOTE_PROVIDER_BASIS_POINT_FEE", "250")
        .env("ARCHIVER_POLLING_INTERVAL_MS", "200")
        .env("LOG_LEVEL", "info")
        .envs(extra.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(log.reopen().unwrap())
        .stderr(log.reopen().unwrap())
        .spawn()
        .expect("spawn provemesh")
}

/// Epochs with an `EpochProven` on L1, and how many each.
async fn proven_on_l1(sys: &System) -> Vec<(u64, usize)> {
    let mut out = Vec::new();
    for e in 0..12 {
        let n = sys.chain.proven_events(e).await;
        if n > 0 {
            out.push((e, n));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_proves_epochs_survives_kill_9_mid_epoch_and_stops_on_sigterm() {
    within(240, async {
        // Slow enough proofs that the kill lands while an epoch is on the mesh.
        let sys = System::start(SLOW_TIMING, 3, Duration::from_millis(100), 3.0, 1).await;
        let dir = tempfile::tempdir().unwrap();
        let key = format!("{}", sys.chain.keys[PROVER].to_bytes());
        let port = provemesh_harness::free_port();
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut child = spawn_node(&sys, dir.path(), port, &key, &log, &[]);
        let read_log =
            |log: &tempfile::NamedTempFile| std::fs::read_to_string(log.path()).unwrap_or_default();
        let rpc = |port: u16| {
            provemesh_p2p::http_client(&format!("http://127.0.0.1:{port}"), Duration::from_secs(5))
                .unwrap()
        };

        // A first epoch proven on L1 by the process, from the seed's variables alone.
        tokio::time::timeout(Duration::from_secs(90), async {
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("provemesh exited with {status}:\n{}", read_log(&log));
                }
                if !proven_on_l1(&sys).await.is_empty() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no epoch proven in time:\n{}", read_log(&log)));

        // The next epoch, caught mid-proof through the node's own JSON-RPC: kill -9.
        let client = rpc(port);
        let victim = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                if let Ok(status) = client.status().await {
                    if let Some(e) = status.epochs.iter().find(|e| {
                        e.state == provemesh_prover_node::rpc::EpochPhase::Proving
                            && e.jobs_done > 0
                            && e.jobs_done < e.jobs_total
                    }) {
                        return e.epoch;
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no epoch seen mid-proof:\n{}", read_log(&log)));
        child.kill().unwrap();
        child.wait().unwrap();
        let first_log = read_log(&log);

        // Restarted on the same data directory: it finishes that epoch, once, and goes on.
        // This time the contracts are configured by address (the escrow, bond token and
        // verifier are read from the Rollup) instead of asked of AZTEC_NODE_URL.
        let port = provemesh_harness::free_port();
        let log = tempfile::NamedTempFile::new().unwrap();
        let d = sys.chain.deployment;
        let by_address = [
            ("ROLLUP_CONTRACT_ADDRESS", d.rollup.to_string()),
            ("INBOX_CONTRACT_ADDRESS", d.inbox.to_string()),
            ("OUTBOX_CONTRACT_ADDRESS", d.outbox.to_string()),
            ("ARCHIVER_L1_START_BLOCK", d.rollup_l1_block.to_string()),
        ];
        let mut child = spawn_node(&sys, dir.path(), port, &key, &log, &by_address);
        tokio::time::timeout(Duration::from_secs(90), async {
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("provemesh exited with {status}:\n{}", read_log(&log));
                }
                let proven = proven_on_l1(&sys).await;
                if proven.iter().any(|(e, _)| *e == victim)
                    && proven.iter().any(|(e, _)| *e > victim)
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        })
        .await
        .unwrap_or_else(|_| {
            panic!(
                "epoch {victim} and a later one not proven after the restart:\n{}",
                read_log(&log)
            )
        });
        for (e, n) in proven_on_l1(&sys).await {
            assert_eq!(n, 1, "epoch {e} proven {n} times on L1");
        }

        // Its JSON-RPC on AZTEC_PORT tells the same story.
        let client = rpc(port);
        let status = client.status().await.expect("prover_getStatus");
        assert!(status.l2_proven_tip >= 1, "{status:?}");
        let quotes = client.quotes().await.expect("prover_getQuotes");
        assert!(!quotes.is_empty(), "{quotes:?}");
        let fees = sys
            .chain
            .rollup
            .fees_of(sys.chain.keys[PROVER].address())
            .await
            .unwrap();
        assert!(
            fees > alloy::primitives::U256::ZERO,
            "the prover earned fees"
        );

        // SIGTERM: a clean stop, in time, with exit code 0.
        let pid = child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let exit = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                if let Some(s) = child.try_wait().unwrap() {
                    return s;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
        let Ok(exit) = exit else {
            let _ = child.kill();
            panic!("provemesh did not stop on SIGTERM:\n{}", read_log(&log));
        };
        let text = read_log(&log);
        assert!(exit.success(), "exit {exit}:\n{text}");
        let bare = key.trim_start_matches("0x");
        for t in [&first_log, &text] {
            assert!(!t.contains(bare), "the private key appeared in the log");
            assert!(t.contains("prover node running"), "{t}");
        }
        sys.stop().await;
    })
    .await
}

/// `provemesh start ARGS` with a fixed prover key and the node's L1 variables pointing at
/// `l1`, plus `extra`; its exit code and standard error.
fn start_refused(args: &[&str], l1: &str, extra: &[(&str, String)]) -> (Option<i32>, String) {
    let out = Command::new(provemesh_binary())
        .arg("start")
        .args(args)
        .env_clear()
        .env("ETHEREUM_HOSTS", l1)
        .env("L1_CHAIN_ID", "31337")
        .env("DATA_DIRECTORY", "/tmp/provemesh-never-used")
        .env(
            "PROVER_PUBLISHER_PRIVATE_KEY",
            format!("0x{}", "11".repeat(32)),
        )
        .env("PROVER_COORDINATION_NODE_URL", l1)
        .envs(extra.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains(&"11".repeat(16)), "the key was echoed: {err}");
    assert!(!err.contains("panicked"), "{err}");
    (out.status.code(), err)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_names_what_is_wrong_before_starting() {
    let dead = format!("http://127.0.0.1:{}", provemesh_harness::free_port());
    // Without --archiver: refused, naming it.
    let (code, err) = start_refused(
        &["--prover-node"],
        &dead,
        &[("AZTEC_NODE_URL", dead.clone())],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--archiver"), "{err}");

    // With --archiver but no AZTEC_NODE_URL: the genesis has no source.
    let (code, err) = start_refused(
        &["--prover-node", "--archiver"],
        &dead,
        &[("PROVER_PROOF_STORE", "memory://".into())],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("AZTEC_NODE_URL"), "{err}");

    // Malformed policy and listener values: refused by name before anything starts.
    for (var, value) in [
        ("QUOTE_PROVIDER_BASIS_POINT_FEE", "10001"),
        ("QUOTE_PROVIDER_BOND_AMOUNT", "lots"),
        ("PROVER_NODE_MAX_PENDING_JOBS", "0"),
        ("P2P_TCP_LISTEN_ADDR", "0.0.0.0:40400"),
    ] {
        let (code, err) = start_refused(
            &["--prover-node", "--archiver"],
            &dead,
            &[
                ("AZTEC_NODE_URL", dead.clone()),
                ("PROVER_PROOF_STORE", "memory://".into()),
                ("P2P_ENABLED", "true".into()),
                (var, value.into()),
            ],
        );
        assert_eq!(code, Some(2), "{var}={value}: {err}");
        assert!(err.contains(var), "{var}={value}: {err}");
    }

    // Real proofs without what bb needs: the node checks every proof with bb, so a missing
    // CRS is refused by name before anything starts.
    let (code, err) = start_refused(
        &["--prover-node", "--archiver"],
        &dead,
        &[
            ("AZTEC_NODE_URL", dead.clone()),
            ("PROVER_PROOF_STORE", "memory://".into()),
            ("PROVER_REAL_PROOFS", "true".into()),
            ("CRS_PATH", "/nonexistent/crs".into()),
        ],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("CRS_PATH"), "{err}");

    // Nothing where the mesh and the nodes should be: a clear error at start, exit 1.
    let (code, err) = start_refused(
        &["--prover-node", "--archiver"],
        &dead,
        &[
            ("AZTEC_NODE_URL", dead.clone()),
            ("PROVER_PROOF_STORE", "memory://".into()),
            ("PROVER_BROKER_HOST", dead.replace("http", "nats")),
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.starts_with("error:"), "{err}");
}
