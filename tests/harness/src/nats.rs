//! `nats-server` with JetStream: a single server, or an N-node cluster on loopback.

use crate::process::{free_port, http, ServerProcess};
use crate::{tool, HarnessError};
use std::path::PathBuf;
use std::time::Duration;
use tempfile::TempDir;

/// Extra settings for a server.
#[derive(Debug, Clone, Default)]
pub struct NatsOptions {
    /// Appended verbatim to the generated configuration (authorization, accounts, tls…).
    pub extra_config: String,
    /// Extra environment of the server process (configuration files read `$VARIABLES`).
    pub env: Vec<(String, String)>,
}

/// Where one server listens and keeps its data.
struct NodeSpec {
    name: String,
    port: u16,
    monitor_port: u16,
    cluster_port: Option<u16>,
    store_dir: PathBuf,
}

/// One `nats-server` process with JetStream enabled and file storage in a temp directory.
pub struct NatsServer {
    pub name: String,
    pub port: u16,
    pub monitor_port: u16,
    pub cluster_port: Option<u16>,
    pub store_dir: PathBuf,
    process: ServerProcess,
    _dir: Option<TempDir>,
}

impl NatsServer {
    /// A single JetStream server.
    pub fn start() -> Result<Self, HarnessError> {
        Self::start_with(NatsOptions::default())
    }

    pub fn start_with(opts: NatsOptions) -> Result<Self, HarnessError> {
        crate::with_port_retries(|| Self::try_start_with(&opts))
    }

    fn try_start_with(opts: &NatsOptions) -> Result<Self, HarnessError> {
        let dir = tempfile::Builder::new()
            .prefix("provemesh-nats-")
            .tempdir()?;
        let (port, monitor_port) = (free_port(), free_port());
        let store = dir.path().join("js");
        let conf = format!(
            "server_name: n1\nlisten: 127.0.0.1:{port}\nhttp: 127.0.0.1:{monitor_port}\n\
             jetstream {{ store_dir: \"{}\", max_memory_store: 512MB, max_file_store: 4GB }}\n{}\n",
            store.display(),
            opts.extra_config
        );
        let node = NodeSpec {
            name: "n1".into(),
            port,
            monitor_port,
            cluster_port: None,
            store_dir: store,
        };
        let mut s = Self::spawn(node, dir.path().to_path_buf(), &conf, &opts.env)?;
        s._dir = Some(dir);
        s.wait_ready()?;
        Ok(s)
    }

    fn spawn(
        node: NodeSpec,
        dir: PathBuf,
        conf: &str,
        env: &[(String, String)],
    ) -> Result<Self, HarnessError> {
        let NodeSpec {
            name,
            port,
            monitor_port,
            cluster_port,
            store_dir,
        } = node;
        let name = name.as_str();
        let conf_path = dir.join(format!("{name}.conf"));
        std::fs::write(&conf_path, conf)?;
        let process = ServerProcess::spawn_with_env(
            &format!("nats-server {name}"),
            &tool("nats-server")?,
            &["-c".into(), conf_path.display().to_string()],
            &dir.join(format!("{name}.log")),
            env,
        )?;
        Ok(NatsServer {
            name: name.into(),
            port,
            monitor_port,
            cluster_port,
            store_dir,
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

    /// Waits until the server reports JetStream healthy.
    pub fn wait_ready(&mut self) -> Result<(), HarnessError> {
        let mport = self.monitor_port;
        self.process.wait_ready(Duration::from_secs(20), || {
            matches!(
                http(mport, "GET", "/healthz?js-enabled-only=true", ""),
                Some((200, _))
            )
        })
    }

    /// A monitoring endpoint's JSON (`/jsz`, `/connz`, `/routez`…).
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
}

/// An N-node JetStream cluster on loopback: distinct ports and store directories, full
/// mesh of routes.
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
        let dir = tempfile::Builder::new()
            .prefix("provemesh-nats-cluster-")
            .tempdir()?;
        let ports: Vec<(u16, u16, u16)> = (0..n)
            .map(|_| (free_port(), free_port(), free_port()))
            .collect();
        let routes = ports
            .iter()
            .map(|(_, _, c)| format!("nats-route://127.0.0.1:{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut nodes = Vec::new();
        for (i, &(port, mport, cport)) in ports.iter().enumerate() {
            let name = format!("n{}", i + 1);
            let store = dir.path().join(&name).join("js");
            let conf = format!(
                "server_name: {name}\nlisten: 127.0.0.1:{port}\nhttp: 127.0.0.1:{mport}\n\
                 jetstream {{ store_dir: \"{}\", max_memory_store: 256MB, max_file_store: 2GB }}\n\
                 cluster {{ name: provemesh, listen: 127.0.0.1:{cport}, routes: [{routes}] }}\n{}\n",
                store.display(),
                opts.extra_config
            );
            let node = NodeSpec {
                name,
                port,
                monitor_port: mport,
                cluster_port: Some(cport),
                store_dir: store,
            };
            nodes.push(NatsServer::spawn(
                node,
                dir.path().to_path_buf(),
                &conf,
                &opts.env,
            )?);
        }
        for node in nodes.iter_mut() {
            node.wait_ready()?;
        }
        let mut c = NatsCluster { nodes, _dir: dir };
        c.wait_meta_leader()?;
        Ok(c)
    }

    /// Waits until every running node knows the JetStream meta leader (before that, stream
    /// management requests time out).
    pub fn wait_meta_leader(&mut self) -> Result<(), HarnessError> {
        let ports: Vec<u16> = self.nodes.iter().map(|n| n.monitor_port).collect();
        let first = &mut self.nodes[0];
        first.process.wait_ready(Duration::from_secs(30), || {
            ports.iter().all(|p| {
                http(*p, "GET", "/jsz", "").is_some_and(|(c, b)| {
                    c == 200
                        && b.split("\"meta_cluster\"").nth(1).is_some_and(|m| {
                            m.contains("\"leader\": \"n") || m.contains("\"leader\":\"n")
                        })
                })
            })
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
