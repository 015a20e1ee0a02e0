//! What the JSON-RPC API shows, read from the running parts: the archiver's sync status,
//! the synchronizer's tip, the supervisor's epochs (with the orchestrator's progress), the
//! monitor's quotes and the mesh's job statuses.

use crate::epochs::{EpochPhase as Phase, EpochRecord, Epochs};
use crate::rpc::{
    EpochPhase, EpochStatusJson, JobJson, JobsUnavailable, ProverStatus, Readiness, SentQuoteJson,
    StatusSource,
};
use crate::sync::Executed;
use futures::future::BoxFuture;
use provemesh_archiver::Archiver;
use provemesh_broker::Broker;
use provemesh_common::EpochNumber;
use std::sync::Arc;

/// The node's [`StatusSource`].
pub struct NodeStatus {
    pub archiver: Archiver,
    pub executed: Executed,
    pub epochs: Epochs,
    pub quotes: Arc<dyn Fn() -> Vec<SentQuoteJson> + Send + Sync>,
    pub broker: Broker,
}

fn epoch_json(r: &EpochRecord) -> EpochStatusJson {
    let mut j = match &r.progress {
        Some(p) => EpochStatusJson::from(p),
        None => EpochStatusJson::new(r.epoch, EpochPhase::Syncing),
    };
    // The node's phase wins over the orchestrator's: it knows publishing and after.
    match &r.phase {
        Phase::Proving => {
            if r.progress.is_none() {
                j.state = EpochPhase::Syncing;
            }
        }
        Phase::Publishing => j.state = EpochPhase::Publishing,
        Phase::Published(_) => j.state = EpochPhase::Published,
        Phase::Failed(e) => {
            j.state = EpochPhase::Failed;
            j.error = Some(e.clone());
        }
        Phase::Cancelled => j.state = EpochPhase::Cancelled,
    }
    j
}

impl StatusSource for NodeStatus {
    fn status(&self) -> ProverStatus {
        let a = self.archiver.status();
        ProverStatus {
            l1_synced_block: a.l1_block,
            l2_pending_tip: a.tips.pending,
            l2_proven_tip: a.tips.proven,
            world_state_tip: self.executed.state().tip,
            epochs: self.epochs.all().iter().map(epoch_json).collect(),
        }
    }

    fn quotes(&self) -> Vec<SentQuoteJson> {
        (self.quotes)()
    }

    fn epoch_jobs(
        &self,
        epoch: u64,
    ) -> BoxFuture<'_, Result<Option<Vec<JobJson>>, JobsUnavailable>> {
        Box::pin(async move {
            let statuses = self
                .broker
                .epoch_statuses(EpochNumber(epoch))
                .await
                .map_err(|e| JobsUnavailable(e.to_string()))?;
            if statuses.is_empty() && self.epochs.get(epoch).is_none() {
                return Ok(None);
            }
            Ok(Some(statuses.iter().map(JobJson::from).collect()))
        })
    }

    fn readiness(&self) -> Readiness {
        let a = self.archiver.status();
        let nats_connected = matches!(
            self.broker.topology().js.client().connection_state(),
            async_nats::connection::State::Connected
        );
        let mut reasons = Vec::new();
        if !a.caught_up {
            reasons.push(match (a.l1_block, a.l1_head) {
                (Some(at), Some(head)) => {
                    format!("L1: archiver {} blocks behind", head.saturating_sub(at))
                }
                _ => "L1: archiver has not synced yet".to_string(),
            });
        }
        if !nats_connected {
            reasons.push("NATS: not connected (the mesh cannot take jobs)".into());
        }
        if let Some((block, reason)) = self.executed.state().stuck {
            reasons.push(format!("world state: stuck at block {block}: {reason}"));
        }
        Readiness {
            l1_synced: a.caught_up,
            nats_connected,
            reasons,
        }
    }
}

/// The API's form of a quote the monitor sent (by `prover`).
pub fn quote_json(
    q: &crate::quotes::QuoteRecord,
    prover: alloy::primitives::Address,
) -> SentQuoteJson {
    use crate::quotes::QuoteFate as F;
    use crate::rpc::{QuoteFate, QuoteRoute};
    SentQuoteJson {
        epoch: q.epoch,
        basis_point_fee: q.basis_point_fee,
        bond_amount: q.bond,
        valid_until_slot: q.valid_until_slot,
        prover,
        route: if q.route == "p2p" {
            QuoteRoute::P2p
        } else {
            QuoteRoute::Node
        },
        sent_at_ms: q.sent_at_ms,
        fate: match &q.fate {
            F::Pending => QuoteFate::Pending,
            F::Won => QuoteFate::Won,
            F::Lost {
                winner,
                winner_basis_point_fee,
            } => QuoteFate::Lost {
                winner: *winner,
                winner_basis_point_fee: Some(*winner_basis_point_fee),
            },
            F::Expired => QuoteFate::Expired,
            F::Refused { reason } => QuoteFate::Refused {
                reason: reason.clone(),
            },
            F::Undelivered { reason } => QuoteFate::Refused {
                reason: format!("undelivered: {reason}"),
            },
        },
    }
}
