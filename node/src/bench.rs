//! `provemesh bench mesh`: the job mesh's throughput and dispatch latency, against a raw
//! JetStream publish → pull → publish-result → ack loop measured in the same run, on the
//! same server, with the same storage, as the baseline. Both read their results the way
//! the prover node's orchestrator does: an ordered consumer, nothing acknowledged.
//!
//! The baseline's messages carry as many bytes as the mesh's: a job's inputs and a result's
//! proof reference have to travel whatever carries them, so the ratio says what the mesh
//! costs beyond moving them. A second raw run per round, with empty messages, shows what
//! moving them costs.
//!
//! Proofs are zero-cost simulated ones, so what is measured is the mesh itself: envelope
//! codec, priority sweep across the per-type consumers, doorbells, proof store writes
//! (in memory here), status updates, result publishing and acknowledgement.

use anyhow::Context as _;
use async_nats::jetstream;
use bench_raw::RawShape;
use clap::{Args, Subcommand};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use provemesh_agent::{Agent, AgentConfig, SimulatedBackend, SimulatedConfig};
use provemesh_broker::{Broker, NewJob};
use provemesh_common::circuit::SimulatedCircuitInputs;
use provemesh_common::{AgentId, EpochNumber, JobOutcome, JobResult, ProofRef, ProofType};
use provemesh_harness::NatsServer;
use provemesh_nats::{Topology, TopologyConfig};
use provemesh_store::ProofStore;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

// A child of this module kept in its own file beside it (no change to the binary's root).
#[path = "bench_epoch.rs"]
mod bench_epoch;
#[path = "bench_prove.rs"]
mod bench_prove;
#[path = "bench_raw.rs"]
mod bench_raw;

#[derive(Debug, Clone, Subcommand)]
pub enum BenchCommand {
    /// Throughput and dispatch latency of the job mesh vs a raw JetStream loop.
    Mesh(MeshBench),
    /// World state insert throughput per tree and tx processor throughput.
    State(crate::bench_state::StateBench),
    /// Epochs of real blocks proved through the orchestrator: makespan vs the lower bound.
    Epoch(bench_epoch::EpochBench),
    /// Real proofs per proof type (gates, witness, bb prove, peak memory) and the agent's
    /// overhead from job pickup to proof stored over bb prove (needs bb and the devnet CRS).
    Prove(bench_prove::ProveBench),
}

impl BenchCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            BenchCommand::Mesh(m) => m.run().await,
            BenchCommand::State(s) => s.run().await,
            BenchCommand::Epoch(e) => e.run().await,
            BenchCommand::Prove(p) => p.run().await,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct MeshBench {
    /// Agent counts to measure (comma separated).
    #[arg(long, value_delimiter = ',', default_value = "1,4,16,64")]
    pub agents: Vec<usize>,
    /// Jobs per throughput run.
    #[arg(long, default_value_t = 4000)]
    pub jobs: usize,
    /// Jobs each agent (and each raw worker) handles at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Enqueue rate of the latency runs, jobs per second.
    #[arg(long, default_value_t = 100)]
    pub rate: u32,
    /// Jobs per latency run.
    #[arg(long, default_value_t = 300)]
    pub latency_jobs: usize,
    /// Throughput runs per agent count, mesh and raw alternating; the table shows medians.
    /// A shared host's speed drifts by tens of percent within seconds, and a mesh run and
    /// the raw run beside it see the same drift, so their ratio is taken per round.
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Seconds the idle fleet (agents and no jobs) is watched, once every agent has
    /// counted the fleet.
    #[arg(long, default_value_t = 6)]
    pub idle_secs: u64,
}

struct Row {
    agents: usize,
    mesh_cost: Meter,
    raw_cost: Meter,
    mesh_tps: f64,
    /// Agent pull requests per job, and those answered with no job.
    mesh_pulls: (f64, f64),
    /// The raw loop carrying the mesh's bytes (the baseline), and carrying none.
    raw_tps: f64,
    raw_empty_tps: f64,
    /// Mesh / raw throughput of each round: median, lowest, highest; against the
    /// baseline, and against the raw loop's empty messages.
    ratio: (f64, f64, f64),
    ratio_empty: (f64, f64, f64),
    mesh_lat: (f64, f64),
    /// With no jobs at all: pull requests per second the idle agents send (their safety
    /// sweeps) and the server CPU they cost, as a share of one core.
    idle: (f64, f64),
    raw_lat: (f64, f64),
}

