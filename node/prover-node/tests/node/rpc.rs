//! The prover node's JSON-RPC server, real on 127.0.0.1, over an in-memory
//! `StatusSource`: every method through the generated client, the plain-HTTP probes as a
//! k8s kubelet sends them, the error codes, and shutdown.

use crate::support::within;
use alloy::primitives::{Address, U256};
use futures::future::BoxFuture;
use jsonrpsee::core::client::{ClientT, Error as ClientError};
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use jsonrpsee::rpc_params;
use provemesh_common::{AgentId, EpochNumber, JobId, JobState, JobStatus, ProofType};
use provemesh_orchestrator::{EpochProgress, TypeProgress};
use provemesh_prover_node::rpc::{
    codes, serve, EpochPhase, EpochStatusJson, JobJson, JobsUnavailable, ProverNodeApiClient,
    ProverStatus, QuoteFate, QuoteRoute, Readiness, RpcError, SentQuoteJson, StatusSource,
};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Epoch whose job statuses cannot be read (as if NATS were down).
const UNREADABLE_EPOCH: u64 = 99;

/// What a node would report, held in memory.
struct FakeNode {
    status: ProverStatus,
    quotes: Vec<SentQuoteJson>,
    jobs: BTreeMap<u64, Vec<JobJson>>,
    readiness: Mutex<Readiness>,
}

impl StatusSource for FakeNode {
    fn status(&self) -> ProverStatus {
        self.status.clone()
    }

    fn quotes(&self) -> Vec<SentQuoteJson> {
        self.quotes.clone()
    }

    fn epoch_jobs(
        &self,
        epoch: u64,
    ) -> BoxFuture<'_, Result<Option<Vec<JobJson>>, JobsUnavailable>> {
        Box::pin(async move {
            if epoch == UNREADABLE_EPOCH {
                return Err(JobsUnavailable("NATS: connection refused".into()));
            }
            Ok(self.jobs.get(&epoch).cloned())
        })
    }

    fn readiness(&self) -> Readiness {
        self.readiness.lock().unwrap().clone()
    }
}

fn job(proof_type: ProofType, state: JobState, agent: Option<&str>) -> JobStatus {
    JobStatus {
        id: JobId::derive(proof_type, format!("{proof_type:?}{state:?}").as_bytes()),
        proof_type,
        epoch: EpochNumber(4),
        state,
        attempt: 2,
        agent: agent.map(|a| AgentId(a.to_string())),
        error: (state == JobState::Retrying).then(|| "store: timed out".to_string()),
        updated_at_ms: 1_700_000_000_000,
    }
}

/// A node proving epoch 4 (from an orchestrator progress) and syncing epoch 5, with
/// three quotes, not yet synced with L1.
fn fake_node() -> FakeNode {
    let mut progress = EpochProgress::new(EpochNumber(4), 1_000, Some(120_000));
    progress.blocks = 1;
    progress.per_type.insert(
        ProofType::PrivateBaseRollup,
        TypeProgress {
            total: 4,
            queued: 1,
            in_flight: 1,
            done: 2,
            ..TypeProgress::default()
        },
    );
    progress.jobs_total = 11;
    progress.jobs_done = 2;
    progress.eta_ms = Some(100_000);
    progress.deadline_slack_ms = Some(20_000);
    let statuses = [
        job(
            ProofType::PrivateBaseRollup,
            JobState::Proved,
            Some("agent-a"),
        ),
        job(
            ProofType::PrivateBaseRollup,
            JobState::Retrying,
            Some("agent-b"),
        ),
        job(ProofType::BaseParity, JobState::Queued, None),
    ];
    let quote = |epoch: u64, fate: QuoteFate| SentQuoteJson {
        epoch,
        basis_point_fee: 500,
        bond_amount: U256::from(1_000u64),
        valid_until_slot: 64,
        prover: Address::repeat_byte(0x11),
        route: QuoteRoute::P2p,
        sent_at_ms: 1_700_000_000_000,
        fate,
    };
    FakeNode {
        status: ProverStatus {
            l1_synced_block: Some(812),
            l2_pending_tip: 9,
            l2_proven_tip: 3,
            world_state_tip: 9,
            epochs: vec![
                EpochStatusJson::from(&progress),
                EpochStatusJson::new(5, EpochPhase::Syncing),
            ],
        },
        quotes: vec![
            quote(3, QuoteFate::Won),
            quote(
                4,
                QuoteFate::Lost {
                    winner: Address::repeat_byte(0x22),
                    winner_basis_point_fee: Some(100),
                },
            ),
            quote(
                5,
                QuoteFate::Refused {
                    reason: "bond below the minimum".into(),
                },
            ),
        ],
        jobs: BTreeMap::from([(4, statuses.iter().map(JobJson::from).collect())]),
        readiness: Mutex::new(Readiness {
            l1_synced: false,
            nats_connected: true,
            reasons: vec!["L1: 12 blocks behind".into()],
        }),
    }
}

