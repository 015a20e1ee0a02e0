//! `provemesh bench prove`: real proofs, per proof type — gates, witness generation, `bb
//! prove` and its peak memory — and the agent's overhead over the raw prover: the time
//! from job pickup to proof stored against the `bb prove` process time of the same job,
//! as a ratio whose floor is ≤ 1.05.
//!
//! The epoch is proved the way `scripts/real-proofs` proves one through the orchestrator:
//! blocks from the fixture builder (generated txs with real client proofs, executed by the
//! tx processor on a devnet-height world state), the orchestrator with real proofs (each proof checked with
//! `bb verify` before its parent is built), one in-process agent with the `bb` backend
//! proving one job at a time on an embedded nats-server, proofs in a file store in a
//! temporary directory. The agent records each job's phases (`provemesh_agent::phases`);
//! the baseline, `bb prove` of the same job, is measured inside it in the same run.
//!
//! Installs nothing: bb, the patched verifier and the INSECURE devnet CRS must already be
//! there (scripts/bootstrap, scripts/crs), or the command stops naming them.

use anyhow::Context as _;
use clap::Args;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use provemesh_agent::{Agent, AgentConfig, BbBackend, JobPhases};
use provemesh_broker::Broker;
use provemesh_common::config::{ProofStoreConfig, ProofStoreLocation};
use provemesh_common::{EpochNumber, ProofType};
use provemesh_harness::NatsServer;
use provemesh_nats::{Topology, TopologyConfig};
use provemesh_orchestrator::fixtures::{execute_epoch_with, real_client_proofs};
use provemesh_orchestrator::{
    l1_epoch_public_inputs, unprovable_block, unprovable_epoch, EpochConfig, EpochProver, Proofs,
    RealCircuits,
};
use provemesh_store::ProofStore;
use provemesh_world_state::TreeHeights;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// The floor: pickup → stored at most 5% over the raw `bb prove` time.
pub const OVERHEAD_FLOOR: f64 = 1.05;

const PROVER_ID: [u8; 32] = [0x11; 32];
const EPOCH: EpochNumber = EpochNumber(1);

#[derive(Debug, Clone, Args)]
pub struct ProveBench {
    /// Blocks in the epoch (1 to 16: the root rollup circuit; 2 or more proves every
    /// circuit of the tree).
    #[arg(long, default_value_t = 2)]
    pub blocks: usize,

    /// Txs in each block (0 to 8: the block root circuit; 0 proves empty block roots, 2 or
    /// more adds merges).
    #[arg(long, default_value_t = 2)]
    pub txs_per_block: usize,

    /// Longest the whole epoch may take to prove.
    #[arg(long, default_value = "1h", value_parser = provemesh_common::config::values::duration)]
    pub timeout: Duration,

    #[command(flatten)]
    pub bb: provemesh_agent::BbArgs,
}

/// A flag the circuits cannot take, named.
#[derive(Debug, thiserror::Error)]
#[error("provemesh bench prove: {flag} {reason}")]
pub struct FlagError {
    pub flag: &'static str,
    pub reason: String,
}

impl ProveBench {
    /// Flags the circuits cannot take, named.
    pub fn check(&self) -> Result<(), FlagError> {
        if self.blocks == 0 {
            return Err(FlagError {
                flag: "--blocks",
                reason: "0: an epoch has at least one block".into(),
            });
        }
        if let Some(reason) = unprovable_epoch(self.blocks) {
            return Err(FlagError {
                flag: "--blocks",
                reason,
            });
        }
        if let Some(reason) = unprovable_block(self.txs_per_block) {
            return Err(FlagError {
                flag: "--txs-per-block",
                reason,
            });
        }
        Ok(())
    }