impl MeshBench {
    pub async fn run(self) -> anyhow::Result<()> {
        if self.agents.iter().any(|&a| a == 0 || a > 512)
            || self.jobs == 0
            || self.concurrency == 0
            || self.rate == 0
            || self.rounds == 0
            || self.idle_secs == 0
        {
            anyhow::bail!(
                "agents must be 1..=512 and jobs, concurrency, rate, rounds and idle-secs at least 1"
            );
        }
        // On the main thread: the server dies with it, even if the benchmark is killed.
        let nats = Arc::new(NatsServer::start().context("starting nats-server")?);
        // The runs on the runtime's workers, where the node's and the agents' loops run: the
        // main thread blocks on its future, and a results reader there would be woken across
        // threads for every result (this cost the mesh and the raw loop alike).
        let server = nats.clone();
        let measured = tokio::spawn(async move { self.measure(&server).await }).await;
        drop(nats);
        measured.context("benchmark stopped abnormally")?
    }

    async fn measure(self, nats: &NatsServer) -> anyhow::Result<()> {
        let url = nats.url();
        let shape = mesh_message_sizes()?;
        println!(
            "provemesh bench mesh: nats-server (file storage) on {url}; {} rounds of {} jobs per throughput run, concurrency {} per agent, latency at {} jobs/s",
            self.rounds, self.jobs, self.concurrency, self.rate
        );
        println!(
            "raw baseline: {}-byte jobs and {}-byte results, the size of the mesh's own (headers and payload); a second raw run per round carries empty messages",
            shape.job_len, shape.result_len
        );
        let topo = Topology::apply(connect(&url).await?, TopologyConfig::default()).await?;
        let store = ProofStore::in_memory();
        let broker = Broker::new(topo, store.clone());
        let mut rows = Vec::new();
        let mut epoch = 1u64;
        for &n in &self.agents {
            let (mut mesh_cost, mut raw_cost) = (Meter::ZERO, Meter::ZERO);
            let (mut mesh_tps, mut raw_tps, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
            let (mut raw_empty_tps, mut ratios_empty) = (Vec::new(), Vec::new());
            let mut pulls = (0.0, 0.0);
            for _ in 0..self.rounds {
                let (tps, p, cost) = self
                    .mesh_throughput(&url, nats, &broker, &store, n, EpochNumber(epoch))
                    .await?;
                mesh_cost = mesh_cost.plus(cost);
                epoch += 1;
                let (raw, cost) = self.raw_throughput(&url, nats, n, epoch, shape).await?;
                raw_cost = raw_cost.plus(cost);
                epoch += 1;
                let (raw_empty, _) = self
                    .raw_throughput(&url, nats, n, epoch, RawShape::EMPTY)
                    .await?;
                epoch += 1;
                println!(
                    "  {n:>3} agents: mesh {tps:>7.0} jobs/s, raw {raw:>7.0} jobs/s, raw empty {raw_empty:>7.0} jobs/s"
                );
                pulls = (pulls.0 + p.0, pulls.1 + p.1);
                mesh_tps.push(tps);
                raw_tps.push(raw);
                raw_empty_tps.push(raw_empty);
                ratios.push(tps / raw);
                ratios_empty.push(tps / raw_empty);
            }
            let idle = self.mesh_idle(&url, nats, &store, n).await?;
            let mesh_lat = self
                .mesh_latency(&url, &broker, &store, n, EpochNumber(epoch))
                .await?;
            let raw_lat = self.raw_latency(&url, n, epoch + 1, shape).await?;
            epoch += 2;
            println!(
                "  {n:>3} agents: dispatch p99 mesh {:.2} ms, raw {:.2} ms",
                mesh_lat.1, raw_lat.1
            );
            let jobs = self.jobs * self.rounds;
            let rounds = self.rounds as f64;
            rows.push(Row {
                agents: n,
                mesh_cost: mesh_cost.per_job(jobs),
                raw_cost: raw_cost.per_job(jobs),
                mesh_tps: median(&mut mesh_tps),
                mesh_pulls: (pulls.0 / rounds, pulls.1 / rounds),
                raw_tps: median(&mut raw_tps),
                raw_empty_tps: median(&mut raw_empty_tps),
                ratio: spread(&mut ratios),
                ratio_empty: spread(&mut ratios_empty),
                mesh_lat,
                raw_lat,
                idle,
            });
        }
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
            "agents",
            "mesh jobs/s",
            "raw JetStream jobs/s",
            "mesh / raw (lowest–highest round)",
            "raw jobs/s, empty msgs",
            "mesh / raw empty",
            "mesh dispatch p50 / p99 (ms)",
            "raw dispatch p50 / p99 (ms)",
            "server msgs/job mesh / raw",
            "agent pulls/job (empty)",
            "CPU µs/job server + bench, mesh / raw",
            "idle agents: pulls/s, server CPU",
        ]);
        for r in &rows {
            t.add_row(vec![
                r.agents.to_string(),
                format!("{:.0}", r.mesh_tps),
                format!("{:.0}", r.raw_tps),
                percent_spread(r.ratio),
                format!("{:.0}", r.raw_empty_tps),
                percent_spread(r.ratio_empty),
                format!("{:.2} / {:.2}", r.mesh_lat.0, r.mesh_lat.1),
                format!("{:.2} / {:.2}", r.raw_lat.0, r.raw_lat.1),
                format!("{:.1} / {:.1}", r.mesh_cost.msgs, r.raw_cost.msgs),
                format!("{:.2} ({:.2})", r.mesh_pulls.0, r.mesh_pulls.1),
                format!(
                    "{:.0} + {:.0} / {:.0} + {:.0}",
                    r.mesh_cost.server_cpu * 1e6,
                    r.mesh_cost.bench_cpu * 1e6,
                    r.raw_cost.server_cpu * 1e6,
                    r.raw_cost.bench_cpu * 1e6
                ),
                format!("{:.0}, {:.1}%", r.idle.0, 100.0 * r.idle.1),
            ]);
        }
        println!("\n{t}");
        Ok(())
    }

    async fn start_agents(
        &self,
        url: &str,
        store: &ProofStore,
        n: usize,
        record: bool,
    ) -> anyhow::Result<(
        CancellationToken,
        Vec<tokio::task::JoinHandle<Arc<provemesh_agent::AgentStats>>>,
        Vec<Arc<provemesh_agent::AgentStats>>,
    )> {
        let stop = CancellationToken::new();
        let mut handles = Vec::new();
        let mut stats = Vec::new();
        for i in 0..n {
            let mut cfg = AgentConfig::new(format!("bench-{i}"), &[], self.concurrency);
            cfg.record_dispatch = record;
            cfg.drain_deadline = Duration::from_secs(5);
            let topo = Topology::bind(
                connect(url).await?,
                TopologyConfig::default(),
                &cfg.proof_types,
            )
            .await?;
            let agent = Agent::new(
                cfg,
                topo,
                store.clone(),
                Arc::new(SimulatedBackend::new(SimulatedConfig::instant())),
            )?;
            stats.push(agent.stats());
            handles.push(tokio::spawn(agent.run(stop.clone())));
        }
        Ok((stop, handles, stats))
    }

    /// Throughput of `n` agents, their pulls per job, and what the timed window (first
    /// enqueue to last result) cost the server and this process. Connecting and binding the
    /// agents, and stopping them, are outside it, as the raw workers' are; what a started
    /// agent does in its first moments (its first sweep, joining its doorbells, watching
    /// cancellations) may overlap the window's start.
    async fn mesh_throughput(
        &self,
        url: &str,
        nats: &NatsServer,
        broker: &Broker,
        store: &ProofStore,
        n: usize,
        epoch: EpochNumber,
    ) -> anyhow::Result<(f64, (f64, f64), Meter)> {
        let (stop, handles, stats) = self.start_agents(url, store, n, false).await?;
        let mut results = broker.epoch_results(epoch).await?;
        let jobs: Vec<NewJob> = (0..self.jobs).map(|i| bench_job(epoch, i)).collect();
        let before = Meter::read(nats);
        let t0 = Instant::now();
        let b = broker.clone();
        let producer = tokio::spawn(async move {
            for chunk in jobs.chunks(1000) {
                b.enqueue_many(chunk.to_vec()).await?;
            }
            Ok::<_, provemesh_broker::BrokerError>(())
        });
        await_results(
            &mut results,
            self.jobs,
            Duration::from_secs(60),
            "mesh throughput",
        )
        .await?;
        let elapsed = t0.elapsed();
        let cost = Meter::read(nats).minus(&before);
        producer.await??;
        stop_agents(stop, handles).await?;
        let per_job = |f: fn(&provemesh_agent::AgentStats) -> &std::sync::atomic::AtomicU64| {
            stats.iter().map(|s| s.get(f)).sum::<u64>() as f64 / self.jobs as f64
        };
        Ok((
            self.jobs as f64 / elapsed.as_secs_f64(),
            (per_job(|s| &s.pulls), per_job(|s| &s.empty_pulls)),
            cost,
        ))
    }

    /// What `n` agents cost while there is no job at all: their pulls per second and the
    /// server's CPU (share of one core), over `idle_secs` once every agent counted them.
    async fn mesh_idle(
        &self,
        url: &str,
        nats: &NatsServer,
        store: &ProofStore,
        n: usize,
    ) -> anyhow::Result<(f64, f64)> {
        let (stop, handles, stats) = self.start_agents(url, store, n, false).await?;
        // Until each has counted the whole fleet (agents recount 1, 2, 4… s after they
        // start), then past the sweeps they had planned before.
        let counted = Instant::now();
        while stats.iter().any(|s| s.get(|s| &s.fleet) < n as u64)
            && counted.elapsed() < Duration::from_secs(30)
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let pulls = || stats.iter().map(|s| s.get(|s| &s.pulls)).sum::<u64>();
        let (before, cpu) = (pulls(), Meter::read(nats));
        let t0 = Instant::now();
        tokio::time::sleep(Duration::from_secs(self.idle_secs)).await;
        let secs = t0.elapsed().as_secs_f64();
        let cost = Meter::read(nats).minus(&cpu);
        let after = pulls();
        stop_agents(stop, handles).await?;
        Ok(((after - before) as f64 / secs, cost.server_cpu / secs))
    }

    async fn mesh_latency(
        &self,
        url: &str,
        broker: &Broker,
        store: &ProofStore,
        n: usize,
        epoch: EpochNumber,
    ) -> anyhow::Result<(f64, f64)> {
        let (stop, handles, stats) = self.start_agents(url, store, n, true).await?;
        tokio::time::sleep(Duration::from_millis(200)).await; // agents idle and listening
        let mut results = broker.epoch_results(epoch).await?;
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / self.rate as f64));
        for i in 0..self.latency_jobs {
            tick.tick().await;
            broker.enqueue(bench_job(epoch, i)).await?;
        }
        await_results(
            &mut results,
            self.latency_jobs,
            Duration::from_secs(30),
            "mesh latency",
        )
        .await?;
        stop_agents(stop, handles).await?;
        let mut samples: Vec<u64> = stats
            .iter()
            .flat_map(|s| s.dispatch_us.lock().map(|v| v.clone()).unwrap_or_default())
            .collect();
        Ok(percentiles(&mut samples))
    }
}

