//! The deployment files against the code. No docker or kubectl here, so every manifest is
//! parsed and checked for what would break in a cluster without a word from the API
//! server: each environment variable a container sets is one its binary accepts (read
//! from the built binaries' `--help`), secrets come only from Secrets (Kubernetes) or the
//! operator's environment (compose), the KEDA scaler names the stream and consumers the
//! topology creates, grace periods outlast the drain deadline, the NATS configuration is
//! the shipped `infra/nats/` files byte for byte, the images build what the manifests run,
//! and the Grafana dashboard queries only metrics the code defines.

use crate::support::binary;
use provemesh_common::config::values;
use provemesh_common::ProofType;
use provemesh_nats::subjects;
use serde::Deserialize;
use serde_norway::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// After the drain deadline an agent hands back what is unfinished and flushes its last
/// acks for at most 5 s (`Agent::run`); a grace period must cover both, plus a margin.
const FLUSH_AND_MARGIN: Duration = Duration::from_secs(10);
/// AWS's notice ahead of reclaiming a spot instance.
const SPOT_NOTICE: Duration = Duration::from_secs(120);
/// Packages an agent image must not contain (L1 and node code).
const NOT_IN_AGENT: &[&str] = &[
    "alloy",
    "provemesh-l1",
    "provemesh-node",
    "provemesh-sequencer",
    "provemesh-world-state",
    "provemesh-tx-processor",
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repository root")
        .to_path_buf()
}

fn read(rel: &str) -> String {
    let p = repo().join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Runs a command to completion within `limit`, returning its stdout; kills it otherwise.
fn output(cmd: &mut Command, limit: Duration) -> String {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).map(|_| s)
    });
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "{cmd:?}: {status}");
            return reader.join().expect("reader").expect("utf-8 output");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} ran longer than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

// ---------------------------------------------------------------------------------------
// What the binaries accept

/// The variables and flags a binary's `--help` lists.
#[derive(Debug, Default)]
struct Accepted {
    vars: BTreeSet<String>,
    /// Variables whose values `--help` hides (secrets).
    secret: BTreeSet<String>,
    flags: BTreeSet<String>,
}

impl Accepted {
    fn of(bin: &str, args: &[&str]) -> Accepted {
        let help = output(
            Command::new(binary(bin))
                .args(args)
                .arg("--help")
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default()),
            Duration::from_secs(20),
        );
        let mut a = Accepted::default();
        for (i, _) in help.match_indices("[env: ") {
            let rest = &help[i + 6..];
            let end = rest
                .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
                .expect("end of variable name");
            let name = rest[..end].to_string();
            match rest.as_bytes()[end] {
                b'=' => {}
                b']' => {
                    a.secret.insert(name.clone());
                }
                c => panic!("unexpected {:?} after [env: {name}", c as char),
            }
            a.vars.insert(name);
        }
        for word in help.split(|c: char| c.is_whitespace() || c == ',' || c == '[') {
            if let Some(f) = word.strip_prefix("--") {
                let f: String = f
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect();
                if !f.is_empty() {
                    a.flags.insert(format!("--{f}"));
                }
            }
        }
        assert!(
            a.vars.contains("PROVER_BROKER_HOST") && !a.secret.is_empty(),
            "help of {bin} {args:?} not understood:\n{help}"
        );
        a
    }

    /// A secret by the binary's own account, or by its name (server-side passwords).
    fn is_secret(&self, name: &str) -> bool {
        self.secret.contains(name)
            || ["PASSWORD", "SECRET", "PRIVATE_KEY", "TOKEN"]
                .iter()
                .any(|w| name.contains(w))
    }
}

struct Binaries {
    agent: Accepted,
    node: Accepted,
}

fn binaries() -> Binaries {
    let b = Binaries {
        agent: Accepted::of("provemesh-agent", &[]),
        node: Accepted::of("provemesh", &["start"]),
    };
    // The agent settings the deployments rely on exist.
    for v in [
        "PROVER_AGENT_DRAIN_DEADLINE",
        "PROVER_AGENT_TERMINATION_NOTICE_URL",
        "PROVER_AGENT_TERMINATION_NOTICE_POLL",
    ] {
        assert!(b.agent.vars.contains(v), "provemesh-agent lacks {v}");
    }
    b
}

// ---------------------------------------------------------------------------------------
// The shipped NATS configuration

/// `$NAME` references of a NATS configuration file (outside comments and quoted strings),
/// and the names it defines itself (`NAME = …`).
fn conf_variables(text: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut used, mut defined) = (BTreeSet::new(), BTreeSet::new());
    for line in text.lines() {
        let mut plain = String::new();
        let mut quoted = false;
        for c in line.chars() {
            match c {
                '"' => quoted = !quoted,
                '#' if !quoted => break,
                _ if !quoted => plain.push(c),
                _ => {}
            }
        }
        let t = plain.trim();
        if let Some((name, _)) = t.split_once('=') {
            let name = name.trim();
            if !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
                defined.insert(name.to_string());
            }
        }
        for (i, _) in plain.match_indices('$') {
            let name: String = plain[i + 1..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                used.insert(name);
            }
        }
    }
    (used, defined)
}

/// `include ./FILE` targets of a configuration file.
fn includes(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("include "))
        .map(|f| {
            f.trim()
                .trim_matches('"')
                .trim_start_matches("./")
                .to_string()
        })
        .collect()
}

/// A NATS server's configuration as deployed: file name → text, and the entry file.
struct NatsConfig {
    files: BTreeMap<String, String>,
    entry: String,
}

impl NatsConfig {
    /// Checks the entry only includes, every file is reachable from it, every file other
    /// than the entry is the shipped `infra/nats/` file byte for byte; returns the
    /// environment variables the configuration reads.
    fn check(&self, what: &str) -> BTreeSet<String> {
        let entry = self
            .files
            .get(&self.entry)
            .unwrap_or_else(|| panic!("{what}: no entry file {}", self.entry));
        for line in entry.lines() {
            let t = line.trim();
            assert!(
                t.is_empty() || t.starts_with('#') || t.starts_with("include "),
                "{what}: the entry {} must only include shipped files, found {t:?}",
                self.entry
            );
        }
        let mut reached = BTreeSet::from([self.entry.clone()]);
        let mut todo = vec![self.entry.clone()];
        while let Some(f) = todo.pop() {
            for inc in includes(&self.files[&f]) {
                assert!(
                    self.files.contains_key(&inc),
                    "{what}: {f} includes {inc}, which is not deployed beside it"
                );
                if reached.insert(inc.clone()) {
                    todo.push(inc);
                }
            }
        }
        let mut used = BTreeSet::new();
        let mut defined = BTreeSet::new();
        for (name, text) in &self.files {
            assert!(reached.contains(name), "{what}: {name} is never included");
            if *name != self.entry {
                let shipped = read(&format!("infra/nats/{name}"));
                assert!(
                    *text == shipped,
                    "{what}: {name} differs from infra/nats/{name}; copy the shipped file"
                );
            }
            let (u, d) = conf_variables(text);
            used.extend(u);
            defined.extend(d);
        }
        assert!(
            reached.contains("mesh-roles.conf"),
            "{what}: the per-role users (mesh-roles.conf) must be included"
        );
        used.difference(&defined).cloned().collect()
    }
}