    pub async fn run(self) -> anyhow::Result<()> {
        self.check()?;
        // Checked before anything starts; nothing is installed from here.
        let bb = self.bb.validate().context(
            "provemesh bench prove needs bb, the patched devnet verifier and the INSECURE devnet CRS already installed (scripts/bootstrap bb, then scripts/crs); it installs nothing itself",
        )?;
        let set = Arc::new(
            provemesh_bb::circuits::CircuitSet::load(&bb.circuits_dir).with_context(|| {
                format!("loading the circuits in {}", bb.circuits_dir.display())
            })?,
        );
        let real = Arc::new(RealCircuits::new(set, Some(bb.bb.clone())));
        let dir = tempfile::tempdir().context("temporary directory")?;
        let shape = vec![self.txs_per_block; self.blocks];
        // The txs carry real client proofs (private kernel tail), made here as a wallet
        // would and checked by the tx processor: not part of what is measured.
        let t = Instant::now();
        let client = real_client_proofs(&real, (self.blocks * self.txs_per_block) as u64)
            .await
            .map_err(|e| anyhow::anyhow!("client proofs of the generated txs: {e}"))?;
        let client_secs = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let blocks = {
            let path = dir.path().join("world-state");
            tokio::task::spawn_blocking(move || {
                execute_epoch_with(&path, TreeHeights::DEVNET, &shape, Some(&client), |_| {})
            })
            .await??
        };
        println!(
            "provemesh bench prove: an epoch of {} × {} txs (client proofs made in {client_secs:.1} s, executed in {:.1} s); one bb agent ({}, CRS {}), one job at a time, {} cores",
            self.blocks,
            self.txs_per_block,
            t.elapsed().as_secs_f64(),
            bb.bb.prover.display(),
            bb.bb.crs_dir.display(),
            std::thread::available_parallelism().map_or(0, |n| n.get()),
        );

        // On the main thread: the server dies with it, even if the benchmark is killed.
        let nats = NatsServer::start().context("starting nats-server")?;
        let topo = Topology::apply(connect(&nats.url()).await?, TopologyConfig::default()).await?;
        let store = ProofStore::open(&ProofStoreConfig {
            location: ProofStoreLocation::File(dir.path().join("proofs")),
        })?;
        let broker = Broker::new(topo, store.clone());
        let mut cfg = AgentConfig::new("bench-bb", &[], 1);
        cfg.record_phases = true;
        cfg.drain_deadline = Duration::from_secs(5);
        let agent_topo = Topology::bind(
            connect(&nats.url()).await?,
            TopologyConfig::default(),
            &cfg.proof_types,
        )
        .await?;
        let agent = Agent::new(
            cfg,
            agent_topo,
            store,
            Arc::new(BbBackend::new(&bb).context("bb backend")?),
        )?;
        let stats = agent.stats();
        let stop = CancellationToken::new();
        let agent_task = tokio::spawn(agent.run(stop.clone()));

        let mut config = EpochConfig::new(EPOCH, PROVER_ID);
        config.expected_root_public_inputs =
            Some(l1_epoch_public_inputs(&blocks, EPOCH, PROVER_ID));
        config.proofs = Proofs::Real(real);
        let t = Instant::now();
        let proving = EpochProver::prove(broker, config, blocks);
        tokio::pin!(proving);
        // A line per job as it is stored: a run takes minutes.
        let mut shown = 0;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let deadline = tokio::time::sleep(self.timeout);
        tokio::pin!(deadline);
        let root = loop {
            tokio::select! {
                r = &mut proving => break r,
                _ = &mut deadline => {
                    stop.cancel();
                    anyhow::bail!("the epoch was not proved within --timeout {:?}", self.timeout);
                }
                _ = tick.tick() => shown = show_new(&stats.phases, shown),
            }
        };
        let root = root.context("proving the epoch")?;
        show_new(&stats.phases, shown);
        let makespan = t.elapsed();
        stop.cancel();
        let _ = agent_task.await;
        drop(nats);

        let phases = stats.phases.lock().map(|v| v.clone()).unwrap_or_default();
        anyhow::ensure!(
            phases.len() >= root.jobs,
            "{} jobs in the epoch, {} proved by the agent",
            root.jobs,
            phases.len()
        );
        println!(
            "  root rollup proof of {} jobs checked against L1's public inputs, {:.0} s from start",
            root.jobs,
            makespan.as_secs_f64()
        );
        let rows = rows(&phases);
        println!("\n{}", table(&rows));
        println!("{}", summary(&rows));
        Ok(())
    }
}

