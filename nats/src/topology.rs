//! The mesh's JetStream topology and its idempotent application.
//!
//! - `PROVE_JOBS` (WorkQueue, file storage): `prove.job.<epoch>.<type>`, with one durable
//!   pull consumer per proof type (`jobs_<type>`, filter `prove.job.*.<type>`). WorkQueue
//!   retention forbids overlapping consumers, which is exactly the per-type split agents
//!   need for their allow-lists.
//! - `PROVE_RESULTS` (Limits): `prove.result.<epoch>.<id>`, consumed durably by the node.
//! - `PROVE_DEAD`: the server's max-deliveries advisories for `PROVE_JOBS`, so dead letters
//!   survive while no broker is running.
//! - KV `PROVE_STATUS` (job status history, TTL) and `PROVE_EPOCHS` (cancel markers).
//!
//! Applying is create-or-update; a stream that exists with a retention or storage type we
//! cannot change in place is refused with an error saying what differs.

use crate::subjects::{self, *};
use async_nats::jetstream::{
    self,
    consumer::{pull, AckPolicy, DeliverPolicy, PullConsumer},
    kv,
    stream::{self, DiscardPolicy, RetentionPolicy, StorageType},
    Context,
};
use provemesh_common::ProofType;
use std::collections::HashMap;
use std::time::Duration;

/// Tunables of the topology. Defaults suit a dev server; production raises `replicas` to 3.
#[derive(Debug, Clone, PartialEq)]
pub struct TopologyConfig {
    /// Stream and bucket replicas (1 on a single server, 3 on a cluster).
    pub replicas: usize,
    /// File storage (durable across server restarts) or memory (benchmarks).
    pub memory_storage: bool,
    /// How long the server remembers a job id to drop duplicate enqueues. At least one
    /// epoch's proving time: within it, enqueueing the same job twice is a no-op.
    pub duplicate_window: Duration,
    /// How long an agent may hold a job without an in-progress ack before it is
    /// redelivered (an agent that dies is detected after this).
    pub ack_wait: Duration,
    /// Deliveries before a job is dead-lettered.
    pub max_deliver: i64,
    /// How long results are kept.
    pub results_max_age: Duration,
    /// How long job statuses are kept.
    pub status_ttl: Duration,
    /// Status revisions kept per job (its history).
    pub status_history: i64,
    /// Most pull requests a job consumer holds at once (one per waiting agent slot).
    pub max_waiting: i64,
    /// How long an agent's presence lasts without a refresh (agents refresh at a third of
    /// it): a killed agent stops counting as capacity after this.
    pub agent_ttl: Duration,
    /// The cluster (region of a supercluster) the streams and buckets are placed in.
    pub placement_cluster: Option<String>,
}

impl Default for TopologyConfig {
    fn default() -> Self {
        TopologyConfig {
            replicas: 1,
            memory_storage: false,
            duplicate_window: Duration::from_secs(2 * 3600),
            ack_wait: Duration::from_secs(30),
            max_deliver: 10,
            results_max_age: Duration::from_secs(7 * 24 * 3600),
            status_ttl: Duration::from_secs(24 * 3600),
            status_history: 32,
            max_waiting: 4096,
            agent_ttl: Duration::from_secs(30),
            placement_cluster: None,
        }
    }
}

impl From<&provemesh_common::config::MeshArgs> for TopologyConfig {
    fn from(a: &provemesh_common::config::MeshArgs) -> Self {
        TopologyConfig {
            replicas: a.replicas as usize,
            ack_wait: a.ack_wait,
            max_deliver: a.max_deliver as i64,
            duplicate_window: a.duplicate_window,
            placement_cluster: a.placement_cluster.clone(),
            ..Default::default()
        }
    }
}

/// Applying the topology failed.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    #[error("JetStream stream {stream}: {reason}")]
    Incompatible { stream: String, reason: String },
    #[error("JetStream stream {stream}: {source}")]
    Stream {
        stream: String,
        #[source]
        source: async_nats::Error,
    },
    #[error("JetStream consumer {consumer} on {stream}: {source}")]
    Consumer {
        stream: String,
        consumer: String,
        #[source]
        source: async_nats::Error,
    },
    #[error("JetStream KV bucket {bucket}: {source}")]
    Bucket {
        bucket: String,
        #[source]
        source: async_nats::Error,
    },
}

/// Handles on the applied topology.
#[derive(Clone, Debug)]
pub struct Topology {
    pub js: Context,
    pub config: TopologyConfig,
    pub jobs: stream::Stream,
    pub results: stream::Stream,
    pub dead_letters: stream::Stream,
    pub status: kv::Store,
    pub epochs: kv::Store,
    /// Agents' presence; `None` when bound to a mesh applied by a version without it (the
    /// agent then proves without announcing itself).
    pub agents: Option<kv::Store>,
    consumers: HashMap<ProofType, PullConsumer>,
}

