//! The L1 sync loop: read the rollup's events in bounded L1 ranges, notice reorgs, apply.
//!
//! One round, all on one L1 host:
//!
//! 1. `eth_blockNumber`; the range is `[cursor + 1, min(head, cursor + ARCHIVER_BATCH_SIZE)]`;
//! 2. the hash of the range's last block, then `eth_getLogs` of Rollup, Inbox and Outbox
//!    over the range;
//! 3. the hash of the cursor's block again: if it changed, L1 reorganised under the
//!    archive — walk back over the stored block hashes to the newest one the chain still
//!    has (the fork point), undo everything after it, and read again from there;
//! 4. the hash of the range's last block again: if it changed, the chain moved during the
//!    read, which is read again after a polling interval;
//! 5. otherwise the range's events and the new cursor are stored in one transaction.
//!
//! A host whose head is behind the archive's cursor (a lagging node after a failover) is
//! waited for rather than taken for a reorg to a shorter chain; such a reorg is noticed as
//! soon as the new chain reaches the cursor's height. A host that stays behind for
//! [`BEHIND_ROUNDS_BEFORE_FAILOVER`] rounds is left for the next URL.
//!
//! A failed round moves to the next URL at once; once every URL has failed in a row, the
//! loop backs off (exponentially, with jitter, up to 30 s) before the next try.

use crate::archiver::Inner;
use crate::error::{ArchiverError, StoreError};
use crate::events;
use crate::l1::{Endpoint, Endpoints};
use crate::metrics::ArchiverMetrics;
use crate::source::ChainEvent;
use crate::store::{Batch, Checkpoint};
use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use provemesh_l1::RollupContract;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn, Instrument};

const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Polling rounds a host may stay behind the archive's L1 position before the next URL is
/// tried.
const BEHIND_ROUNDS_BEFORE_FAILOVER: u32 = 20;

enum Progress {
    /// At the L1 head: wait a polling interval.
    CaughtUp,
    /// More to read (or to re-read): go on at once.
    More,
}

pub(crate) struct Syncer {
    inner: Arc<Inner>,
    endpoints: Endpoints,
    metrics: ArchiverMetrics,
    epoch_duration: Option<u64>,
    host_in_use: Option<String>,
    /// Consecutive rounds the current host was behind the archive.
    behind_rounds: u32,
}

fn backoff() -> ExponentialBackoff {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(MAX_BACKOFF)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build()
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ArchiverError> {
    Ok(tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Task(e.to_string()))??)
}

impl Syncer {
    pub fn new(inner: Arc<Inner>) -> Self {
        let c = &inner.config;
        Syncer {
            endpoints: Endpoints::new(&c.l1_urls, c.rpc_timeout),
            metrics: ArchiverMetrics::new(),
            epoch_duration: None,
            host_in_use: None,
            behind_rounds: 0,
            inner,
        }
    }

    pub async fn run(mut self, shutdown: CancellationToken) -> Result<(), ArchiverError> {
        let c = &self.inner.config;
        info!(
            rollup = %c.contracts.rollup,
            start_block = c.start_block,
            l1_hosts = self.endpoints.len(),
            resume_from = ?self.inner.store.cursor()?.map(|c| c.number + 1),
            "archiver starting"
        );
        self.metrics.tips(self.inner.store.tips()?);
        let mut delays = backoff();
        let mut failed_in_a_row = 0usize;
        while !shutdown.is_cancelled() {
            let pause = match self.round(&shutdown).await {
                Ok(Progress::More) => {
                    delays = backoff();
                    failed_in_a_row = 0;
                    None
                }
                Ok(Progress::CaughtUp) => {
                    delays = backoff();
                    failed_in_a_row = 0;
                    Some(self.inner.config.polling_interval)
                }
                Err(e) if e.is_transient() => {
                    let host = self.endpoints.current().host.clone();
                    warn!(l1_host = %host, "L1 sync round failed: {e}");
                    self.metrics.l1_error(&host);
                    self.endpoints.rotate();
                    failed_in_a_row += 1;
                    if failed_in_a_row >= self.endpoints.len() {
                        failed_in_a_row = 0;
                        let d = delays.next().unwrap_or(MAX_BACKOFF);
                        warn!("every L1 host failed; next try in {d:?}");
                        Some(d)
                    } else {
                        None
                    }
                }
                Err(e) => {
                    tracing::error!("archiver stopped: {e}");
                    return Err(e);
                }
            };
            if let Some(d) = pause {
                tokio::select! {
                    _ = shutdown.cancelled() => {}
                    _ = tokio::time::sleep(d) => {}
                }
            }
        }
        info!("archiver stopped");
        Ok(())
    }

