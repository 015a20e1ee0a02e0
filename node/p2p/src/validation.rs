//! Gossip validation off the network task. A validator may take a while (the sequencer's
//! checks a tx's client proof with `bb verify`, ~30 ms); run on the network task, it would
//! stall every connection, request and command behind it. So each gossiped message is
//! validated on tokio's blocking pool, a few at once, and its verdict comes back to the
//! network task, which then tells gossipsub (forward or not) and delivers it. gossipsub
//! holds a message until its verdict is reported, so nothing is forwarded unchecked.

use crate::handle::{GossipValidator, P2pEvent, Verdict};
use libp2p::gossipsub::{MessageId, TopicHash};
use libp2p::PeerId;
use provemesh_common::tx::Tx;
use provemesh_l1::SignedEpochProofQuote;
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Messages waiting for a validation slot; beyond that, new ones are ignored (not
/// forwarded, the sender not penalised) until the backlog drains.
pub const MAX_WAITING: usize = 1024;

/// A gossiped message, decoded, on its way to the validator.
pub(crate) struct Received {
    /// gossipsub's id and the peer that forwarded it: what its verdict is reported against.
    pub id: MessageId,
    pub source: PeerId,
    /// Who published it (the signed author), for the application.
    pub from: PeerId,
    pub topic: TopicHash,
    pub item: Item,
}

pub(crate) enum Item {
    Tx(Tx),
    Quote(SignedEpochProofQuote),
}

impl Received {
    fn validate(&self, validator: &dyn GossipValidator) -> Verdict {
        match &self.item {
            Item::Tx(tx) => validator.validate_tx(tx),
            Item::Quote(q) => validator.validate_quote(q),
        }
    }

    /// The application's event for it, once accepted.
    pub fn into_event(self) -> P2pEvent {
        match self.item {
            Item::Tx(tx) => P2pEvent::Tx {
                tx,
                from: self.from,
            },
            Item::Quote(quote) => P2pEvent::Quote {
                quote,
                from: self.from,
            },
        }
    }
}

/// The validations in flight and those waiting for a slot.
pub(crate) struct Validations {
    validator: Arc<dyn GossipValidator>,
    /// Most validations running at once.
    slots: usize,
    running: usize,
    waiting: VecDeque<Received>,
    done_tx: mpsc::UnboundedSender<(Received, Verdict)>,
    done_rx: mpsc::UnboundedReceiver<(Received, Verdict)>,
}

impl Validations {
    pub fn new(validator: Arc<dyn GossipValidator>, slots: usize) -> Self {
        // Unbounded is bounded here: at most `slots` verdicts are ever outstanding.
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        Validations {
            validator,
            slots: slots.max(1),
            running: 0,
            waiting: VecDeque::new(),
            done_tx,
            done_rx,
        }
    }

    /// Starts validating `r`, or queues it. Returns it when the backlog is full.
    pub fn submit(&mut self, r: Received) -> Option<Received> {
        if self.running < self.slots {
            self.start(r);
            None
        } else if self.waiting.len() < MAX_WAITING {
            self.waiting.push_back(r);
            None
        } else {
            Some(r)
        }
    }

    fn start(&mut self, r: Received) {
        self.running += 1;
        let (validator, done) = (self.validator.clone(), self.done_tx.clone());
        tokio::task::spawn_blocking(move || {
            // A panicking validator must still return its slot and leave a verdict, or
            // validation would stall once every slot was lost.
            let verdict = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                r.validate(validator.as_ref())
            }))
            .unwrap_or_else(|_| {
                tracing::error!(from = %r.from, topic = %r.topic, "gossip validator panicked");
                Verdict::Ignore("the validator panicked".into())
            });
            // The network task may have stopped meanwhile; the verdict is moot then.
            let _ = done.send((r, verdict));
        });
    }

    /// The next verdict. Cancel-safe (a channel receive), so it can sit in the network
    /// task's `select!`; never ends, since this holds a sender.
    pub async fn next(&mut self) -> (Received, Verdict) {
        let done = match self.done_rx.recv().await {
            Some(done) => done,
            None => std::future::pending().await,
        };
        self.running -= 1;
        if let Some(r) = self.waiting.pop_front() {
            self.start(r);
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::{Item, Received, Validations};
    use crate::Topic;
    use crate::{start, FormatValidator, GossipValidator, NoTxs, P2pConfig, P2pEvent, Verdict};
    use provemesh_common::tx::Tx;
    use provemesh_l1::SignedEpochProofQuote;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;
    use tokio_util::sync::CancellationToken;

    /// Holds every quote's validation until the test opens the gate.
    struct Gated {
        open: Mutex<bool>,
        opened: std::sync::Condvar,
        entered: std::sync::atomic::AtomicUsize,
    }

    impl GossipValidator for Gated {
        fn validate_tx(&self, _: &Tx) -> Verdict {
            Verdict::Accept
        }

        fn validate_quote(&self, _: &SignedEpochProofQuote) -> Verdict {
            self.entered
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
            let _open = self
                .opened
                .wait_timeout_while(open, Duration::from_secs(20), |open| !*open)
                .unwrap_or_else(|p| p.into_inner());
            Verdict::Accept
        }
    }

    struct PanicsOnce(std::sync::atomic::AtomicBool);

    impl GossipValidator for PanicsOnce {
        fn validate_tx(&self, _: &Tx) -> Verdict {
            Verdict::Accept
        }

        fn validate_quote(&self, _: &SignedEpochProofQuote) -> Verdict {
            if !self.0.swap(true, std::sync::atomic::Ordering::SeqCst) {
                panic!("a validator bug");
            }
            Verdict::Accept
        }
    }

    /// A validator that panics leaves a verdict (ignore) and gives its slot back: with one
    /// slot, the next message is still validated.
    #[tokio::test]
    async fn a_panicking_validator_gives_its_slot_back() {
        let mut v = Validations::new(Arc::new(PanicsOnce(Default::default())), 1);
        let received = |n: u8| Received {
            id: libp2p::gossipsub::MessageId::from(vec![n]),
            source: libp2p::PeerId::random(),
            from: libp2p::PeerId::random(),
            topic: libp2p::gossipsub::TopicHash::from_raw(Topic::Quotes.name()),
            item: Item::Quote(crate::wire::tests::quote()),
        };
        assert!(v.submit(received(1)).is_none());
        assert!(v.submit(received(2)).is_none(), "queued behind the first");
        let (first, verdict) = tokio::time::timeout(Duration::from_secs(10), v.next())
            .await
            .expect("a verdict for the panicked one");
        assert_eq!(first.id, libp2p::gossipsub::MessageId::from(vec![1]));
        assert_eq!(verdict, Verdict::Ignore("the validator panicked".into()));
        let (second, verdict) = tokio::time::timeout(Duration::from_secs(10), v.next())
            .await
            .expect("the slot came back");
        assert_eq!(second.id, libp2p::gossipsub::MessageId::from(vec![2]));
        assert_eq!(verdict, Verdict::Accept);
    }

    /// A validator that blocks (a `bb verify`, or worse) holds its own message only: the
    /// network task keeps answering commands meanwhile, and the message is delivered once
    /// its verdict comes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slow_validator_does_not_hold_the_network_task() {
        let shutdown = CancellationToken::new();
        let gated = Arc::new(Gated {
            open: Mutex::new(false),
            opened: std::sync::Condvar::new(),
            entered: Default::default(),
        });
        let (a, mut a_events) = start(
            P2pConfig::loopback(vec![]),
            gated.clone(),
            Arc::new(NoTxs),
            shutdown.clone(),
        )
        .await
        .expect("node A");
        let (b, _b_events) = start(
            P2pConfig::loopback(a.listen_addrs()),
            Arc::new(FormatValidator),
            Arc::new(NoTxs),
            shutdown.clone(),
        )
        .await
        .expect("node B");
        let meshed = async {
            loop {
                if !b.topic_peers(Topic::Quotes).await.unwrap().is_empty()
                    && !a.topic_peers(Topic::Quotes).await.unwrap().is_empty()
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(20), meshed)
            .await
            .expect("A and B subscribed to each other's quotes");

        b.publish_quote(&crate::wire::tests::quote())
            .await
            .expect("published");
        let entered = async {
            while gated.entered.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(20), entered)
            .await
            .expect("A started validating the quote");

        // With the validation held, A's network task still answers.
        let peers = tokio::time::timeout(Duration::from_secs(5), a.connected_peers())
            .await
            .expect("the network task answers while a validation blocks")
            .expect("peers");
        assert_eq!(peers, vec![b.peer_id()]);
        assert!(
            a_events.try_recv().is_err(),
            "nothing delivered unvalidated"
        );

        *gated.open.lock().unwrap() = true;
        gated.opened.notify_all();
        let delivered = tokio::time::timeout(Duration::from_secs(10), a_events.recv())
            .await
            .expect("delivered once validated")
            .expect("event");
        match delivered {
            P2pEvent::Quote { quote: q, from } => {
                assert_eq!(q, crate::wire::tests::quote());
                assert_eq!(from, b.peer_id());
            }
            other => panic!("expected the quote, got {other:?}"),
        }
        shutdown.cancel();
    }
}