impl Topology {
    /// Creates or updates every stream, consumer and bucket.
    pub async fn apply(js: Context, config: TopologyConfig) -> Result<Topology, TopologyError> {
        let placement = config
            .placement_cluster
            .as_ref()
            .map(|cluster| stream::Placement {
                cluster: Some(cluster.clone()),
                ..Default::default()
            });
        let storage = if config.memory_storage {
            StorageType::Memory
        } else {
            StorageType::File
        };
        let jobs = ensure_stream(
            &js,
            stream::Config {
                name: JOBS_STREAM.into(),
                description: Some("provemesh proving jobs: prove.job.<epoch>.<proof_type>".into()),
                subjects: vec![ALL_JOBS.into()],
                retention: RetentionPolicy::WorkQueue,
                storage,
                num_replicas: config.replicas,
                placement: placement.clone(),
                duplicate_window: config.duplicate_window,
                discard: DiscardPolicy::New,
                allow_direct: true,
                ..Default::default()
            },
        )
        .await?;
        let results = ensure_stream(
            &js,
            stream::Config {
                name: RESULTS_STREAM.into(),
                description: Some("provemesh job results: prove.result.<epoch>.<job_id>".into()),
                subjects: vec![ALL_RESULTS.into()],
                retention: RetentionPolicy::Limits,
                storage,
                num_replicas: config.replicas,
                placement: placement.clone(),
                duplicate_window: config.duplicate_window,
                max_age: config.results_max_age,
                allow_direct: true,
                ..Default::default()
            },
        )
        .await?;
        let dead_letters = ensure_stream(
            &js,
            stream::Config {
                name: DEAD_LETTER_STREAM.into(),
                description: Some("max-deliveries advisories of PROVE_JOBS (dead letters)".into()),
                subjects: vec![subjects::max_deliveries_advisories()],
                retention: RetentionPolicy::WorkQueue,
                storage,
                num_replicas: config.replicas,
                placement: placement.clone(),
                max_age: config.results_max_age,
                ..Default::default()
            },
        )
        .await?;

        let mut consumers = HashMap::new();
        for t in ProofType::ALL {
            let c = ensure_consumer(&jobs, job_consumer_config(t, &config)).await?;
            consumers.insert(t, c);
        }
        ensure_consumer(
            &dead_letters,
            pull::Config {
                durable_name: Some(DEAD_LETTER_CONSUMER.into()),
                ack_policy: AckPolicy::Explicit,
                ack_wait: Duration::from_secs(30),
                ..Default::default()
            },
        )
        .await?;

        let status = ensure_bucket(
            &js,
            kv::Config {
                bucket: STATUS_BUCKET.into(),
                description: "provemesh job status, keyed <epoch>.<job_id>, with history".into(),
                history: config.status_history,
                max_age: config.status_ttl,
                storage,
                num_replicas: config.replicas,
                placement: placement.clone(),
                ..Default::default()
            },
        )
        .await?;
        let epochs = ensure_bucket(
            &js,
            kv::Config {
                bucket: EPOCHS_BUCKET.into(),
                description: "provemesh per-epoch markers (cancelled.<epoch>)".into(),
                history: 1,
                max_age: config.results_max_age,
                storage,
                num_replicas: config.replicas,
                placement: placement.clone(),
                ..Default::default()
            },
        )
        .await?;
        let agents = ensure_bucket(
            &js,
            kv::Config {
                bucket: AGENTS_BUCKET.into(),
                description: "provemesh agents' presence, keyed <agent id>, expiring".into(),
                history: 1,
                max_age: config.agent_ttl,
                storage,
                num_replicas: config.replicas,
                placement: placement.clone(),
                ..Default::default()
            },
        )
        .await?;

        Ok(Topology {
            js,
            config,
            jobs,
            results,
            dead_letters,
            status,
            epochs,
            agents: Some(agents),
            consumers,
        })
    }

