//! The prover node's JSON-RPC server (AZTEC_PORT): what an operator, a dashboard or an
//! orchestrator (k8s probes) asks of a running prover node. Read-only: it reports what
//! the node does and changes nothing.
//!
//! The server reads everything through [`StatusSource`], which the node implements from
//! its archiver, world state, orchestrator progress, quote book and broker; the
//! conversions from the orchestrator's [`EpochProgress`] and the broker's [`JobStatus`]
//! live here so the node has nothing to translate. Tests serve an in-memory source.
//!
//! | method | params | result | errors |
//! |---|---|---|---|
//! | `prover_getStatus` | none | [`ProverStatus`]: L1 block synced, L2 pending and proven tips, world state tip, and each epoch the node works on (state, jobs per proof type done/queued/in flight/total, ETA, deadline and slack, error) | none |
//! | `prover_getEpochJobs` | `[epoch]` (integer ≥ 0) | [`JobJson`]`[]`: the epoch's jobs the mesh has a record of (id, proof type, status, attempt, agent, error) | `-32602` the epoch is not a non-negative integer; `-32010` unknown epoch (not one the node proves or has proved); `-32011` job statuses unreadable (NATS) |
//! | `prover_getQuotes` | none | [`SentQuoteJson`]`[]`: quotes sent and their fate (pending, won, lost to a winner, expired, refused with the reason) | none |
//! | `prover_health` | none | [`HealthJson`] (liveness: the server answers) | none |
//! | `prover_ready` | none | [`ReadyJson`] (readiness: synced with L1 and connected to NATS; reasons when not) | none |
//!
//! The probes are also plain HTTP, for orchestrators that cannot speak JSON-RPC:
//! `GET /health` answers 200 with [`HealthJson`]; `GET /ready` answers 200 when ready and
//! 503 when not, with [`ReadyJson`] either way.
//!
//! Errors are JSON-RPC errors; refusals carry `{"kind": …}` as data (as in
//! `provemesh_p2p::api`), malformed parameters get jsonrpsee's `-32602` whose data says
//! what did not parse.

use alloy::primitives::{Address, U256};
use futures::future::BoxFuture;
use futures::FutureExt as _;
use jsonrpsee::core::{async_trait, BoxError, RpcResult};
use jsonrpsee::proc_macros::rpc;
use jsonrpsee::server::{HttpRequest, HttpResponse, Server, ServerConfig};
use provemesh_common::{AgentId, JobId, JobState, JobStatus, ProofType};
use provemesh_orchestrator::{EpochProgress, EpochState};
use provemesh_p2p::api::rpc_error;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// JSON-RPC error codes of this API (the node API's codes end at -32004; these start at
/// -32010 so the two never collide).
pub mod codes {
    /// The epoch is not one this node proves or has proved.
    pub const UNKNOWN_EPOCH: i32 = -32010;
    /// The epoch's job statuses could not be read (the mesh is unreachable).
    pub const JOBS_UNAVAILABLE: i32 = -32011;
}

/// Largest request accepted: every method takes at most one integer.
const MAX_REQUEST_BYTES: u32 = 64 * 1024;

/// The node as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProverStatus {
    /// The last L1 block the archiver applied; none before its first sync.
    pub l1_synced_block: Option<u64>,
    /// The newest L2 block proposed on L1 (pending chain).
    pub l2_pending_tip: u64,
    /// The newest L2 block proven on L1.
    pub l2_proven_tip: u64,
    /// The newest block the node's world state has re-executed.
    pub world_state_tip: u64,
    /// The epochs the node works on or finished recently, oldest first.
    pub epochs: Vec<EpochStatusJson>,
}

