//! `nats-server` deployments on loopback, each started from the configuration files
//! provemesh ships in `infra/nats/` (embedded here, so what the tests run is what an
//! operator deploys): a single JetStream server, an N-node cluster, a two-region
//! supercluster joined by gateways, and leafnode servers at the edge of a hub.
//!
//! The shipped files take every host-specific value from the environment; the harness
//! chooses free ports and temporary store directories and passes them that way.

use crate::link::LinkProxy;
use crate::process::{free_port, http, ServerProcess};
use crate::{tool, HarnessError};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tempfile::TempDir;

/// The deployment files of `infra/nats/`, as shipped.
const SHIPPED: &[(&str, &str)] = &[
    (
        "server.conf",
        include_str!("../../../infra/nats/server.conf"),
    ),
    (
        "cluster.conf",
        include_str!("../../../infra/nats/cluster.conf"),
    ),
    (
        "region.conf",
        include_str!("../../../infra/nats/region.conf"),
    ),
    ("hub.conf", include_str!("../../../infra/nats/hub.conf")),
    (
        "leafnode.conf",
        include_str!("../../../infra/nats/leafnode.conf"),
    ),
    ("tls.conf", include_str!("../../../infra/nats/tls.conf")),
];

/// The JetStream domain of a hub started by [`NatsServer::start_hub`].
pub const HUB_DOMAIN: &str = "hub";

/// Extra settings for a server.
#[derive(Debug, Clone, Default)]
pub struct NatsOptions {
    /// Appended verbatim after the shipped configuration (authorization, accounts, tls…).
    pub extra_config: String,
    /// Extra environment of the server process (configuration files read `$VARIABLES`).
    pub env: Vec<(String, String)>,
}

/// One `nats-server` process.
pub struct NatsServer {
    pub name: String,
    pub port: u16,
    pub monitor_port: u16,
    pub cluster_port: Option<u16>,
    /// Where leafnode servers attach (a hub).
    pub leaf_port: Option<u16>,
    pub store_dir: PathBuf,
    jetstream: bool,
    process: ServerProcess,
    _dir: Option<TempDir>,
}

/// What a server is started with: the shipped file it includes and its environment.
struct Launch<'a> {
    name: String,
    deployment: &'a str,
    env: Vec<(String, String)>,
    jetstream: bool,
    cluster_port: Option<u16>,
    leaf_port: Option<u16>,
}

impl NatsServer {
    /// A single JetStream server (`infra/nats/server.conf`).
    pub fn start() -> Result<Self, HarnessError> {
        Self::start_with(NatsOptions::default())
    }

    pub fn start_with(opts: NatsOptions) -> Result<Self, HarnessError> {
        crate::with_port_retries(|| Self::try_single("server.conf", None, &opts))
    }

    /// A single JetStream server that leafnode servers attach to (`infra/nats/hub.conf`),
    /// its JetStream in domain [`HUB_DOMAIN`].
    pub fn start_hub() -> Result<Self, HarnessError> {
        crate::with_port_retries(|| {
            Self::try_single("hub.conf", Some(free_port()), &NatsOptions::default())
        })
    }

    /// A leafnode server without JetStream attached to `hub` (`infra/nats/leafnode.conf`):
    /// its clients use the hub's streams over the leaf connection.
    pub fn start_leaf(hub: &NatsServer) -> Result<Self, HarnessError> {
        let hub_leaf = hub.leaf_port.ok_or_else(|| {
            HarnessError::Io(std::io::Error::other(
                "the hub was not started with start_hub",
            ))
        })?;
        crate::with_port_retries(|| {
            let dir = temp_dir("provemesh-nats-leaf-")?;
            let launch = Launch {
                name: "e1".into(),
                deployment: "leafnode.conf",
                env: vec![(
                    "NATS_HUB_LEAF_URL".into(),
                    format!("nats-leaf://127.0.0.1:{hub_leaf}"),
                )],
                jetstream: false,
                cluster_port: None,
                leaf_port: None,
            };
            let mut s = Self::spawn(dir.path(), launch, &NatsOptions::default())?;
            s._dir = Some(dir);
            s.wait_ready()?;
            Ok(s)
        })
    }