    /// Binds to a topology somebody else applied, without managing anything: what an agent
    /// with least-privilege credentials does.
    pub async fn bind(
        js: Context,
        config: TopologyConfig,
        types: &[ProofType],
    ) -> Result<Topology, TopologyError> {
        let get = |name: &'static str| {
            let js = js.clone();
            async move {
                js.get_stream(name)
                    .await
                    .map_err(|e| TopologyError::Stream {
                        stream: name.into(),
                        source: e.into(),
                    })
            }
        };
        let jobs = get(JOBS_STREAM).await?;
        let results = get(RESULTS_STREAM).await?;
        let dead_letters = get(DEAD_LETTER_STREAM).await?;
        let mut consumers = HashMap::new();
        for &t in types {
            let name = subjects::job_consumer(t);
            let c: PullConsumer =
                jobs.get_consumer(&name)
                    .await
                    .map_err(|e| TopologyError::Consumer {
                        stream: JOBS_STREAM.into(),
                        consumer: name.clone(),
                        source: e,
                    })?;
            consumers.insert(t, c);
        }
        let bucket = |name: &'static str| {
            let js = js.clone();
            async move {
                js.get_key_value(name)
                    .await
                    .map_err(|e| TopologyError::Bucket {
                        bucket: name.into(),
                        source: e.into(),
                    })
            }
        };
        let status = bucket(STATUS_BUCKET).await?;
        let epochs = bucket(EPOCHS_BUCKET).await?;
        let agents = bucket(AGENTS_BUCKET).await.ok();
        Ok(Topology {
            js,
            config,
            jobs,
            results,
            dead_letters,
            status,
            epochs,
            agents,
            consumers,
        })
    }

    /// The pull consumer serving `proof_type` (present for every type after `apply`, and
    /// for the bound types after `bind`).
    pub fn consumer(&self, proof_type: ProofType) -> Option<&PullConsumer> {
        self.consumers.get(&proof_type)
    }
}

fn job_consumer_config(t: ProofType, config: &TopologyConfig) -> pull::Config {
    pull::Config {
        durable_name: Some(subjects::job_consumer(t)),
        description: Some(format!("provemesh agents proving {t}")),
        filter_subject: subjects::jobs_of_type(t),
        ack_policy: AckPolicy::Explicit,
        deliver_policy: DeliverPolicy::All,
        ack_wait: config.ack_wait,
        max_deliver: config.max_deliver,
        max_waiting: config.max_waiting,
        max_ack_pending: 100_000,
        ..Default::default()
    }
}

async fn ensure_stream(
    js: &Context,
    want: stream::Config,
) -> Result<stream::Stream, TopologyError> {
    let name = want.name.clone();
    let err = |e: async_nats::Error| TopologyError::Stream {
        stream: name.clone(),
        source: e,
    };
    match js.get_stream(&name).await {
        Ok(mut existing) => {
            let have = existing
                .info()
                .await
                .map_err(|e| err(e.into()))?
                .config
                .clone();
            if have.retention != want.retention {
                return Err(TopologyError::Incompatible {
                    stream: name,
                    reason: format!(
                        "exists with retention {:?}, provemesh needs {:?}; delete it or use another NATS account",
                        have.retention, want.retention
                    ),
                });
            }
            if have.storage != want.storage {
                return Err(TopologyError::Incompatible {
                    stream: name,
                    reason: format!(
                        "exists with {:?} storage, this configuration needs {:?}; storage cannot change in place",
                        have.storage, want.storage
                    ),
                });
            }
            if want.placement.is_some() && have.placement != want.placement {
                return Err(TopologyError::Incompatible {
                    stream: name,
                    reason: format!(
                        "exists with placement {:?}, this configuration places it in {:?}; moving a stream between clusters is an operator's decision (move it with NATS tooling, or change PROVER_MESH_PLACEMENT_CLUSTER)",
                        have.placement.as_ref().and_then(|p| p.cluster.as_deref()),
                        want.placement.as_ref().and_then(|p| p.cluster.as_deref()),
                    ),
                });
            }
            let merged = stream::Config {
                // Fields the server sets that we do not manage are kept as they are.
                ..have.clone()
            };
            let merged = stream::Config {
                subjects: want.subjects.clone(),
                num_replicas: want.num_replicas,
                duplicate_window: want.duplicate_window,
                max_age: want.max_age,
                description: want.description.clone(),
                allow_direct: want.allow_direct,
                discard: want.discard,
                ..merged
            };
            if merged != have {
                js.update_stream(&merged).await.map_err(|e| err(e.into()))?;
            }
            Ok(existing)
        }
        Err(e)
            if matches!(e.kind(), jetstream::context::GetStreamErrorKind::JetStream(ref je)
                if je.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND) =>
        {
            js.create_stream(want).await.map_err(|e| err(e.into()))
        }
        Err(e) => Err(err(e.into())),
    }
}

async fn ensure_consumer(
    s: &stream::Stream,
    want: pull::Config,
) -> Result<PullConsumer, TopologyError> {
    let name = want.durable_name.clone().unwrap_or_default();
    let stream_name = s.cached_info().config.name.clone();
    // `create_consumer` is create-or-update on the server for an identical or editable
    // durable configuration; a non-editable difference comes back as an error naming it.
    s.create_consumer(want)
        .await
        .map_err(|e| TopologyError::Consumer {
            stream: stream_name,
            consumer: name,
            source: e.into(),
        })
}

async fn ensure_bucket(js: &Context, want: kv::Config) -> Result<kv::Store, TopologyError> {
    let bucket = want.bucket.clone();
    js.create_or_update_key_value(want)
        .await
        .map_err(|e| TopologyError::Bucket {
            bucket,
            source: e.into(),
        })
}
