//! `provemesh bench epoch`: whole epochs of real blocks proved through the orchestrator
//! and the mesh, against lower bounds any scheduler has, with simulated per-type proving
//! times.
//!
//! Blocks are real: txs with simulated client proofs and funded fee payers executed by the
//! tx processor on a temporary world state (devnet tree heights), so the orchestrator
//! builds its circuit inputs from real base rollup, parity and block root inputs; that
//! execution is timed apart, and so is building the inputs. One nats-server, an in-memory
//! proof store, in-process agents proving one job at a time.
//!
//! Batch rows add every block at once and measure the makespan from the first block to the
//! verified root proof, against the bound max(critical path, total work / agent
//! slots) and a tighter "layered" one (see `MakespanBounds::layered`): when the wide base layer
//! and the chain above it are of similar length, no schedule reaches the simple bound.
//! Dispatch latencies (enqueue → an agent starts the job) show where time goes.
//!
//! Streaming rows (most agents only) execute block after block while proving and measure
//! the node overhead as the issue defines it: the time from the last block executed to the
//! verified root, minus the proving time on the critical path that is left at that moment
//! (the last block's chain up to the root).

use anyhow::Context as _;
use clap::Args;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use provemesh_agent::{Agent, AgentConfig, SimulatedBackend, SimulatedConfig};
use provemesh_broker::Broker;
use provemesh_common::config::values;
use provemesh_common::{EpochNumber, JobId, ProofType};
use provemesh_harness::NatsServer;
use provemesh_nats::{Topology, TopologyConfig};
use provemesh_orchestrator::circuits::{self, JobContext};
use provemesh_orchestrator::fixtures::execute_epoch;
use provemesh_orchestrator::{
    l1_epoch_public_inputs, Dag, EpochConfig, EpochProver, MakespanBounds, NodeKey, ProvingTimes,
};
use provemesh_store::ProofStore;
use provemesh_tx_processor::ProcessedBlock;
use provemesh_world_state::TreeHeights;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Simulated proving times, in the rough proportions of Aztec's circuits (base rollups
/// dominate, block roots next), scaled down so a run takes seconds.
const DEFAULT_DELAYS_MS: [(ProofType, u64); 7] = [
    (ProofType::BaseParity, 20),
    (ProofType::RootParity, 60),
    (ProofType::PrivateBaseRollup, 200),
    (ProofType::MergeRollup, 50),
    (ProofType::BlockRootRollup, 150),
    (ProofType::BlockMergeRollup, 50),
    (ProofType::RootRollup, 100),
];

const PROVER_ID: [u8; 32] = [0x11; 32];

#[derive(Debug, Clone, Args)]
pub struct EpochBench {
    /// Epoch shapes as BLOCKSxTXS (txs per block), comma separated.
    #[arg(long, value_delimiter = ',', default_value = "4x8,8x32", value_parser = parse_shape)]
    pub epochs: Vec<(usize, usize)>,
    /// Agent counts (each proves one job at a time), comma separated.
    #[arg(long, value_delimiter = ',', default_value = "4,16,64")]
    pub agents: Vec<usize>,
    /// Proving times overriding the defaults, TYPE=DURATION, comma separated (defaults:
    /// base_parity=20ms, root_parity=60ms, private_base_rollup=200ms, merge_rollup=50ms,
    /// block_root_rollup=150ms, block_merge_rollup=50ms, root_rollup=100ms).
    #[arg(long, value_delimiter = ',', value_parser = parse_type_delay)]
    pub delays: Vec<(ProofType, Duration)>,
    /// Multiplies every proving time (0.25 for a quick run).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Skip the streaming rows.
    #[arg(long)]
    pub no_streaming: bool,
}

fn parse_shape(raw: &str) -> Result<(usize, usize), String> {
    let (b, t) = raw
        .trim()
        .split_once('x')
        .ok_or_else(|| format!("'{raw}': expected BLOCKSxTXS, e.g. 8x32"))?;
    let n = |s: &str| {
        s.parse::<usize>()
            .map_err(|_| format!("'{raw}': not a number"))
    };
    let (b, t) = (n(b)?, n(t)?);
    if b == 0 || b > 1024 || t > 4096 {
        return Err(format!("'{raw}': 1..=1024 blocks of 0..=4096 txs"));
    }
    Ok((b, t))
}

fn parse_type_delay(raw: &str) -> Result<(ProofType, Duration), String> {
    let (t, d) = raw
        .split_once('=')
        .ok_or_else(|| format!("'{raw}': expected TYPE=DURATION, e.g. merge_rollup=50ms"))?;
    Ok((t.parse().map_err(|e| format!("{e}"))?, values::duration(d)?))
}

