//! The libp2p network task: TCP + noise + yamux; gossipsub for txs and quotes (signed
//! messages, content-addressed ids, application-validated before forwarding); identify;
//! and a request-response protocol (`/provemesh/req/txs/1`, JSON) through which a node
//! asks a peer for txs by hash — how a prover node gets an epoch's txs from the pool.
//!
//! Discovery is the boot nodes (BOOT_NODE_URL): dialed at start and whenever no peer is
//! connected; gossipsub relays through them, so provers connected only to the sequencer
//! still hear each other. There is no DHT.

use crate::handle::{
    Command, GossipValidator, P2pConfig, P2pError, P2pEvent, P2pHandle, PublishOutcome, Topic,
    TxSource, Verdict,
};
use crate::validation::{Item, Received, Validations};
use crate::wire::{decode_quote, decode_tx, HexTx, HexTxHash};
use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, MessageAuthenticity, MessageId};
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{identify, noise, tcp, yamux, Multiaddr, PeerId, StreamProtocol, Swarm};
use provemesh_common::tx::{Tx, TxHash};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// Messages kept while no peer is subscribed to their topic.
pub const MAX_QUEUED: usize = 1024;
/// Events buffered for the application; beyond that, new ones are dropped (logged).
pub const EVENT_BUFFER: usize = 4096;
/// Largest gossip message: a tx is at most 64 KiB encoded.
pub const MAX_GOSSIP_SIZE: usize = 128 * 1024;
const TX_REQUEST_PROTOCOL: &str = "/provemesh/req/txs/1";
const IDENTIFY_PROTOCOL: &str = "/provemesh/id/1";

/// A request for txs by hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TxsRequest {
    pub hashes: Vec<HexTxHash>,
}

/// The answer: the txs in the order asked, null where unknown.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TxsResponse {
    pub txs: Vec<Option<HexTx>>,
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    gossipsub: gossipsub::Behaviour,
    identify: identify::Behaviour,
    txs: request_response::json::Behaviour<TxsRequest, TxsResponse>,
}

/// Starts the network task on the current tokio runtime and returns once it listens.
/// It runs until `shutdown` is cancelled or every handle is dropped.
pub async fn start(
    config: P2pConfig,
    validator: Arc<dyn GossipValidator>,
    source: Arc<dyn TxSource>,
    shutdown: CancellationToken,
) -> Result<(P2pHandle, mpsc::Receiver<P2pEvent>), P2pError> {
    let mut swarm = build_swarm(&config)?;
    let peer_id = *swarm.local_peer_id();
    for topic in Topic::ALL {
        swarm
            .behaviour_mut()
            .gossipsub
            .subscribe(&IdentTopic::new(topic.name()))
            .map_err(|e| P2pError::Build(format!("subscribing to {}: {e}", topic.name())))?;
    }
    for addr in &config.listen {
        swarm
            .listen_on(addr.clone())
            .map_err(|e| P2pError::Listen {
                addr: addr.clone(),
                reason: e.to_string(),
            })?;
    }
    // Wait for the actual addresses (port 0 becomes a port) before handing out the handle.
    let mut listening = Vec::new();
    let deadline = tokio::time::sleep(Duration::from_secs(10));
    tokio::pin!(deadline);
    while listening.len() < config.listen.len() {
        tokio::select! {
            _ = &mut deadline => {
                return Err(P2pError::Listen {
                    addr: config.listen[listening.len()].clone(),
                    reason: "no listen address within 10 s".into(),
                })
            }
            ev = swarm.select_next_some() => match ev {
                SwarmEvent::NewListenAddr { address, .. } => listening.push(address),
                SwarmEvent::ListenerError { error, .. } => {
                    return Err(P2pError::Listen {
                        addr: config.listen[listening.len()].clone(),
                        reason: error.to_string(),
                    })
                }
                _ => {}
            }
        }
    }
    tracing::info!(%peer_id, addrs = ?listening, "P2P listening");
    let listen = Arc::new(Mutex::new(listening));
    for addr in &config.boot_nodes {
        if let Err(e) = swarm.dial(addr.clone()) {
            tracing::warn!(%addr, "dialing boot node: {e}");
        }
    }
    let (commands, command_rx) = mpsc::channel(256);
    let (events, event_rx) = mpsc::channel(EVENT_BUFFER);
    // Validations run on the blocking pool; one per core keeps `bb verify`s from crowding
    // out the node's own work.
    let slots = std::thread::available_parallelism().map_or(2, |n| n.get());
    let task = Network {
        swarm,
        validations: Validations::new(validator, slots),
        source,
        events,
        boot_nodes: config.boot_nodes.clone(),
        listen: listen.clone(),
        queued: VecDeque::new(),
        requests: HashMap::new(),
    };
    tokio::spawn(task.run(command_rx, config.redial_interval, shutdown));
    Ok((
        P2pHandle {
            commands,
            peer_id,
            listen,
        },
        event_rx,
    ))
}