    fn try_single(
        deployment: &str,
        leaf_port: Option<u16>,
        opts: &NatsOptions,
    ) -> Result<Self, HarnessError> {
        let dir = temp_dir("provemesh-nats-")?;
        let mut env = Vec::new();
        if let Some(p) = leaf_port {
            env.push(("NATS_LEAF_LISTEN".into(), format!("127.0.0.1:{p}")));
            env.push(("NATS_JS_DOMAIN".into(), HUB_DOMAIN.into()));
        }
        let launch = Launch {
            name: "n1".into(),
            deployment,
            env,
            jetstream: true,
            cluster_port: None,
            leaf_port,
        };
        let mut s = Self::spawn(dir.path(), launch, opts)?;
        s._dir = Some(dir);
        s.wait_ready()?;
        Ok(s)
    }

    /// Writes the shipped files and a main configuration that includes the deployment's
    /// file (plus `opts.extra_config`) into `dir`, and starts the server on fresh ports.
    fn spawn(dir: &Path, launch: Launch<'_>, opts: &NatsOptions) -> Result<Self, HarnessError> {
        for (file, text) in SHIPPED {
            std::fs::write(dir.join(file), text)?;
        }
        let Launch {
            name,
            deployment,
            mut env,
            jetstream,
            cluster_port,
            leaf_port,
        } = launch;
        let (port, monitor_port) = (free_port(), free_port());
        let store_dir = dir.join(&name).join("js");
        env.extend([
            ("NATS_SERVER_NAME".into(), name.clone()),
            ("NATS_LISTEN".into(), format!("127.0.0.1:{port}")),
            (
                "NATS_HTTP_LISTEN".into(),
                format!("127.0.0.1:{monitor_port}"),
            ),
            ("NATS_STORE_DIR".into(), store_dir.display().to_string()),
        ]);
        env.extend(opts.env.iter().cloned());
        let conf_path = dir.join(format!("{name}.conf"));
        std::fs::write(
            &conf_path,
            format!("include ./{deployment}\n{}\n", opts.extra_config),
        )?;
        let process = ServerProcess::spawn_with_env(
            &format!("nats-server {name}"),
            &tool("nats-server")?,
            &["-c".into(), conf_path.display().to_string()],
            &dir.join(format!("{name}.log")),
            &env,
        )?;
        Ok(NatsServer {
            name,
            port,
            monitor_port,
            cluster_port,
            leaf_port,
            store_dir,
            jetstream,
            process,
            _dir: None,
        })
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    /// Waits until the server reports healthy (with JetStream, where it runs it).
    pub fn wait_ready(&mut self) -> Result<(), HarnessError> {
        let mport = self.monitor_port;
        let path = if self.jetstream {
            "/healthz?js-enabled-only=true"
        } else {
            "/healthz"
        };
        self.process.wait_ready(Duration::from_secs(20), || {
            matches!(http(mport, "GET", path, ""), Some((200, _)))
        })
    }

    /// A monitoring endpoint's JSON (`/jsz`, `/connz`, `/routez`, `/gatewayz`, `/leafz`…).
    pub fn monitor(&self, path: &str) -> Option<String> {
        http(self.monitor_port, "GET", path, "")
            .filter(|(c, _)| *c == 200)
            .map(|(_, b)| b)
    }

    /// SIGKILL: the server crashes.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Graceful stop (SIGTERM).
    pub fn stop(&mut self) {
        self.process.stop(Duration::from_secs(10));
    }

    /// Starts it again with the same ports and data, and waits until it is ready.
    pub fn restart(&mut self) -> Result<(), HarnessError> {
        self.process.restart()?;
        self.wait_ready()
    }

    pub fn is_running(&mut self) -> bool {
        self.process.is_running()
    }

    pub fn log_tail(&self) -> String {
        self.process.log_tail(8000)
    }

    /// Whether this server knows a JetStream meta leader (before it does, stream
    /// management requests time out).
    fn knows_meta_leader(monitor_port: u16) -> bool {
        http(monitor_port, "GET", "/jsz", "")
            .filter(|(c, _)| *c == 200)
            .and_then(|(_, b)| serde_json::from_str::<serde_json::Value>(&b).ok())
            .is_some_and(|v| {
                v["meta_cluster"]["leader"]
                    .as_str()
                    .is_some_and(|l| !l.is_empty())
            })
    }
}

fn temp_dir(prefix: &str) -> Result<TempDir, HarnessError> {
    Ok(tempfile::Builder::new().prefix(prefix).tempdir()?)
}

/// The route URL list a cluster's servers share (`NATS_ROUTES`).
fn routes(cluster_ports: &[u16]) -> String {
    let urls: Vec<String> = cluster_ports
        .iter()
        .map(|c| format!("nats-route://127.0.0.1:{c}"))
        .collect();
    format!("[{}]", urls.join(", "))
}

/// Waits until every server in `servers` is healthy and knows the JetStream meta leader.
fn wait_all_ready(servers: &mut [NatsServer]) -> Result<(), HarnessError> {
    for s in servers.iter_mut() {
        s.wait_ready()?;
    }
    let ports: Vec<u16> = servers
        .iter()
        .filter(|s| s.jetstream)
        .map(|s| s.monitor_port)
        .collect();
    if let Some(first) = servers.first_mut() {
        first.process.wait_ready(Duration::from_secs(30), || {
            ports.iter().all(|p| NatsServer::knows_meta_leader(*p))
        })?;
    }
    Ok(())
}

/// An N-node JetStream cluster on loopback (`infra/nats/cluster.conf`): distinct ports and
/// store directories, every server routed to every other.
pub struct NatsCluster {
    pub nodes: Vec<NatsServer>,
    _dir: TempDir,
}

impl NatsCluster {
    pub fn start(n: usize) -> Result<Self, HarnessError> {
        Self::start_with(n, NatsOptions::default())
    }