/// Prints the records after the first `shown`; returns how many there are.
fn show_new(phases: &std::sync::Mutex<Vec<JobPhases>>, shown: usize) -> usize {
    let v = phases.lock().map(|v| v.clone()).unwrap_or_default();
    for p in v.iter().skip(shown) {
        let prove = p.backend.as_ref().map_or(0.0, |b| b.prove.as_secs_f64());
        println!(
            "    {:<20} {} pickup → stored {:>6.1} s, bb prove {:>6.1} s",
            p.proof_type.as_str(),
            p.job.short(),
            p.pickup_to_stored.as_secs_f64(),
            prove
        );
    }
    v.len()
}

/// One row of the table: the jobs of a proof type, or (`proof_type: None`) all of them.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub proof_type: Option<ProofType>,
    pub circuit: String,
    pub gates: Option<u64>,
    pub jobs: usize,
    /// Sums over the row's jobs.
    pub witness: Duration,
    pub prove: Duration,
    /// Children verified and the new proof verified, natively (bb verify).
    pub verify: Duration,
    pub pickup_to_stored: Duration,
    /// Highest bb prove peak of the row's jobs, bytes.
    pub peak_rss: u64,
}

impl Row {
    /// Pickup → stored over bb prove, summed over the row's jobs.
    pub fn ratio(&self) -> f64 {
        self.pickup_to_stored.as_secs_f64() / self.prove.as_secs_f64()
    }

    pub fn meets_floor(&self) -> bool {
        self.ratio() <= OVERHEAD_FLOOR
    }

    fn add(&mut self, p: &JobPhases) {
        self.jobs += 1;
        self.pickup_to_stored += p.pickup_to_stored;
        if let Some(b) = &p.backend {
            self.witness += b.witness;
            self.prove += b.prove;
            self.verify += b.children_verify + b.self_verify;
            self.peak_rss = self.peak_rss.max(b.prove_peak_rss);
        }
    }
}

/// A row per proof type proved (leaves first), then the total.
pub fn rows(phases: &[JobPhases]) -> Vec<Row> {
    let empty = |proof_type, circuit: String, gates| Row {
        proof_type,
        circuit,
        gates,
        jobs: 0,
        witness: Duration::ZERO,
        prove: Duration::ZERO,
        verify: Duration::ZERO,
        pickup_to_stored: Duration::ZERO,
        peak_rss: 0,
    };
    let mut out = Vec::new();
    let mut total = empty(None, "total".into(), None);
    for t in ProofType::ALL {
        let mut of_type = phases.iter().filter(|p| p.proof_type == t).peekable();
        let Some(first) = of_type.peek() else {
            continue;
        };
        let (circuit, gates) = match &first.backend {
            Some(b) => (b.circuit.clone(), Some(b.gates)),
            None => (String::from("?"), None),
        };
        let mut row = empty(Some(t), circuit, gates);
        for p in of_type {
            row.add(p);
            total.add(p);
        }
        out.push(row);
    }
    out.push(total);
    out
}

/// `455,751 (2^19)`: the gate count and the dyadic size bb proves at.
fn gates(g: u64) -> String {
    let digits = g.to_string();
    let mut s = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            s.push(',');
        }
        s.push(c);
    }
    format!("{s} (2^{})", g.max(2).next_power_of_two().trailing_zeros())
}