/// Where an epoch stands in the node's life cycle (the orchestrator knows only proving;
/// the node adds syncing before it and publishing after it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EpochPhase {
    /// Claimed; its blocks are being fetched and re-executed.
    Syncing,
    /// Jobs on the mesh.
    Proving,
    /// The root proof exists and was checked; not yet sent to L1.
    Proved,
    /// The root proof is being submitted to L1.
    Publishing,
    /// L1 accepted the proof.
    Published,
    /// Proving or publishing failed; `error` says why.
    Failed,
    /// Stopped by the node (e.g. the chain was pruned or the claim went to another prover).
    Cancelled,
}

/// Jobs of one proof type in one epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TypeStatusJson {
    pub proof_type: ProofType,
    /// Waiting for their children's proofs.
    pub waiting: u64,
    /// On the mesh, not yet taken by an agent.
    pub queued: u64,
    /// Being proved.
    pub in_flight: u64,
    /// Proved, the proof checked.
    pub done: u64,
    /// In the epoch's proof tree so far.
    pub total: u64,
}

/// One epoch the node works on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EpochStatusJson {
    pub epoch: u64,
    pub state: EpochPhase,
    /// Blocks added to the proof tree so far.
    pub blocks: u64,
    /// Every block of the epoch is in the tree.
    pub sealed: bool,
    /// Per proof type, leaves first.
    pub per_type: Vec<TypeStatusJson>,
    pub jobs_done: u64,
    pub jobs_total: u64,
    /// Estimated unix ms of the root proof; none until something can be estimated.
    pub eta_ms: Option<u64>,
    /// Unix ms by which the proof must be on L1.
    pub deadline_ms: Option<u64>,
    /// Deadline minus the estimate (negative: an overrun is expected).
    pub deadline_slack_ms: Option<i64>,
    /// Why the epoch failed.
    pub error: Option<String>,
}

impl EpochStatusJson {
    /// An epoch with no proof tree yet (e.g. still syncing).
    pub fn new(epoch: u64, state: EpochPhase) -> Self {
        EpochStatusJson {
            epoch,
            state,
            blocks: 0,
            sealed: false,
            per_type: Vec::new(),
            jobs_done: 0,
            jobs_total: 0,
            eta_ms: None,
            deadline_ms: None,
            deadline_slack_ms: None,
            error: None,
        }
    }
}

impl From<&EpochProgress> for EpochStatusJson {
    fn from(p: &EpochProgress) -> Self {
        let (state, error) = match &p.state {
            EpochState::Proving => (EpochPhase::Proving, None),
            EpochState::Proved => (EpochPhase::Proved, None),
            EpochState::Failed(reason) => (EpochPhase::Failed, Some(reason.clone())),
            EpochState::Cancelled => (EpochPhase::Cancelled, None),
        };
        EpochStatusJson {
            epoch: p.epoch.0,
            state,
            blocks: p.blocks as u64,
            sealed: p.sealed,
            per_type: p
                .per_type
                .iter()
                .map(|(&proof_type, t)| TypeStatusJson {
                    proof_type,
                    waiting: t.waiting as u64,
                    queued: t.queued as u64,
                    in_flight: t.in_flight as u64,
                    done: t.done as u64,
                    total: t.total as u64,
                })
                .collect(),
            jobs_done: p.jobs_done as u64,
            jobs_total: p.jobs_total as u64,
            eta_ms: p.eta_ms,
            deadline_ms: p.deadline_ms,
            deadline_slack_ms: p.deadline_slack_ms,
            error,
        }
    }
}

/// One job of an epoch, as the mesh last recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobJson {
    /// 64 hex digits, as in results, headers and `provemesh jobs --job`.
    pub id: JobId,
    pub proof_type: ProofType,
    pub status: JobState,
    /// Delivery attempt (1 = first).
    pub attempt: u32,
    /// The agent that holds or held it, where known.
    pub agent: Option<AgentId>,
    /// The last error (retrying or failed jobs).
    pub error: Option<String>,
    pub updated_at_ms: u64,
}

impl From<&JobStatus> for JobJson {
    fn from(s: &JobStatus) -> Self {
        JobJson {
            id: s.id,
            proof_type: s.proof_type,
            status: s.state,
            attempt: s.attempt,
            agent: s.agent.clone(),
            error: s.error.clone(),
            updated_at_ms: s.updated_at_ms,
        }
    }
}

