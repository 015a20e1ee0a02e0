//! The binaries as an operator runs them: `provemesh start --prover-broker --prover-agent`
//! proving jobs (with JSON logs), `provemesh jobs` inspecting the mesh, and `provemesh
//! devnet` proving epochs and leaving no process behind.

use crate::support::*;
use provemesh_common::{JobOutcome, ProofType};
use provemesh_harness::NatsServer;
use provemesh_nats::{Topology, TopologyConfig};
use std::process::{Command, Stdio};
use std::time::Duration;

pub(crate) fn provemesh(args: &[&str], env: &[(&str, String)]) -> Command {
    let mut c = Command::new(binary("provemesh"));
    c.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_runs_broker_and_agent_and_jobs_inspects_the_mesh() {
    within(Duration::from_secs(120), async {
        let nats = NatsServer::start().expect("nats");
        let dir = tempfile::tempdir().unwrap();
        let store = StoreEnv::file(dir.path());
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut env: Vec<(&str, String)> = vec![
            ("PROVER_BROKER_HOST", nats.url()),
            ("PROVER_AGENT_ID", "node-local".into()),
            ("PROVER_SIMULATED_DEFAULT_DELAY", "10ms".into()),
            ("LOG_JSON", "true".into()),
            ("LOG_LEVEL", "debug".into()),
        ];
        for (k, v) in &store.vars {
            env.push((k.as_str(), v.clone()));
        }
        let mut node = provemesh(&["start", "--prover-broker", "--prover"], &env)
            .stdout(log.reopen().unwrap())
            .stderr(log.reopen().unwrap())
            .spawn()
            .expect("start");
        let node_pid = nix::unistd::Pid::from_raw(node.id() as i32);
        let guard = scopeguard(node_pid);

        // The broker process applies the topology; bind to it as a node would.
        let mut topo = None;
        for _ in 0..100 {
            if let Ok(t) =
                Topology::bind(js(&nats.url()).await, TopologyConfig::default(), &[]).await
            {
                topo = Some(t);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let b = broker(
            topo.expect("topology applied by `provemesh start --prover-broker`"),
            store.store.clone(),
        );
        let mut results = b.results("test", None).await.unwrap();
        let good: Vec<_> = (0..20)
            .map(|n| job(21, ProofType::ALL[n as usize % 8], n))
            .collect();
        let bad = failing_job(21, ProofType::MergeRollup, "merge children do not chain");
        b.enqueue_many(good.clone()).await.unwrap();
        b.enqueue(bad.clone()).await.unwrap();
        let got = collect(&mut results, 21, Duration::from_secs(30)).await;
        assert_eq!(got.len(), 21);
        assert!(good
            .iter()
            .all(|j| matches!(got[&j.id()][0].outcome, JobOutcome::Proved(_))));
        assert!(got.values().all(|r| r[0].agent.0 == "node-local"));

        // `provemesh jobs`: table and JSON.
        let jenv = [("PROVER_BROKER_HOST", nats.url())];
        let out = provemesh(&["jobs"], &jenv).output().unwrap();
        let table = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            table.contains("Queue") && table.contains("In flight") && table.contains("Failed"),
            "{table}"
        );
        assert!(
            table.contains("merge children do not chain"),
            "failure with its error: {table}"
        );
        assert!(
            table.contains("proved 20") && table.contains("failed 1"),
            "{table}"
        );
        let out = provemesh(&["jobs", "--epoch", "21", "--json"], &jenv)
            .output()
            .unwrap();
        let v: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("jobs --json is JSON");
        assert_eq!(v["by_state"]["proved"], 20);
        assert_eq!(
            v["failed"][0]["error"].as_str().unwrap(),
            "deterministic: circuit assertion failed: merge children do not chain"
        );
        let id = bad.id().to_hex();
        let out = provemesh(&["jobs", "--job", &id], &jenv).output().unwrap();
        let hist = String::from_utf8_lossy(&out.stdout);
        assert!(
            hist.contains("failed") && hist.contains("Result: failed (deterministic)"),
            "{hist}"
        );
        assert_eq!(
            hist.matches("merge children do not chain").count(),
            2,
            "one history row plus the result line: {hist}"
        );
        let out = provemesh(&["jobs", "--job", "abc"], &jenv)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("invalid job id"));

        // SIGTERM: drains and exits cleanly.
        nix::sys::signal::kill(node_pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let status = tokio::task::spawn_blocking(move || node.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(status.success(), "clean exit on SIGTERM: {status:?}");
        drop(guard);
        // LOG_JSON: every log line is a JSON object with a level and fields.
        let text = std::fs::read_to_string(log.path()).unwrap();
        let lines: Vec<_> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        assert!(!lines.is_empty());
        for l in &lines {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
            assert!(v.get("level").is_some(), "{l}");
        }
        assert!(text.contains("\"job\""), "job fields in the JSON logs");
    })
    .await
}

/// The devnet's rollup on a fast clock: 2-second slots, 4-slot epochs.
const FAST_ROLLUP: [&str; 4] = ["--slot-duration", "2", "--epoch-duration", "4"];

#[test]
fn devnet_proves_epochs_and_leaves_nothing_running() {
    // The README's first command, on a fast clock: the rollup's epochs won by the prover
    // node, proved by the agents and verified on L1, with a tx load from the sequencer.
    let args = [
        &[
            "devnet",
            "--epochs",
            "3",
            "--agents",
            "3",
            "--proof-delay",
            "5ms",
            "--tps",
            "6",
        ][..],
        &FAST_ROLLUP[..],
    ]
    .concat();
    let out = provemesh(&args, &[("LOG_LEVEL", "warn".into())])
        .output()
        .expect("devnet");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "devnet failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let proven: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains(" proven: ") && l.contains("verified on L1"))
        .collect();
    assert_eq!(proven.len(), 3, "three epochs verified on L1:\n{stdout}");
    // Each line ends with L1's proven tip: it moves forward, epoch after epoch.
    let tips: Vec<u64> = proven
        .iter()
        .map(|l| {
            l.rsplit("proven tip ")
                .next()
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        })
        .collect();
    assert!(
        tips.windows(2).all(|w| w[0] < w[1]) && tips[0] >= 1,
        "{tips:?}"
    );
    assert!(
        stdout.contains("L2 block"),
        "the sequencer built blocks:\n{stdout}"
    );
    assert!(
        stdout.contains("3 epochs proven and verified on L1"),
        "{stdout}"
    );
    assert!(stdout.contains("devnet stopped"));
    // Its servers (ports printed in its banner) are gone.
    for line in stdout.lines().filter(|l| l.contains("127.0.0.1:")) {
        let port: u16 = line
            .split("127.0.0.1:")
            .nth(1)
            .unwrap()
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect::<String>()
            .parse()
            .unwrap();
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "port {port} still open after devnet exit"
        );
    }
}

/// Kills the process on drop (if the test fails before stopping it).
pub(crate) struct Guard(nix::unistd::Pid);
pub(crate) fn scopeguard(pid: nix::unistd::Pid) -> Guard {
    Guard(pid)
}
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(self.0, nix::sys::signal::Signal::SIGKILL);
    }
}

