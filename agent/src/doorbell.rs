//! Doorbells: how an idle agent learns that jobs were queued without polling its queues.
//! The broker rings `prove.ready.<type>` once per job enqueued (up to a cap); idle agents
//! listen in each of their types' queue groups, so a ring wakes exactly one of them.

use futures::StreamExt;
use provemesh_common::ProofType;
use provemesh_nats::subjects;

/// How many times a doorbell is passed on by full agents before it is dropped.
const MAX_RING_HOPS: u8 = 1;

/// Subscriptions to the doorbells of the agent's proof types, in their queue groups.
/// Dropping it leaves the groups.
pub(crate) struct Doorbell(futures::stream::SelectAll<async_nats::Subscriber>);

impl Doorbell {
    pub(crate) async fn join(
        client: &async_nats::Client,
        types: &[ProofType],
    ) -> Result<Self, async_nats::SubscribeError> {
        let mut subs = Vec::new();
        for &t in types {
            subs.push(
                client
                    .queue_subscribe(subjects::ready(t), subjects::ready_group(t))
                    .await?,
            );
        }
        Ok(Doorbell(futures::stream::select_all(subs)))
    }
}

/// Resolves on the next ring; never, without doorbells.
pub(crate) async fn ring(bell: &mut Option<Doorbell>) -> Option<async_nats::Message> {
    match bell {
        Some(b) => b.0.next().await,
        None => std::future::pending().await,
    }
}

/// Re-rings a doorbell that reached a full agent, so that an idle one wakes instead. The
/// payload counts hops; a ring stops after [`MAX_RING_HOPS`].
pub(crate) async fn pass_on(client: &async_nats::Client, ring: Option<async_nats::Message>) {
    let Some(m) = ring else { return };
    let hops = m.payload.first().copied().unwrap_or(0);
    if hops < MAX_RING_HOPS {
        let _ = client
            .publish(m.subject, bytes::Bytes::from(vec![hops + 1]))
            .await;
    }
}