/// The table: per proof type, times are means per job; the total row sums every job.
pub fn table(rows: &[Row]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "proof type".to_string(),
        "circuit".into(),
        "gates (2^k)".into(),
        "jobs".into(),
        "witness gen (s)".into(),
        "bb prove (s)".into(),
        "peak memory (MiB)".into(),
        "bb verify (s)".into(),
        "pickup→stored (s)".into(),
        "overhead ratio".into(),
        format!("≤ {OVERHEAD_FLOOR:.2}"),
    ]);
    for r in rows {
        // Per-type rows: means per job; the total: sums.
        let n = if r.proof_type.is_some() {
            r.jobs.max(1) as f64
        } else {
            1.0
        };
        let s = |d: Duration| format!("{:.2}", d.as_secs_f64() / n);
        t.add_row(vec![
            r.proof_type
                .map_or("total".into(), |p| p.as_str().to_string()),
            if r.proof_type.is_some() {
                r.circuit.clone()
            } else {
                String::new()
            },
            r.gates.map(gates).unwrap_or_default(),
            r.jobs.to_string(),
            s(r.witness),
            s(r.prove),
            (r.peak_rss >> 20).to_string(),
            s(r.verify),
            s(r.pickup_to_stored),
            format!("{:.3}", r.ratio()),
            if r.meets_floor() { "yes" } else { "no" }.into(),
        ]);
    }
    t
}

/// The lines under the table: the floor, which rows meet it, where the rest went.
pub fn summary(rows: &[Row]) -> String {
    let types: Vec<&Row> = rows.iter().filter(|r| r.proof_type.is_some()).collect();
    let met = types.iter().filter(|r| r.meets_floor()).count();
    let mut lines = vec![
        "times per job (mean) for each proof type; the total row sums every job; peak memory: bb prove's VmHWM".to_string(),
        format!(
            "floor: pickup→stored ≤ {OVERHEAD_FLOOR:.2} × bb prove of the same job — met by {met} of {} proof types",
            types.len()
        ),
    ];
    if let Some(total) = rows.iter().find(|r| r.proof_type.is_none()) {
        let over = total.pickup_to_stored.saturating_sub(total.prove);
        let other = over.saturating_sub(total.witness + total.verify);
        lines.push(format!(
            "overall {:.3}×: {:.1} s over {:.1} s of bb prove — witness generation {:.1} s, bb verify (children, own proof) {:.1} s, the rest (files, store, scheduling) {:.1} s",
            total.ratio(),
            over.as_secs_f64(),
            total.prove.as_secs_f64(),
            total.witness.as_secs_f64(),
            total.verify.as_secs_f64(),
            other.as_secs_f64()
        ));
    }
    lines.join("\n")
}