/// How a quote was handed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuoteRoute {
    /// Gossiped on the quotes topic.
    P2p,
    /// `prover_submitEpochProofQuote` to the coordination node.
    Node,
}

/// What became of a quote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum QuoteFate {
    /// Sent; the epoch is not claimed yet.
    Pending,
    /// The epoch was claimed with this quote.
    Won,
    /// The epoch was claimed with another prover's quote.
    #[serde(rename_all = "camelCase")]
    Lost {
        winner: Address,
        winner_basis_point_fee: Option<u32>,
    },
    /// Its validity ended with no claim.
    Expired,
    /// The node it was sent to refused it.
    Refused { reason: String },
}

/// A quote the node sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SentQuoteJson {
    pub epoch: u64,
    /// Share of the epoch's rewards asked, in basis points.
    pub basis_point_fee: u32,
    /// Bond the prover stakes on the claim (token base units).
    pub bond_amount: U256,
    pub valid_until_slot: u64,
    pub prover: Address,
    pub route: QuoteRoute,
    pub sent_at_ms: u64,
    pub fate: QuoteFate,
}

/// Liveness: the server answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthJson {
    /// Always `"ok"`.
    pub status: String,
    pub version: String,
}

impl HealthJson {
    fn now() -> Self {
        HealthJson {
            status: "ok".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

/// What readiness depends on, as the node sees it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Readiness {
    /// The archiver has caught up with L1.
    pub l1_synced: bool,
    /// The node is connected to NATS (the mesh can take jobs).
    pub nats_connected: bool,
    /// Why not ready, for the operator (e.g. "L1: 12 blocks behind"); empty when ready.
    pub reasons: Vec<String>,
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        self.l1_synced && self.nats_connected
    }
}

/// `prover_ready`'s result and `GET /ready`'s body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadyJson {
    pub ready: bool,
    #[serde(flatten)]
    pub readiness: Readiness,
}

impl From<Readiness> for ReadyJson {
    fn from(readiness: Readiness) -> Self {
        ReadyJson {
            ready: readiness.is_ready(),
            readiness,
        }
    }
}

/// The epoch's job statuses could not be read.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct JobsUnavailable(pub String);

/// What the server reports, implemented by the node. The synchronous methods are called
/// on the server's tasks for every request: they must return a snapshot at once.
pub trait StatusSource: Send + Sync + 'static {
    fn status(&self) -> ProverStatus;
    fn quotes(&self) -> Vec<SentQuoteJson>;
    /// The jobs of `epoch`; `Ok(None)` when the node does not know the epoch.
    fn epoch_jobs(
        &self,
        epoch: u64,
    ) -> BoxFuture<'_, Result<Option<Vec<JobJson>>, JobsUnavailable>>;
    fn readiness(&self) -> Readiness;
}

#[rpc(server, client)]
pub trait ProverNodeApi {
    /// Sync position, tips and each epoch's progress.
    #[method(name = "prover_getStatus")]
    async fn status(&self) -> RpcResult<ProverStatus>;

    /// The jobs of `epoch` the mesh has a record of. Errors: unknown epoch (-32010), job
    /// statuses unreadable (-32011).
    #[method(name = "prover_getEpochJobs")]
    async fn epoch_jobs(&self, epoch: u64) -> RpcResult<Vec<JobJson>>;

    /// Quotes sent and their fate.
    #[method(name = "prover_getQuotes")]
    async fn quotes(&self) -> RpcResult<Vec<SentQuoteJson>>;

    /// Liveness (also `GET /health`).
    #[method(name = "prover_health")]
    async fn health(&self) -> RpcResult<HealthJson>;

    /// Readiness: synced with L1 and connected to NATS (also `GET /ready`, 200 or 503).
    #[method(name = "prover_ready")]
    async fn ready(&self) -> RpcResult<ReadyJson>;
}