/// Starts `provemesh devnet` until its first epoch is proven; returns it, its servers'
/// ports and the path of its agent settings file.
fn devnet_until_first_epoch(extra: &[&str]) -> (std::process::Child, Vec<u16>, std::path::PathBuf) {
    let args = [
        &["devnet", "--epochs", "0", "--agents", "2"][..],
        &FAST_ROLLUP[..],
        extra,
    ]
    .concat();
    let (child, lines) = devnet_reading(&args, 60, |l| l.contains("proven"));
    let mut ports = Vec::new();
    let mut env_file = None;
    for line in &lines {
        if let Some(rest) = line.split("127.0.0.1:").nth(1) {
            ports.push(
                rest.chars()
                    .take_while(|c| c.is_ascii_digit())
                    .collect::<String>()
                    .parse::<u16>()
                    .unwrap(),
            );
        }
        if line.contains("agent settings") {
            env_file = line
                .split_whitespace()
                .find(|w| w.ends_with(".env"))
                .map(std::path::PathBuf::from);
        }
    }
    assert!(
        ports.len() >= 3,
        "banner printed the servers' ports: {ports:?}"
    );
    let env_file = env_file.expect("banner names the agent settings file");
    (child, ports, env_file)
}

/// Starts `provemesh devnet` with `args` (LOG_LEVEL=warn) and reads its output until a
/// line satisfies `until` or `secs` have passed; the process and the lines read. The rest
/// of its output is drained in the background, as a terminal would.
fn devnet_reading(
    args: &[&str],
    secs: u64,
    until: impl Fn(&str) -> bool,
) -> (std::process::Child, Vec<String>) {
    use std::io::{BufRead, BufReader};
    let mut child = provemesh(args, &[("LOG_LEVEL", "warn".into())])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("devnet");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.expect("line");
        let done = until(&line);
        seen.push(line);
        if done || std::time::Instant::now() > deadline {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    (child, seen)
}

fn assert_ports_close(ports: &[u16]) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while ports
        .iter()
        .any(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_ok())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "a server outlived its devnet: ports {ports:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn devnet_stops_cleanly_on_ctrl_c() {
    let (mut child, ports, env_file) = devnet_until_first_epoch(&["--proof-store", "s3"]);
    // The settings for external agents: private, complete, and they work.
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(&env_file).expect("agent env file");
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o600,
        "credentials file is private"
    );
    let vars: Vec<(String, String)> = std::fs::read_to_string(&env_file)
        .unwrap()
        .lines()
        .filter_map(|l| {
            l.strip_prefix("export ")?
                .split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect();
    for k in [
        "PROVER_BROKER_HOST",
        "PROVER_PROOF_STORE",
        "PROVER_PROOF_STORE_ENDPOINT",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    ] {
        assert!(
            vars.iter().any(|(n, _)| n == k),
            "{k} in {}",
            env_file.display()
        );
    }
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut agent = Command::new(binary("provemesh-agent"))
        .env_clear()
        .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("PROVER_AGENT_ID", "external")
        .stdout(log.reopen().unwrap())
        .stderr(log.reopen().unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(log.path())
        .unwrap_or_default()
        .contains("prover agent started")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "external agent did not attach: {}",
            std::fs::read_to_string(log.path()).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let secret = &vars
        .iter()
        .find(|(k, _)| k == "AWS_SECRET_ACCESS_KEY")
        .unwrap()
        .1;
    assert!(
        !std::fs::read_to_string(log.path())
            .unwrap()
            .contains(secret.as_str()),
        "secret in agent log"
    );
    let _ = agent.kill();
    let _ = agent.wait();

    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _guard = scopeguard(pid);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "Ctrl-C is a clean stop: {status:?}");
    assert_ports_close(&ports);
}

#[test]
fn devnet_killed_outright_leaves_no_server_behind() {
    let (mut child, ports, _) = devnet_until_first_epoch(&[]);
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _guard = scopeguard(pid);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
    let _ = child.wait();
    assert_ports_close(&ports);
}

#[test]
fn devnet_on_a_terminal_shows_the_proof_tree_filling_up() {
    // `script` (util-linux) gives the devnet a pseudo-terminal, as a person running it has;
    // proofs slow enough that the live line is drawn while the epoch is on the mesh.
    let devnet = binary("provemesh");
    let cmd = format!(
        "{} devnet --epochs 1 --agents 2 --proof-delay 150ms --slot-duration 2 --epoch-duration 4",
        devnet.display()
    );
    let out = Command::new("script")
        .args(["-qfec", &cmd, "/dev/null"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("LOG_LEVEL", "warn")
        .env("TERM", "dumb")
        .stdin(Stdio::null())
        .output()
        .expect("script (util-linux) runs the devnet on a pseudo-terminal");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    // The live line: redrawn in place (carriage return, erase line), a bar of the proof
    // tree, jobs done of total, agents proving, queued jobs, proofs per second.
    let frames: Vec<&str> = text
        .split("\r\x1b[2K")
        .filter(|f| f.starts_with("epoch ") && f.contains(" jobs, ") && f.contains("proofs/s"))
        .collect();
    assert!(!frames.is_empty(), "no live progress line drawn:\n{text}");
    let f = frames[frames.len() / 2];
    let bar = f
        .split('[')
        .nth(1)
        .and_then(|b| b.split(']').next())
        .unwrap_or("");
    assert_eq!(bar.chars().count(), 20, "a 20-cell bar: {f:?}");
    assert!(bar.chars().all(|c| c == '#' || c == '-'), "{f:?}");
    assert!(text.contains("1 epoch proven and verified on L1"), "{text}");
}

#[test]
fn devnet_flags_p2p_fee_invalid_load_and_stay() {
    // Quotes gossiped over libp2p at the asked fee, a load with every third tx invalid,
    // and --stay: after the epoch the devnet keeps running until Ctrl-C.
    let args = [
        &[
            "devnet",
            "--epochs",
            "1",
            "--stay",
            "--agents",
            "2",
            "--proof-delay",
            "5ms",
            "--p2p-enabled",
            "--basis-point-fee",
            "1234",
            "--tps",
            "4",
            "--invalid-every",
            "3",
        ][..],
        &FAST_ROLLUP[..],
    ]
    .concat();
    let (mut child, seen) =
        devnet_reading(&args, 120, |l| l.contains("keeps proving until Ctrl-C"));
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _guard = scopeguard(pid);
    let text = seen.join("\n");
    assert!(text.contains("keeps proving until Ctrl-C"), "{text}");
    assert!(text.contains("sequencer P2P"), "{text}");
    assert!(text.contains("every 3th invalid"), "{text}");
    assert!(
        text.contains("at 1234 bps"),
        "the node's quote was claimed at its fee: {text}"
    );
    assert!(text.contains("1 epoch proven and verified on L1"), "{text}");
    // Still up until Ctrl-C, then a clean stop.
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        child.try_wait().unwrap().is_none(),
        "--stay keeps it running"
    );
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "Ctrl-C is a clean stop: {status:?}");
}