/// One batch measurement.
struct Row {
    shape: (usize, usize),
    jobs: usize,
    agents: usize,
    makespan: f64,
    critical: f64,
    work: f64,
    layered: f64,
    busy_ms: u64,
    dispatch: [f64; 3],
}

impl EpochBench {
    pub async fn run(self) -> anyhow::Result<()> {
        if self.agents.iter().any(|&a| a == 0 || a > 512)
            || self.scale.is_nan()
            || self.scale <= 0.0
        {
            anyhow::bail!("agents must be 1..=512 and the scale positive");
        }
        let delays = self.delays();
        let nats = NatsServer::start().context("starting nats-server")?;
        let url = nats.url();
        let topo = Topology::apply(connect(&url).await?, TopologyConfig::default()).await?;
        let store = ProofStore::in_memory();
        let broker = Broker::new(topo, store.clone());
        println!(
            "provemesh bench epoch: nats-server on {url}, in-memory proof store, agents proving one job at a time; proving times (ms): {}",
            ProofType::ALL
                .iter()
                .filter_map(|t| delays.get(t).map(|d| format!("{t}={}", d.as_millis())))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut rows = Vec::new();
        let mut streaming = Vec::new();
        let mut epoch = 0u64;
        for &shape in &self.epochs {
            let started = Instant::now();
            let blocks = tokio::task::spawn_blocking(move || execute(shape, |_| {}))
                .await??
                .0;
            let exec = started.elapsed().as_secs_f64();
            let txs = shape.0 * shape.1;
            println!(
                "  {}x{}: {txs} txs executed in {:.2} s ({:.0} µs/tx, devnet tree heights)",
                shape.0,
                shape.1,
                exec,
                1e6 * exec / txs.max(1) as f64
            );
            let (bases, block_roots) = input_build_times(&blocks)?;
            println!(
                "  inputs built on one core: {:.0} µs per base rollup, {:.0} µs per block root",
                bases * 1e6,
                block_roots * 1e6
            );
            let bounds = bounds(&blocks, &delays);
            let jobs = bounds.jobs;
            for &n in &self.agents {
                epoch += 1;
                let agents = start_agents(&url, &store, n, &delays).await?;
                let t0 = Instant::now();
                let cfg = config(EpochNumber(epoch), &blocks, &delays);
                let h = EpochProver::start(broker.clone(), cfg).await?;
                for b in &blocks {
                    h.add_block(b.clone())?;
                }
                h.seal()?;
                let progress = h.watch_progress();
                let root = h.finish().await?;
                let makespan = t0.elapsed().as_secs_f64();
                let (proved, dispatch) = agents.stop().await;
                anyhow::ensure!(root.jobs == jobs, "{} jobs, expected {jobs}", root.jobs);
                anyhow::ensure!(proved == jobs as u64, "{proved} proofs for {jobs} jobs");
                let busy_ms = progress.borrow().node_busy_ms;
                println!(
                    "    {n:>3} agents: {makespan:.3} s, bound {:.3} s (layered {:.3} s)",
                    bounds.simple(n),
                    bounds.layered(n)
                );
                rows.push(Row {
                    shape,
                    jobs,
                    agents: n,
                    makespan,
                    critical: bounds.critical_path,
                    work: bounds.work,
                    layered: bounds.layered(n),
                    busy_ms,
                    dispatch,
                });
            }
            if !self.no_streaming {
                if let Some(&n) = self.agents.iter().max() {
                    epoch += 1;
                    let r = self
                        .streaming(&url, &broker, &store, shape, n, EpochNumber(epoch), &delays)
                        .await?;
                    streaming.push(r);
                }
            }
        }
        print_batch(&rows);
        if !streaming.is_empty() {
            print_streaming(&streaming);
        }
        drop(nats);
        Ok(())
    }

    fn delays(&self) -> HashMap<ProofType, Duration> {
        let mut d: HashMap<ProofType, Duration> = DEFAULT_DELAYS_MS
            .iter()
            .map(|&(t, ms)| (t, Duration::from_millis(ms)))
            .collect();
        d.insert(ProofType::PublicBaseRollup, Duration::from_millis(200));
        for &(t, v) in &self.delays {
            d.insert(t, v);
        }
        d.into_iter()
            .map(|(t, v)| (t, v.mul_f64(self.scale)))
            .collect()
    }

    /// Executes the epoch's blocks while proving: each block is added the moment the tx
    /// processor has it.
    #[allow(clippy::too_many_arguments)]
    async fn streaming(
        &self,
        url: &str,
        broker: &Broker,
        store: &ProofStore,
        shape: (usize, usize),
        n: usize,
        epoch: EpochNumber,
        delays: &HashMap<ProofType, Duration>,
    ) -> anyhow::Result<Streamed> {
        let agents = start_agents(url, store, n, delays).await?;
        // The L1 public inputs are known up front in a real epoch (the blocks are on L1);
        // here they come from a dry run of the same deterministic execution.
        let (blocks, _) = tokio::task::spawn_blocking(move || execute(shape, |_| {})).await??;
        let b = bounds(&blocks, delays);
        let (jobs, tail, layered) = (b.jobs, b.last_block_path, b.layered(n));
        let h = Arc::new(EpochProver::start(broker.clone(), config(epoch, &blocks, delays)).await?);
        let t0 = Instant::now();
        let feed = h.clone();
        let (_, last_executed) = tokio::task::spawn_blocking(move || {
            execute(shape, |b| {
                let _ = feed.add_block(b.clone());
            })
        })
        .await??;
        h.seal()?;
        let h = Arc::into_inner(h).context("the block feed still holds the epoch")?;
        let root = h.finish().await?;
        let done = t0.elapsed().as_secs_f64();
        let last = last_executed.duration_since(t0).as_secs_f64();
        let (proved, _) = agents.stop().await;
        anyhow::ensure!(proved == jobs as u64, "{proved} proofs for {jobs} jobs");
        Ok(Streamed {
            shape,
            agents: n,
            jobs: root.jobs,
            last_block: last,
            root: done,
            tail,
            layered,
        })
    }
}

struct Streamed {
    shape: (usize, usize),
    agents: usize,
    jobs: usize,
    last_block: f64,
    root: f64,
    tail: f64,
    /// The batch lower bound (as if every block existed at the start).
    layered: f64,
}

fn print_batch(rows: &[Row]) {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "epoch (blocks × txs)",
        "jobs",
        "agents",
        "makespan (s)",
        "critical path (s)",
        "work / agents (s)",
        "makespan / bound",
        "layered bound (s)",
        "makespan / layered",
        "node busy (ms)",
        "dispatch p50 / p99 / max (ms)",
    ]);
    for r in rows {
        let bound = r.critical.max(r.work / r.agents as f64);
        t.add_row(vec![
            format!("{} × {}", r.shape.0, r.shape.1),
            r.jobs.to_string(),
            r.agents.to_string(),
            format!("{:.3}", r.makespan),
            format!("{:.3}", r.critical),
            format!("{:.3}", r.work / r.agents as f64),
            format!("{:.3}×", r.makespan / bound),
            format!("{:.3}", r.layered),
            format!("{:.3}×", r.makespan / r.layered),
            r.busy_ms.to_string(),
            format!(
                "{:.1} / {:.1} / {:.1}",
                r.dispatch[0], r.dispatch[1], r.dispatch[2]
            ),
        ]);
    }
    println!(
        "\nAll blocks added at once (makespan: first block added → root proof verified):\n{t}"
    );
}

