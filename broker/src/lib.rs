//! The producer side of the proving mesh, used by the prover node: enqueue jobs, consume
//! their results, cancel epochs, inspect job status, and turn dead letters into failure
//! results.
//!
//! The broker keeps no state of its own: queued jobs, results, statuses and cancel markers
//! all live in JetStream, so a restarted broker (or a second one) carries on where the
//! last left off.

mod dead_letter;
mod enqueue;
mod epoch_results;
mod inspect;
mod metrics;
pub mod report;
mod results;

pub use dead_letter::run_dead_letters;
pub use enqueue::{Enqueued, NewJob};
pub use epoch_results::{EpochEvent, EpochResults};
pub use inspect::{JobHistory, QueueDepth};
pub use metrics::export_queue_depths;
pub use results::{ResultDelivery, Results};

use provemesh_common::EpochNumber;
use provemesh_nats::messages::MessageError;
use provemesh_nats::{subjects, Topology};
use provemesh_store::{ProofStore, StoreError};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use tracing::info;

/// A broker operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("epoch {0} is cancelled: no more jobs are accepted for it")]
    EpochCancelled(EpochNumber),
    #[error("job {job} (epoch {epoch}): {source}")]
    Store {
        job: String,
        epoch: EpochNumber,
        #[source]
        source: StoreError,
    },
    #[error(transparent)]
    Message(#[from] MessageError),
    #[error("{op}: {source}")]
    Nats {
        op: String,
        #[source]
        source: async_nats::Error,
    },
}

impl BrokerError {
    pub(crate) fn nats(op: impl Into<String>, e: impl Into<async_nats::Error>) -> Self {
        BrokerError::Nats {
            op: op.into(),
            source: e.into(),
        }
    }
}

/// What a cancel did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CancelReport {
    pub epoch: EpochNumber,
    /// Queued jobs removed from the mesh.
    pub purged: u64,
}

/// The producer API. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Broker {
    topo: Topology,
    store: ProofStore,
    /// Epochs this process cancelled, shared with its [`Results`] so that no result of such
    /// an epoch is handed out after `cancel_epoch` returns (other processes' cancels arrive
    /// through the epochs bucket).
    cancelled: Arc<Mutex<HashSet<EpochNumber>>>,
}

impl Broker {
    /// A broker over an applied topology and the shared proof store.
    pub fn new(topo: Topology, store: ProofStore) -> Self {
        Broker {
            topo,
            store,
            cancelled: Default::default(),
        }
    }

    pub fn topology(&self) -> &Topology {
        &self.topo
    }

    pub fn store(&self) -> &ProofStore {
        &self.store
    }

    /// The agents present on the mesh now (refreshed within the presence TTL), idle or
    /// busy: the proving capacity a node can bid with. Empty when the mesh has no agents
    /// bucket.
    pub async fn agents(&self) -> Result<Vec<provemesh_common::AgentPresence>, BrokerError> {
        let Some(bucket) = &self.topo.agents else {
            return Ok(Vec::new());
        };
        Ok(provemesh_nats::messages::read_presences(bucket, self.topo.config.agent_ttl).await?)
    }

    /// Cancels `epoch`: marks it cancelled (agents stop its in-flight jobs and drop any
    /// still delivered), then purges its queued jobs. Results of the epoch that arrive
    /// afterwards are dropped by [`Results`]. Idempotent.
    pub async fn cancel_epoch(&self, epoch: EpochNumber) -> Result<CancelReport, BrokerError> {
        self.cancelled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(epoch);
        provemesh_nats::messages::mark_cancelled(&self.topo.epochs, epoch).await?;
        let purged = self
            .topo
            .jobs
            .purge()
            .filter(subjects::jobs_of_epoch(epoch))
            .await
            .map_err(|e| BrokerError::nats(format!("purge jobs of epoch {epoch}"), e))?
            .purged;
        info!(%epoch, purged, "epoch cancelled");
        Ok(CancelReport { epoch, purged })
    }

    /// Whether `epoch` was cancelled.
    pub async fn is_cancelled(&self, epoch: EpochNumber) -> Result<bool, BrokerError> {
        let key = subjects::cancelled_key(epoch);
        let v = self
            .topo
            .epochs
            .get(&key)
            .await
            .map_err(|e| BrokerError::nats(format!("read {key}"), e))?;
        Ok(v.is_some())
    }
}
