//! The binaries' surface: `--version`, `--help` listing every seed variable, each
//! malformed value failing at once with an error naming its variable (and never echoing a
//! secret), contradictory settings refused, and components not yet built refusing plainly.

use crate::support::*;
use std::process::{Command, Stdio};

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(bin: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(binary(bin));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run binary");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

const SEED_VARIABLES: [&str; 16] = [
    "ETHEREUM_HOSTS",
    "L1_CHAIN_ID",
    "DATA_DIRECTORY",
    "AZTEC_PORT",
    "PROVER_PUBLISHER_PRIVATE_KEY",
    "PROVER_AGENT_ENABLED",
    "P2P_ENABLED",
    "PROVER_COORDINATION_NODE_URL",
    "BOOT_NODE_URL",
    "AZTEC_NODE_URL",
    "PROVER_BROKER_HOST",
    "PROVER_AGENT_CONCURRENCY",
    "PROVER_REAL_PROOFS",
    "LOG_LEVEL",
    "LOG_JSON",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
];

#[test]
fn version_and_help_list_every_seed_variable() {
    let v = run("provemesh", &["--version"], &[]);
    assert_eq!(v.code, Some(0));
    assert!(v.stdout.starts_with("provemesh 0."), "{}", v.stdout);
    assert!(run("provemesh-agent", &["--version"], &[])
        .stdout
        .starts_with("provemesh-agent 0."));

    for args in [&["--help"][..], &["start", "--help"][..]] {
        let h = run("provemesh", args, &[]);
        assert_eq!(h.code, Some(0));
        for var in SEED_VARIABLES {
            assert!(
                h.stdout.contains(var),
                "`provemesh {}` does not mention {var}",
                args.join(" ")
            );
        }
    }
    let h = run("provemesh", &["start", "--help"], &[]).stdout;
    for flag in [
        "--prover-node",
        "--archiver",
        "--prover-agent",
        "--prover-broker",
        "--prover",
    ] {
        assert!(h.contains(flag), "start --help lacks {flag}");
    }
    for sub in ["start", "agent", "devnet", "jobs", "bench"] {
        assert!(run("provemesh", &["--help"], &[]).stdout.contains(sub));
    }
}

/// A private key made up for this test run (never a real or well-known one).
fn fresh_key() -> String {
    let mut b = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .expect("urandom");
    b[0] |= 1;
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn each_malformed_variable_fails_with_its_own_error() {
    // (variable, bad value, words the error must contain); run as `start --prover-agent
    // --prover-broker` so that every mesh setting is read.
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "PROVER_AGENT_CONCURRENCY",
            "0",
            &["PROVER_AGENT_CONCURRENCY", "'0'"],
        ),
        (
            "PROVER_AGENT_CONCURRENCY",
            "many",
            &["PROVER_AGENT_CONCURRENCY", "'many'"],
        ),
        ("LOG_LEVEL", "loud", &["LOG_LEVEL", "'loud'", "verbose"]),
        ("LOG_JSON", "maybe", &["LOG_JSON", "'maybe'"]),
        ("L1_CHAIN_ID", "mainnet", &["L1_CHAIN_ID", "'mainnet'"]),
        (
            "ETHEREUM_HOSTS",
            "not a url",
            &["ETHEREUM_HOSTS", "not a URL"],
        ),
        (
            "ETHEREUM_HOSTS",
            "http://127.0.0.1:8545,ftp://x",
            &["ETHEREUM_HOSTS", "scheme 'ftp'"],
        ),
        ("AZTEC_PORT", "70000", &["AZTEC_PORT", "'70000'"]),
        ("P2P_ENABLED", "perhaps", &["P2P_ENABLED", "'perhaps'"]),
        (
            "PROVER_COORDINATION_NODE_URL",
            "localhost",
            &["PROVER_COORDINATION_NODE_URL"],
        ),
        (
            "AZTEC_NODE_URL",
            "ws://x:1",
            &["AZTEC_NODE_URL", "scheme 'ws'"],
        ),
        ("BOOT_NODE_URL", "somewhere", &["BOOT_NODE_URL"]),
        (
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            "collector",
            &["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"],
        ),
        (
            "PROVER_REAL_PROOFS",
            "sometimes",
            &["PROVER_REAL_PROOFS", "'sometimes'"],
        ),
        // Real proofs are checked at start-up: a bb that is not there is named (with
        // PROVER_REAL_PROOFS=true, added below).
        (
            "BB_BINARY_PATH",
            "/nonexistent/bb",
            &["BB_BINARY_PATH", "/nonexistent/bb"],
        ),
        (
            "PROVER_AGENT_PROOF_TYPES",
            "merge_rollup,tube",
            &["PROVER_AGENT_PROOF_TYPES", "unknown proof type 'tube'"],
        ),
        (
            "PROVER_AGENT_DRAIN_DEADLINE",
            "soon",
            &["PROVER_AGENT_DRAIN_DEADLINE", "not a duration"],
        ),
        (
            "PROVER_BROKER_HOST",
            "http://127.0.0.1:4222",
            &["PROVER_BROKER_HOST", "scheme 'http'"],
        ),
        (
            "PROVER_PROOF_STORE",
            "ftp://bucket",
            &["PROVER_PROOF_STORE", "scheme 'ftp'"],
        ),
        ("PROVER_PROOF_STORE", "s3://", &["PROVER_PROOF_STORE"]),
        (
            "PROVER_MESH_REPLICAS",
            "7",
            &["PROVER_MESH_REPLICAS", "'7'"],
        ),
        (
            "PROVER_MESH_ACK_WAIT",
            "10ms",
            &["PROVER_MESH_ACK_WAIT", "at least 1s"],
        ),
        (
            "NATS_CREDS",
            "/nonexistent/agent.creds",
            &["NATS_CREDS", "/nonexistent/agent.creds"],
        ),
    ];
    for (var, bad, words) in cases {
        let mut env = vec![("PROVER_PROOF_STORE", "memory://"), (*var, *bad)];
        if *var == "PROVER_PROOF_STORE" {
            env.remove(0);
        }
        if *var == "BB_BINARY_PATH" {
            env.push(("PROVER_REAL_PROOFS", "true"));
        }
        let r = run(
            "provemesh",
            &["start", "--prover-agent", "--prover-broker"],
            &env,
        );
        assert_eq!(
            r.code,
            Some(2),
            "{var}={bad} should fail at start-up; stderr: {}",
            r.stderr
        );
        for w in *words {
            assert!(
                r.stderr.contains(w),
                "{var}={bad}: error lacks '{w}':\n{}",
                r.stderr
            );
        }
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    }
    // The agent binary reads the same variables.
    let r = run(
        "provemesh-agent",
        &[],
        &[
            ("PROVER_AGENT_CONCURRENCY", "0"),
            ("PROVER_PROOF_STORE", "memory://"),
        ],
    );
    assert_eq!(r.code, Some(2));
    assert!(r.stderr.contains("PROVER_AGENT_CONCURRENCY"));
}

