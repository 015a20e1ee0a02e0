//! Spot instances: an agent process watching a termination-notice URL (a stand-in for
//! AWS's instance metadata on 127.0.0.1) drains on the notice exactly as on SIGTERM, and
//! a notice URL that does not answer never stops it.

use crate::support::*;
use provemesh_common::{JobOutcome, ProofType};
use provemesh_nats::TopologyConfig;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A metadata service on 127.0.0.1: 404 (no notice) until `notice` is set, then 200 with
/// an AWS-shaped instance action. Counts the polls it answered.
struct NoticeService {
    url: String,
    notice: Arc<AtomicBool>,
    polls: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl NoticeService {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (notice, polls) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicUsize::new(0)),
        );
        let (n, p) = (notice.clone(), polls.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let mut buf = vec![0u8; 4096];
                let _ = sock.read(&mut buf).await;
                p.fetch_add(1, Ordering::SeqCst);
                let (status, body) = if n.load(Ordering::SeqCst) {
                    (
                        "200 OK",
                        r#"{"action": "terminate", "time": "2030-01-01T00:02:00Z"}"#,
                    )
                } else {
                    ("404 Not Found", "")
                };
                let resp = format!(
                    "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            }
        });
        NoticeService {
            url: format!("http://127.0.0.1:{port}/latest/meta-data/spot/instance-action"),
            notice,
            polls,
            task,
        }
    }
}

impl Drop for NoticeService {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn termination_notice_drains_the_agent_and_its_job_is_handed_over_at_once() {
    within(Duration::from_secs(60), async {
        // A long AckWait: the hand-over must not depend on it.
        let cfg = TopologyConfig {
            ack_wait: Duration::from_secs(60),
            ..Default::default()
        };
        let Mesh {
            nats,
            store,
            broker,
            mut results,
            dir: _dir,
        } = Mesh::start(cfg).await;
        let service = NoticeService::start().await;

        let mut spot = AgentProcess::start(
            &nats.url(),
            &store,
            "spot",
            &[
                ("PROVER_SIMULATED_DEFAULT_DELAY", "120s"),
                ("PROVER_AGENT_DRAIN_DEADLINE", "1s"),
                ("PROVER_AGENT_TERMINATION_NOTICE_URL", &service.url),
                ("PROVER_AGENT_TERMINATION_NOTICE_POLL", "100ms"),
            ],
        );
        let j = job(3, ProofType::BlockRootRollup, 1);
        broker.enqueue(j.clone()).await.unwrap();
        // Wait until the job is running on the spot agent (its in-flight status is
        // written once it has run 200 ms) and the agent has seen "no notice" a few times.
        eventually(
            Duration::from_secs(20),
            "spot proving, no notice yet",
            || async {
                let proving = broker
                    .job_history(&j.id())
                    .await
                    .ok()
                    .flatten()
                    .and_then(|h| h.revisions.last().cloned())
                    .is_some_and(|s| s.agent.is_some_and(|a| a.0 == "spot"));
                proving && service.polls.load(Ordering::SeqCst) >= 3
            },
        )
        .await;
        assert_eq!(spot.child.try_wait().unwrap(), None, "404 is no notice");
        let _other = AgentProcess::start(
            &nats.url(),
            &store,
            "other",
            &[("PROVER_SIMULATED_DEFAULT_DELAY", "0s")],
        );

        let t0 = Instant::now();
        service.notice.store(true, Ordering::SeqCst);
        assert_eq!(
            spot.wait_exit(Duration::from_secs(15)),
            Some(0),
            "drained and exited cleanly on the notice, no signal sent"
        );
        let got = collect(&mut results, 1, Duration::from_secs(20)).await;
        let elapsed = t0.elapsed();
        let r = &got[&j.id()][0];
        assert_eq!(r.agent.0, "other");
        assert!(matches!(r.outcome, JobOutcome::Proved(_)));
        assert!(
            elapsed < Duration::from_secs(20),
            "handed over in {elapsed:?}, well before AckWait (60s)"
        );
        let log = spot.log();
        assert!(log.contains("spot termination notice"), "{log}");
        assert!(log.contains("\"action\": \"terminate\""), "{log}");
        assert!(log.contains("handing the job back"), "{log}");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_notice_url_only_warns_and_the_agent_keeps_proving() {
    within(Duration::from_secs(60), async {
        let Mesh {
            nats,
            store,
            broker,
            mut results,
            dir: _dir,
        } = Mesh::start(TopologyConfig::default()).await;
        // A loopback port nobody listens on.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let url = format!("http://127.0.0.1:{port}/latest/meta-data/spot/instance-action");
        let mut agent = AgentProcess::start(
            &nats.url(),
            &store,
            "steady",
            &[
                ("PROVER_SIMULATED_DEFAULT_DELAY", "0s"),
                ("PROVER_AGENT_TERMINATION_NOTICE_URL", &url),
                ("PROVER_AGENT_TERMINATION_NOTICE_POLL", "100ms"),
            ],
        );
        eventually(
            Duration::from_secs(20),
            "a warning about the notice URL",
            || {
                let log = agent.log();
                async move { log.contains("cannot read spot termination notices") }
            },
        )
        .await;
        // Ten more polls fail; the agent still proves.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let j = job(4, ProofType::MergeRollup, 1);
        broker.enqueue(j.clone()).await.unwrap();
        let got = collect(&mut results, 1, Duration::from_secs(20)).await;
        assert_eq!(got[&j.id()][0].agent.0, "steady");
        assert_eq!(agent.child.try_wait().unwrap(), None, "still running");
        let log = agent.log();
        assert_eq!(
            log.matches("cannot read spot termination notices").count(),
            1,
            "one warning per outage, not one per poll: {log}"
        );
        assert!(!log.contains("draining"), "{log}");
        agent.sigterm();
        assert_eq!(agent.wait_exit(Duration::from_secs(15)), Some(0));
    })
    .await
}