fn build_swarm(config: &P2pConfig) -> Result<Swarm<Behaviour>, P2pError> {
    let request_timeout = config.request_timeout;
    let swarm = libp2p::SwarmBuilder::with_existing_identity(config.keypair.clone())
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| P2pError::Build(format!("TCP transport: {e}")))?
        .with_behaviour(
            |key| -> Result<Behaviour, Box<dyn std::error::Error + Send + Sync>> {
                let gossip_config = gossipsub::ConfigBuilder::default()
                    .heartbeat_interval(Duration::from_millis(700))
                    .validation_mode(gossipsub::ValidationMode::Strict)
                    .validate_messages()
                    .max_transmit_size(MAX_GOSSIP_SIZE)
                    // Same content, same id: a tx published by two nodes is one message.
                    .message_id_fn(|m: &gossipsub::Message| {
                        MessageId::from(Sha256::digest(&m.data)[..20].to_vec())
                    })
                    .build()
                    .map_err(|e| format!("gossipsub config: {e}"))?;
                let gossipsub = gossipsub::Behaviour::new(
                    MessageAuthenticity::Signed(key.clone()),
                    gossip_config,
                )?;
                let identify = identify::Behaviour::new(
                    identify::Config::new(IDENTIFY_PROTOCOL.into(), key.public())
                        .with_agent_version(format!("provemesh/{}", env!("CARGO_PKG_VERSION"))),
                );
                let txs = request_response::json::Behaviour::new(
                    [(
                        StreamProtocol::new(TX_REQUEST_PROTOCOL),
                        ProtocolSupport::Full,
                    )],
                    request_response::Config::default().with_request_timeout(request_timeout),
                );
                Ok(Behaviour {
                    gossipsub,
                    identify,
                    txs,
                })
            },
        )
        .map_err(|e| P2pError::Build(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(300)))
        .build();
    Ok(swarm)
}

type TxsReply = oneshot::Sender<Result<Vec<Option<Tx>>, P2pError>>;

struct Network {
    swarm: Swarm<Behaviour>,
    validations: Validations,
    source: Arc<dyn TxSource>,
    events: mpsc::Sender<P2pEvent>,
    boot_nodes: Vec<Multiaddr>,
    listen: Arc<Mutex<Vec<Multiaddr>>>,
    /// Published while no peer was subscribed to the topic.
    queued: VecDeque<(Topic, Vec<u8>)>,
    requests: HashMap<OutboundRequestId, (PeerId, Vec<TxHash>, TxsReply)>,
}

