//! `provemesh bench mesh`: the job mesh's throughput and dispatch latency, against a raw
//! JetStream publish → pull → ack → publish-result loop measured in the same run, on the
//! same server, with the same storage, as the baseline.
//!
//! Proofs are zero-cost simulated ones, so what is measured is the mesh itself: envelope
//! codec, priority sweep across the per-type consumers, doorbells, proof store writes
//! (in memory here), status updates, result publishing and acknowledgement.

use anyhow::Context as _;
use async_nats::jetstream::{self, consumer::pull, stream};
use clap::{Args, Subcommand};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use futures::StreamExt;
use provemesh_agent::{Agent, AgentConfig, SimulatedBackend, SimulatedConfig};
use provemesh_broker::{Broker, NewJob};
use provemesh_common::circuit::SimulatedCircuitInputs;
use provemesh_common::{unix_micros, EpochNumber, ProofType};
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
}

struct Row {
    agents: usize,
    mesh_cost: Meter,
    raw_cost: Meter,
    mesh_tps: f64,
    raw_tps: f64,
    mesh_lat: (f64, f64),
    raw_lat: (f64, f64),
}

impl MeshBench {
    pub async fn run(self) -> anyhow::Result<()> {
        if self.agents.iter().any(|&a| a == 0 || a > 512)
            || self.jobs == 0
            || self.concurrency == 0
            || self.rate == 0
        {
            anyhow::bail!("agents must be 1..=512 and jobs, concurrency, rate at least 1");
        }
        // On the main thread: the server dies with it, even if the benchmark is killed.
        let nats = NatsServer::start().context("starting nats-server")?;
        let url = nats.url();
        println!(
            "provemesh bench mesh: nats-server (file storage) on {url}; {} jobs per throughput run, concurrency {} per agent, latency at {} jobs/s",
            self.jobs, self.concurrency, self.rate
        );
        let topo = Topology::apply(connect(&url).await?, TopologyConfig::default()).await?;
        let store = ProofStore::in_memory();
        let broker = Broker::new(topo, store.clone());
        let mut rows = Vec::new();
        let mut epoch = 1u64;
        for &n in &self.agents {
            let before = Meter::read(&nats);
            let mesh_tps = self
                .mesh_throughput(&url, &broker, &store, n, EpochNumber(epoch))
                .await?;
            let mesh_cost = Meter::read(&nats).per_job_since(&before, self.jobs);
            epoch += 1;
            let mesh_lat = self
                .mesh_latency(&url, &broker, &store, n, EpochNumber(epoch))
                .await?;
            epoch += 1;
            let before = Meter::read(&nats);
            let raw_tps = self.raw_throughput(&url, n, epoch).await?;
            let raw_cost = Meter::read(&nats).per_job_since(&before, self.jobs);
            let raw_lat = self.raw_latency(&url, n, epoch + 1).await?;
            epoch += 2;
            println!(
                "  {n:>3} agents: mesh {mesh_tps:>7.0} jobs/s, raw {raw_tps:>7.0} jobs/s; dispatch p99 mesh {:.2} ms, raw {:.2} ms",
                mesh_lat.1, raw_lat.1
            );
            rows.push(Row {
                agents: n,
                mesh_cost,
                raw_cost,
                mesh_tps,
                raw_tps,
                mesh_lat,
                raw_lat,
            });
        }
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
            "agents",
            "mesh jobs/s",
            "raw JetStream jobs/s",
            "mesh / raw",
            "mesh dispatch p50 / p99 (ms)",
            "raw dispatch p50 / p99 (ms)",
            "server msgs/job mesh / raw",
            "CPU µs/job server + bench, mesh / raw",
        ]);
        for r in &rows {
            t.add_row(vec![
                r.agents.to_string(),
                format!("{:.0}", r.mesh_tps),
                format!("{:.0}", r.raw_tps),
                format!("{:.0}%", 100.0 * r.mesh_tps / r.raw_tps),
                format!("{:.2} / {:.2}", r.mesh_lat.0, r.mesh_lat.1),
                format!("{:.2} / {:.2}", r.raw_lat.0, r.raw_lat.1),
                format!("{:.1} / {:.1}", r.mesh_cost.msgs, r.raw_cost.msgs),
                format!(
                    "{:.0} + {:.0} / {:.0} + {:.0}",
                    r.mesh_cost.server_cpu * 1e6,
                    r.mesh_cost.bench_cpu * 1e6,
                    r.raw_cost.server_cpu * 1e6,
                    r.raw_cost.bench_cpu * 1e6
                ),
            ]);
        }
        println!("\n{t}");
        drop(nats);
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

    async fn mesh_throughput(
        &self,
        url: &str,
        broker: &Broker,
        store: &ProofStore,
        n: usize,
        epoch: EpochNumber,
    ) -> anyhow::Result<f64> {
        let (stop, handles, _) = self.start_agents(url, store, n, false).await?;
        let mut results = broker
            .results(&format!("bench-{epoch}"), Some(epoch))
            .await?;
        let jobs: Vec<NewJob> = (0..self.jobs).map(|i| bench_job(epoch, i)).collect();
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
        producer.await??;
        stop_agents(stop, handles).await?;
        Ok(self.jobs as f64 / elapsed.as_secs_f64())
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
        let mut results = broker
            .results(&format!("bench-{epoch}"), Some(epoch))
            .await?;
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

    async fn raw_setup(
        &self,
        url: &str,
        run: u64,
    ) -> anyhow::Result<(stream::Stream, stream::Stream)> {
        let js = connect(url).await?;
        let jobs = js
            .create_stream(stream::Config {
                name: format!("RAW_JOBS_{run}"),
                subjects: vec![format!("raw{run}.job")],
                retention: stream::RetentionPolicy::WorkQueue,
                ..Default::default()
            })
            .await?;
        let res = js
            .create_stream(stream::Config {
                name: format!("RAW_RES_{run}"),
                subjects: vec![format!("raw{run}.res")],
                ..Default::default()
            })
            .await?;
        jobs.create_consumer(pull::Config {
            durable_name: Some("w".into()),
            ack_wait: Duration::from_secs(30),
            max_ack_pending: 100_000,
            ..Default::default()
        })
        .await?;
        Ok((jobs, res))
    }

    /// Raw workers: long-poll the one consumer, publish a result per message (waiting for
    /// the server's ack), then ack the message.
    async fn raw_workers(
        &self,
        url: &str,
        run: u64,
        n: usize,
        lat: Arc<std::sync::Mutex<Vec<u64>>>,
    ) -> anyhow::Result<(CancellationToken, Vec<tokio::task::JoinHandle<()>>)> {
        let stop = CancellationToken::new();
        let mut handles = Vec::new();
        for _ in 0..n {
            let js = connect(url).await?;
            let consumer: jetstream::consumer::PullConsumer = js
                .get_stream(format!("RAW_JOBS_{run}"))
                .await?
                .get_consumer("w")
                .await
                .map_err(|e| anyhow::anyhow!(e))?;
            let (stop, lat, conc) = (stop.clone(), lat.clone(), self.concurrency);
            handles.push(tokio::spawn(async move {
                while !stop.is_cancelled() {
                    let Ok(mut batch) = consumer
                        .batch()
                        .max_messages(conc)
                        .expires(Duration::from_millis(200))
                        .messages()
                        .await
                    else {
                        continue;
                    };
                    let mut tasks = Vec::new();
                    while let Some(Ok(m)) = batch.next().await {
                        if let Ok(ts) = std::str::from_utf8(&m.payload).unwrap_or("").parse::<u64>()
                        {
                            if let Ok(mut v) = lat.lock() {
                                v.push(unix_micros().saturating_sub(ts));
                            }
                        }
                        let js = js.clone();
                        tasks.push(tokio::spawn(async move {
                            if let Ok(ack) =
                                js.publish(format!("raw{run}.res"), m.payload.clone()).await
                            {
                                let _ = ack.await;
                            }
                            let _ = m.ack().await;
                        }));
                    }
                    for t in tasks {
                        let _ = t.await;
                    }
                }
            }));
        }
        Ok((stop, handles))
    }

    async fn raw_collect(&self, url: &str, run: u64, count: usize) -> anyhow::Result<()> {
        let js = connect(url).await?;
        let c: jetstream::consumer::PullConsumer = js
            .get_stream(format!("RAW_RES_{run}"))
            .await?
            .create_consumer(pull::Config {
                durable_name: Some("c".into()),
                max_ack_pending: 100_000,
                ..Default::default()
            })
            .await?;
        let mut msgs = c.stream().max_messages_per_batch(512).messages().await?;
        let mut got = 0;
        while got < count {
            let m = tokio::time::timeout(Duration::from_secs(60), msgs.next())
                .await
                .context("raw run stalled")?
                .context("ended")??;
            m.ack().await.map_err(|e| anyhow::anyhow!(e))?;
            got += 1;
        }
        Ok(())
    }

    async fn raw_throughput(&self, url: &str, n: usize, run: u64) -> anyhow::Result<f64> {
        self.raw_setup(url, run).await?;
        let (stop, handles) = self.raw_workers(url, run, n, Arc::default()).await?;
        let js = connect(url).await?;
        let t0 = Instant::now();
        let count = self.jobs;
        let producer = tokio::spawn(async move {
            // The same bounded window of unacknowledged publishes as the broker's.
            let mut acks = std::collections::VecDeque::new();
            for i in 0..count {
                if acks.len() == 512 {
                    if let Some(a) = acks.pop_front() {
                        a.await?;
                    }
                }
                acks.push_back(
                    js.publish(format!("raw{run}.job"), i.to_string().into())
                        .await?,
                );
            }
            for a in acks {
                a.await?;
            }
            Ok::<_, async_nats::Error>(())
        });
        self.raw_collect(url, run, count).await?;
        let elapsed = t0.elapsed();
        producer.await?.map_err(|e| anyhow::anyhow!(e))?;
        stop.cancel();
        for h in handles {
            h.await?;
        }
        Ok(count as f64 / elapsed.as_secs_f64())
    }

    async fn raw_latency(&self, url: &str, n: usize, run: u64) -> anyhow::Result<(f64, f64)> {
        self.raw_setup(url, run).await?;
        let lat = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (stop, handles) = self.raw_workers(url, run, n, lat.clone()).await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let js = connect(url).await?;
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / self.rate as f64));
        for _ in 0..self.latency_jobs {
            tick.tick().await;
            js.publish(format!("raw{run}.job"), unix_micros().to_string().into())
                .await?
                .await?;
        }
        self.raw_collect(url, run, self.latency_jobs).await?;
        stop.cancel();
        for h in handles {
            h.await?;
        }
        let mut samples = lat.lock().map(|v| v.clone()).unwrap_or_default();
        Ok(percentiles(&mut samples))
    }
}

