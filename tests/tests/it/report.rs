//! Looking at the mesh: `provemesh epoch report` drawing an epoch proved by in-process
//! agents (the SVG parsed as XML and rendered to pixels), and `provemesh jobs --watch`
//! printing a line per refresh for a mesh with queued, in-flight and failed jobs. Both run
//! the built binary against a real nats-server.
//!
//! Set `PROVEMESH_REPORT_PNG=/some/dir` to keep the drawn SVG and its PNG rendering there
//! (to look at them).

use crate::support::*;
use provemesh_agent::AgentConfig;
use provemesh_common::{EpochNumber, JobOutcome, JobState, ProofType};
use provemesh_node::synthetic::{self, EpochShape};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// Runs the built `provemesh` with `args` against the mesh at `url`, off the runtime's
/// threads (in-process agents keep working meanwhile).
async fn provemesh(url: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(binary("provemesh"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("PROVER_BROKER_HOST", url)
        .stdin(Stdio::null());
    tokio::task::spawn_blocking(move || cmd.output().expect("run provemesh"))
        .await
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A rectangle's box.
fn rect_box(n: roxmltree::Node<'_, '_>) -> (f64, f64, f64, f64) {
    let f = |a: &str| -> f64 { n.attribute(a).unwrap().parse().unwrap() };
    (f("x"), f("y"), f("width"), f("height"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn epoch_report_draws_each_job_on_its_agents_lane_with_the_critical_path() {
    within(Duration::from_secs(150), async {
        let mut mesh = Mesh::start(fast_topology()).await;
        let mut timing = sim(Duration::from_millis(40));
        timing.jitter = 0.5;
        // Slow enough base rollups that several run at once on each agent (and record
        // in-flight statuses), a root that stands out.
        timing
            .delays
            .insert(ProofType::PrivateBaseRollup, Duration::from_millis(250));
        timing
            .delays
            .insert(ProofType::RootRollup, Duration::from_millis(150));
        let mut agents = Vec::new();
        for i in 0..3 {
            agents.push(
                InProcessAgent::start(
                    &mesh.url(),
                    AgentConfig::new(format!("lane-{i}"), &[], 2),
                    mesh.store.store.clone(),
                    timing.clone(),
                )
                .await,
            );
        }
        let epoch = EpochNumber(5);
        let shape = EpochShape {
            blocks: 2,
            txs_per_block: 4,
        };
        let proved = synthetic::prove_epoch(&mesh.broker, &mut mesh.results, epoch, shape)
            .await
            .expect("epoch proved");
        let mut provers = BTreeSet::new();
        for (i, a) in agents.into_iter().enumerate() {
            if a.stop().await.get(|s| &s.proved) > 0 {
                provers.insert(format!("lane-{i}"));
            }
        }
        let job_ids: BTreeSet<String> = stored_results(mesh.broker.topology(), 5)
            .await
            .into_keys()
            .map(|subject| subject.rsplit('.').next().unwrap().to_string())
            .collect();
        assert_eq!(job_ids.len(), proved.jobs);

        let dir = tempfile::tempdir().unwrap();
        let svg_path = dir.path().join("epoch-5.svg");
        let out = provemesh(
            &mesh.url(),
            &[
                "epoch",
                "report",
                "5",
                "--svg",
                svg_path.to_str().unwrap(),
                "--json",
            ],
        )
        .await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(text(&out.stderr).contains("wrote"), "{}", text(&out.stderr));
        let svg = std::fs::read_to_string(&svg_path).expect("SVG written");

        // The SVG: well-formed XML, a lane per agent that proved something, a bar per job.
        let doc = roxmltree::Document::parse(&svg).expect("the SVG parses as XML");
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        let with_class = |tag: &'static str, class: &'static str| {
            doc.descendants()
                .filter(move |n| n.has_tag_name(tag) && n.attribute("class") == Some(class))
        };
        let lanes: BTreeMap<String, (f64, f64)> = with_class("g", "lane")
            .map(|g| {
                let bg = g.children().find(|c| c.has_tag_name("rect")).unwrap();
                let (_, y, _, h) = rect_box(bg);
                (g.attribute("data-agent").unwrap().to_string(), (y, y + h))
            })
            .collect();
        assert_eq!(
            lanes.keys().cloned().collect::<BTreeSet<_>>(),
            provers,
            "one lane per agent that proved something"
        );
        let bars: Vec<_> = with_class("rect", "bar").collect();
        assert_eq!(bars.len(), proved.jobs, "one bar per job");
        let drawn: BTreeSet<String> = bars
            .iter()
            .map(|b| b.attribute("data-job").unwrap().to_string())
            .collect();
        assert_eq!(drawn, job_ids, "the bars are the epoch's jobs");
        let mut fill_of_type: HashMap<&str, &str> = HashMap::new();
        for b in &bars {
            let (_, y, _, h) = rect_box(*b);
            let (top, bottom) = lanes[b.attribute("data-agent").unwrap()];
            assert!(
                y >= top && y + h <= bottom,
                "a bar lies in its agent's lane"
            );
            let ty = b.attribute("data-type").unwrap();
            let fill = b.attribute("fill").unwrap();
            assert_eq!(
                *fill_of_type.entry(ty).or_insert(fill),
                fill,
                "one colour per type"
            );
            assert!(b.children().any(|c| c.has_tag_name("title")), "a tooltip");
        }
        assert_eq!(
            fill_of_type.len(),
            7,
            "every type of the tree but public base rollups"
        );
        let fills: BTreeSet<_> = fill_of_type.values().collect();
        assert_eq!(fills.len(), 7, "a colour of its own per type");
        assert_eq!(
            with_class("rect", "legend-swatch").count(),
            7,
            "a legend entry per type"
        );

        // The critical path: flagged bars ending at the root rollup, which ends last.
        let critical: Vec<_> = bars
            .iter()
            .filter(|b| b.attribute("data-critical") == Some("true"))
            .collect();
        assert!(
            critical.len() >= 5,
            "root ← block merge ← block root ← … ← a leaf"
        );
        let right = |b: &roxmltree::Node<'_, '_>| {
            let (x, _, w, _) = rect_box(*b);
            x + w
        };
        let last = critical
            .iter()
            .max_by(|a, b| right(a).total_cmp(&right(b)))
            .unwrap();
        assert_eq!(
            last.attribute("data-job"),
            Some(proved.root.to_hex().as_str())
        );
        assert_eq!(last.attribute("data-type"), Some("root_rollup"));
        let rightmost = bars.iter().map(right).fold(0.0, f64::max);
        assert!(
            (right(last) - rightmost).abs() < 0.01,
            "the root ends the epoch"
        );

        // The same data as JSON.
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
        assert_eq!(v["epoch"], 5);
        assert_eq!(v["bars"].as_array().unwrap().len(), proved.jobs);
        assert_eq!(v["lanes"].as_array().unwrap().len(), provers.len());
        let path: Vec<String> = v["critical_path"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j.as_str().unwrap().to_string())
            .collect();
        assert_eq!(path.last(), Some(&proved.root.to_hex()));
        assert_eq!(v["root"], proved.root.to_hex());
        let flagged: BTreeSet<String> = critical
            .iter()
            .map(|b| b.attribute("data-job").unwrap().to_string())
            .collect();
        assert_eq!(
            flagged,
            path.iter().cloned().collect(),
            "SVG and JSON agree"
        );
        let bar_of = |id: &str| {
            v["bars"]
                .as_array()
                .unwrap()
                .iter()
                .find(|b| b["id"] == id)
                .unwrap()
                .clone()
        };
        for pair in path.windows(2) {
            let (child, parent) = (bar_of(&pair[0]), bar_of(&pair[1]));
            assert!(
                child["end_ms"].as_u64() <= parent["start_ms"].as_u64(),
                "each job on the path finished before the next started: {child} {parent}"
            );
        }
        let first = bar_of(&path[0]);
        assert!(
            ["base_parity", "private_base_rollup"].contains(&first["proof_type"].as_str().unwrap()),
            "the path starts at a leaf: {first}"
        );

        // Rendered to pixels: the root rollup's colour and the base rollups' are there.
        let mut opt = resvg::usvg::Options::default();
        opt.fontdb_mut().load_system_fonts();
        let tree = resvg::usvg::Tree::from_str(&svg, &opt).expect("usvg reads the SVG");
        let size = tree.size().to_int_size();
        let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width(), size.height()).unwrap();
        resvg::render(
            &tree,
            resvg::tiny_skia::Transform::default(),
            &mut pixmap.as_mut(),
        );
        let count = |rgb: [u8; 3]| {
            pixmap
                .pixels()
                .iter()
                .filter(|p| {
                    [p.red(), p.green(), p.blue(), p.alpha()] == [rgb[0], rgb[1], rgb[2], 255]
                })
                .count()
        };
        assert!(count([0xc5, 0x1b, 0x8a]) > 20, "root rollup bar drawn");
        assert!(count([0xa1, 0xd9, 0x9b]) > 200, "base rollup bars drawn");
        if let Some(keep) = std::env::var_os("PROVEMESH_REPORT_PNG") {
            let keep = std::path::PathBuf::from(keep);
            std::fs::create_dir_all(&keep).unwrap();
            std::fs::copy(&svg_path, keep.join("epoch-5.svg")).unwrap();
            pixmap.save_png(keep.join("epoch-5.png")).unwrap();
        }

        // Bad input: an epoch with no record, a file that cannot be written.
        let out = provemesh(
            &mesh.url(),
            &["epoch", "report", "99", "--svg", svg_path.to_str().unwrap()],
        )
        .await;
        assert_eq!(out.status.code(), Some(1));
        let err = text(&out.stderr);
        assert!(
            err.contains("epoch 99") && err.contains("nothing recorded"),
            "{err}"
        );
        let out = provemesh(
            &mesh.url(),
            &[
                "epoch",
                "report",
                "5",
                "--svg",
                "/nonexistent-dir/epoch.svg",
            ],
        )
        .await;
        assert_eq!(out.status.code(), Some(1));
        let err = text(&out.stderr);
        assert!(
            err.contains("cannot write the SVG to /nonexistent-dir/epoch.svg")
                && !err.contains("panicked"),
            "{err}"
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_watch_prints_a_line_per_refresh_with_queues_agents_and_failures() {
    within(Duration::from_secs(90), async {
        let mut mesh = Mesh::start(fast_topology()).await;
        let url = mesh.url();
        // "slow" proves merges two at a time, each for longer than the test: two in flight,
        // two waiting. Nobody takes private base rollups. "quick" proves base parities.
        let mut slow_cfg = AgentConfig::new("slow", &[ProofType::MergeRollup], 2);
        slow_cfg.drain_deadline = Duration::from_millis(100);
        let slow = InProcessAgent::start(
            &url,
            slow_cfg,
            mesh.store.store.clone(),
            sim(Duration::from_secs(60)),
        )
        .await;
        let quick = InProcessAgent::start(
            &url,
            AgentConfig::new("quick", &[ProofType::BaseParity], 1),
            mesh.store.store.clone(),
            sim(Duration::from_millis(5)),
        )
        .await;
        let b = mesh.broker.clone();
        b.enqueue_many((0..4).map(|n| job(8, ProofType::MergeRollup, n)).collect())
            .await
            .unwrap();
        b.enqueue_many(
            (0..5)
                .map(|n| job(8, ProofType::PrivateBaseRollup, n))
                .collect(),
        )
        .await
        .unwrap();
        b.enqueue(failing_job(
            8,
            ProofType::BaseParity,
            "parity does not add up",
        ))
        .await
        .unwrap();
        let failed = next_result(&mut mesh.results, Duration::from_secs(20))
            .await
            .expect("the failing job's result");
        assert!(matches!(failed.outcome, JobOutcome::Failed { .. }));
        eventually(Duration::from_secs(20), "two merges in flight", || {
            let b = b.clone();
            async move {
                b.epoch_statuses(EpochNumber(8))
                    .await
                    .unwrap()
                    .iter()
                    .filter(|s| s.state == JobState::Proving)
                    .count()
                    == 2
            }
        })
        .await;

        // While the view runs: a quick job every 100 ms, and one more failure.
        let feeder = {
            let b = b.clone();
            tokio::spawn(async move {
                for n in 0..200u64 {
                    b.enqueue(job(8, ProofType::BaseParity, 1000 + n))
                        .await
                        .unwrap();
                    if n == 5 {
                        b.enqueue(failing_job(8, ProofType::BaseParity, "second failure"))
                            .await
                            .unwrap();
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        };
        let started = std::time::Instant::now();
        let out = provemesh(&url, &["jobs", "--watch", "--iterations", "3"]).await;
        let took = started.elapsed();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let stdout = text(&out.stdout);
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(
            lines.len(),
            3,
            "one line per refresh, no screen codes: {stdout:?}"
        );
        assert!(
            !stdout.contains('\x1b'),
            "no ANSI codes when not on a terminal"
        );
        assert!(
            took < Duration::from_secs(15),
            "three refreshes a second apart: {took:?}"
        );
        for (i, l) in lines.iter().enumerate() {
            assert!(l.starts_with(&format!("#{} t=", i + 1)), "{l}");
            assert!(
                l.contains("merge_rollup=4") && l.contains("private_base_rollup=5"),
                "{l}"
            );
            assert!(l.contains("in_flight=2 [") && l.contains("slow=2"), "{l}");
            assert!(
                l.contains("quick=0"),
                "an agent seen with nothing in flight: {l}"
            );
        }
        let last = lines[2];
        assert!(
            last.contains("failed=2"),
            "the seeded failure and the live one: {last}"
        );
        let results: u64 = last
            .split(" results=")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|r| r.parse().ok())
            .unwrap_or_else(|| panic!("results=N in {last}"));
        assert!(
            results >= 3,
            "the quick jobs counted as they finished: {last}"
        );
        assert!(!last.contains("rate=0.0/s"), "{last}");

        // Bounded by time, as JSON lines.
        let out = provemesh(
            &url,
            &[
                "jobs",
                "--watch-for",
                "1200ms",
                "--interval",
                "400ms",
                "--json",
            ],
        )
        .await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        let snaps: Vec<serde_json::Value> = text(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
            .collect();
        assert!((3..=5).contains(&snaps.len()), "{snaps:?}");
        let last = snaps.last().unwrap();
        assert_eq!(last["in_flight"]["slow"], 2);
        assert_eq!(last["in_flight_total"], 2);
        assert!(last["queued_total"].as_u64().unwrap() >= 9);

        feeder.abort();
        quick.stop().await;
        slow.stop().await;
    })
    .await
}
