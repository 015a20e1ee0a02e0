//! Metrics and traces over OTLP: a real receiver (HTTP, decoding the official OTLP protobuf
//! messages) gets the agent's, broker's and mesh's metrics from a `provemesh start`
//! process, and the spans of jobs from a devnet, each job one trace from the node's
//! enqueue through the agent's proof back to the node.

use crate::binaries::{provemesh, scopeguard};
use crate::support::*;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point::Value};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use provemesh_common::ProofType;
use provemesh_harness::NatsServer;
use provemesh_nats::{Topology, TopologyConfig};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// An OTLP/HTTP receiver on 127.0.0.1 for metrics and traces: every request it decodes
/// is kept.
struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<ExportMetricsServiceRequest>>>,
    spans: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let got: Arc<Mutex<Vec<ExportMetricsServiceRequest>>> = Arc::default();
        let spans: Arc<Mutex<Vec<ExportTraceServiceRequest>>> = Arc::default();
        let (store, span_store) = (got.clone(), spans.clone());
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let (store, span_store) = (store.clone(), span_store.clone());
                tokio::spawn(async move {
                    let (r, mut w) = sock.into_split();
                    let mut r = BufReader::new(r);
                    // Keep-alive: one request after another on the connection.
                    loop {
                        let mut line = String::new();
                        if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let mut len = 0usize;
                        loop {
                            let mut h = String::new();
                            if r.read_line(&mut h).await.unwrap_or(0) == 0 {
                                return;
                            }
                            if h == "\r\n" {
                                break;
                            }
                            if let Some((k, v)) = h.split_once(':') {
                                if k.eq_ignore_ascii_case("content-length") {
                                    len = v.trim().parse().unwrap_or(0);
                                }
                            }
                        }
                        let mut body = vec![0u8; len];
                        if r.read_exact(&mut body).await.is_err() {
                            return;
                        }
                        let status = if line.starts_with("POST /v1/metrics") {
                            match ExportMetricsServiceRequest::decode(body.as_slice()) {
                                Ok(req) => {
                                    store.lock().unwrap().push(req);
                                    "200 OK"
                                }
                                Err(_) => "400 Bad Request",
                            }
                        } else if line.starts_with("POST /v1/traces") {
                            match ExportTraceServiceRequest::decode(body.as_slice()) {
                                Ok(req) => {
                                    span_store.lock().unwrap().push(req);
                                    "200 OK"
                                }
                                Err(_) => "400 Bad Request",
                            }
                        } else {
                            "404 Not Found"
                        };
                        let reply = format!(
                            "HTTP/1.1 {status}\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n"
                        );
                        if w.write_all(reply.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Receiver {
            port,
            got,
            spans,
            task,
        }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/v1/metrics", self.port)
    }

    fn traces_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/v1/traces", self.port)
    }

    /// Every span received.
    fn all_spans(&self) -> Vec<Span> {
        self.spans
            .lock()
            .unwrap()
            .iter()
            .flat_map(|r| r.resource_spans.iter())
            .flat_map(|rs| rs.scope_spans.iter())
            .flat_map(|ss| ss.spans.iter().cloned())
            .collect()
    }

    /// The latest value of every (metric, attributes) series received, summed over the
    /// series of each metric: counters are cumulative, so the latest point is the total.
    /// Histograms contribute their count.
    fn totals(&self) -> HashMap<String, f64> {
        let mut latest: HashMap<(String, String), (u64, f64)> = HashMap::new();
        for req in self.got.lock().unwrap().iter() {
            for rm in &req.resource_metrics {
                for sm in &rm.scope_metrics {
                    for m in &sm.metrics {
                        let mut points: Vec<(String, u64, f64)> = Vec::new();
                        match &m.data {
                            Some(Data::Sum(s)) => {
                                for p in &s.data_points {
                                    points.push((
                                        format!("{:?}", p.attributes),
                                        p.time_unix_nano,
                                        value(&p.value),
                                    ));
                                }
                            }
                            Some(Data::Gauge(g)) => {
                                for p in &g.data_points {
                                    points.push((
                                        format!("{:?}", p.attributes),
                                        p.time_unix_nano,
                                        value(&p.value),
                                    ));
                                }
                            }
                            Some(Data::Histogram(h)) => {
                                for p in &h.data_points {
                                    points.push((
                                        format!("{:?}", p.attributes),
                                        p.time_unix_nano,
                                        p.count as f64,
                                    ));
                                }
                            }
                            _ => {}
                        }
                        for (attrs, t, v) in points {
                            let e = latest.entry((m.name.clone(), attrs)).or_insert((0, 0.0));
                            if t >= e.0 {
                                *e = (t, v);
                            }
                        }
                    }
                }
            }
        }
        let mut out = HashMap::new();
        for ((name, _), (_, v)) in latest {
            *out.entry(name).or_insert(0.0) += v;
        }
        out
    }

    fn service_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        for req in self.got.lock().unwrap().iter() {
            for rm in &req.resource_metrics {
                for a in rm.resource.iter().flat_map(|r| r.attributes.iter()) {
                    if a.key == "service.name" {
                        if let Some(AnyValue::StringValue(s)) =
                            a.value.as_ref().and_then(|v| v.value.as_ref())
                        {
                            names.push(s.clone());
                        }
                    }
                }
            }
        }
        names
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn value(v: &Option<Value>) -> f64 {
    match v {
        Some(Value::AsInt(i)) => *i as f64,
        Some(Value::AsDouble(d)) => *d,
        None => 0.0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_node_and_agent_push_their_metrics_over_otlp() {
    within(Duration::from_secs(90), async {
        let receiver = Receiver::start().await;
        let nats = NatsServer::start().expect("nats");
        let dir = tempfile::tempdir().unwrap();
        let store = StoreEnv::file(dir.path());
        let mut env: Vec<(&str, String)> = vec![
            ("PROVER_BROKER_HOST", nats.url()),
            ("PROVER_AGENT_ID", "metered".into()),
            ("PROVER_SIMULATED_DEFAULT_DELAY", "20ms".into()),
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", receiver.endpoint()),
            ("OTEL_METRIC_EXPORT_INTERVAL", "300".into()),
        ];
        for (k, v) in &store.vars {
            env.push((k.as_str(), v.clone()));
        }
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut node = provemesh(&["start", "--prover-broker", "--prover"], &env)
            .stdout(log.reopen().unwrap())
            .stderr(log.reopen().unwrap())
            .spawn()
            .expect("start");
        let pid = nix::unistd::Pid::from_raw(node.id() as i32);
        let _guard = scopeguard(pid);

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
        let b = broker(topo.expect("topology applied"), store.store.clone());
        let mut results = b.results("test", None).await.unwrap();
        let jobs: Vec<_> = (0..16)
            .map(|n| job(31, ProofType::ALL[n as usize % 8], n))
            .collect();
        b.enqueue_many(jobs).await.unwrap();
        assert_eq!(
            collect(&mut results, 16, Duration::from_secs(30))
                .await
                .len(),
            16
        );

        // The process pushes every interval, and once more as it stops.
        eventually(
            Duration::from_secs(20),
            "the agent's metrics reached the receiver",
            || {
                let t = receiver.totals();
                async move { t.get("provemesh.agent.jobs.succeeded").copied() == Some(16.0) }
            },
        )
        .await;
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let status = tokio::task::spawn_blocking(move || node.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(status.success());

        let totals = receiver.totals();
        let log_text = std::fs::read_to_string(log.path()).unwrap_or_default();
        assert_eq!(
            totals.get("provemesh.agent.jobs.started"),
            Some(&16.0),
            "{totals:?}\n{log_text}"
        );
        assert_eq!(
            totals.get("provemesh.agent.job.duration"),
            Some(&16.0),
            "one duration per job"
        );
        assert!(
            totals.contains_key("provemesh.mesh.queue.depth"),
            "{totals:?}"
        );
        assert!(
            totals.contains_key("provemesh.agent.busy_ratio"),
            "{totals:?}"
        );
        assert!(receiver.service_names().iter().all(|s| s == "provemesh"));
        // The agent's id (shown in the log) never carries a secret; nor do the metrics:
        // the store and NATS settings of this run hold none, so check the log instead
        // says where metrics go.
        assert!(
            log_text.contains("exporting metrics over OTLP"),
            "{log_text}"
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jobs_trace_runs_from_the_node_through_the_agent_and_back() {
    within(Duration::from_secs(90), async {
        let receiver = Receiver::start().await;
        let out = devnet(
            &[
                "--epochs",
                "1",
                "--agents",
                "2",
                "--proof-delay",
                "5ms",
                "--synthetic",
            ],
            &[(
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                receiver.traces_endpoint(),
            )],
        )
        .await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );

        let spans = receiver.all_spans();
        let named = |n: &str| spans.iter().filter(|s| s.name == n).collect::<Vec<_>>();
        let (enqueues, jobs, results) = (named("enqueue"), named("job"), named("result"));
        assert!(
            !jobs.is_empty(),
            "job spans exported: {:?}",
            spans.iter().map(|s| &s.name).collect::<Vec<_>>()
        );
        // Every job span continues its enqueue's trace, and its result's span continues it.
        let mut chains = 0;
        for job in &jobs {
            let parent = enqueues
                .iter()
                .find(|e| e.span_id == job.parent_span_id)
                .unwrap_or_else(|| panic!("job span {:?} has no enqueue parent", job.span_id));
            assert_eq!(parent.trace_id, job.trace_id, "one trace per job");
            if results
                .iter()
                .any(|r| r.parent_span_id == job.span_id && r.trace_id == job.trace_id)
            {
                chains += 1;
            }
        }
        // Each job was proved once and its result received once by the node.
        assert_eq!(
            chains,
            jobs.len(),
            "every job's result span continues its trace"
        );
        assert_eq!(jobs.len(), enqueues.len());
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prover_nodes_epochs_quotes_and_l1_publishing_reach_the_collector() {
    within(Duration::from_secs(150), async {
        let receiver = Receiver::start().await;
        // The devnet's rollup on a fast clock: its prover node wins, proves and publishes
        // two epochs.
        let out = devnet(
            &[
                "--epochs",
                "2",
                "--agents",
                "2",
                "--proof-delay",
                "5ms",
                "--slot-duration",
                "2",
                "--epoch-duration",
                "4",
            ],
            &[
                ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", receiver.endpoint()),
                ("OTEL_METRIC_EXPORT_INTERVAL", "1s".into()),
            ],
        )
        .await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The last push happens as the process stops: every count is final.
        let t = receiver.totals();
        let published = stdout.matches("verified on L1 (tx").count() as f64;
        assert_eq!(published, 2.0, "{stdout}");
        assert_eq!(t.get("provemesh.node.epochs"), Some(&published), "{t:?}");
        assert!(
            t.get("provemesh.node.quotes.sent").copied().unwrap_or(0.0) >= published,
            "{t:?}"
        );
        assert!(
            t.get("provemesh.node.quotes.won").copied().unwrap_or(0.0) >= published,
            "{t:?}"
        );
        assert!(
            t.get("provemesh.node.blocks.executed")
                .copied()
                .unwrap_or(0.0)
                >= 2.0,
            "{t:?}"
        );
        assert!(
            t.get("provemesh.node.world_state.tip")
                .copied()
                .unwrap_or(0.0)
                >= 2.0,
            "{t:?}"
        );
        assert_eq!(
            t.get("provemesh.l1_publisher.gas_used"),
            Some(&published),
            "one landed submission per epoch: {t:?}"
        );
        assert!(
            t.get("provemesh.epoch.proving_time")
                .copied()
                .unwrap_or(0.0)
                >= published,
            "{t:?}"
        );
        assert!(
            t.contains_key("provemesh.archiver.l2_proven_block"),
            "{t:?}"
        );
    })
    .await
}

/// `provemesh devnet ARGS` to its end (LOG_LEVEL=warn plus `env`), killed if the test
/// fails first; its output.
async fn devnet(args: &[&str], env: &[(&str, String)]) -> std::process::Output {
    let mut all_env = vec![("LOG_LEVEL", "warn".to_string())];
    all_env.extend(env.iter().cloned());
    let child = provemesh(&[&["devnet"][..], args].concat(), &all_env)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("devnet");
    // Kills it if the test is dropped (timed out) while it runs; once reaped, its pid is
    // no longer ours to signal.
    let guard = scopeguard(nix::unistd::Pid::from_raw(child.id() as i32));
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    std::mem::forget(guard);
    out
}