/// What a run cost: server messages (in + out) and CPU seconds of the server and of this
/// process (broker, agents and collector all run here), as totals or per job. CPU per job
/// says where a throughput gap comes from, and is steadier than throughput on a busy host.
#[derive(Debug, Clone, Copy)]
struct Meter {
    msgs: f64,
    server_cpu: f64,
    bench_cpu: f64,
}

impl Meter {
    fn read(nats: &NatsServer) -> Self {
        Self {
            msgs: server_msgs(nats),
            server_cpu: cpu_seconds(nats.pid()),
            bench_cpu: cpu_seconds(None),
        }
    }

    fn per_job_since(&self, before: &Meter, jobs: usize) -> Self {
        let n = jobs as f64;
        Self {
            msgs: (self.msgs - before.msgs) / n,
            server_cpu: (self.server_cpu - before.server_cpu) / n,
            bench_cpu: (self.bench_cpu - before.bench_cpu) / n,
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

/// Receives (and acks) results until `count` distinct jobs reported; fails if no result
/// comes for `stall`.
async fn await_results(
    results: &mut provemesh_broker::Results,
    count: usize,
    stall: Duration,
    run: &str,
) -> anyhow::Result<()> {
    let mut seen = std::collections::HashSet::new();
    while seen.len() < count {
        let d = tokio::time::timeout(stall, results.next())
            .await
            .with_context(|| format!("{run} run stalled"))?
            .context("results ended")??;
        seen.insert(d.result.id);
        d.ack().await?;
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