/// The mesh account's name and its users, from the shipped roles file.
fn mesh_roles() -> (String, BTreeSet<String>) {
    let text = read("infra/nats/mesh-roles.conf");
    let after = text
        .split_once("accounts {")
        .expect("accounts block in mesh-roles.conf")
        .1;
    let account = after
        .split_whitespace()
        .next()
        .expect("account name")
        .to_string();
    let users = text
        .match_indices("user: ")
        .map(|(i, _)| {
            text[i + 6..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                .collect::<String>()
        })
        .collect();
    (account, users)
}

fn pinned_nats_version() -> String {
    read("scripts/bootstrap")
        .lines()
        .find_map(|l| l.strip_prefix("NATS_VERSION="))
        .expect("NATS_VERSION in scripts/bootstrap")
        .trim_matches('"')
        .to_string()
}

fn port_of(listen: &str) -> u16 {
    listen
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or_else(|| panic!("{listen:?} is not host:port"))
}

fn duration(what: &str, raw: &str) -> Duration {
    values::duration(raw).unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// Checks an agent's drain settings against the time its platform gives it to stop.
fn check_drain(what: &str, env: &BTreeMap<String, String>, grace: Duration) {
    let drain = duration(
        what,
        env.get("PROVER_AGENT_DRAIN_DEADLINE").unwrap_or_else(|| {
            panic!("{what}: set PROVER_AGENT_DRAIN_DEADLINE explicitly (the grace period depends on it)")
        }),
    );
    assert!(
        grace >= drain + FLUSH_AND_MARGIN,
        "{what}: {grace:?} to stop must exceed PROVER_AGENT_DRAIN_DEADLINE ({drain:?}) plus the hand-back flush and a margin ({FLUSH_AND_MARGIN:?})"
    );
    if env.contains_key("PROVER_AGENT_TERMINATION_NOTICE_URL") {
        let poll = duration(
            what,
            env.get("PROVER_AGENT_TERMINATION_NOTICE_POLL")
                .map_or("5s", String::as_str),
        );
        assert!(
            poll + drain + FLUSH_AND_MARGIN <= SPOT_NOTICE,
            "{what}: noticing ({poll:?}) and draining ({drain:?} + {FLUSH_AND_MARGIN:?}) must fit in a spot notice ({SPOT_NOTICE:?})"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Kubernetes

/// Every YAML document of every `*.yaml`/`*.yml` file in `dir`, with its file name.
fn yaml_files(dir: &str) -> Vec<(String, Vec<Value>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no YAML in {dir}");
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("read yaml");
            let docs = serde_norway::Deserializer::from_str(&text)
                .map(|d| {
                    Value::deserialize(d)
                        .unwrap_or_else(|e| panic!("{}: not valid YAML: {e}", p.display()))
                })
                .filter(|v| !v.is_null())
                .collect();
            let name = p.file_name().expect("name").to_string_lossy().to_string();
            (name, docs)
        })
        .collect()
}

fn s<'a>(v: &'a Value, what: &str) -> &'a str {
    v.as_str()
        .unwrap_or_else(|| panic!("{what}: expected a string, found {v:?}"))
}

fn seq(v: &Value) -> &[Value] {
    v.as_sequence().map_or(&[], |s| s.as_slice())
}

fn kind(v: &Value) -> &str {
    v["kind"].as_str().unwrap_or("")
}

fn name(v: &Value) -> &str {
    v["metadata"]["name"].as_str().unwrap_or("")
}

/// What a container runs, known by its image.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Program {
    Nats,
    Node,
    Agent,
}

fn program(image: &str) -> Program {
    let base = image.rsplit('/').next().unwrap_or(image);
    let base = base.split([':', '@']).next().unwrap_or(base);
    match base {
        "nats" => Program::Nats,
        "provemesh" => Program::Node,
        "provemesh-agent" => Program::Agent,
        other => panic!("image {image:?}: unknown program {other:?}"),
    }
}

/// A container of a workload, its environment parsed.
struct K8sContainer {
    workload: String,
    program: Program,
    doc: Value,
    pod: Value,
    /// Literal values and `fieldRef`s (as `fieldRef:<path>`).
    values: BTreeMap<String, String>,
    /// `secretKeyRef`s: variable → (secret, key).
    secret_refs: BTreeMap<String, (String, String)>,
}

struct K8s {
    docs: Vec<(String, Value)>,
    namespace: String,
    containers: Vec<K8sContainer>,
}

impl K8s {
    fn load() -> K8s {
        let mut docs = Vec::new();
        for (file, ds) in yaml_files("infra/k8s") {
            for d in ds {
                docs.push((file.clone(), d));
            }
        }
        let namespace = docs
            .iter()
            .find(|(_, d)| kind(d) == "Namespace")
            .map(|(_, d)| name(d).to_string())
            .expect("a Namespace in infra/k8s");
        let mut containers = Vec::new();
        for (file, d) in &docs {
            assert!(
                d["apiVersion"].is_string() && !kind(d).is_empty(),
                "{file}: every document has apiVersion and kind"
            );
            if kind(d) == "Kustomization" {
                continue;
            }
            let what = format!("{file}: {} {}", kind(d), name(d));
            assert!(!name(d).is_empty(), "{what}: no metadata.name");
            if kind(d) != "Namespace" {
                assert_eq!(
                    d["metadata"]["namespace"].as_str(),
                    Some(namespace.as_str()),
                    "{what}: namespace"
                );
            }
            assert_ne!(
                kind(d),
                "Secret",
                "{what}: Secrets are created out of band (infra/README.md), never shipped"
            );
            if !matches!(kind(d), "Deployment" | "StatefulSet") {
                continue;
            }
            let pod = &d["spec"]["template"]["spec"];
            for c in seq(&pod["containers"])
                .iter()
                .chain(seq(&pod["initContainers"]))
            {
                let cname = s(&c["name"], &what);
                let what = format!("{what} container {cname}");
                assert!(
                    c["envFrom"].is_null(),
                    "{what}: envFrom hides variable names from review; list each variable"
                );
                let mut values = BTreeMap::new();
                let mut secret_refs = BTreeMap::new();
                for e in seq(&c["env"]) {
                    let var = s(&e["name"], &what).to_string();
                    let from = &e["valueFrom"];
                    let entry = if let Some(v) = e["value"].as_str() {
                        values.insert(var.clone(), v.to_string())
                    } else if let Some(r) = from.get("secretKeyRef") {
                        secret_refs
                            .insert(
                                var.clone(),
                                (
                                    s(&r["name"], &what).to_string(),
                                    s(&r["key"], &what).to_string(),
                                ),
                            )
                            .map(|_| String::new())
                    } else if let Some(f) = from.get("fieldRef") {
                        values.insert(
                            var.clone(),
                            format!("fieldRef:{}", s(&f["fieldPath"], &what)),
                        )
                    } else {
                        panic!("{what}: {var}: only value, secretKeyRef or fieldRef (values as strings)")
                    };
                    assert!(entry.is_none(), "{what}: {var} is set twice");
                    assert!(
                        !(values.contains_key(&var) && secret_refs.contains_key(&var)),
                        "{what}: {var} is set twice"
                    );
                }
                containers.push(K8sContainer {
                    workload: format!("{} {}", kind(d), name(d)),
                    program: program(s(&c["image"], &what)),
                    doc: d.clone(),
                    pod: pod.clone(),
                    values,
                    secret_refs,
                });
            }
        }
        K8s {
            docs,
            namespace,
            containers,
        }
    }

