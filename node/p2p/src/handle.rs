//! What a component holds to use the network: the configuration it starts from, the
//! [`P2pHandle`] it talks through, the events it receives, and the two traits through which
//! the network asks the component — is this gossiped message valid ([`GossipValidator`]),
//! which of these txs do you have ([`TxSource`]).

use crate::wire::WireError;
use libp2p::identity::Keypair;
use libp2p::{Multiaddr, PeerId};
use provemesh_common::tx::{Tx, TxHash};
use provemesh_l1::SignedEpochProofQuote;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// The gossip topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// Txs with their client proofs (canonical encoding).
    Txs,
    /// EIP-712-signed epoch proof quotes (ABI encoding).
    Quotes,
}

impl Topic {
    pub const ALL: [Topic; 2] = [Topic::Txs, Topic::Quotes];

    /// The gossipsub topic string.
    pub fn name(self) -> &'static str {
        match self {
            Topic::Txs => "/provemesh/tx/1",
            Topic::Quotes => "/provemesh/epoch-proof-quote/1",
        }
    }
}

/// Why the network refused or failed something.
#[derive(Debug, thiserror::Error)]
pub enum P2pError {
    #[error("P2P address {addr:?}: {reason}")]
    BadAddress { addr: String, reason: String },
    #[error("P2P: building the libp2p swarm: {0}")]
    Build(String),
    #[error("P2P: listening on {addr}: {reason}")]
    Listen { addr: Multiaddr, reason: String },
    #[error("P2P: dialing {addr}: {reason}")]
    Dial { addr: Multiaddr, reason: String },
    #[error("P2P: publishing on {topic}: {reason}")]
    Publish { topic: &'static str, reason: String },
    #[error("P2P: tx request to peer {peer}: {reason}")]
    Request { peer: PeerId, reason: String },
    #[error("P2P: the network task has stopped")]
    Stopped,
    #[error("P2P: {0}")]
    Wire(#[from] WireError),
}

/// Where the node listens, whom it dials first, and as whom.
#[derive(Clone)]
pub struct P2pConfig {
    /// Listen addresses, e.g. `/ip4/0.0.0.0/tcp/40400` (port 0: any free port).
    pub listen: Vec<Multiaddr>,
    /// Boot nodes (BOOT_NODE_URL): dialed at start and again whenever no peer is connected.
    pub boot_nodes: Vec<Multiaddr>,
    /// The node's identity; a fresh one gives a new peer id each start.
    pub keypair: Keypair,
    /// How often boot nodes are redialed while no peer is connected.
    pub redial_interval: Duration,
    /// How long a tx request waits for its answer.
    pub request_timeout: Duration,
}

impl std::fmt::Debug for P2pConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the keypair.
        f.debug_struct("P2pConfig")
            .field("listen", &self.listen)
            .field("boot_nodes", &self.boot_nodes)
            .field("peer_id", &self.keypair.public().to_peer_id())
            .finish()
    }
}

impl P2pConfig {
    /// Loopback, a free port, a fresh identity: devnets and tests.
    pub fn loopback(boot_nodes: Vec<Multiaddr>) -> Self {
        P2pConfig {
            listen: vec![loopback_addr(0)],
            boot_nodes,
            keypair: Keypair::generate_ed25519(),
            redial_interval: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
        }
    }
}

/// `/ip4/127.0.0.1/tcp/<port>` (0: any free port).
pub fn loopback_addr(port: u16) -> Multiaddr {
    Multiaddr::from(std::net::Ipv4Addr::LOCALHOST).with(libp2p::multiaddr::Protocol::Tcp(port))
}

