//! `provemesh epoch report <E>`: how epoch E was proved, drawn rather than listed — a
//! timeline SVG (`--svg FILE`: a lane per agent, a bar per job, the critical path marked),
//! the same data as JSON (`--json`), or, with neither, a short summary. Reads only what the
//! mesh records (results and status history; see `epoch_timeline` for what that allows).

use crate::epoch_timeline::Timeline;
use crate::{jobs, timeline_svg};
use anyhow::Context as _;
use clap::{Args, Subcommand};
use provemesh_common::config::NatsArgs;
use provemesh_common::EpochNumber;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum EpochCommand {
    /// Draw how an epoch was proved: one lane per agent, one bar per job, critical path
    /// marked (SVG), or the same as JSON.
    Report(ReportCommand),
}

impl EpochCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            EpochCommand::Report(r) => r.run().await,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct ReportCommand {
    /// The epoch to draw.
    #[arg(value_name = "EPOCH")]
    pub epoch: EpochNumber,

    /// Write the timeline as an SVG image to this file (created or replaced).
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,

    /// Print the timeline's data (lanes, bars, critical path) as JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub nats: NatsArgs,
}

impl ReportCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        let epoch = self.epoch;
        let broker = jobs::connect(&self.nats, "provemesh epoch report").await?;
        let record = broker
            .epoch_record(epoch)
            .await
            .with_context(|| format!("cannot read the record of epoch {epoch}"))?;
        if record.is_empty() {
            anyhow::bail!(
                "epoch {epoch}: nothing recorded on the mesh (no result or status: not proved \
                 here, or expired — results are kept 7 days, statuses 24 h by default)"
            );
        }
        let timeline = Timeline::build(&record);
        if timeline.bars.is_empty() {
            anyhow::bail!(
                "epoch {epoch}: no job has finished yet ({} status revisions recorded); \
                 `provemesh jobs --epoch {epoch}` shows what is in flight",
                record.statuses.len()
            );
        }
        if let Some(path) = &self.svg {
            std::fs::write(path, timeline_svg::render(&timeline)).with_context(|| {
                format!("epoch {epoch}: cannot write the SVG to {}", path.display())
            })?;
            eprintln!("wrote {}: {}", path.display(), summary(&timeline));
        }
        if self.json {
            println!("{}", serde_json::to_string_pretty(&timeline)?);
        } else if self.svg.is_none() {
            println!("{}", summary(&timeline));
        }
        Ok(())
    }
}

/// One line saying what the drawing shows.
fn summary(t: &Timeline) -> String {
    let path = match (t.critical_path.first(), t.root) {
        (Some(first), Some(root)) => {
            let first = t.bar(first).map(|b| b.proof_type.to_string());
            format!(
                "critical path {} jobs ({} → root rollup {})",
                t.critical_path.len(),
                first.unwrap_or_default(),
                root.short()
            )
        }
        _ => "no root rollup yet".to_string(),
    };
    format!(
        "epoch {}: {} jobs on {} agents over {} ms; {path}",
        t.epoch,
        t.bars.len(),
        t.lanes.len(),
        t.span_ms()
    )
}