    fn of_kind(&self, k: &str) -> Vec<&Value> {
        self.docs
            .iter()
            .filter(|(_, d)| kind(d) == k)
            .map(|(_, d)| d)
            .collect()
    }

    fn find(&self, k: &str, n: &str) -> &Value {
        self.docs
            .iter()
            .map(|(_, d)| d)
            .find(|d| kind(d) == k && name(d) == n)
            .unwrap_or_else(|| panic!("no {k} {n} in infra/k8s"))
    }

    fn one(&self, p: Program) -> &K8sContainer {
        let all: Vec<_> = self.containers.iter().filter(|c| c.program == p).collect();
        assert_eq!(all.len(), 1, "exactly one {p:?} container in infra/k8s");
        all[0]
    }
}

fn env_of(c: &K8sContainer) -> BTreeMap<String, String> {
    let mut m = c.values.clone();
    for k in c.secret_refs.keys() {
        m.insert(k.clone(), "[secret]".into());
    }
    m
}

/// The NATS StatefulSet's facts the clients and KEDA depend on.
struct NatsFacts {
    statefulset: String,
    headless: String,
    replicas: u64,
    client_port: u16,
    monitor_port: u16,
    /// Services (non-headless) that select the NATS pods: name → ports (name, port, target).
    services: BTreeMap<String, Vec<(String, u16, Value)>>,
    container: Value,
}

fn nats_facts(k: &K8s) -> NatsFacts {
    let c = k.one(Program::Nats);
    let sts = &c.doc;
    assert_eq!(kind(sts), "StatefulSet", "NATS runs as a StatefulSet");
    let replicas = sts["spec"]["replicas"].as_u64().expect("replicas");
    assert_eq!(replicas, 3, "a 3-node JetStream cluster");
    let pod_labels = sts["spec"]["template"]["metadata"]["labels"].clone();
    let container = seq(&c.pod["containers"])
        .iter()
        .find(|x| program(x["image"].as_str().unwrap_or("")) == Program::Nats)
        .expect("nats container")
        .clone();
    let selects = |svc: &Value| {
        svc["spec"]["selector"].as_mapping().is_some_and(|m| {
            m.iter()
                .all(|(k2, v)| pod_labels[k2.as_str().unwrap_or("")] == *v)
        })
    };
    let headless = s(&sts["spec"]["serviceName"], "serviceName").to_string();
    let h = k.find("Service", &headless);
    assert_eq!(
        h["spec"]["clusterIP"].as_str(),
        Some("None"),
        "{headless} is headless"
    );
    assert_eq!(
        h["spec"]["publishNotReadyAddresses"].as_bool(),
        Some(true),
        "{headless}: routes must resolve before the servers are ready (the cluster forms first)"
    );
    assert!(selects(h), "{headless} selects the NATS pods");
    let mut services = BTreeMap::new();
    for svc in k.of_kind("Service") {
        if selects(svc) && svc["spec"]["clusterIP"].as_str() != Some("None") {
            let ports = seq(&svc["spec"]["ports"])
                .iter()
                .map(|p| {
                    (
                        p["name"].as_str().unwrap_or("").to_string(),
                        p["port"].as_u64().expect("port") as u16,
                        p["targetPort"].clone(),
                    )
                })
                .collect();
            services.insert(name(svc).to_string(), ports);
        }
    }
    NatsFacts {
        statefulset: name(sts).to_string(),
        headless,
        replicas,
        client_port: port_of(&c.values["NATS_LISTEN"]),
        monitor_port: port_of(&c.values["NATS_HTTP_LISTEN"]),
        services,
        container,
    }
}

impl NatsFacts {
    /// The container port a Service's targetPort lands on.
    fn container_port(&self, target: &Value) -> u16 {
        if let Some(n) = target.as_u64() {
            return n as u16;
        }
        let want = target.as_str().expect("targetPort");
        seq(&self.container["ports"])
            .iter()
            .find(|p| p["name"].as_str() == Some(want))
            .and_then(|p| p["containerPort"].as_u64())
            .unwrap_or_else(|| panic!("no container port named {want}")) as u16
    }

    /// Host names clients may use to reach a server: the per-pod names and the Services.
    fn client_hosts(&self, namespace: &str) -> BTreeSet<String> {
        let mut hosts: BTreeSet<String> = (0..self.replicas)
            .map(|i| format!("{}-{i}.{}", self.statefulset, self.headless))
            .collect();
        for svc in self.services.keys() {
            hosts.insert(svc.clone());
            hosts.insert(format!("{svc}.{namespace}.svc.cluster.local"));
        }
        hosts
    }
}