/// Parses BOOT_NODE_URL: a multiaddr such as `/ip4/10.0.0.1/tcp/40400/p2p/12D3…` (the
/// `/p2p/` part is optional). ENRs and HTTP URLs (which the seed also allows) are refused
/// with a message saying so: this network has no discv5.
pub fn parse_boot_node(raw: &str) -> Result<Multiaddr, P2pError> {
    let t = raw.trim();
    let bad = |reason: &str| P2pError::BadAddress {
        addr: t.chars().take(120).collect(),
        reason: reason.to_string(),
    };
    if t.starts_with("enr:") {
        return Err(bad(
            "ENR boot nodes need discv5, which provemesh does not run; give the boot node's multiaddr (/ip4/…/tcp/…/p2p/…)",
        ));
    }
    if !t.starts_with('/') {
        return Err(bad(
            "expected a multiaddr such as /ip4/127.0.0.1/tcp/40400/p2p/<peer id>",
        ));
    }
    t.parse::<Multiaddr>().map_err(|e| bad(&e.to_string()))
}

/// The application's verdict on a gossiped message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Valid: delivered to the application and forwarded to peers.
    Accept,
    /// Not invalid but not wanted (already known, too old): dropped, not forwarded, the
    /// sender not penalised.
    Ignore(String),
    /// Invalid: dropped, not forwarded, the sender penalised.
    Reject(String),
}

/// Decides whether a gossiped tx or quote is forwarded. Called on tokio's blocking pool,
/// one message per core at once, so it may block (a `bb verify` of a client proof); the
/// network task goes on meanwhile, and the message is forwarded only once it is accepted.
pub trait GossipValidator: Send + Sync + 'static {
    fn validate_tx(&self, tx: &Tx) -> Verdict;
    fn validate_quote(&self, quote: &SignedEpochProofQuote) -> Verdict;
}

/// Stateless checks only: the tx's format rules, the quote's fee at most 100%. For nodes
/// that only consume gossip.
#[derive(Debug, Clone, Copy, Default)]
pub struct FormatValidator;

impl GossipValidator for FormatValidator {
    fn validate_tx(&self, tx: &Tx) -> Verdict {
        match tx.check_format() {
            Ok(()) => Verdict::Accept,
            Err(e) => Verdict::Reject(e.to_string()),
        }
    }

    fn validate_quote(&self, quote: &SignedEpochProofQuote) -> Verdict {
        if quote.quote.basisPointFee > 10_000 {
            return Verdict::Reject(format!(
                "basis point fee {} above 10000",
                quote.quote.basisPointFee
            ));
        }
        Verdict::Accept
    }
}

/// Answers peers' tx requests (`/provemesh/req/txs/1`). Called on the network task: must
/// be quick (an in-memory pool lookup).
pub trait TxSource: Send + Sync + 'static {
    /// The txs with `hashes`, in order, `None` where unknown.
    fn txs_by_hash(&self, hashes: &[TxHash]) -> Vec<Option<Tx>>;
}

/// A node with no txs to serve.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTxs;

impl TxSource for NoTxs {
    fn txs_by_hash(&self, hashes: &[TxHash]) -> Vec<Option<Tx>> {
        vec![None; hashes.len()]
    }
}

/// What the network delivers to the application: gossiped messages that passed the
/// validator.
#[derive(Debug, Clone)]
pub enum P2pEvent {
    Tx {
        tx: Tx,
        from: PeerId,
    },
    Quote {
        quote: SignedEpochProofQuote,
        from: PeerId,
    },
}

/// What became of a publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishOutcome {
    /// Sent to the peers subscribed to the topic.
    Sent,
    /// Already published or seen (same content): nothing to do.
    Duplicate,
    /// No peer subscribed yet: kept and sent when one subscribes (at most
    /// [`crate::network::MAX_QUEUED`] messages are kept, oldest dropped first).
    Queued,
}

pub(crate) enum Command {
    Publish {
        topic: Topic,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<PublishOutcome, P2pError>>,
    },
    RequestTxs {
        peer: PeerId,
        hashes: Vec<TxHash>,
        reply: oneshot::Sender<Result<Vec<Option<Tx>>, P2pError>>,
    },
    Peers {
        topic: Option<Topic>,
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    Dial {
        addr: Multiaddr,
        reply: oneshot::Sender<Result<(), P2pError>>,
    },
}

/// The application's side of a running network task. Cheap to clone; every call fails
/// with [`P2pError::Stopped`] once the task has stopped.
#[derive(Clone)]
pub struct P2pHandle {
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) peer_id: PeerId,
    pub(crate) listen: Arc<Mutex<Vec<Multiaddr>>>,
}