#[test]
fn secrets_never_appear_in_errors() {
    let key = fresh_key();
    let short_key = &key[..40];
    // (variables set, the variable the error must name, the secret it must not contain)
    type Case<'a> = (Vec<(&'a str, String)>, &'a str, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            vec![("PROVER_PUBLISHER_PRIVATE_KEY", format!("0x{short_key}"))],
            "PROVER_PUBLISHER_PRIVATE_KEY",
            short_key,
        ),
        (
            vec![("PROVER_PUBLISHER_PRIVATE_KEY", format!("zz{}", &key[2..]))],
            "PROVER_PUBLISHER_PRIVATE_KEY",
            &key[2..],
        ),
        (
            vec![("NATS_PASSWORD", format!("pw{short_key}"))],
            "NATS_PASSWORD",
            short_key,
        ),
        (
            vec![
                ("AWS_SECRET_ACCESS_KEY", format!("sk{short_key}")),
                ("PROVER_PROOF_STORE", "s3://b".into()),
            ],
            "AWS_ACCESS_KEY_ID",
            short_key,
        ),
        (
            vec![(
                "PROVER_BROKER_HOST",
                format!("nats://agent:{short_key}@127.0.0.1:4222"),
            )],
            "PROVER_BROKER_HOST",
            short_key,
        ),
    ];
    for (vars, names, secret) in cases {
        let mut env: Vec<(&str, &str)> = vec![("PROVER_PROOF_STORE", "memory://")];
        env.extend(vars.iter().map(|(k, v)| (*k, v.as_str())));
        let r = run(
            "provemesh",
            &["start", "--prover-agent", "--prover-broker"],
            &env,
        );
        assert_eq!(r.code, Some(2), "{env:?}: {}", r.stderr);
        assert!(
            r.stderr.contains(names),
            "error should name {names}: {}",
            r.stderr
        );
        assert!(!r.stderr.contains(secret), "secret echoed: {}", r.stderr);
        assert!(!r.stdout.contains(secret));
    }
    // --help never shows a secret's value taken from the environment.
    let r = run(
        "provemesh",
        &["start", "--help"],
        &[
            ("PROVER_PUBLISHER_PRIVATE_KEY", &key),
            ("NATS_PASSWORD", &key),
        ],
    );
    assert!(!r.stdout.contains(&key));
}