#[test]
fn k8s_manifests_set_only_variables_the_binaries_accept_and_secrets_only_from_secrets() {
    let bins = binaries();
    let k = K8s::load();
    let nats_vars = nats_config(&k).check("infra/k8s NATS ConfigMap");
    for c in &k.containers {
        let what = &c.workload;
        let (accepted, label) = match c.program {
            Program::Agent => (&bins.agent.vars, "provemesh-agent --help"),
            Program::Node => (&bins.node.vars, "provemesh start --help"),
            Program::Nats => (&nats_vars, "the NATS configuration files"),
        };
        for var in c.values.keys().chain(c.secret_refs.keys()) {
            assert!(
                accepted.contains(var),
                "{what}: {var} is not a variable of {label}"
            );
            let secret = match c.program {
                Program::Agent => bins.agent.is_secret(var),
                Program::Node => bins.node.is_secret(var),
                Program::Nats => bins.node.is_secret(var),
            };
            assert!(
                !secret || c.secret_refs.contains_key(var),
                "{what}: {var} is a secret: set it from a Secret (valueFrom.secretKeyRef), never inline"
            );
        }
        if c.program == Program::Nats {
            for var in &nats_vars {
                assert!(
                    c.values.contains_key(var) || c.secret_refs.contains_key(var),
                    "{what}: the NATS configuration reads {var}, which is not set"
                );
            }
        }
    }
    // The node's command line: `provemesh start` with flags it has.
    let node = k.one(Program::Node);
    let pod_container = seq(&node.pod["containers"])
        .iter()
        .find(|c| program(c["image"].as_str().unwrap_or("")) == Program::Node)
        .expect("node container");
    let args: Vec<&str> = seq(&pod_container["args"])
        .iter()
        .map(|a| s(a, "args"))
        .collect();
    assert_eq!(
        args.first(),
        Some(&"start"),
        "the node runs `provemesh start`"
    );
    for a in &args[1..] {
        let flag = a.split('=').next().unwrap_or(a);
        assert!(
            bins.node.flags.contains(flag),
            "provemesh start has no {flag}"
        );
    }
    for role in ["--prover-node", "--archiver", "--prover-broker"] {
        assert!(args.contains(&role), "the node deployment runs {role}");
    }
    // Every Secret reference is documented, so operators know what to create.
    let readme = read("infra/README.md");
    for c in &k.containers {
        for (var, (secret, key)) in &c.secret_refs {
            assert!(
                readme.lines().any(|l| l.contains(&format!("`{secret}`"))
                    && l.contains(&format!("`{key}`"))
                    && l.contains(var.as_str())),
                "infra/README.md must document Secret `{secret}` key `{key}` ({var}) on one line"
            );
        }
    }
    // The kustomization applies every manifest.
    let kz = k
        .docs
        .iter()
        .find(|(_, d)| kind(d) == "Kustomization")
        .map(|(_, d)| d)
        .expect("kustomization.yaml");
    let listed: BTreeSet<&str> = seq(&kz["resources"])
        .iter()
        .map(|r| s(r, "resource"))
        .collect();
    let files: BTreeSet<&str> = k
        .docs
        .iter()
        .map(|(f, _)| f.as_str())
        .filter(|f| *f != "kustomization.yaml")
        .collect();
    assert_eq!(listed, files, "kustomization.yaml resources");
}

/// The NATS ConfigMap mounted by the StatefulSet, as a configuration (entry from `-c`).
fn nats_config(k: &K8s) -> NatsConfig {
    let c = k.one(Program::Nats);
    let container = seq(&c.pod["containers"])
        .iter()
        .find(|x| program(x["image"].as_str().unwrap_or("")) == Program::Nats)
        .expect("nats container");
    let command: Vec<&str> = seq(&container["command"])
        .iter()
        .chain(seq(&container["args"]))
        .map(|a| s(a, "command"))
        .collect();
    let conf = command
        .iter()
        .position(|a| *a == "-c" || *a == "--config")
        .and_then(|i| command.get(i + 1))
        .expect("nats-server -c FILE");
    let (dir, entry) = conf.rsplit_once('/').expect("absolute config path");
    let mount = seq(&container["volumeMounts"])
        .iter()
        .find(|m| m["mountPath"].as_str() == Some(dir))
        .unwrap_or_else(|| panic!("nothing mounted at {dir}"));
    let volume = seq(&c.pod["volumes"])
        .iter()
        .find(|v| v["name"] == mount["name"])
        .expect("config volume");
    let cm = k.find("ConfigMap", s(&volume["configMap"]["name"], "configMap"));
    let files = cm["data"]
        .as_mapping()
        .expect("ConfigMap data")
        .iter()
        .map(|(k2, v)| {
            (
                s(k2, "key").to_string(),
                s(v, "ConfigMap value").to_string(),
            )
        })
        .collect();
    NatsConfig {
        files,
        entry: entry.to_string(),
    }
}

#[test]
fn k8s_nats_cluster_routes_clients_and_roles_fit_together() {
    let k = K8s::load();
    let nats = nats_facts(&k);
    let c = k.one(Program::Nats);
    let image = c.pod["containers"][0]["image"].as_str().unwrap_or("");
    assert!(
        image.starts_with(&format!("nats:{}", pinned_nats_version())),
        "{image}: the nats-server version the tests run (scripts/bootstrap)"
    );
    assert_eq!(
        c.values.get("NATS_SERVER_NAME").map(String::as_str),
        Some("fieldRef:metadata.name"),
        "server names are the pod names (JetStream peers; KEDA finds consumer leaders by them)"
    );
    // Routes: every pod by its stable name, on the cluster port.
    let cluster_port = port_of(&c.values["NATS_CLUSTER_LISTEN"]);
    let routes: Vec<String> = (0..nats.replicas)
        .map(|i| {
            format!(
                "nats-route://{}-{i}.{}:{cluster_port}",
                nats.statefulset, nats.headless
            )
        })
        .collect();
    assert_eq!(
        c.values["NATS_ROUTES"],
        format!("[{}]", routes.join(", ")),
        "NATS_ROUTES"
    );
    let h = k.find("Service", &nats.headless);
    assert!(
        seq(&h["spec"]["ports"])
            .iter()
            .any(|p| p["port"].as_u64() == Some(u64::from(cluster_port))),
        "{} exposes the cluster port",
        nats.headless
    );
    // Clients: hosts that reach a server, the client port, replicas that match the cluster.
    let hosts = nats.client_hosts(&k.namespace);
    let (_, users) = mesh_roles();
    let server_passwords = &c.secret_refs;
    for client in k.containers.iter().filter(|c| c.program != Program::Nats) {
        let what = &client.workload;
        let urls = client
            .values
            .get("PROVER_BROKER_HOST")
            .unwrap_or_else(|| panic!("{what}: PROVER_BROKER_HOST"));
        for url in urls.split(',') {
            let rest = url
                .strip_prefix("nats://")
                .unwrap_or_else(|| panic!("{what}: {url} is not nats://"));
            let (host, port) = rest.rsplit_once(':').expect("host:port");
            assert!(
                hosts.contains(host),
                "{what}: {host} is not a NATS server or Service ({hosts:?})"
            );
            assert_eq!(
                port.parse::<u16>().ok(),
                Some(nats.client_port),
                "{what}: {url}: client port"
            );
        }
        let user = client
            .values
            .get("NATS_USER")
            .unwrap_or_else(|| panic!("{what}: NATS_USER"));
        assert!(
            users.contains(user),
            "{what}: NATS user {user} is not in mesh-roles.conf"
        );
        let server_var = format!("PROVEMESH_{}_PASSWORD", user.to_uppercase());
        assert_eq!(
            client.secret_refs.get("NATS_PASSWORD"),
            server_passwords.get(&server_var),
            "{what}: NATS_PASSWORD must come from the same Secret key as the server's {server_var}"
        );
    }
    let node = k.one(Program::Node);
    assert_eq!(
        node.values.get("PROVER_MESH_REPLICAS").map(String::as_str),
        Some(nats.replicas.to_string().as_str()),
        "the node replicates the mesh's streams on every server"
    );
    assert_eq!(
        node.doc["spec"]["replicas"].as_u64(),
        Some(1),
        "one node: it owns its data directory and its L1 key"
    );
    assert_eq!(
        k.one(Program::Agent)
            .values
            .get("NATS_USER")
            .map(String::as_str),
        Some("agent"),
        "agents connect as the least-privilege agent user"
    );
}