    /// One round (see the module doc). The L1 reads stop at `shutdown`; a store write, once
    /// started, completes.
    async fn round(&mut self, shutdown: &CancellationToken) -> Result<Progress, ArchiverError> {
        let ep = self.endpoints.current();
        let span = tracing::info_span!("archiver.round", l1_host = %ep.host);
        let read = async {
            prepare(&self.inner, ep, &mut self.epoch_duration).await?;
            read_range(&self.inner, ep).await
        };
        let read = tokio::select! {
            _ = shutdown.cancelled() => return Ok(Progress::CaughtUp),
            r = read.instrument(span.clone()) => r?,
        };
        let host = ep.host.clone();
        if self.host_in_use.as_deref() != Some(host.as_str()) {
            info!(l1_host = %host, "reading L1 from {host}");
            self.host_in_use = Some(host.clone());
        }
        self.inner
            .status
            .send_modify(|s| s.l1_host = Some(host.clone()));
        if !matches!(read, Read::Behind { .. }) {
            self.behind_rounds = 0;
        }
        match read {
            Read::Behind { cursor, head } => {
                debug!(l1_host = %host, "L1 host's head {head} is behind the archive's L1 block {cursor}; waiting");
                self.inner.status.send_modify(|s| s.l1_head = Some(head));
                self.behind_rounds += 1;
                if self.behind_rounds >= BEHIND_ROUNDS_BEFORE_FAILOVER && self.endpoints.len() > 1 {
                    warn!(l1_host = %host, "L1 host stays behind the archive's L1 block {cursor} (its head: {head}); trying the next URL");
                    self.behind_rounds = 0;
                    self.endpoints.rotate();
                }
                Ok(Progress::CaughtUp)
            }
            // The chain moved under the read (normal at the head): read again after a pause.
            Read::Moved => Ok(Progress::CaughtUp),
            Read::Reorg { fork } => {
                let inner = self.inner.clone();
                let tips = blocking(move || inner.store.rollback_to(fork)).await?;
                let at = fork.map(|c| c.number);
                warn!(
                    l1_host = %host,
                    fork_l1_block = ?at,
                    pending = tips.pending,
                    proven = tips.proven,
                    "L1 reorg: rolled the archive back to L1 block {at:?}"
                );
                self.metrics.reorg();
                self.metrics.tips(tips);
                self.inner.status.send_modify(|s| {
                    s.reorgs += 1;
                    s.tips = tips;
                    s.l1_block = at;
                    s.caught_up = false;
                });
                let _ = self
                    .inner
                    .events
                    .send(ChainEvent::L1Reorg { l1_block: at, tips });
                Ok(Progress::More)
            }
            Read::UpToDate { head } => {
                self.metrics.position(head, head);
                self.inner.status.send_modify(|s| {
                    s.l1_head = Some(head);
                    s.caught_up = true;
                });
                Ok(Progress::CaughtUp)
            }
            Read::Range { from, head, batch } => {
                let to = batch.to.number;
                let inner = self.inner.clone();
                let duration = self.epoch_duration.unwrap_or(1);
                let changes = blocking(move || inner.store.apply(&batch, duration)).await?;
                let tips = self.inner.store.tips()?;
                let mut prunes = 0;
                for ev in &changes {
                    match *ev {
                        ChainEvent::BlocksAdded { first, last } => {
                            info!(l1_block = to, "L2 blocks {first}..={last} added");
                            self.metrics.blocks_added(last - first + 1);
                        }
                        ChainEvent::Pruned { epoch, pending } => {
                            warn!("L2 pending chain pruned (epoch {epoch} missed its window): back to block {pending}");
                            self.metrics.prune();
                            prunes += 1;
                        }
                        ChainEvent::Proven { epoch, block } => {
                            info!("epoch {epoch} proven up to L2 block {block}");
                        }
                        ChainEvent::L1Reorg { .. } => {}
                    }
                    let _ = self.inner.events.send(*ev);
                }
                self.metrics.position(to, head);
                self.metrics.tips(tips);
                self.inner.status.send_modify(|s| {
                    s.l1_block = Some(to);
                    s.l1_head = Some(head);
                    s.tips = tips;
                    s.first_l1_block_read.get_or_insert(from);
                    s.prunes += prunes;
                    s.caught_up = to >= head;
                });
                debug!(from, to, head, "L1 range read");
                Ok(if to < head {
                    Progress::More
                } else {
                    Progress::CaughtUp
                })
            }
        }
    }
}