/// What a run cost: server messages (in + out) and CPU seconds of the server and of this
/// process (broker, agents and collector all run here), as totals or per job. CPU per job
/// says where a throughput gap comes from, and is steadier than throughput on a busy host.
#[derive(Debug, Clone, Copy)]
pub(super) struct Meter {
    msgs: f64,
    server_cpu: f64,
    bench_cpu: f64,
}

impl Meter {
    pub(super) fn read(nats: &NatsServer) -> Self {
        Self {
            msgs: server_msgs(nats),
            server_cpu: cpu_seconds(nats.pid()),
            bench_cpu: cpu_seconds(None),
        }
    }

    const ZERO: Meter = Meter {
        msgs: 0.0,
        server_cpu: 0.0,
        bench_cpu: 0.0,
    };

    pub(super) fn minus(&self, before: &Meter) -> Self {
        Self {
            msgs: self.msgs - before.msgs,
            server_cpu: self.server_cpu - before.server_cpu,
            bench_cpu: self.bench_cpu - before.bench_cpu,
        }
    }

    fn plus(&self, other: Meter) -> Self {
        Self {
            msgs: self.msgs + other.msgs,
            server_cpu: self.server_cpu + other.server_cpu,
            bench_cpu: self.bench_cpu + other.bench_cpu,
        }
    }