impl P2pHandle {
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The addresses the node listens on, each ending in `/p2p/<peer id>` (what another
    /// node takes as BOOT_NODE_URL).
    pub fn listen_addrs(&self) -> Vec<Multiaddr> {
        let addrs = self.listen.lock().map(|l| l.clone()).unwrap_or_default();
        addrs
            .into_iter()
            .map(|a| a.with(libp2p::multiaddr::Protocol::P2p(self.peer_id)))
            .collect()
    }

    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, P2pError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| P2pError::Stopped)?;
        rx.await.map_err(|_| P2pError::Stopped)
    }

    /// Gossips a tx.
    pub async fn publish_tx(&self, tx: &Tx) -> Result<PublishOutcome, P2pError> {
        let data = crate::wire::encode_tx(tx)?;
        self.call(|reply| Command::Publish {
            topic: Topic::Txs,
            data,
            reply,
        })
        .await?
    }

    /// Gossips a signed epoch proof quote.
    pub async fn publish_quote(
        &self,
        quote: &SignedEpochProofQuote,
    ) -> Result<PublishOutcome, P2pError> {
        let data = crate::wire::encode_quote(quote);
        self.call(|reply| Command::Publish {
            topic: Topic::Quotes,
            data,
            reply,
        })
        .await?
    }

    /// Peers connected now.
    pub async fn connected_peers(&self) -> Result<Vec<PeerId>, P2pError> {
        self.call(|reply| Command::Peers { topic: None, reply })
            .await
    }

    /// Connected peers subscribed to `topic` (a publish reaches them).
    pub async fn topic_peers(&self, topic: Topic) -> Result<Vec<PeerId>, P2pError> {
        self.call(|reply| Command::Peers {
            topic: Some(topic),
            reply,
        })
        .await
    }

    /// Dials `addr` (in addition to the boot nodes).
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), P2pError> {
        self.call(|reply| Command::Dial { addr, reply }).await?
    }

    /// Asks `peer` for the txs with `hashes` (at most
    /// [`crate::api::MAX_HASHES_PER_REQUEST`]). An answer whose tx does not hash to what
    /// was asked counts as missing.
    pub async fn request_txs(
        &self,
        peer: PeerId,
        hashes: &[TxHash],
    ) -> Result<Vec<Option<Tx>>, P2pError> {
        if hashes.len() > crate::api::MAX_HASHES_PER_REQUEST {
            return Err(P2pError::Request {
                peer,
                reason: format!(
                    "{} hashes, at most {} per request",
                    hashes.len(),
                    crate::api::MAX_HASHES_PER_REQUEST
                ),
            });
        }
        let hashes = hashes.to_vec();
        self.call(|reply| Command::RequestTxs {
            peer,
            hashes,
            reply,
        })
        .await?
    }

    /// Fetches txs by hash from connected peers, one peer after another until every hash
    /// is found or every peer was asked; `None` where no peer had it. A peer that fails is
    /// logged and skipped.
    pub async fn fetch_txs(&self, hashes: &[TxHash]) -> Result<Vec<Option<Tx>>, P2pError> {
        let mut found: Vec<Option<Tx>> = vec![None; hashes.len()];
        for peer in self.connected_peers().await? {
            let missing: Vec<usize> = (0..hashes.len()).filter(|&i| found[i].is_none()).collect();
            if missing.is_empty() {
                break;
            }
            for chunk in missing.chunks(crate::api::MAX_HASHES_PER_REQUEST) {
                let ask: Vec<TxHash> = chunk.iter().map(|&i| hashes[i]).collect();
                match self.request_txs(peer, &ask).await {
                    Ok(txs) => {
                        for (&i, tx) in chunk.iter().zip(txs) {
                            if tx.is_some() {
                                found[i] = tx;
                            }
                        }
                    }
                    Err(P2pError::Stopped) => return Err(P2pError::Stopped),
                    Err(e) => tracing::debug!(%peer, "tx request failed: {e}"),
                }
            }
        }
        Ok(found)
    }
}
