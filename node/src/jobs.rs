//! `provemesh jobs`: the mesh as an operator sees it — queue depth per epoch and proof
//! type, jobs in flight with their agent and attempt, failures with their error, and one
//! job's full history — as tables or JSON; with `--watch`, the live view of `live`.

use crate::live;
use anyhow::Context as _;
use clap::Args;
use comfy_table::{presets::UTF8_BORDERS_ONLY, Table};
use provemesh_broker::Broker;
use provemesh_common::config::values::duration;
use provemesh_common::config::NatsArgs;
use provemesh_common::{EpochNumber, JobId, JobOutcome, JobState, JobStatus};
use provemesh_nats::{Topology, TopologyConfig};
use provemesh_store::ProofStore;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone, Args)]
pub struct JobsCommand {
    /// Only this epoch.
    #[arg(long, value_name = "EPOCH")]
    pub epoch: Option<EpochNumber>,

    /// Show one job's full history (64 hex digits, as in results and headers).
    #[arg(long = "job", value_name = "JOB_ID")]
    pub job: Option<JobId>,

    /// Print JSON instead of tables (with --watch: one JSON object per refresh).
    #[arg(long)]
    pub json: bool,

    /// Keep watching: queue depth per proof type, jobs in flight per agent, throughput and
    /// failures, refreshed every --interval. A live screen on a terminal, one line per
    /// refresh otherwise. Ctrl-C stops it.
    #[arg(long, short = 'w', conflicts_with = "job")]
    pub watch: bool,

    /// How often the live view refreshes (e.g. 500ms, 2s).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = positive_duration)]
    pub interval: Duration,

    /// Stop watching after this long (implies --watch).
    #[arg(long, value_name = "DURATION", value_parser = duration, conflicts_with = "job")]
    pub watch_for: Option<Duration>,

    /// Stop watching after this many refreshes (implies --watch).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..), conflicts_with = "job")]
    pub iterations: Option<u64>,

    #[command(flatten)]
    pub nats: NatsArgs,
}

fn positive_duration(raw: &str) -> Result<Duration, String> {
    match duration(raw)? {
        d if d.is_zero() => Err("must be more than zero".into()),
        d => Ok(d),
    }
}

/// Connects to the mesh named by `nats` as `name` and binds its topology (read-only use:
/// creates nothing).
pub async fn connect(nats: &NatsArgs, name: &str) -> anyhow::Result<Broker> {
    nats.validate()?;
    let client = provemesh_nats::connect(nats, name).await?;
    let topo = Topology::bind(provemesh_nats::jetstream(client, nats), TopologyConfig::default(), &[])
        .await
        .context("the mesh has no provemesh topology yet (start the node or `provemesh start --prover-broker`)")?;
    Ok(Broker::new(topo, ProofStore::in_memory()))
}

#[derive(serde::Serialize)]
struct Summary {
    queue: Vec<provemesh_broker::QueueDepth>,
    in_flight: Vec<JobStatus>,
    failed: Vec<JobStatus>,
    by_state: BTreeMap<&'static str, usize>,
}

