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
use std::time::Duration;

pub(crate) struct Puller {
    js: async_nats::jetstream::Context,
    consumer: PullConsumer,
    inbox: Subject,
    sub: Option<Subscriber>,
}

impl Puller {
    pub(crate) fn new(js: async_nats::jetstream::Context, consumer: PullConsumer) -> Self {
        let inbox = Subject::from(js.client().new_inbox());
        Puller {
            js,
            consumer,
            inbox,
            sub: None,
        }
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
            Ok(r) => r,
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