#[test]
fn contradictions_and_missing_requirements_are_refused() {
    let key = fresh_key();
    let l1 = [
        ("ETHEREUM_HOSTS", "http://127.0.0.1:8545"),
        ("L1_CHAIN_ID", "31337"),
        ("DATA_DIRECTORY", "/tmp/provemesh-cli-test"),
        ("PROVER_PUBLISHER_PRIVATE_KEY", key.as_str()),
    ];
    let r = run("provemesh", &["start"], &[]);
    assert_eq!(r.code, Some(2));
    assert!(r.stderr.contains("nothing to start"), "{}", r.stderr);

    let r = run("provemesh", &["start", "--prover-node", "--archiver"], &l1);
    assert_eq!(r.code, Some(2));
    assert!(
        r.stderr.contains("PROVER_COORDINATION_NODE_URL") && r.stderr.contains("P2P_ENABLED"),
        "{}",
        r.stderr
    );

    let mut env = l1.to_vec();
    env.push(("P2P_ENABLED", "true"));
    let r = run("provemesh", &["start", "--prover-node"], &env);
    assert!(
        r.stderr.contains("--archiver"),
        "the prover node reads blocks from its own archiver: {}",
        r.stderr
    );

    let r = run(
        "provemesh",
        &["start", "--archiver"],
        &[("ETHEREUM_HOSTS", "http://127.0.0.1:8545")],
    );
    assert!(r.stderr.contains("L1_CHAIN_ID"), "{}", r.stderr);

    let r = run(
        "provemesh",
        &["start", "--prover-agent"],
        &[("PROVER_PROOF_STORE", "memory://"), ("NATS_USER", "agent")],
    );
    assert!(
        r.stderr.contains("NATS_USER") && r.stderr.contains("NATS_PASSWORD"),
        "{}",
        r.stderr
    );

    // The world state's genesis comes from AZTEC_NODE_URL: without it, a plain refusal
    // before anything starts.
    env.push(("PROVER_PROOF_STORE", "memory://"));
    let r = run("provemesh", &["start", "--prover-node", "--archiver"], &env);
    assert_eq!(r.code, Some(2));
    assert!(r.stderr.contains("AZTEC_NODE_URL"), "{}", r.stderr);
    assert!(!r.stderr.contains(&key));

    // Real-proof devnets stay within the circuits' sizes; flags that cannot are named
    // before any server starts.
    for (flag, value, says) in [
        ("--max-txs-per-block", "9", "at most 8 txs"),
        ("--epoch-duration", "17", "at most 16 blocks"),
    ] {
        let r = run("provemesh", &["devnet", "--real-proofs", flag, value], &[]);
        assert_ne!(r.code, Some(0), "{flag} {value}");
        assert!(
            r.stderr.contains(flag) && r.stderr.contains(says),
            "{flag} {value}: {}",
            r.stderr
        );
        assert!(!r.stdout.contains("starting servers"), "{}", r.stdout);
    }
    let r = run(
        "provemesh",
        &["devnet", "--real-proofs", "--synthetic"],
        &[],
    );
    assert_eq!(r.code, Some(2));
    assert!(r.stderr.contains("--synthetic"), "{}", r.stderr);

    let r = run("provemesh", &["bench", "mesh", "--help"], &[]);
    assert_eq!(r.code, Some(0));
}