fn print_streaming(rows: &[Streamed]) {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "epoch (blocks × txs)",
        "jobs",
        "agents",
        "last block executed (s)",
        "root proof verified (s)",
        "critical path left (s)",
        "bound (s)",
        "root / bound",
        "node overhead (s)",
    ]);
    for r in rows {
        let bound = (r.last_block + r.tail).max(r.layered);
        t.add_row(vec![
            format!("{} × {}", r.shape.0, r.shape.1),
            r.jobs.to_string(),
            r.agents.to_string(),
            format!("{:.3}", r.last_block),
            format!("{:.3}", r.root),
            format!("{:.3}", r.tail),
            format!("{:.3}", bound),
            format!("{:.3}×", r.root / bound),
            format!("{:.3}", r.root - r.last_block - r.tail),
        ]);
    }
    println!(
        "\nStreaming (blocks added as the tx processor executes them; times from the first block's execution; \
         bound: max(last block + critical path left, layered bound); node overhead: root − last block − critical path left, \
         which includes waiting for agents still busy with earlier blocks):\n{t}"
    );
}

fn bounds(blocks: &[ProcessedBlock], delays: &HashMap<ProofType, Duration>) -> MakespanBounds {
    let mut dag = Dag::new();
    for b in blocks {
        // Every processed block has its base parities (the message subtree is padded).
        let _ = dag.add_block(b.txs.len(), b.parity.base.len());
    }
    let _ = dag.seal();
    MakespanBounds::of(&dag, |t| delays.get(&t).copied().unwrap_or_default())
}