#[test]
fn keda_scales_agents_to_zero_on_the_job_consumers_the_topology_creates() {
    let k = K8s::load();
    let nats = nats_facts(&k);
    let agent = k.one(Program::Agent);
    let (account, _) = mesh_roles();
    let objects = k.of_kind("ScaledObject");
    assert_eq!(objects.len(), 1, "one ScaledObject");
    let so = objects[0];
    assert_eq!(
        so["spec"]["scaleTargetRef"]["name"].as_str(),
        Some(name(&agent.doc)),
        "the ScaledObject scales the agents"
    );
    assert_eq!(
        agent.doc["spec"]["replicas"],
        Value::Null,
        "KEDA owns the agents' replica count"
    );
    assert_eq!(
        so["spec"]["minReplicaCount"].as_u64(),
        Some(0),
        "scale to zero"
    );
    assert!(so["spec"]["maxReplicaCount"].as_u64().unwrap_or(0) >= 1);

    // The agents' proof types (all, unless restricted) are exactly the triggers' consumers.
    let types: Vec<ProofType> = match agent.values.get("PROVER_AGENT_PROOF_TYPES") {
        Some(list) => list
            .split(',')
            .map(|t| t.trim().parse().expect("proof type"))
            .collect(),
        None => ProofType::ALL.to_vec(),
    };
    let want: BTreeSet<String> = types.iter().map(|t| subjects::job_consumer(*t)).collect();
    let mut got = BTreeSet::new();
    let mut trigger_names = BTreeSet::new();
    for t in seq(&so["spec"]["triggers"]) {
        assert_eq!(
            t["type"].as_str(),
            Some("nats-jetstream"),
            "KEDA's NATS JetStream scaler"
        );
        let m = &t["metadata"];
        assert_eq!(
            m["stream"].as_str(),
            Some(subjects::JOBS_STREAM),
            "the jobs stream"
        );
        assert_eq!(
            m["account"].as_str(),
            Some(account.as_str()),
            "the mesh's account (mesh-roles.conf)"
        );
        let consumer = s(&m["consumer"], "consumer").to_string();
        assert!(
            want.contains(&consumer),
            "{consumer} is not a job consumer of the agents' types"
        );
        assert!(got.insert(consumer.clone()), "{consumer} twice");
        for n in ["lagThreshold", "activationLagThreshold"] {
            let v = s(&m[n], n);
            assert!(
                v.parse::<u64>().is_ok(),
                "{n} {v:?}: a whole number, as a string"
            );
        }
        // The monitoring endpoint: a Service of the NATS pods, its monitoring port.
        let endpoint = s(
            &m["natsServerMonitoringEndpoint"],
            "natsServerMonitoringEndpoint",
        );
        let (host, port) = endpoint.rsplit_once(':').expect("host:port");
        let svc = host
            .strip_suffix(&format!(".{}.svc.cluster.local", k.namespace))
            .or_else(|| host.strip_suffix(&format!(".{}.svc", k.namespace)))
            .unwrap_or_else(|| {
                panic!(
                    "{host}: KEDA runs in its own namespace: use <service>.{}.svc[.cluster.local]",
                    k.namespace
                )
            });
        let ports = nats
            .services
            .get(svc)
            .unwrap_or_else(|| panic!("{svc} is not a Service of the NATS pods"));
        let p = ports
            .iter()
            .find(|(_, n, _)| port.parse::<u16>().ok() == Some(*n))
            .unwrap_or_else(|| panic!("{svc} has no port {port}"));
        assert_eq!(
            nats.container_port(&p.2),
            nats.monitor_port,
            "{endpoint} must reach the monitoring port (NATS_HTTP_LISTEN)"
        );
        if let Some(n) = t["name"].as_str() {
            trigger_names.insert(n.to_string());
        }
    }
    assert_eq!(
        got, want,
        "one trigger per job consumer of the agents' proof types"
    );
    // Summed over the types, when a formula combines them.
    if let Some(formula) = so["spec"]["advanced"]["scalingModifiers"]["formula"].as_str() {
        let terms: BTreeSet<String> = formula.split('+').map(|t| t.trim().to_string()).collect();
        assert_eq!(terms, trigger_names, "the formula sums every trigger");
        assert_eq!(trigger_names.len(), got.len(), "every trigger is named");
    }
    // Subjects the consumers filter exist for those types (the topology's own names).
    for t in &types {
        assert!(subjects::jobs_of_type(*t).starts_with("prove.job."));
    }
}

