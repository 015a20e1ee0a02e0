//! Non-waiting pulls from one job consumer through a long-lived inbox subscription.
//!
//! The client's `fetch` subscribes a fresh inbox for every pull and drops it after; at a
//! pull per finished job that churn of subscriptions is a real cost to the server. Here
//! each consumer has one inbox for the agent's lifetime: a pull is a request naming it,
//! answered by the messages available (at most `want`) and, when fewer are available, a
//! status message that ends the pull.

use async_nats::jetstream::consumer::pull::BatchConfig;
use async_nats::jetstream::consumer::PullConsumer;
use async_nats::{StatusCode, Subject, Subscriber};
use futures::StreamExt;
use std::time::{Duration, Instant};

pub(crate) struct Puller {
    js: async_nats::jetstream::Context,
    consumer: PullConsumer,
    inbox: Subject,
    sub: Option<Subscriber>,
    empty: Emptiness,
}

/// What this agent's recent pulls say about a queue being empty, so that a busy agent's
/// sweeps need not ask a drained queue on every job (a request and an empty answer each).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Emptiness {
    /// When a pull last left the queue empty.
    seen_at: Option<Instant>,
    /// Pulls in a row that left it empty (1 when the last one took its last jobs).
    streak: u32,
}

/// Most doublings of the skip: the longest is 2³ = 8 times the agent's `empty_recheck`.
const MAX_DOUBLINGS: u32 = 3;

impl Emptiness {
    /// Records a pull that took `got` jobs and left the queue `drained` (fewer jobs than
    /// asked for, or none pending behind the last).
    fn record(&mut self, got: usize, drained: bool, now: Instant) {
        *self = match (drained, got) {
            (false, _) => Emptiness::default(),
            (true, 0) => Emptiness {
                seen_at: Some(now),
                streak: self.streak.saturating_add(1),
            },
            (true, _) => Emptiness {
                seen_at: Some(now),
                streak: 1,
            },
        };
    }

    /// Whether the queue is to be skipped at `now`: found empty less than `recheck` ago,
    /// doubled for each further empty pull in a row (at most [`MAX_DOUBLINGS`] times), so a
    /// queue that stays empty costs a busy mesh fewer pulls the longer it stays so.
    fn skip(&self, recheck: Duration, now: Instant) -> bool {
        let Some(at) = self.seen_at else {
            return false;
        };
        let factor = 1u32 << self.streak.saturating_sub(1).min(MAX_DOUBLINGS);
        now.saturating_duration_since(at) < recheck * factor
    }
}

impl Puller {
    pub(crate) fn new(js: async_nats::jetstream::Context, consumer: PullConsumer) -> Self {
        let inbox = Subject::from(js.client().new_inbox());
        Puller {
            js,
            consumer,
            inbox,
            sub: None,
            empty: Emptiness::default(),
        }
    }

    /// Whether a busy agent's sweep should pass this queue by for now (see [`Emptiness`]).
    pub(crate) fn known_empty(&self, recheck: Duration) -> bool {
        self.empty.skip(recheck, Instant::now())
    }

    /// When a pull last left the queue empty, while it is taken to be so.
    pub(crate) fn seen_empty_at(&self) -> Option<Instant> {
        self.empty.seen_at
    }

    /// Whether the last pull left jobs behind it in the queue.
    pub(crate) fn left_jobs_queued(&self) -> bool {
        self.empty.seen_at.is_none()
    }

    /// Forgets that the queue was seen empty (a doorbell says it may hold jobs now).
    pub(crate) fn forget_empty(&mut self) {
        self.empty = Emptiness::default();
    }

    /// Pulls up to `want` jobs without waiting for new ones, bounded by `timeout` (a request
    /// lost in a cluster leader change is never answered; the inbox is then replaced so a
    /// late answer cannot be confused with the next one — its jobs return after AckWait).
    pub(crate) async fn pull(
        &mut self,
        want: usize,
        timeout: Duration,
    ) -> Result<Vec<async_nats::jetstream::Message>, async_nats::Error> {
        if self.sub.is_none() {
            self.inbox = Subject::from(self.js.client().new_inbox());
            self.sub = Some(self.js.client().subscribe(self.inbox.clone()).await?);
        }
        let request = BatchConfig {
            batch: want,
            no_wait: true,
            ..Default::default()
        };
        self.consumer
            .request_batch(request, self.inbox.clone())
            .await?;
        let context = self.js.clone();
        let Some(sub) = self.sub.as_mut() else {
            return Ok(Vec::new());
        };
        let collect = async {
            let mut got = Vec::new();
            while got.len() < want {
                match sub.next().await {
                    None => break,
                    Some(m) => match m.status {
                        // No (more) messages, or the request was otherwise answered: done.
                        Some(s) if s == StatusCode::NOT_FOUND || s == StatusCode::TIMEOUT => break,
                        Some(s) if s == StatusCode::IDLE_HEARTBEAT => continue,
                        Some(s) if s.is_server_error() || s.is_client_error() => {
                            return Err(format!(
                                "pull from {}: status {s} {}",
                                self.consumer.cached_info().name,
                                m.description.unwrap_or_default()
                            )
                            .into());
                        }
                        _ => got.push(async_nats::jetstream::Message {
                            message: m,
                            context: context.clone(),
                        }),
                    },
                }
            }
            Ok::<_, async_nats::Error>(got)
        };
        match tokio::time::timeout(timeout, collect).await {
            Ok(Ok(got)) => {
                // Fewer than asked for, or none left behind the last: the queue is empty.
                let drained = got.len() < want
                    || got
                        .last()
                        .and_then(|m| m.info().ok())
                        .is_some_and(|i| i.pending == 0);
                self.empty.record(got.len(), drained, Instant::now());
                Ok(got)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => {
                self.sub = None;
                Err(format!(
                    "pull from {} timed out after {timeout:?}",
                    self.consumer.cached_info().name
                )
                .into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECHECK: Duration = Duration::from_millis(50);

    #[test]
    fn a_queue_that_stays_empty_is_asked_less_and_less_often() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut e = Emptiness::default();
        assert!(!e.skip(RECHECK, t0), "a queue never pulled is asked");
        // The pull took the last jobs: asked again after one recheck period.
        e.record(3, true, t0);
        assert!(e.skip(RECHECK, ms(49)));
        assert!(!e.skip(RECHECK, ms(50)));
        // Then empty pulls in a row: 100, 200, 400 ms, and no longer than 400.
        let mut at = 50;
        for wait in [100, 200, 400, 400, 400] {
            e.record(0, true, ms(at));
            assert!(e.skip(RECHECK, ms(at + wait - 1)), "skipped for {wait} ms");
            assert!(!e.skip(RECHECK, ms(at + wait)), "asked after {wait} ms");
            at += wait;
        }
        // A pull that finds jobs with more behind them: asked on every sweep again.
        e.record(4, false, ms(at));
        assert_eq!(e, Emptiness::default());
        assert!(!e.skip(RECHECK, ms(at)));
        // A pull that takes the last jobs restarts the backoff at one period.
        e.record(0, true, ms(at));
        e.record(0, true, ms(at));
        e.record(2, true, ms(at));
        assert!(!e.skip(RECHECK, ms(at + 50)));
    }
}
