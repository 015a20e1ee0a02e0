//! How provemesh nodes talk to each other, for the devnet sequencer today and the prover
//! node next:
//!
//! - [`network`]: libp2p (TCP + noise + yamux, gossipsub, identify) gossiping txs and
//!   EIP-712-signed epoch proof quotes, plus a request-response protocol through which a
//!   node fetches txs by hash from its peers' pools ([`P2pHandle::fetch_txs`]);
//! - [`api`]: the JSON-RPC node API (AZTEC_NODE_URL / PROVER_COORDINATION_NODE_URL) as a
//!   `jsonrpsee` trait — the sequencer serves it, a prover node calls it;
//! - [`wire`]: the one wire form of each thing (tx, tx hash, quote) both transports use.
//!
//! The network never decides what is valid: the application does, through
//! [`GossipValidator`] (what is forwarded) and [`TxSource`] (what is served).

pub mod api;
mod handle;
pub mod network;
mod validation;
pub mod wire;

pub use api::{
    http_client, L1ContractAddresses, NodeApiClient, NodeApiServer, NodeInfo, TxReceipt, TxStatus,
    WorldStateGenesis,
};
pub use handle::{
    loopback_addr, parse_boot_node, FormatValidator, GossipValidator, NoTxs, P2pConfig, P2pError,
    P2pEvent, P2pHandle, PublishOutcome, Topic, TxSource, Verdict,
};
pub use libp2p::{identity::Keypair, Multiaddr, PeerId};
pub use network::start;