    fn per_job(&self, jobs: usize) -> Self {
        let n = jobs as f64;
        Self {
            msgs: self.msgs / n,
            server_cpu: self.server_cpu / n,
            bench_cpu: self.bench_cpu / n,
        }
    }
}

/// CPU seconds (user + system) a process has used so far, from `/proc/<pid>/stat`; NaN
/// where that cannot be read.
fn cpu_seconds(pid: Option<u32>) -> f64 {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let Ok(stat) = std::fs::read_to_string(path) else {
        return f64::NAN;
    };
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        f.get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    // USER_HZ is 100 on Linux.
    (ticks(11) + ticks(12)) / 100.0
}

/// Messages in plus out counted by the server so far (its `/varz`).
fn server_msgs(nats: &NatsServer) -> f64 {
    let v: serde_json::Value = nats
        .monitor("/varz")
        .and_then(|b| serde_json::from_str(&b).ok())
        .unwrap_or_default();
    v["in_msgs"].as_f64().unwrap_or(0.0) + v["out_msgs"].as_f64().unwrap_or(0.0)
}

/// Reads the epoch's results as the prover node's orchestrator does (an ordered consumer
/// of the epoch's results, nothing acknowledged) until `count` distinct jobs reported;
/// fails if no result comes for `stall`.
async fn await_results(
    results: &mut provemesh_broker::EpochResults,
    count: usize,
    stall: Duration,
    run: &str,
) -> anyhow::Result<()> {
    let mut seen = std::collections::HashSet::new();
    while seen.len() < count {
        let event = tokio::time::timeout(stall, results.next())
            .await
            .with_context(|| format!("{run} run stalled"))??;
        if let provemesh_broker::EpochEvent::Result(r) = event {
            seen.insert(r.id);
        }
    }
    Ok(())
}