async fn connect(url: &str) -> anyhow::Result<async_nats::jetstream::Context> {
    Ok(async_nats::jetstream::new(async_nats::connect(url).await?))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

    use super::*;
    use clap::Parser;
    use provemesh_agent::ProveStats;
    use provemesh_common::JobId;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        bench: ProveBench,
    }

    fn parse(args: &[&str]) -> ProveBench {
        Cli::try_parse_from(std::iter::once("prove").chain(args.iter().copied()))
            .unwrap()
            .bench
    }

    #[test]
    fn defaults_prove_every_circuit_and_out_of_range_flags_are_refused_by_name() {
        let b = parse(&[]);
        assert_eq!((b.blocks, b.txs_per_block), (2, 2));
        assert!(b.check().is_ok());
        for (args, flag, why) in [
            (&["--blocks", "0"][..], "--blocks", "at least one block"),
            (&["--blocks", "17"], "--blocks", "at most 16 blocks"),
            (
                &["--txs-per-block", "9"],
                "--txs-per-block",
                "at most 8 txs",
            ),
        ] {
            let e = parse(args).check().unwrap_err();
            assert_eq!(e.flag, flag, "{args:?}");
            assert!(e.to_string().contains(why), "{args:?}: {e}");
        }
        assert!(parse(&["--blocks", "16", "--txs-per-block", "8"])
            .check()
            .is_ok());
        // Blocks without txs close with the empty block root.
        assert!(parse(&["--txs-per-block", "0"]).check().is_ok());
    }

    #[tokio::test]
    async fn missing_bb_or_crs_is_refused_naming_the_scripts_that_install_them() {
        let tmp = tempfile::tempdir().unwrap();
        let b = parse(&["--bb-binary-path", tmp.path().join("bb").to_str().unwrap()]);
        let e = format!("{:#}", b.run().await.unwrap_err());
        assert!(
            e.contains("scripts/bootstrap") && e.contains("BB_BINARY_PATH"),
            "{e}"
        );

        let fake = tmp.path().join("fake-bb");
        std::fs::write(&fake, "#!/bin/sh\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let fake = fake.to_str().unwrap();
        let b = parse(&[
            "--bb-binary-path",
            fake,
            "--bb-verifier-path",
            fake,
            "--crs-path",
            tmp.path().join("no-crs").to_str().unwrap(),
        ]);
        let e = format!("{:#}", b.run().await.unwrap_err());
        assert!(e.contains("scripts/crs") && e.contains("CRS_PATH"), "{e}");

        // Flags are refused before bb is even looked for.
        let e = parse(&["--txs-per-block", "9", "--bb-binary-path", fake])
            .run()
            .await
            .unwrap_err();
        assert!(e.to_string().contains("--txs-per-block"), "{e}");
    }

    fn job(t: ProofType, i: u8, stored_ms: u64, prove_ms: u64) -> JobPhases {
        JobPhases {
            job: JobId([i; 32]),
            proof_type: t,
            epoch: EPOCH,
            attempt: 1,
            before_backend: Duration::from_millis(1),
            backend_call: Duration::from_millis(stored_ms - 2),
            store: Duration::from_millis(1),
            pickup_to_stored: Duration::from_millis(stored_ms),
            backend: Some(ProveStats {
                circuit: provemesh_bb::circuits::circuits_for(t)[0].to_string(),
                gates: 455_751,
                children_verify: Duration::from_millis(100),
                witness: Duration::from_millis(300),
                prove: Duration::from_millis(prove_ms),
                prove_peak_rss: u64::from(i) << 20,
                self_verify: Duration::from_millis(100),
                total: Duration::from_millis(stored_ms - 2),
            }),
        }
    }

    #[test]
    fn rows_group_by_type_and_the_table_says_which_meet_the_floor() {
        let phases = vec![
            job(ProofType::MergeRollup, 1, 10_400, 10_000),
            job(ProofType::PrivateBaseRollup, 2, 12_000, 10_000),
            job(ProofType::MergeRollup, 3, 10_600, 10_000),
        ];
        let rows = rows(&phases);
        // Leaves first, then the total.
        let types: Vec<_> = rows.iter().map(|r| r.proof_type).collect();
        assert_eq!(
            types,
            [
                Some(ProofType::PrivateBaseRollup),
                Some(ProofType::MergeRollup),
                None
            ]
        );
        let merge = &rows[1];
        assert_eq!((merge.jobs, merge.peak_rss), (2, 3 << 20));
        assert!((merge.ratio() - 1.05).abs() < 1e-9 && merge.meets_floor());
        assert!(!rows[0].meets_floor(), "1.2× is over the floor");
        assert_eq!(rows[2].jobs, 3);
        assert!((rows[2].ratio() - 33.0 / 30.0).abs() < 1e-9);

        let text = table(&rows).to_string();
        for want in [
            "merge_rollup",
            "455,751 (2^19)",
            "10.50",
            "1.050",
            "1.200",
            "total",
            "≤ 1.05",
        ] {
            assert!(text.contains(want), "{want} missing from\n{text}");
        }
        let s = summary(&rows);
        assert!(s.contains("met by 1 of 2 proof types"), "{s}");
        assert!(s.contains("overall 1.100×"), "{s}");
        assert_eq!(gates(67_199), "67,199 (2^17)");
    }
}