    pub fn start_with(n: usize, opts: NatsOptions) -> Result<Self, HarnessError> {
        crate::with_port_retries(|| Self::try_start_with(n, &opts))
    }

    fn try_start_with(n: usize, opts: &NatsOptions) -> Result<Self, HarnessError> {
        let dir = temp_dir("provemesh-nats-cluster-")?;
        let cluster_ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let mut nodes = Vec::new();
        for (i, &cport) in cluster_ports.iter().enumerate() {
            let launch = Launch {
                name: format!("n{}", i + 1),
                deployment: "cluster.conf",
                env: vec![
                    ("NATS_CLUSTER_NAME".into(), "provemesh".into()),
                    ("NATS_CLUSTER_LISTEN".into(), format!("127.0.0.1:{cport}")),
                    ("NATS_ROUTES".into(), routes(&cluster_ports)),
                ],
                jetstream: true,
                cluster_port: Some(cport),
                leaf_port: None,
            };
            nodes.push(NatsServer::spawn(dir.path(), launch, opts)?);
        }
        wait_all_ready(&mut nodes)?;
        Ok(NatsCluster { nodes, _dir: dir })
    }

    /// Waits until every running node knows the JetStream meta leader.
    pub fn wait_meta_leader(&mut self) -> Result<(), HarnessError> {
        let ports: Vec<u16> = self.nodes.iter().map(|n| n.monitor_port).collect();
        let first = &mut self.nodes[0];
        first.process.wait_ready(Duration::from_secs(30), || {
            ports.iter().all(|p| NatsServer::knows_meta_leader(*p))
        })
    }