struct ProverNodeRpc(Arc<dyn StatusSource>);

#[async_trait]
impl ProverNodeApiServer for ProverNodeRpc {
    async fn status(&self) -> RpcResult<ProverStatus> {
        Ok(self.0.status())
    }

    async fn epoch_jobs(&self, epoch: u64) -> RpcResult<Vec<JobJson>> {
        match self.0.epoch_jobs(epoch).await {
            Ok(Some(jobs)) => Ok(jobs),
            Ok(None) => Err(rpc_error(
                codes::UNKNOWN_EPOCH,
                "unknown_epoch",
                format!(
                    "epoch {epoch} is not one this prover node proves or has proved (prover_getStatus lists them)"
                ),
            )),
            Err(e) => Err(rpc_error(
                codes::JOBS_UNAVAILABLE,
                "jobs_unavailable",
                format!("jobs of epoch {epoch} could not be read: {e}"),
            )),
        }
    }

    async fn quotes(&self) -> RpcResult<Vec<SentQuoteJson>> {
        Ok(self.0.quotes())
    }

    async fn health(&self) -> RpcResult<HealthJson> {
        Ok(HealthJson::now())
    }

    async fn ready(&self) -> RpcResult<ReadyJson> {
        Ok(self.0.readiness().into())
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    #[error("prover node JSON-RPC: cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("prover node JSON-RPC: no local address: {0}")]
    LocalAddr(std::io::Error),
}

/// Serves the API on `addr` (port 0: any free port) until `shutdown`. Returns the address
/// it listens on and a task that ends once the server has stopped.
pub async fn serve(
    addr: SocketAddr,
    source: Arc<dyn StatusSource>,
    shutdown: CancellationToken,
) -> Result<(SocketAddr, JoinHandle<()>), RpcError> {
    let config = ServerConfig::builder()
        .max_request_body_size(MAX_REQUEST_BYTES)
        .build();
    let server = Server::builder()
        .set_config(config)
        .set_http_middleware(tower::ServiceBuilder::new().layer(ProbeLayer(source.clone())))
        .build(addr)
        .await
        .map_err(|source| RpcError::Bind { addr, source })?;
    let local = server.local_addr().map_err(RpcError::LocalAddr)?;
    let handle = server.start(ProverNodeRpc(source).into_rpc());
    tracing::info!(%local, "prover node JSON-RPC listening");
    let task = tokio::spawn(async move {
        tokio::select! {
            _ = shutdown.cancelled() => {
                // Already stopped is the only error: nothing to do then.
                let _ = handle.stop();
            }
            _ = handle.clone().stopped() => {}
        }
        handle.stopped().await;
        tracing::info!(%local, "prover node JSON-RPC stopped");
    });
    Ok((local, task))
}

/// Answers `GET /health` and `GET /ready` itself (with 503 when not ready, which a
/// JSON-RPC error proxied to HTTP could not say) and passes every other request on.
#[derive(Clone)]
struct ProbeLayer(Arc<dyn StatusSource>);

impl<S> tower::Layer<S> for ProbeLayer {
    type Service = Probes<S>;

    fn layer(&self, inner: S) -> Probes<S> {
        Probes {
            inner,
            source: self.0.clone(),
        }
    }
}

#[derive(Clone)]
struct Probes<S> {
    inner: S,
    source: Arc<dyn StatusSource>,
}

impl<S> tower::Service<HttpRequest> for Probes<S>
where
    S: tower::Service<HttpRequest, Response = HttpResponse>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = HttpResponse;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<HttpResponse, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: HttpRequest) -> Self::Future {
        if req.method() == "GET" {
            let probe = match req.uri().path() {
                "/health" => Some(json_response(true, &HealthJson::now())),
                "/ready" => {
                    let r = ReadyJson::from(self.source.readiness());
                    Some(json_response(r.ready, &r))
                }
                _ => None,
            };
            if let Some(response) = probe {
                return futures::future::ready(Ok(response)).boxed();
            }
        }
        let fut = self.inner.call(req);
        async move { fut.await.map_err(Into::into) }.boxed()
    }
}