impl JobsCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        let broker = connect(&self.nats, "provemesh jobs").await?;
        if self.watch || self.watch_for.is_some() || self.iterations.is_some() {
            let opts = live::WatchOptions {
                interval: self.interval,
                watch_for: self.watch_for,
                iterations: self.iterations,
                json: self.json,
            };
            return watch(&broker, self.epoch, opts).await;
        }
        match self.job {
            Some(id) => self.show_job(&broker, id).await,
            None => self.show_summary(&broker).await,
        }
    }

    async fn show_summary(&self, broker: &Broker) -> anyhow::Result<()> {
        let mut queue = broker.queue_depths().await?;
        let mut statuses = match self.epoch {
            Some(e) => broker.epoch_statuses(e).await?,
            None => broker.all_statuses().await?,
        };
        if let Some(e) = self.epoch {
            queue.retain(|q| q.epoch == e);
        }
        statuses.sort_by_key(|s| (s.epoch, s.proof_type.critical_path_rank(), s.updated_at_ms));
        let mut by_state = BTreeMap::new();
        for s in &statuses {
            *by_state.entry(s.state.as_str()).or_insert(0) += 1;
        }
        let summary = Summary {
            queue,
            in_flight: statuses
                .iter()
                .filter(|s| s.state == JobState::Proving)
                .cloned()
                .collect(),
            failed: statuses
                .iter()
                .filter(|s| s.state == JobState::Failed)
                .cloned()
                .collect(),
            by_state,
        };
        if self.json {
            println!("{}", serde_json::to_string_pretty(&summary)?);
            return Ok(());
        }
        let mut t = table(&["epoch", "proof type", "in queue"]);
        for q in &summary.queue {
            t.add_row(vec![
                q.epoch.to_string(),
                q.proof_type.to_string(),
                q.queued.to_string(),
            ]);
        }
        println!("Queue (jobs not yet acknowledged, in-flight included)\n{t}\n");
        let mut t = table(&["job", "proof type", "epoch", "attempt", "agent", "for"]);
        let now = provemesh_common::unix_millis();
        for s in &summary.in_flight {
            t.add_row(vec![
                s.id.short(),
                s.proof_type.to_string(),
                s.epoch.to_string(),
                s.attempt.to_string(),
                s.agent.as_ref().map(|a| a.0.clone()).unwrap_or_default(),
                format!(
                    "{:.1}s",
                    now.saturating_sub(s.updated_at_ms) as f64 / 1000.0
                ),
            ]);
        }
        println!("In flight\n{t}\n");
        let mut t = table(&["job", "proof type", "epoch", "attempt", "error"]);
        for s in &summary.failed {
            t.add_row(vec![
                s.id.to_hex(),
                s.proof_type.to_string(),
                s.epoch.to_string(),
                s.attempt.to_string(),
                s.error.clone().unwrap_or_default(),
            ]);
        }
        println!("Failed\n{t}\n");
        let counts: Vec<String> = summary
            .by_state
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        println!(
            "Jobs by latest state: {}",
            if counts.is_empty() {
                "none".into()
            } else {
                counts.join(", ")
            }
        );
        Ok(())
    }

    async fn show_job(&self, broker: &Broker, id: JobId) -> anyhow::Result<()> {
        let Some(history) = broker.job_history(&id).await? else {
            anyhow::bail!("no status recorded for job {id} (never picked up, or expired from the status bucket)");
        };
        let result = match history.revisions.first() {
            Some(s) => broker.result_of(s.epoch, &id).await?,
            None => None,
        };
        if self.json {
            #[derive(serde::Serialize)]
            struct Out<'a> {
                history: &'a provemesh_broker::JobHistory,
                result: &'a Option<provemesh_common::JobResult>,
            }
            println!(
                "{}",
                serde_json::to_string_pretty(&Out {
                    history: &history,
                    result: &result
                })?
            );
            return Ok(());
        }
        let mut t = table(&["at (unix ms)", "state", "attempt", "agent", "error"]);
        for s in &history.revisions {
            t.add_row(vec![
                s.updated_at_ms.to_string(),
                s.state.as_str().to_string(),
                s.attempt.to_string(),
                s.agent.as_ref().map(|a| a.0.clone()).unwrap_or_default(),
                s.error.clone().unwrap_or_default(),
            ]);
        }
        let head = history.revisions.first();
        println!(
            "Job {id}\n  proof type {}, epoch {}\n{t}",
            head.map(|s| s.proof_type.to_string()).unwrap_or_default(),
            head.map(|s| s.epoch.to_string()).unwrap_or_default()
        );
        match result.map(|r| r.outcome) {
            Some(JobOutcome::Proved(p)) => println!(
                "Result: proved → {} ({} bytes, sha256 {})",
                p.key,
                p.size,
                hex_short(&p.sha256)
            ),
            Some(JobOutcome::Failed { kind, error }) => {
                println!("Result: failed ({kind}): {error}")
            }
            None => println!("Result: none yet"),
        }
        Ok(())
    }
}

/// Runs the live view until Ctrl-C, `watch_for` or `iterations`.
async fn watch(
    broker: &Broker,
    epoch: Option<EpochNumber>,
    opts: live::WatchOptions,
) -> anyhow::Result<()> {
    use futures::StreamExt as _;
    use provemesh_common::unix_millis;
    use std::io::{IsTerminal as _, Write as _};

    // Follow first, then load: nothing that happens in between is missed (what is seen
    // twice is applied idempotently).
    let mut feed = broker
        .activity(epoch)
        .await
        .context("cannot follow the mesh's results and statuses")?;
    let statuses = match epoch {
        Some(e) => broker.epoch_statuses(e).await,
        None => broker.all_statuses().await,
    }
    .context("cannot read job statuses")?;
    let mut state = live::LiveState::seeded(&statuses, unix_millis());

    let tty = std::io::stdout().is_terminal() && !opts.json;
    let scope = match epoch {
        Some(e) => format!("epoch {e}"),
        None => "all epochs".to_string(),
    };
    let started = tokio::time::Instant::now();
    let deadline = opts.watch_for.map(|d| started + d);
    let mut ticker = tokio::time::interval(opts.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut iteration = 0u64;
    loop {
        let last;
        tokio::select! {
            biased;
            _ = &mut ctrl_c => return Ok(()),
            _ = sleep_until(deadline) => last = true,
            _ = ticker.tick() => last = false,
            activity = feed.next() => {
                match activity {
                    Some(Ok(a)) => state.apply(&a, unix_millis()),
                    Some(Err(e)) => return Err(e).context("lost the mesh's activity feed"),
                    None => anyhow::bail!("the mesh's activity feed ended (connection closed)"),
                }
                continue;
            }
        }
        let mut queue = broker
            .queue_depths()
            .await
            .context("cannot read queue depths")?;
        if let Some(e) = epoch {
            queue.retain(|q| q.epoch == e);
        }
        iteration += 1;
        let snap = state.snapshot(&queue, unix_millis(), iteration);
        let out = if opts.json {
            format!("{}\n", serde_json::to_string(&snap)?)
        } else if tty {
            format!("\x1b[H\x1b[2J{}", snap.frame(&scope, opts.interval))
        } else {
            format!("{}\n", snap.line())
        };
        let mut stdout = std::io::stdout().lock();
        // A closed pipe (`| head`) ends the view quietly.
        if stdout
            .write_all(out.as_bytes())
            .and_then(|()| stdout.flush())
            .is_err()
        {
            return Ok(());
        }
        if last || opts.iterations.is_some_and(|n| iteration >= n) {
            return Ok(());
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY).set_header(header.to_vec());
    t
}

fn hex_short(b: &[u8; 32]) -> String {
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}…", &h[..16])
}