#[test]
fn k8s_agents_drain_within_their_grace_period_and_prefer_spot_capacity() {
    let k = K8s::load();
    let agent = k.one(Program::Agent);
    let grace = agent.pod["terminationGracePeriodSeconds"]
        .as_u64()
        .expect("agents set terminationGracePeriodSeconds");
    check_drain(&agent.workload, &env_of(agent), Duration::from_secs(grace));
    assert!(
        agent.values.contains_key("PROVER_AGENT_ID")
            || agent.secret_refs.contains_key("PROVER_AGENT_ID"),
        "agents are named after their pods"
    );

    // Spot: agents prefer it and tolerate its taints; the node and NATS never run there.
    let mut spot_keys = BTreeSet::new();
    for term in
        seq(&agent.pod["affinity"]["nodeAffinity"]
            ["preferredDuringSchedulingIgnoredDuringExecution"])
    {
        for e in seq(&term["preference"]["matchExpressions"]) {
            if e["operator"].as_str() == Some("In")
                && seq(&e["values"]).iter().any(|v| {
                    v.as_str()
                        .is_some_and(|v| v.eq_ignore_ascii_case("spot") || v == "true")
                })
            {
                spot_keys.insert(s(&e["key"], "key").to_string());
            }
        }
    }
    assert!(!spot_keys.is_empty(), "agents prefer spot nodes");
    assert!(
        !seq(&agent.pod["tolerations"]).is_empty(),
        "agents tolerate spot taints"
    );
    for c in k.containers.iter().filter(|c| c.program != Program::Agent) {
        let avoided: BTreeSet<String> = seq(&c.pod["affinity"]["nodeAffinity"]
            ["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"])
        .iter()
        .flat_map(|t| seq(&t["matchExpressions"]).iter())
        .filter(|e| e["operator"].as_str() == Some("NotIn"))
        .map(|e| s(&e["key"], "key").to_string())
        .collect();
        assert!(
            spot_keys.is_subset(&avoided),
            "{}: must stay off spot capacity ({spot_keys:?} NotIn)",
            c.workload
        );
        assert!(
            seq(&c.pod["tolerations"]).is_empty(),
            "{}: tolerates nothing (no spot taints)",
            c.workload
        );
    }
}

// ---------------------------------------------------------------------------------------
// Compose

/// A compose service's environment: variable → value as written.
fn compose_env(svc: &Value, what: &str) -> BTreeMap<String, String> {
    let env = &svc["environment"];
    if let Some(m) = env.as_mapping() {
        m.iter()
            .map(|(k2, v)| {
                let v = match v {
                    Value::String(x) => x.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    other => panic!("{what}: {k2:?}: value {other:?}"),
                };
                (s(k2, what).to_string(), v)
            })
            .collect()
    } else {
        seq(env)
            .iter()
            .map(|e| {
                let (k2, v) = s(e, what).split_once('=').expect("K=V");
                (k2.to_string(), v.to_string())
            })
            .collect()
    }
}

/// `${NAME:?message}`: taken from the operator's environment, refusing to start without.
fn required_interpolation(v: &str) -> Option<&str> {
    let inner = v.strip_prefix("${")?.strip_suffix('}')?;
    let (name, rest) = inner.split_once(":?")?;
    (!name.is_empty() && !rest.contains('}')).then_some(name)
}

#[test]
fn compose_farm_sets_only_accepted_variables_and_secrets_from_the_environment() {
    let bins = binaries();
    let files = yaml_files("infra/compose");
    assert_eq!(files.len(), 1, "one compose file");
    let (file, docs) = &files[0];
    let compose = &docs[0];
    let services = compose["services"].as_mapping().expect("services");
    let mut by_program: BTreeMap<String, Program> = BTreeMap::new();
    for (n, svc) in services {
        let n = s(n, file).to_string();
        by_program.insert(n.clone(), program(s(&svc["image"], &n)));
    }
    let find = |p: Program| -> (&str, &Value) {
        let names: Vec<&String> = by_program
            .iter()
            .filter(|(_, q)| **q == p)
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names.len(), 1, "exactly one {p:?} service");
        (names[0].as_str(), &compose["services"][names[0].as_str()])
    };

    // NATS: the shipped files, mounted as they are, with an entry that includes them.
    let (nats_name, nats) = find(Program::Nats);
    let image = s(&nats["image"], nats_name);
    assert!(
        image.starts_with(&format!("nats:{}", pinned_nats_version())),
        "{image}"
    );
    let command: Vec<&str> = seq(&nats["command"])
        .iter()
        .map(|a| s(a, "command"))
        .collect();
    let conf = command
        .iter()
        .position(|a| *a == "-c")
        .and_then(|i| command.get(i + 1))
        .expect("nats-server -c FILE");
    let (dir, entry) = conf.rsplit_once('/').expect("config path");
    let mut conf_files = BTreeMap::new();
    for v in seq(&nats["volumes"]) {
        let spec = s(v, "volume");
        let parts: Vec<&str> = spec.split(':').collect();
        let (src, dst) = (parts[0], parts[1]);
        if !(src.starts_with("./") || src.starts_with("../")) {
            continue; // a named volume
        }
        let path = repo().join("infra/compose").join(src);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{file}: {src} ({}): {e}", path.display()));
        if let Some((d, f)) = dst.rsplit_once('/') {
            if d == dir {
                assert!(
                    parts.get(2) == Some(&"ro"),
                    "{spec}: mount configuration read-only"
                );
                if src.starts_with("../nats/") {
                    assert_eq!(
                        src.trim_start_matches("../nats/"),
                        f,
                        "{spec}: keep the shipped name"
                    );
                }
                conf_files.insert(f.to_string(), text);
            }
        }
    }
    let nats_vars = NatsConfig {
        files: conf_files,
        entry: entry.to_string(),
    }
    .check("infra/compose NATS");
    let nats_env = compose_env(nats, nats_name);

    let example = read("infra/compose/env.example");
    let mut interpolated = BTreeSet::new();
    for (svc_name, svc) in services {
        let svc_name = s(svc_name, file);
        let p = by_program[svc_name];
        let env = compose_env(svc, svc_name);
        for (var, value) in &env {
            let (ok, secret) = match p {
                Program::Agent => (bins.agent.vars.contains(var), bins.agent.is_secret(var)),
                Program::Node => (bins.node.vars.contains(var), bins.node.is_secret(var)),
                Program::Nats => (nats_vars.contains(var), bins.node.is_secret(var)),
            };
            assert!(ok, "{file}: {svc_name}: {var} is not a variable it accepts");
            if secret {
                let from = required_interpolation(value).unwrap_or_else(|| {
                    panic!("{file}: {svc_name}: {var} is a secret: use ${{VAR:?message}} (from .env or the environment), never a value or a default")
                });
                interpolated.insert(from.to_string());
            }
        }
        if p == Program::Nats {
            for v in &nats_vars {
                assert!(
                    env.contains_key(v),
                    "{file}: {svc_name}: the configuration reads {v}"
                );
            }
            continue;
        }
        // Clients reach the NATS service on its client port.
        let client_port = port_of(&nats_env["NATS_LISTEN"]);
        for url in env["PROVER_BROKER_HOST"].split(',') {
            assert_eq!(
                url,
                format!("nats://{nats_name}:{client_port}"),
                "{file}: {svc_name}: PROVER_BROKER_HOST"
            );
        }
        // Each role's password is the one the server has for that user.
        let user = &env["NATS_USER"];
        let server_var = format!("PROVEMESH_{}_PASSWORD", user.to_uppercase());
        assert_eq!(
            env.get("NATS_PASSWORD"),
            nats_env.get(&server_var),
            "{file}: {svc_name}: NATS_PASSWORD must be the server's {server_var}"
        );
        // Images are built from the Dockerfile of their program.
        let dockerfile = s(&svc["build"]["dockerfile"], "build.dockerfile");
        let want = match p {
            Program::Agent => "infra/docker/provemesh-agent.Dockerfile",
            _ => "infra/docker/provemesh.Dockerfile",
        };
        assert_eq!(dockerfile, want, "{file}: {svc_name}: dockerfile");
        assert_eq!(
            repo()
                .join("infra/compose")
                .join(s(&svc["build"]["context"], "context"))
                .canonicalize()
                .ok(),
            repo().canonicalize().ok(),
            "{file}: {svc_name}: the build context is the repository root"
        );
        if p == Program::Node {
            let args: Vec<&str> = seq(&svc["command"])
                .iter()
                .map(|a| s(a, "command"))
                .collect();
            assert_eq!(args.first(), Some(&"start"));
            for a in &args[1..] {
                assert!(bins.node.flags.contains(*a), "provemesh start has no {a}");
            }
        }
        if p == Program::Agent {
            // `docker compose up --scale agent=N` needs no fixed name and no host port.
            assert!(
                svc["container_name"].is_null(),
                "{svc_name}: no container_name (--scale)"
            );
            assert!(
                svc["ports"].is_null(),
                "{svc_name}: no published ports (--scale)"
            );
            let grace = duration(
                "stop_grace_period",
                s(&svc["stop_grace_period"], "stop_grace_period"),
            );
            check_drain(&format!("{file}: {svc_name}"), &env, grace);
        }
    }
    for v in &interpolated {
        assert!(
            example.lines().any(|l| l.starts_with(&format!("{v}="))),
            "infra/compose/env.example lists {v}"
        );
    }
    assert!(
        read("infra/compose/.gitignore")
            .lines()
            .any(|l| l.trim() == ".env"),
        "infra/compose/.env (passwords) is never committed"
    );
}