impl Network {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        redial_interval: Duration,
        shutdown: CancellationToken,
    ) {
        let mut redial = tokio::time::interval(redial_interval);
        redial.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                cmd = commands.recv() => match cmd {
                    Some(cmd) => self.on_command(cmd),
                    None => break,
                },
                ev = self.swarm.select_next_some() => self.on_swarm_event(ev),
                (received, verdict) = self.validations.next() => self.on_verdict(received, verdict),
                _ = redial.tick() => self.redial(),
            }
        }
        tracing::debug!(peer_id = %self.swarm.local_peer_id(), "P2P network task stopped");
    }

    fn redial(&mut self) {
        if self.swarm.connected_peers().next().is_some() {
            return;
        }
        for addr in &self.boot_nodes {
            if let Err(e) = self.swarm.dial(addr.clone()) {
                tracing::debug!(%addr, "redialing boot node: {e}");
            }
        }
    }

    fn publish(&mut self, topic: Topic, data: Vec<u8>) -> Result<PublishOutcome, P2pError> {
        match self
            .swarm
            .behaviour_mut()
            .gossipsub
            .publish(IdentTopic::new(topic.name()), data.clone())
        {
            Ok(_) => Ok(PublishOutcome::Sent),
            Err(gossipsub::PublishError::Duplicate) => Ok(PublishOutcome::Duplicate),
            Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {
                if self.queued.len() >= MAX_QUEUED {
                    self.queued.pop_front();
                    tracing::warn!(
                        topic = topic.name(),
                        "P2P publish queue full: dropped the oldest message"
                    );
                }
                self.queued.push_back((topic, data));
                Ok(PublishOutcome::Queued)
            }
            Err(e) => Err(P2pError::Publish {
                topic: topic.name(),
                reason: e.to_string(),
            }),
        }
    }

    /// Sends what was queued for `topic` now that a peer subscribed to it.
    fn flush(&mut self, topic: Topic) {
        let (now, later): (VecDeque<_>, VecDeque<_>) = std::mem::take(&mut self.queued)
            .into_iter()
            .partition(|(t, _)| *t == topic);
        self.queued = later;
        let n = now.len();
        for (t, data) in now {
            if let Err(e) = self.publish(t, data) {
                tracing::warn!("sending a queued message: {e}");
            }
        }
        if n > 0 {
            tracing::debug!(topic = topic.name(), n, "sent queued messages");
        }
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Publish { topic, data, reply } => {
                let _ = reply.send(self.publish(topic, data));
            }
            Command::RequestTxs {
                peer,
                hashes,
                reply,
            } => {
                let request = TxsRequest {
                    hashes: hashes.iter().copied().map(HexTxHash).collect(),
                };
                let id = self.swarm.behaviour_mut().txs.send_request(&peer, request);
                self.requests.insert(id, (peer, hashes, reply));
            }
            Command::Peers { topic, reply } => {
                let peers = match topic {
                    None => self.swarm.connected_peers().copied().collect(),
                    Some(t) => {
                        let hash = IdentTopic::new(t.name()).hash();
                        self.swarm
                            .behaviour()
                            .gossipsub
                            .all_peers()
                            .filter(|(_, topics)| topics.contains(&&hash))
                            .map(|(p, _)| *p)
                            .collect()
                    }
                };
                let _ = reply.send(peers);
            }
            Command::Dial { addr, reply } => {
                let r = self.swarm.dial(addr.clone()).map_err(|e| P2pError::Dial {
                    addr,
                    reason: e.to_string(),
                });
                let _ = reply.send(r);
            }
        }
    }

    fn deliver(&self, event: P2pEvent) {
        if let Err(e) = self.events.try_send(event) {
            tracing::warn!("P2P event dropped (application not keeping up or gone): {e}");
        }
    }

    /// Decodes a gossiped message and hands it to the validator; its verdict comes back
    /// through [`Self::on_verdict`].
    fn on_gossip(&mut self, source: PeerId, id: MessageId, message: gossipsub::Message) {
        let from = message.source.unwrap_or(source);
        let topic = message.topic;
        let item = if topic == IdentTopic::new(Topic::Txs.name()).hash() {
            decode_tx(&message.data).map(Item::Tx)
        } else if topic == IdentTopic::new(Topic::Quotes.name()).hash() {
            decode_quote(&message.data).map(Item::Quote)
        } else {
            self.report(
                &id,
                &source,
                &from,
                &topic,
                &Verdict::Ignore("unknown topic".into()),
            );
            return;
        };
        let item = match item {
            Ok(item) => item,
            Err(e) => {
                self.report(&id, &source, &from, &topic, &Verdict::Reject(e.to_string()));
                return;
            }
        };
        let received = Received {
            id,
            source,
            from,
            topic,
            item,
        };
        if let Some(r) = self.validations.submit(received) {
            let why = Verdict::Ignore("validation backlog full".into());
            tracing::warn!(from = %r.from, topic = %r.topic, "gossip not validated: backlog full");
            self.report(&r.id, &r.source, &r.from, &r.topic, &why);
        }
    }

    fn on_verdict(&mut self, received: Received, verdict: Verdict) {
        let r = &received;
        self.report(&r.id, &r.source, &r.from, &r.topic, &verdict);
        if verdict == Verdict::Accept {
            self.deliver(received.into_event());
        }
    }

    /// Tells gossipsub whether to forward the message (and whether to penalise the peer).
    fn report(
        &mut self,
        id: &MessageId,
        source: &PeerId,
        from: &PeerId,
        topic: &gossipsub::TopicHash,
        verdict: &Verdict,
    ) {
        let acceptance = match verdict {
            Verdict::Accept => MessageAcceptance::Accept,
            Verdict::Ignore(why) => {
                tracing::trace!(%from, %topic, "gossip ignored: {why}");
                MessageAcceptance::Ignore
            }
            Verdict::Reject(why) => {
                tracing::debug!(%from, %topic, "gossip rejected: {why}");
                MessageAcceptance::Reject
            }
        };
        self.swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(id, source, acceptance);
    }

    fn on_txs(&mut self, event: request_response::Event<TxsRequest, TxsResponse>) {
        use request_response::{Event, Message};
        match event {
            Event::Message {
                peer,
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                let asked: Vec<TxHash> = request.hashes.iter().map(|h| h.0).collect();
                let txs = if asked.len() > crate::api::MAX_HASHES_PER_REQUEST {
                    tracing::debug!(%peer, n = asked.len(), "tx request too large, answering none");
                    vec![None; asked.len()]
                } else {
                    self.source.txs_by_hash(&asked)
                };
                let response = TxsResponse {
                    txs: txs.into_iter().map(|t| t.map(HexTx)).collect(),
                };
                if self
                    .swarm
                    .behaviour_mut()
                    .txs
                    .send_response(channel, response)
                    .is_err()
                {
                    tracing::debug!(%peer, "tx response not sent: the request was dropped");
                }
            }
            Event::Message {
                peer,
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                if let Some((_, hashes, reply)) = self.requests.remove(&request_id) {
                    let _ = reply.send(Ok(check_response(peer, &hashes, response)));
                }
            }
            Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                if let Some((_, _, reply)) = self.requests.remove(&request_id) {
                    let _ = reply.send(Err(P2pError::Request {
                        peer,
                        reason: error.to_string(),
                    }));
                }
            }
            Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, "inbound tx request failed: {error}");
            }
            Event::ResponseSent { .. } => {}
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(ev)) => match ev {
                gossipsub::Event::Message {
                    propagation_source,
                    message_id,
                    message,
                } => self.on_gossip(propagation_source, message_id, message),
                gossipsub::Event::Subscribed { peer_id, topic } => {
                    tracing::debug!(%peer_id, %topic, "peer subscribed");
                    if let Some(t) = Topic::ALL
                        .into_iter()
                        .find(|t| IdentTopic::new(t.name()).hash() == topic)
                    {
                        self.flush(t);
                    }
                }
                _ => {}
            },
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => {
                tracing::debug!(%peer_id, agent = %info.agent_version, "identified peer");
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(_)) => {}
            SwarmEvent::Behaviour(BehaviourEvent::Txs(ev)) => self.on_txs(ev),
            SwarmEvent::NewListenAddr { address, .. } => {
                if let Ok(mut l) = self.listen.lock() {
                    if !l.contains(&address) {
                        l.push(address);
                    }
                }
            }
            SwarmEvent::ConnectionEstablished {
                peer_id, endpoint, ..
            } => {
                tracing::debug!(%peer_id, addr = %endpoint.get_remote_address(), "P2P connected");
            }
            SwarmEvent::ConnectionClosed { peer_id, cause, .. } => {
                tracing::debug!(%peer_id, ?cause, "P2P connection closed");
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                tracing::debug!(?peer_id, "P2P dial failed: {error}");
            }
            _ => {}
        }
    }
}

/// The txs of a response, in the order asked; a tx whose hash is not the one asked for at
/// its position, and any surplus, count as missing.
fn check_response(peer: PeerId, asked: &[TxHash], response: TxsResponse) -> Vec<Option<Tx>> {
    let mut out: Vec<Option<Tx>> = vec![None; asked.len()];
    for (i, tx) in response.txs.into_iter().enumerate().take(asked.len()) {
        if let Some(HexTx(tx)) = tx {
            if tx.hash() == Some(asked[i]) {
                out[i] = Some(tx);
            } else {
                tracing::warn!(%peer, asked = %asked[i], "peer answered a tx request with another tx");
            }
        }
    }
    out
}