/// Mean time to build one base rollup's and one block root's job (inputs, checks,
/// encoding, job id), on one core: the orchestrator's CPU per job.
fn input_build_times(blocks: &[ProcessedBlock]) -> anyhow::Result<(f64, f64)> {
    let epoch = EpochNumber(u64::MAX);
    let ctx = |node| JobContext {
        epoch,
        node,
        retry: 0,
    };
    let t0 = Instant::now();
    let mut n = 0;
    for (b, block) in blocks.iter().enumerate() {
        for (tx, t) in block.txs.iter().enumerate() {
            let job = circuits::base_rollup(
                &ctx(NodeKey::BaseRollup { block: b, tx }),
                &t.base_rollup_inputs,
                circuits::effects_chain_before(block, tx),
            )?;
            let _ = JobId::derive(ProofType::PrivateBaseRollup, &job.inputs.encode()?);
            n += 1;
        }
    }
    let bases = t0.elapsed().as_secs_f64() / n.max(1) as f64;
    let t0 = Instant::now();
    for (b, block) in blocks.iter().enumerate() {
        let parity = provemesh_orchestrator::outputs::ParityOutputs {
            sha_root: block.parity.sha_root,
            converted_root: block.parity.converted_root,
            height: 4,
        };
        let job = circuits::block_root(
            &ctx(NodeKey::BlockRoot { block: b }),
            &[],
            None,
            &parity,
            block,
        )?;
        let _ = JobId::derive(ProofType::BlockRootRollup, &job.inputs.encode()?);
    }
    Ok((
        bases,
        t0.elapsed().as_secs_f64() / blocks.len().max(1) as f64,
    ))
}

fn config(
    epoch: EpochNumber,
    blocks: &[ProcessedBlock],
    delays: &HashMap<ProofType, Duration>,
) -> EpochConfig {
    let mut cfg = EpochConfig::new(epoch, PROVER_ID);
    cfg.expected_root_public_inputs = Some(l1_epoch_public_inputs(blocks, epoch, PROVER_ID));
    // The orchestrator orders jobs by their remaining path: the agents' times are known.
    cfg.proving_times = ProvingTimes::from_fn(|t| delays.get(&t).copied().unwrap_or_default());
    cfg
}

/// Executes `shape` on a fresh world state at devnet tree heights, handing each block to
/// `each` as it is done; returns the blocks and when the last one was executed.
fn execute(
    (blocks, per_block): (usize, usize),
    each: impl FnMut(&ProcessedBlock),
) -> anyhow::Result<(Vec<ProcessedBlock>, Instant)> {
    let dir = tempfile::tempdir()?;
    let out = execute_epoch(
        dir.path(),
        TreeHeights::DEVNET,
        &vec![per_block; blocks],
        each,
    )?;
    Ok((out, Instant::now()))
}

struct Agents {
    stop: CancellationToken,
    handles: Vec<tokio::task::JoinHandle<Arc<provemesh_agent::AgentStats>>>,
}

impl Agents {
    /// Stops the agents; returns how many proofs they made and the jobs' dispatch
    /// latencies (enqueue → an agent starts it), in ms: p50, p99, max.
    async fn stop(self) -> (u64, [f64; 3]) {
        self.stop.cancel();
        let mut proved = 0;
        let mut us: Vec<u64> = Vec::new();
        for h in self.handles {
            if let Ok(s) = h.await {
                proved += s.proved.load(std::sync::atomic::Ordering::Relaxed);
                us.extend(s.dispatch_us.lock().map(|v| v.clone()).unwrap_or_default());
            }
        }
        us.sort_unstable();
        let at = |q: f64| {
            us.get(((us.len() as f64 - 1.0) * q).round() as usize)
                .map_or(0.0, |&v| v as f64 / 1000.0)
        };
        (proved, [at(0.5), at(0.99), at(1.0)])
    }
}

async fn start_agents(
    url: &str,
    store: &ProofStore,
    n: usize,
    delays: &HashMap<ProofType, Duration>,
) -> anyhow::Result<Agents> {
    let stop = CancellationToken::new();
    let mut handles = Vec::new();
    for i in 0..n {
        let mut cfg = AgentConfig::new(format!("bench-{i}"), &[], 1);
        cfg.drain_deadline = Duration::from_secs(5);
        cfg.record_dispatch = true;
        let topo = Topology::bind(
            connect(url).await?,
            TopologyConfig::default(),
            &cfg.proof_types,
        )
        .await?;
        let sim = SimulatedConfig {
            delays: delays.clone(),
            ..SimulatedConfig::default()
        };
        let agent = Agent::new(
            cfg,
            topo,
            store.clone(),
            Arc::new(SimulatedBackend::new(sim)),
        )?;
        handles.push(tokio::spawn(agent.run(stop.clone())));
    }
    // Let every agent join its doorbells before the first job.
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(Agents { stop, handles })
}

async fn connect(url: &str) -> anyhow::Result<async_nats::jetstream::Context> {
    Ok(async_nats::jetstream::new(async_nats::connect(url).await?))
}