// ---------------------------------------------------------------------------------------
// Container images

/// The stages of a Dockerfile: (FROM line, instructions), continuation lines joined.
fn stages(text: &str) -> Vec<(String, Vec<String>)> {
    let mut joined = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') || t.is_empty() {
            continue;
        }
        if let Some(x) = t.strip_suffix('\\') {
            cur.push_str(x);
            cur.push(' ');
        } else {
            cur.push_str(t);
            joined.push(std::mem::take(&mut cur));
        }
    }
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for l in joined {
        if l.starts_with("FROM ") {
            out.push((l, Vec::new()));
        } else if let Some(last) = out.last_mut() {
            last.1.push(l);
        }
    }
    out
}

#[test]
fn images_build_the_binaries_the_manifests_run_and_the_agent_image_is_lean() {
    let toolchain = read("rust-toolchain.toml");
    let channel = toolchain
        .lines()
        .find_map(|l| l.trim().strip_prefix("channel = "))
        .expect("channel")
        .trim_matches('"')
        .to_string();
    for (file, package, bin) in [
        (
            "infra/docker/provemesh.Dockerfile",
            "provemesh-node",
            "provemesh",
        ),
        (
            "infra/docker/provemesh-agent.Dockerfile",
            "provemesh-agent",
            "provemesh-agent",
        ),
    ] {
        let st = stages(&read(file));
        assert!(st.len() >= 2, "{file}: a build stage and a runtime stage");
        let (build_from, build) = &st[0];
        assert!(
            build_from.starts_with(&format!("FROM rust:{channel}")),
            "{file}: {build_from}: build with the pinned toolchain {channel}"
        );
        let cargo = build
            .iter()
            .find(|l| l.contains("cargo build"))
            .unwrap_or_else(|| panic!("{file}: no cargo build"));
        for want in [
            "--release",
            "--locked",
            &format!("-p {package}"),
            &format!("--bin {bin}"),
        ] {
            assert!(cargo.contains(want), "{file}: cargo build {want}");
        }
        let (run_from, runtime) = st.last().expect("runtime stage");
        assert!(
            !run_from.contains("rust:"),
            "{file}: the runtime image has no toolchain"
        );
        let copies: Vec<&String> = runtime.iter().filter(|l| l.starts_with("COPY")).collect();
        assert_eq!(
            copies.len(),
            1,
            "{file}: the runtime stage copies one thing"
        );
        assert!(
            copies[0].starts_with("COPY --from=") && copies[0].contains(&format!("/{bin} ")),
            "{file}: {}: only the {bin} binary",
            copies[0]
        );
        let entry = runtime
            .iter()
            .find(|l| l.starts_with("ENTRYPOINT"))
            .unwrap_or_else(|| panic!("{file}: ENTRYPOINT"));
        assert!(entry.contains(&format!("/{bin}\"")), "{file}: {entry}");
        assert!(
            runtime
                .iter()
                .any(|l| l.starts_with("USER ") && !l.contains("root")),
            "{file}: runs unprivileged"
        );
        let ignore = read(&format!("{file}.dockerignore"));
        for skip in ["target", ".tools", ".git"] {
            assert!(
                ignore.lines().any(|l| l.trim() == skip),
                "{file}.dockerignore: {skip}"
            );
        }
        if bin == "provemesh-agent" {
            assert!(
                !cargo.contains("provemesh-node"),
                "{file}: builds the agent alone"
            );
        }
    }

    // The agent's dependency graph (what its image compiles) has no L1 or node code.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let tree = output(
        Command::new(cargo)
            .args(["tree", "--offline", "-p", "provemesh-agent", "-e", "normal"])
            .args(["--prefix", "none", "--format", "{p}", "--manifest-path"])
            .arg(repo().join("Cargo.toml")),
        Duration::from_secs(120),
    );
    let packages: BTreeSet<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(
        packages.contains("provemesh-agent") && packages.contains("async-nats"),
        "cargo tree output not understood:\n{tree}"
    );
    for n in packages {
        assert!(
            !NOT_IN_AGENT
                .iter()
                .any(|bad| n == *bad || n.starts_with(&format!("{bad}-"))),
            "provemesh-agent depends on {n}: the agent image must stay free of L1/node code"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Grafana

/// The metrics the code defines, as Prometheus names their OTLP names become (dots to
/// underscores, unit suffix, `_total` on counters; `_bucket`/`_sum`/`_count` of
/// histograms), and every attribute the code records.
fn exported_metrics() -> (BTreeSet<String>, BTreeSet<String>) {
    let mut names = BTreeSet::new();
    let mut labels = BTreeSet::new();
    let mut sources = Vec::new();
    for dir in ["agent/src", "broker/src", "node", "nats/src", "common"] {
        let mut todo = vec![repo().join(dir)];
        while let Some(d) = todo.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    todo.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    sources.push(p);
                }
            }
        }
    }
    for p in sources {
        let text = std::fs::read_to_string(&p).expect("source");
        for (i, _) in text.match_indices("KeyValue::new(\"") {
            let rest = &text[i + 15..];
            labels.insert(rest[..rest.find('"').expect("quote")].replace('.', "_"));
        }
        for kind in [
            "_counter(",
            "_up_down_counter(",
            "_histogram(",
            "_gauge(",
            "_observable_counter(",
            "_observable_up_down_counter(",
            "_observable_gauge(",
        ] {
            for (i, _) in text.match_indices(kind) {
                // The name may sit on the next line (rustfmt breaks long calls).
                let Some(rest) = text[i + kind.len()..].trim_start().strip_prefix('"') else {
                    continue;
                };
                let otlp = &rest[..rest.find('"').expect("quote")];
                let chain = &rest[..rest.find(".build()").unwrap_or(rest.len())];
                let unit = chain
                    .split_once(".with_unit(\"")
                    .map(|(_, u)| &u[..u.find('"').expect("quote")]);
                let mut prom = otlp.replace(['.', '-'], "_");
                let suffix_of_unit: String;
                let suffix = match unit {
                    None | Some("") => "",
                    Some("s") => "_seconds",
                    Some("ms") => "_milliseconds",
                    Some("By") => "_bytes",
                    Some("1") => "_ratio",
                    // Units without a Prometheus word (gas, Gwei) are appended as written.
                    Some(u) if u.chars().all(|c| c.is_ascii_alphanumeric()) => {
                        suffix_of_unit = format!("_{u}");
                        &suffix_of_unit
                    }
                    Some(u) => panic!(
                        "{}: unit {u:?} of {otlp}: teach the deploy test its Prometheus suffix",
                        p.display()
                    ),
                };
                if !prom.ends_with(suffix) {
                    prom.push_str(suffix);
                }
                let monotonic = kind == "_counter(" || kind == "_observable_counter(";
                if kind == "_histogram(" {
                    for s2 in ["_bucket", "_sum", "_count"] {
                        names.insert(format!("{prom}{s2}"));
                    }
                } else if monotonic && !kind.contains("up_down") {
                    names.insert(format!("{prom}_total"));
                } else {
                    names.insert(prom);
                }
            }
        }
    }
    // Added by the histogram and by Prometheus itself.
    labels.extend(["le", "job", "instance"].map(String::from));
    (names, labels)
}

