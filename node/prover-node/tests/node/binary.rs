//! The product as an operator runs it: `provemesh start --prover-node --archiver
//! --prover-broker` as a process, configured by the seed's variables alone, wins and proves
//! epochs of a live rollup (agents elsewhere on the mesh), answers on AZTEC_PORT, and stops
//! cleanly on SIGTERM without ever printing its key.

use crate::support::{within, PROVER};
use crate::system::{System, TIMING};
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_proves_epochs_from_the_seeds_variables_and_stops_on_sigterm() {
    within(180, async {
        let sys = System::start(TIMING, 3, Duration::from_millis(10), 4.0, 1).await;
        let dir = tempfile::tempdir().unwrap();
        let key = format!("{}", sys.chain.keys[PROVER].to_bytes());
        let port = provemesh_harness::free_port();
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut child = Command::new(provemesh_binary())
            .args(["start", "--prover-node", "--archiver", "--prover-broker"])
            .env_clear()
            .env("ETHEREUM_HOSTS", sys.chain.url().as_str())
            .env("L1_CHAIN_ID", crate::support::CHAIN_ID.to_string())
            .env("DATA_DIRECTORY", dir.path())
            .env("AZTEC_PORT", port.to_string())
            .env("PROVER_RPC_LISTEN_IP", "127.0.0.1")
            .env("PROVER_PUBLISHER_PRIVATE_KEY", &key)
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
            .stdin(Stdio::null())
            .stdout(log.reopen().unwrap())
            .stderr(log.reopen().unwrap())
            .spawn()
            .expect("spawn provemesh");
        let read_log = || std::fs::read_to_string(log.path()).unwrap_or_default();

        // Two epochs proven on L1 by the process.
        let proven = tokio::time::timeout(Duration::from_secs(120), async {
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("provemesh exited with {status}:\n{}", read_log());
                }
                let mut epochs = Vec::new();
                for e in 0..8 {
                    if sys.chain.proven_events(e).await == 1 {
                        epochs.push(e);
                    }
                }
                if epochs.len() >= 2 {
                    return epochs;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no two epochs proven in time:\n{}", read_log()));

        // Its JSON-RPC on AZTEC_PORT tells the same story.
        let rpc =
            provemesh_p2p::http_client(&format!("http://127.0.0.1:{port}"), Duration::from_secs(5))
                .unwrap();
        let status = rpc.status().await.expect("prover_getStatus");
        assert!(status.l2_proven_tip >= 1, "{status:?}");
        let quotes = rpc.quotes().await.expect("prover_getQuotes");
        assert!(quotes.len() >= proven.len(), "{quotes:?}");
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
            panic!("provemesh did not stop on SIGTERM:\n{}", read_log());
        };
        let text = read_log();
        assert!(exit.success(), "exit {exit}:\n{text}");
        let bare = key.trim_start_matches("0x");
        assert!(!text.contains(bare), "the private key appeared in the log");
        assert!(text.contains("prover node running"), "{text}");
        sys.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_names_what_is_wrong_before_starting() {
    // Without --archiver: refused, naming it.
    let out = Command::new(provemesh_binary())
        .args(["start", "--prover-node"])
        .env_clear()
        .env("ETHEREUM_HOSTS", "http://127.0.0.1:1")
        .env("L1_CHAIN_ID", "31337")
        .env("DATA_DIRECTORY", "/tmp/provemesh-never-used")
        .env(
            "PROVER_PUBLISHER_PRIVATE_KEY",
            "0x1111111111111111111111111111111111111111111111111111111111111111",
        )
        .env("PROVER_COORDINATION_NODE_URL", "http://127.0.0.1:1")
        .env("AZTEC_NODE_URL", "http://127.0.0.1:1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--archiver"), "{err}");
    assert!(
        !err.contains("1111111111111111"),
        "the key was echoed: {err}"
    );

    // With --archiver but no AZTEC_NODE_URL: the genesis has no source.
    let out = Command::new(provemesh_binary())
        .args(["start", "--prover-node", "--archiver"])
        .env_clear()
        .env("ETHEREUM_HOSTS", "http://127.0.0.1:1")
        .env("L1_CHAIN_ID", "31337")
        .env("DATA_DIRECTORY", "/tmp/provemesh-never-used")
        .env(
            "PROVER_PUBLISHER_PRIVATE_KEY",
            "0x1111111111111111111111111111111111111111111111111111111111111111",
        )
        .env("PROVER_COORDINATION_NODE_URL", "http://127.0.0.1:1")
        .env("PROVER_PROOF_STORE", "memory://")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("AZTEC_NODE_URL"), "{err}");

    // A node that is not there: a clear error at start, exit 1, no panic.
    let port = provemesh_harness::free_port();
    let out = Command::new(provemesh_binary())
        .args(["start", "--prover-node", "--archiver"])
        .env_clear()
        .env("ETHEREUM_HOSTS", format!("http://127.0.0.1:{port}"))
        .env("L1_CHAIN_ID", "31337")
        .env("DATA_DIRECTORY", "/tmp/provemesh-never-used")
        .env(
            "PROVER_PUBLISHER_PRIVATE_KEY",
            "0x1111111111111111111111111111111111111111111111111111111111111111",
        )
        .env(
            "PROVER_COORDINATION_NODE_URL",
            format!("http://127.0.0.1:{port}"),
        )
        .env("AZTEC_NODE_URL", format!("http://127.0.0.1:{port}"))
        .env("PROVER_PROOF_STORE", "memory://")
        .env("PROVER_BROKER_HOST", format!("nats://127.0.0.1:{port}"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.starts_with("error:"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