struct Running {
    addr: SocketAddr,
    client: HttpClient,
    node: Arc<FakeNode>,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

async fn start() -> Running {
    let node = Arc::new(fake_node());
    let shutdown = CancellationToken::new();
    let (addr, task) = serve(
        "127.0.0.1:0".parse().unwrap(),
        node.clone(),
        shutdown.clone(),
    )
    .await
    .unwrap();
    let client = HttpClientBuilder::default()
        .request_timeout(Duration::from_secs(5))
        .build(format!("http://{addr}"))
        .unwrap();
    Running {
        addr,
        client,
        node,
        shutdown,
        task,
    }
}

impl Running {
    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("server stopped")
            .unwrap();
    }
}

/// `GET path` as a probe sends it: the status code and the body.
async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut raw))
        .await
        .expect("response in time")
        .unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP response");
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status line");
    (code, body.to_string())
}

/// The JSON-RPC error of a failed call.
fn call_error(e: ClientError) -> jsonrpsee::types::ErrorObjectOwned {
    match e {
        ClientError::Call(e) => e,
        other => panic!("expected a JSON-RPC error, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_method_answers_what_the_node_reports_through_the_generated_client() {
    within(20, async {
        let r = start().await;
        let c = &r.client;

        let status = c.status().await.unwrap();
        assert_eq!(status, r.node.status);
        let proving = &status.epochs[0];
        assert_eq!((proving.epoch, proving.state), (4, EpochPhase::Proving));
        let bases = &proving.per_type[0];
        assert_eq!(
            (
                bases.proof_type,
                bases.done,
                bases.queued,
                bases.in_flight,
                bases.total
            ),
            (ProofType::PrivateBaseRollup, 2, 1, 1, 4)
        );
        assert_eq!(
            (
                proving.eta_ms,
                proving.deadline_ms,
                proving.deadline_slack_ms
            ),
            (Some(100_000), Some(120_000), Some(20_000))
        );
        assert_eq!(status.epochs[1].state, EpochPhase::Syncing);

        let jobs = c.epoch_jobs(4).await.unwrap();
        assert_eq!(jobs, r.node.jobs[&4]);
        assert_eq!(jobs[1].status, JobState::Retrying);
        assert_eq!(jobs[1].agent, Some(AgentId("agent-b".into())));
        assert_eq!(jobs[1].error.as_deref(), Some("store: timed out"));

        assert_eq!(c.quotes().await.unwrap(), r.node.quotes);

        let health = c.health().await.unwrap();
        assert_eq!(health.status, "ok");

        let ready = c.ready().await.unwrap();
        assert!(!ready.ready);
        assert_eq!(ready.readiness, r.node.readiness());

        r.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_ready_are_plain_http_probes_answering_200_or_503() {
    within(20, async {
        let r = start().await;

        let (code, body) = http_get(r.addr, "/health").await;
        assert_eq!(code, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["status"], "ok");

        // Not synced with L1 yet: not ready, and the body says why.
        let (code, body) = http_get(r.addr, "/ready").await;
        assert_eq!(code, 503, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["ready"], false);
        assert_eq!(v["l1Synced"], false);
        assert_eq!(v["reasons"][0], "L1: 12 blocks behind");

        *r.node.readiness.lock().unwrap() = Readiness {
            l1_synced: true,
            nats_connected: true,
            reasons: vec![],
        };
        let (code, body) = http_get(r.addr, "/ready").await;
        assert_eq!(code, 200, "{body}");
        assert!(c_ready(&r).await);

        // NATS lost: not ready again.
        *r.node.readiness.lock().unwrap() = Readiness {
            l1_synced: true,
            nats_connected: false,
            reasons: vec!["NATS: disconnected".into()],
        };
        assert_eq!(http_get(r.addr, "/ready").await.0, 503);

        // Other paths are not probes; JSON-RPC still works on the same port.
        assert_ne!(http_get(r.addr, "/metrics").await.0, 200);
        assert_eq!(r.client.status().await.unwrap().l2_pending_tip, 9);

        r.stop().await;
    })
    .await
}

async fn c_ready(r: &Running) -> bool {
    r.client.ready().await.unwrap().ready
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_epoch_and_unreadable_jobs_are_errors_with_their_own_codes() {
    within(20, async {
        let r = start().await;

        let e = call_error(r.client.epoch_jobs(77).await.unwrap_err());
        assert_eq!(e.code(), codes::UNKNOWN_EPOCH);
        assert!(e.message().contains("epoch 77"), "{}", e.message());
        assert_eq!(
            e.data().map(|d| d.get()),
            Some(r#"{"kind":"unknown_epoch"}"#)
        );

        let e = call_error(r.client.epoch_jobs(UNREADABLE_EPOCH).await.unwrap_err());
        assert_eq!(e.code(), codes::JOBS_UNAVAILABLE);
        assert!(
            e.message().contains("epoch 99") && e.message().contains("connection refused"),
            "{}",
            e.message()
        );

        r.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_params_get_invalid_params_saying_what_was_wrong() {
    within(20, async {
        let r = start().await;
        let method = "prover_getEpochJobs";
        let cases = [
            (rpc_params!["four"], "invalid type: string"),
            (rpc_params![-1], "invalid value: integer `-1`"),
            (rpc_params![4.5], "invalid type: floating point"),
            // jsonrpsee's words for a missing parameter.
            (rpc_params![], "No more params"),
        ];
        for (params, what) in cases {
            let e = r
                .client
                .request::<serde_json::Value, _>(method, params)
                .await
                .unwrap_err();
            let e = call_error(e);
            assert_eq!(e.code(), -32602, "{e}");
            let said = format!("{} {}", e.message(), e.data().map_or("", |d| d.get()));
            assert!(said.contains(what), "expected {what:?} in {said:?}");
        }
        // An unknown method is not a params error.
        let e = r
            .client
            .request::<serde_json::Value, _>("prover_getNothing", rpc_params![])
            .await
            .unwrap_err();
        assert_eq!(call_error(e).code(), -32601);

        r.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_stops_on_shutdown_and_a_taken_port_is_named() {
    within(20, async {
        let r = start().await;
        let addr = r.addr;
        assert_eq!(http_get(addr, "/health").await.0, 200);

        // The same address again: refused, naming it.
        let err = serve(addr, r.node.clone(), CancellationToken::new())
            .await
            .unwrap_err();
        assert!(matches!(err, RpcError::Bind { .. }), "{err}");
        assert!(err.to_string().contains(&addr.to_string()), "{err}");

        r.stop().await;
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "nothing listens on {addr} after shutdown"
        );
    })
    .await
}