/// Every PromQL expression of a dashboard (panels, nested rows, template queries).
fn expressions(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k2, x) in m {
                match (k2.as_str(), x) {
                    ("expr", serde_json::Value::String(e)) => out.push(e.clone()),
                    ("query", serde_json::Value::String(q)) if q.contains("provemesh_") => {
                        out.push(q.clone())
                    }
                    _ => expressions(x, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| expressions(x, out)),
        _ => {}
    }
}

/// Label names an expression groups by or matches on.
fn labels_of(expr: &str) -> BTreeSet<String> {
    let ident = |t: &str| t.trim().to_string();
    let mut out = BTreeSet::new();
    for word in ["by", "without"] {
        for (i, _) in expr.match_indices(&format!("{word} (")) {
            let rest = &expr[i + word.len() + 2..];
            for l in rest[..rest.find(')').expect(")")].split(',') {
                out.insert(ident(l));
            }
        }
    }
    for (i, _) in expr.match_indices('{') {
        let rest = &expr[i + 1..];
        let body = &rest[..rest.find('}').expect("}")];
        let mut quoted = false;
        let mut cur = String::new();
        for c in body.chars() {
            match c {
                '"' => quoted = !quoted,
                '=' | '!' | '~' if !quoted => {
                    if !cur.trim().is_empty() {
                        out.insert(ident(&cur));
                    }
                    cur.clear();
                }
                ',' if !quoted => cur.clear(),
                _ if !quoted => cur.push(c),
                _ => {}
            }
        }
    }
    if let Some(rest) = expr.strip_prefix("label_values(") {
        if let Some((_, l)) = rest.trim_end_matches(')').rsplit_once(',') {
            out.insert(ident(l));
        }
    }
    out.retain(|l| !l.is_empty());
    out
}

#[test]
fn grafana_dashboard_queries_only_metrics_and_labels_the_code_exports() {
    let (metrics, labels) = exported_metrics();
    for must in [
        "provemesh_mesh_queue_depth",
        "provemesh_agent_jobs_succeeded_total",
        "provemesh_agent_job_duration_seconds_bucket",
        "provemesh_agent_busy_ratio",
        "provemesh_node_epochs_total",
        "provemesh_epoch_deadline_slack_seconds",
        "provemesh_l1_publisher_publish_attempts_total",
    ] {
        assert!(
            metrics.contains(must),
            "the code no longer exports {must} ({metrics:?})"
        );
    }
    let dash: serde_json::Value =
        serde_json::from_str(&read("infra/grafana/provemesh.json")).expect("dashboard JSON");
    assert!(dash["uid"].is_string() && dash["title"].is_string());
    let mut exprs = Vec::new();
    expressions(&dash, &mut exprs);
    assert!(exprs.len() >= 10, "{exprs:?}");
    let mut used = BTreeSet::new();
    for e in &exprs {
        let found: Vec<String> = e
            .match_indices("provemesh_")
            .map(|(i, _)| {
                e[i..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect()
            })
            .collect();
        assert!(!found.is_empty(), "{e}: queries no provemesh metric");
        for m in found {
            assert!(
                metrics.contains(&m),
                "{e}: {m} is not a metric the code exports ({metrics:?})"
            );
            used.insert(m);
        }
        for l in labels_of(e) {
            assert!(
                labels.contains(&l),
                "{e}: label {l} is not an attribute the code records ({labels:?})"
            );
        }
    }
    // What the dashboard is for: queue depth, rates, failures, durations, busy ratio.
    for want in [
        "provemesh_mesh_queue_depth",
        "provemesh_broker_jobs_enqueued_total",
        "provemesh_agent_jobs_succeeded_total",
        "provemesh_agent_jobs_failed_total",
        "provemesh_agent_job_duration_seconds_bucket",
        "provemesh_agent_busy_ratio",
    ] {
        assert!(used.contains(want), "the dashboard shows {want}");
    }
    let quantiles = exprs
        .iter()
        .filter(|e| e.contains("histogram_quantile") && e.contains("proof_type"))
        .count();
    assert!(
        quantiles >= 3,
        "duration percentiles per proof type (p50, p95, p99)"
    );
}