/// `body` as JSON, 200 when `ok`, else 503.
fn json_response<T: Serialize>(ok: bool, body: &T) -> HttpResponse {
    let json = serde_json::to_string(body)
        .unwrap_or_else(|e| format!("{{\"error\":\"response not serializable: {e}\"}}"));
    let mut response = jsonrpsee::server::http::response::ok_response(json);
    if !ok {
        // 503 is a valid status code, so the conversion cannot fail.
        let unavailable = 503u16.try_into().expect("503 is a status code");
        *response.status_mut() = unavailable;
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use provemesh_common::EpochNumber;
    use provemesh_orchestrator::TypeProgress;

    #[test]
    fn epoch_progress_becomes_the_epoch_status_the_api_reports() {
        let mut p = EpochProgress::new(EpochNumber(7), 1_000, Some(90_000));
        p.blocks = 2;
        p.per_type.insert(
            ProofType::MergeRollup,
            TypeProgress {
                total: 3,
                waiting: 1,
                queued: 1,
                in_flight: 0,
                done: 1,
                mean_prove_ms: Some(40),
            },
        );
        p.per_type.insert(
            ProofType::BaseParity,
            TypeProgress {
                total: 2,
                done: 2,
                ..TypeProgress::default()
            },
        );
        p.jobs_total = 5;
        p.jobs_done = 3;
        p.eta_ms = Some(80_000);
        p.deadline_slack_ms = Some(10_000);
        let s = EpochStatusJson::from(&p);
        assert_eq!(s.epoch, 7);
        assert_eq!(s.state, EpochPhase::Proving);
        assert_eq!(s.error, None);
        assert_eq!(
            s.per_type
                .iter()
                .map(|t| (t.proof_type, t.done, t.total))
                .collect::<Vec<_>>(),
            vec![
                (ProofType::BaseParity, 2, 2),
                (ProofType::MergeRollup, 1, 3)
            ],
            "leaves first"
        );
        assert_eq!(
            (s.eta_ms, s.deadline_ms, s.deadline_slack_ms),
            (Some(80_000), Some(90_000), Some(10_000))
        );

        p.state = EpochState::Failed("root rollup: archive mismatch".into());
        let s = EpochStatusJson::from(&p);
        assert_eq!(s.state, EpochPhase::Failed);
        assert_eq!(s.error.as_deref(), Some("root rollup: archive mismatch"));
    }

    #[test]
    fn json_field_names_are_camel_case_and_states_snake_case() {
        let mut s = EpochStatusJson::new(3, EpochPhase::Publishing);
        s.deadline_slack_ms = Some(-5);
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["state"], "publishing");
        assert_eq!(v["deadlineSlackMs"], -5);
        assert!(v.get("perType").is_some());

        let q = SentQuoteJson {
            epoch: 3,
            basis_point_fee: 250,
            bond_amount: U256::from(100u64),
            valid_until_slot: 40,
            prover: Address::repeat_byte(1),
            route: QuoteRoute::P2p,
            sent_at_ms: 1,
            fate: QuoteFate::Lost {
                winner: Address::repeat_byte(2),
                winner_basis_point_fee: Some(100),
            },
        };
        let v = serde_json::to_value(&q).unwrap();
        assert_eq!(v["route"], "p2p");
        assert_eq!(v["fate"]["kind"], "lost");
        assert_eq!(v["fate"]["winnerBasisPointFee"], 100);
        assert_eq!(serde_json::from_value::<SentQuoteJson>(v).unwrap(), q);

        let r = ReadyJson::from(Readiness {
            l1_synced: true,
            nats_connected: false,
            reasons: vec!["NATS: connection refused".into()],
        });
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["ready"], false);
        assert_eq!(v["natsConnected"], false);
        assert_eq!(v["reasons"][0], "NATS: connection refused");
    }
}