/// What one round's L1 reads found.
enum Read {
    Behind { cursor: u64, head: u64 },
    UpToDate { head: u64 },
    Moved,
    Reorg { fork: Option<Checkpoint> },
    Range { from: u64, head: u64, batch: Batch },
}

/// A host's first use: its chain id, and (once per process) the rollup's code and epoch
/// length.
async fn prepare(
    inner: &Inner,
    ep: &mut Endpoint,
    epoch_duration: &mut Option<u64>,
) -> Result<(), ArchiverError> {
    let c = &inner.config;
    if !ep.checked {
        let actual = ep.chain_id().await?;
        if actual != c.l1_chain_id {
            return Err(ArchiverError::ChainIdMismatch {
                host: ep.host.clone(),
                expected: c.l1_chain_id,
                actual,
            });
        }
        if !ep.has_code(c.contracts.rollup).await? {
            return Err(ArchiverError::NoRollupCode {
                host: ep.host.clone(),
                address: c.contracts.rollup.to_string(),
                variable: c.contracts_source,
            });
        }
        ep.checked = true;
    }
    if epoch_duration.is_none() {
        let stored = inner.store.epoch_duration()?;
        let d = match stored {
            Some(d) => d,
            None => {
                let rollup = RollupContract::new(c.contracts.rollup, ep.provider().clone());
                let t = ep.call("Rollup timing", rollup.timing()).await?;
                if t.epoch_duration == 0 {
                    return Err(ArchiverError::BadAnswer {
                        host: ep.host.clone(),
                        what: "the Rollup reports an epoch of 0 slots".into(),
                    });
                }
                inner.store.set_epoch_duration(t.epoch_duration)?;
                t.epoch_duration
            }
        };
        *epoch_duration = Some(d);
    }
    Ok(())
}

async fn read_range(inner: &Inner, ep: &Endpoint) -> Result<Read, ArchiverError> {
    let c = &inner.config;
    let cursor = inner.store.cursor()?;
    let head = ep.latest_block().await?;
    let from = cursor.map_or(c.start_block, |k| k.number + 1);
    if let Some(k) = cursor {
        if head < k.number {
            return Ok(Read::Behind {
                cursor: k.number,
                head,
            });
        }
    }
    if head < from {
        if let Some(k) = cursor {
            if ep.block_hash(k.number).await? != Some(k.hash) {
                return Ok(Read::Reorg {
                    fork: fork_point(inner, ep).await?,
                });
            }
        }
        return Ok(Read::UpToDate { head });
    }
    let to = head.min(from.saturating_add(c.batch_size - 1));
    let to_hash = ep
        .block_hash(to)
        .await?
        .ok_or_else(|| ArchiverError::BadAnswer {
            host: ep.host.clone(),
            what: format!("L1 block {to} is missing although the head is {head}"),
        })?;
    let logs = ep
        .logs(
            vec![c.contracts.rollup, c.contracts.inbox, c.contracts.outbox],
            from,
            to,
        )
        .await?;
    if let Some(k) = cursor {
        if ep.block_hash(k.number).await? != Some(k.hash) {
            return Ok(Read::Reorg {
                fork: fork_point(inner, ep).await?,
            });
        }
    }
    if ep.block_hash(to).await? != Some(to_hash) {
        debug!(to, "L1 block {to} changed during the read; reading again");
        return Ok(Read::Moved);
    }
    let events = events::decode(&c.contracts, &logs);
    // One node's view: every log of a block carries that block's hash.
    let mut hashes = HashMap::new();
    hashes.insert(to, to_hash);
    for (pos, _) in &events {
        if *hashes.entry(pos.block_number).or_insert(pos.block_hash) != pos.block_hash {
            debug!(
                l1_block = pos.block_number,
                "logs of L1 block {} from two forks; reading again", pos.block_number
            );
            return Ok(Read::Moved);
        }
    }
    Ok(Read::Range {
        from,
        head,
        batch: Batch {
            events,
            to: Checkpoint {
                number: to,
                hash: to_hash,
            },
        },
    })
}

/// The newest stored L1 block the chain still has (`None`: none, start over).
async fn fork_point(inner: &Inner, ep: &Endpoint) -> Result<Option<Checkpoint>, ArchiverError> {
    for k in inner.store.checkpoints_desc()? {
        if ep.block_hash(k.number).await? == Some(k.hash) {
            return Ok(Some(k));
        }
    }
    Ok(None)
}
