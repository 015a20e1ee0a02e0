//! The archiver handle: opens the archive, runs the L1 sync loop, answers
//! [`L2BlockSource`] queries from the archive and publishes [`ChainEvent`]s.

use crate::config::ArchiverConfig;
use crate::error::ArchiverError;
use crate::source::{ChainEvent, L2Block, L2BlockSource};
use crate::store::{ArchiveStore, Identity};
use crate::sync::Syncer;
use alloy::primitives::B256;
use provemesh_l1::Tips;
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

/// Where the archiver stands, for operators and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncStatus {
    /// Last L1 block read (`None`: nothing yet).
    pub l1_block: Option<u64>,
    /// The L1 head at the last round.
    pub l1_head: Option<u64>,
    pub tips: Tips,
    /// The L1 host in use (scheme, host and port only).
    pub l1_host: Option<String>,
    /// The first L1 block this process read logs from (after a restart: the stored
    /// position + 1, not the start block).
    pub first_l1_block_read: Option<u64>,
    /// L1 reorgs rolled back and prunes applied by this process.
    pub reorgs: u64,
    pub prunes: u64,
    /// The last round reached the L1 head.
    pub caught_up: bool,
}

pub(crate) struct Inner {
    pub config: ArchiverConfig,
    pub store: ArchiveStore,
    pub events: broadcast::Sender<ChainEvent>,
    pub status: watch::Sender<SyncStatus>,
    running: AtomicBool,
}

/// The archiver: a cheap, cloneable handle on one archive.
#[derive(Clone)]
pub struct Archiver {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Archiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Archiver")
            .field("archive", &self.inner.config.archive_dir())
            .field("status", &*self.inner.status.borrow())
            .finish()
    }
}

impl Archiver {
    /// Opens (or creates) the archive in `<DATA_DIRECTORY>/archiver/`. Fails when it holds
    /// the archive of another rollup or chain. Touches no network.
    pub fn open(config: ArchiverConfig) -> Result<Self, ArchiverError> {
        // reqwest (under alloy's HTTP transport) needs a process-wide TLS provider, even for
        // http URLs; installing fails harmlessly when one is already there.
        let _ = rustls::crypto::ring::default_provider().install_default();
        config.check()?;
        let dir = config.archive_dir();
        let store = ArchiveStore::open(&dir)?;
        let id = Identity {
            chain_id: config.l1_chain_id,
            contracts: config.contracts,
        };
        match store.identity()? {
            None => store.set_identity(&id)?,
            Some(stored) if stored == id => {}
            Some(stored) => {
                return Err(ArchiverError::OtherDeployment {
                    path: dir,
                    stored: stored.to_string(),
                    configured: id.to_string(),
                })
            }
        }
        let status = SyncStatus {
            l1_block: store.cursor()?.map(|c| c.number),
            l1_head: None,
            tips: store.tips()?,
            l1_host: None,
            first_l1_block_read: None,
            reorgs: 0,
            prunes: 0,
            caught_up: false,
        };
        Ok(Archiver {
            inner: Arc::new(Inner {
                config,
                store,
                events: broadcast::channel(1024).0,
                status: watch::channel(status).0,
                running: AtomicBool::new(false),
            }),
        })
    }

    /// Follows L1 until `shutdown` is cancelled (then returns `Ok`) or a fatal error
    /// (chain id mismatch, missing rollup contract, archive trouble). L1 hosts that fail
    /// are retried in turn with backoff, never fatal.
    pub async fn run(&self, shutdown: CancellationToken) -> Result<(), ArchiverError> {
        if self.inner.running.swap(true, Ordering::SeqCst) {
            return Err(ArchiverError::AlreadyRunning);
        }
        let r = Syncer::new(self.inner.clone()).run(shutdown).await;
        self.inner.running.store(false, Ordering::SeqCst);
        r
    }

    pub fn config(&self) -> &ArchiverConfig {
        &self.inner.config
    }

    pub fn status(&self) -> SyncStatus {
        self.inner.status.borrow().clone()
    }

    /// Status updates after every sync round.
    pub fn watch_status(&self) -> watch::Receiver<SyncStatus> {
        self.inner.status.subscribe()
    }

    /// The out hash the Outbox recorded for proven `epoch` (its L2→L1 message root).
    pub fn out_root(&self, epoch: u64) -> Result<Option<B256>, ArchiverError> {
        Ok(self.inner.store.out_root(epoch)?)
    }
}

impl L2BlockSource for Archiver {
    type Error = ArchiverError;

    async fn block(&self, number: u64) -> Result<Option<L2Block>, ArchiverError> {
        Ok(self.inner.store.block(number)?)
    }

    async fn blocks(&self, range: RangeInclusive<u64>) -> Result<Vec<L2Block>, ArchiverError> {
        Ok(self.inner.store.blocks(range)?)
    }

    async fn blocks_of_epoch(&self, epoch: u64) -> Result<Vec<L2Block>, ArchiverError> {
        Ok(self.inner.store.blocks_of_epoch(epoch)?)
    }

    async fn tx_hashes_of_epoch(&self, epoch: u64) -> Result<Vec<B256>, ArchiverError> {
        Ok(self
            .inner
            .store
            .blocks_of_epoch(epoch)?
            .into_iter()
            .flat_map(|b| b.tx_hashes)
            .collect())
    }

    async fn l1_to_l2_messages(&self, block: u64) -> Result<Vec<B256>, ArchiverError> {
        Ok(self.inner.store.l1_to_l2_messages(block)?)
    }

    async fn tips(&self) -> Result<Tips, ArchiverError> {
        Ok(self.inner.store.tips()?)
    }

    async fn epoch_of(&self, block: u64) -> Result<Option<u64>, ArchiverError> {
        Ok(self.inner.store.block(block)?.map(|b| b.epoch))
    }

    fn subscribe(&self) -> broadcast::Receiver<ChainEvent> {
        self.inner.events.subscribe()
    }
}