/// `provemesh bench mesh`, small: its own nats-server, mesh and raw rounds, the table.
#[test]
fn bench_mesh_prints_its_table_against_the_raw_loop() {
    let args = [
        "bench",
        "mesh",
        "--agents",
        "2",
        "--jobs",
        "200",
        "--rounds",
        "2",
        "--latency-jobs",
        "20",
        "--rate",
        "200",
        "--idle-secs",
        "1",
    ];
    let r = run("provemesh", &args, &[]);
    assert_eq!(r.code, Some(0), "{}\n{}", r.stdout, r.stderr);
    for column in [
        "mesh / raw (lowest–highest round)",
        "mesh / raw empty",
        "agent pulls/job (empty)",
        "server msgs/job mesh / raw",
        "idle agents: pulls/s, server CPU",
    ] {
        assert!(r.stdout.contains(column), "{column}: {}", r.stdout);
    }
    // The baseline carries the mesh's own message sizes, measured by its encoders.
    let sizes: Vec<usize> = r
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("raw baseline: "))
        .unwrap_or_else(|| panic!("the baseline's sizes: {}", r.stdout))
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    assert!(
        matches!(sizes[..], [job, result] if job > 100 && result > 100),
        "{sizes:?}"
    );
    let rounds = r.stdout.matches("2 agents: mesh").count();
    assert_eq!(rounds, 2, "one line per round: {}", r.stdout);
    let row = r
        .stdout
        .lines()
        .find(|l| l.starts_with("│ 2 "))
        .unwrap_or_else(|| panic!("a row for 2 agents: {}", r.stdout));
    assert!(row.contains('%'), "{row}");
    // The table is the interface: no log line per agent or connection event around it.
    for quiet in [&r.stdout, &r.stderr] {
        assert!(!quiet.contains("prover agent started"), "{quiet}");
        assert!(!quiet.contains("event:"), "{quiet}");
    }

    for zero in ["--rounds", "--idle-secs"] {
        let r = run("provemesh", &["bench", "mesh", zero, "0"], &[]);
        assert_ne!(r.code, Some(0));
        assert!(r.stderr.contains(&zero[2..]), "{}", r.stderr);
    }
}

/// `provemesh crs generate`: the INSECURE devnet CRS, with its warning; the same points as
/// the CRS `scripts/crs` installs (one τ), the generator first; sizes out of range refused.
#[test]
fn crs_generate_writes_the_insecure_devnet_crs_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("crs");
    let out_s = out.to_str().unwrap();
    let r = run(
        "provemesh",
        &["crs", "generate", "--points", "17", "--out", out_s],
        &[],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stderr.contains("INSECURE"), "{}", r.stderr);
    let g1 = std::fs::read(out.join("bn254_g1.dat")).unwrap();
    assert_eq!(g1.len(), 17 * 64);
    // The BN254 generator (1, 2), big-endian coordinates.
    assert_eq!(g1[31], 1);
    assert_eq!(g1[63], 2);
    assert!(g1[..31].iter().chain(&g1[32..63]).all(|b| *b == 0));
    assert_eq!(std::fs::read(out.join("bn254_g2.dat")).unwrap().len(), 128);
    assert_eq!(
        provemesh_bb::crs::crs_points(&out).unwrap(),
        17,
        "readable as a CRS"
    );
    // The devnet CRS that scripts/test installs has the same τ: same leading points.
    let installed = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../.tools/crs/insecure-devnet/bn254_g1.dat");
    if let Ok(mut f) = std::fs::File::open(&installed) {
        use std::io::Read;
        let mut head = vec![0u8; g1.len()];
        f.read_exact(&mut head).unwrap();
        assert_eq!(head, g1, "the same τ as {}", installed.display());
    }

    for bad in ["1", "0", "67108866", "many"] {
        let r = run(
            "provemesh",
            &["crs", "generate", "--points", bad, "--out", out_s],
            &[],
        );
        assert_ne!(r.code, Some(0), "--points {bad} accepted");
        assert!(r.stderr.contains("points"), "--points {bad}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    }
}