async fn stop_agents(
    stop: CancellationToken,
    handles: Vec<tokio::task::JoinHandle<Arc<provemesh_agent::AgentStats>>>,
) -> anyhow::Result<()> {
    stop.cancel();
    for h in handles {
        h.await?;
    }
    Ok(())
}

async fn connect(url: &str) -> anyhow::Result<jetstream::Context> {
    Ok(jetstream::new(async_nats::connect(url).await?))
}

fn bench_job(epoch: EpochNumber, i: usize) -> NewJob {
    let mut pi = [0u8; 32];
    pi[..8].copy_from_slice(&(i as u64).to_be_bytes());
    pi[8..16].copy_from_slice(&epoch.0.to_be_bytes());
    let inputs = SimulatedCircuitInputs {
        public_inputs: vec![pi],
        ..Default::default()
    };
    NewJob {
        epoch,
        proof_type: ProofType::ALL[i % ProofType::ALL.len()],
        inputs: inputs.encode().map(Into::into).unwrap_or_default(),
        deadline_ms: None,
    }
}

/// The raw baseline's message sizes: those of the mesh's job and result messages for a
/// bench job, made by the mesh's own encoders.
fn mesh_message_sizes() -> anyhow::Result<RawShape> {
    let epoch = EpochNumber(1);
    let envelope = bench_job(epoch, 0).inline_envelope(provemesh_common::unix_micros());
    let (id, proof_type) = (envelope.id, envelope.proof_type);
    let result = JobResult {
        id,
        proof_type,
        epoch,
        attempt: 1,
        agent: AgentId("bench-0".into()),
        outcome: JobOutcome::Proved(ProofRef {
            key: ProofStore::proof_key(epoch, &id),
            size: SimulatedConfig::instant().proof_size as u64,
            sha256: [0; 32],
        }),
        prove_ms: 0,
        finished_at_ms: provemesh_common::unix_millis(),
    };
    Ok(RawShape {
        job_len: provemesh_nats::messages::job_message(&envelope)?.stored_len(),
        result_len: provemesh_nats::messages::result_message(&result)?.stored_len(),
    })
}

/// Median, lowest and highest.
fn spread(v: &mut [f64]) -> (f64, f64, f64) {
    (
        median(v),
        v.iter().copied().fold(f64::INFINITY, f64::min),
        v.iter().copied().fold(0.0, f64::max),
    )
}

fn percent_spread((median, low, high): (f64, f64, f64)) -> String {
    format!(
        "{:.0}% ({:.0}–{:.0}%)",
        100.0 * median,
        100.0 * low,
        100.0 * high
    )
}

/// The middle value (the mean of the middle two for an even count); NaN when empty.
fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_unstable_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// (p50, p99) in milliseconds.
fn percentiles(samples: &mut [u64]) -> (f64, f64) {
    if samples.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    samples.sort_unstable();
    let at = |q: f64| {
        samples[((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1] as f64
            / 1000.0
    };
    (at(0.50), at(0.99))
}