    /// All client URLs, comma separated (what a client connects with).
    pub fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(|n| n.url())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Index of the node whose `server_name` is `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }
}

/// A two-region supercluster (`infra/nats/region.conf`): regions `A` and `B`, each a
/// JetStream cluster of its own servers, joined by gateways that run through
/// [`LinkProxy`]s, so a test can cut the link between the regions and restore it.
pub struct Supercluster {
    /// Region A's servers (the node's home region in the tests).
    pub a: Vec<NatsServer>,
    /// Region B's servers.
    pub b: Vec<NatsServer>,
    links: Vec<LinkProxy>,
    _dir: TempDir,
}

impl Supercluster {
    /// Starts region A with `a` servers and region B with `b`, and waits until the
    /// gateways are up and every server knows the JetStream meta leader.
    pub fn start(a: usize, b: usize) -> Result<Self, HarnessError> {
        crate::with_port_retries(|| Self::try_start(a, b))
    }

    fn try_start(a: usize, b: usize) -> Result<Self, HarnessError> {
        let dir = temp_dir("provemesh-nats-regions-")?;
        let sizes = [("A", a), ("B", b)];
        // Each server's gateway is reached through its own proxy, which is also the
        // address it advertises: every gateway connection, whichever side dials, crosses
        // a proxy.
        let mut links = Vec::new();
        let mut plan = Vec::new();
        for (region, n) in sizes {
            let cluster_ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
            for (i, cport) in cluster_ports.iter().enumerate() {
                let gateway = free_port();
                let link = LinkProxy::start(gateway)?;
                plan.push((region, i, *cport, gateway, link.port, cluster_ports.clone()));
                links.push(link);
            }
        }
        let first_link = |region: &str| {
            plan.iter()
                .find(|p| p.0 == region && p.1 == 0)
                .map(|p| format!("nats://127.0.0.1:{}", p.4))
                .unwrap_or_default()
        };
        let (a_url, b_url) = (first_link("A"), first_link("B"));
        let (mut servers_a, mut servers_b) = (Vec::new(), Vec::new());
        for (region, i, cport, gateway, advertised, cluster_ports) in &plan {
            let launch = Launch {
                name: format!("{}{}", region.to_lowercase(), i + 1),
                deployment: "region.conf",
                env: vec![
                    ("NATS_CLUSTER_NAME".into(), region.to_string()),
                    ("NATS_CLUSTER_LISTEN".into(), format!("127.0.0.1:{cport}")),
                    ("NATS_ROUTES".into(), routes(cluster_ports)),
                    ("NATS_GATEWAY_LISTEN".into(), format!("127.0.0.1:{gateway}")),
                    (
                        "NATS_GATEWAY_ADVERTISE".into(),
                        format!("127.0.0.1:{advertised}"),
                    ),
                    ("NATS_REGION_A".into(), "A".into()),
                    ("NATS_REGION_B".into(), "B".into()),
                    ("NATS_REGION_A_GATEWAY".into(), a_url.clone()),
                    ("NATS_REGION_B_GATEWAY".into(), b_url.clone()),
                ],
                jetstream: true,
                cluster_port: Some(*cport),
                leaf_port: None,
            };
            let s = NatsServer::spawn(dir.path(), launch, &NatsOptions::default())?;
            if *region == "A" {
                servers_a.push(s);
            } else {
                servers_b.push(s);
            }
        }
        let mut sc = Supercluster {
            a: servers_a,
            b: servers_b,
            links,
            _dir: dir,
        };
        sc.wait_linked()?;
        Ok(sc)
    }

    /// Waits until every server has its outbound gateway to the other region and knows
    /// the JetStream meta leader.
    pub fn wait_linked(&mut self) -> Result<(), HarnessError> {
        let mut all: Vec<&mut NatsServer> = self.a.iter_mut().chain(self.b.iter_mut()).collect();
        for s in all.iter_mut() {
            s.wait_ready()?;
        }
        let ports: Vec<u16> = all.iter().map(|s| s.monitor_port).collect();
        let first = &mut all[0];
        first.process.wait_ready(Duration::from_secs(30), || {
            ports
                .iter()
                .all(|p| NatsServer::knows_meta_leader(*p) && outbound_gateways(*p) >= 1)
        })
    }

    /// Cuts every gateway connection between the regions and refuses new ones until
    /// [`Supercluster::restore_link`].
    pub fn cut_link(&self) {
        for l in &self.links {
            l.cut();
        }
    }

    /// Lets the regions connect again (the servers reconnect on their own).
    pub fn restore_link(&self) {
        for l in &self.links {
            l.restore();
        }
    }

    /// Client URLs of one region's servers, comma separated.
    pub fn urls(servers: &[NatsServer]) -> String {
        servers
            .iter()
            .map(|n| n.url())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Outbound gateway connections a server has (from its `/gatewayz`).
fn outbound_gateways(monitor_port: u16) -> usize {
    http(monitor_port, "GET", "/gatewayz", "")
        .filter(|(c, _)| *c == 200)
        .and_then(|(_, b)| serde_json::from_str::<serde_json::Value>(&b).ok())
        .and_then(|v| v["outbound_gateways"].as_object().map(|o| o.len()))
        .unwrap_or(0)
}
