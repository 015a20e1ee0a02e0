//! TLS on the mesh (`infra/nats/tls.conf`, as shipped): a server requiring client
//! certificates from a locally generated CA. An agent process configured with
//! NATS_TLS_CA/NATS_TLS_CERT/NATS_TLS_KEY proves jobs; a client without a certificate, one
//! trusting another CA, and a plain-text client are all refused.

use crate::support::*;
use provemesh_common::config::NatsArgs;
use provemesh_common::ProofType;
use provemesh_harness::{NatsOptions, NatsServer};
use provemesh_nats::Topology;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// PEM files of one test PKI.
struct Pki {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap()
}

fn write(dir: &Path, name: &str, pem: String) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, pem).unwrap();
    p
}

fn pki(dir: &Path, ca_name: &str) -> Pki {
    let ca = ca(ca_name);
    let leaf = |names: Vec<String>, cn: &str| {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(names).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        (p.signed_by(&key, &ca).unwrap().pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = leaf(vec!["127.0.0.1".into(), "localhost".into()], "nats");
    let (client_cert, client_key) = leaf(vec![], "provemesh-agent");
    Pki {
        ca: write(dir, &format!("{ca_name}-ca.pem"), ca.pem()),
        server_cert: write(dir, &format!("{ca_name}-server.pem"), server_cert),
        server_key: write(dir, &format!("{ca_name}-server-key.pem"), server_key),
        client_cert: write(dir, &format!("{ca_name}-client.pem"), client_cert),
        client_key: write(dir, &format!("{ca_name}-client-key.pem"), client_key),
    }
}

fn args(url: &str, ca: Option<&Path>, client: Option<(&Path, &Path)>) -> NatsArgs {
    NatsArgs {
        servers: vec![url.to_string()],
        nats_creds: None,
        nats_user: None,
        nats_password: None,
        nats_js_domain: None,
        nats_tls_ca: ca.map(Path::to_path_buf),
        nats_tls_cert: client.map(|c| c.0.to_path_buf()),
        nats_tls_key: client.map(|c| c.1.to_path_buf()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_admits_certified_agents_and_refuses_everyone_else() {
    within(Duration::from_secs(90), async {
        let dir = tempfile::tempdir().unwrap();
        let good = pki(dir.path(), "mesh");
        let rogue = pki(dir.path(), "rogue");
        let nats = NatsServer::start_with(NatsOptions {
            extra_config: "include ./tls.conf".into(),
            env: vec![
                (
                    "NATS_TLS_CERT".into(),
                    good.server_cert.display().to_string(),
                ),
                ("NATS_TLS_KEY".into(), good.server_key.display().to_string()),
                ("NATS_TLS_CA".into(), good.ca.display().to_string()),
            ],
        })
        .expect("nats with tls");
        let url = format!("tls://127.0.0.1:{}", nats.port);

        // The node, with its certificate.
        let node = args(
            &url,
            Some(&good.ca),
            Some((&good.client_cert, &good.client_key)),
        );
        node.validate().unwrap();
        let client = provemesh_nats::connect(&node, "node")
            .await
            .expect("tls connect");
        let topo = Topology::apply(provemesh_nats::jetstream(client, &node), fast_topology())
            .await
            .unwrap();
        let store_dir = tempfile::tempdir().unwrap();
        let store = StoreEnv::file(store_dir.path());
        let b = broker(topo, store.store.clone());
        let mut results = b.results("node", None).await.unwrap();

        // An agent process configured as an operator would.
        let ca = good.ca.display().to_string();
        let cert = good.client_cert.display().to_string();
        let key = good.client_key.display().to_string();
        let mut agent = AgentProcess::start(
            &url,
            &store,
            "tls-agent",
            &[
                ("NATS_TLS_CA", &ca),
                ("NATS_TLS_CERT", &cert),
                ("NATS_TLS_KEY", &key),
            ],
        );
        let jobs: Vec<_> = (0..8)
            .map(|n| job(41, ProofType::ALL[n as usize], n))
            .collect();
        b.enqueue_many(jobs).await.unwrap();
        let got = collect(&mut results, 8, Duration::from_secs(30)).await;
        assert_eq!(got.len(), 8, "{}", agent.log());
        agent.sigterm();
        assert_eq!(agent.wait_exit(Duration::from_secs(20)), Some(0));

        // No client certificate, a foreign CA, no TLS at all: refused.
        let refused = |a: NatsArgs, why: &'static str| async move {
            let r = tokio::time::timeout(
                Duration::from_secs(15),
                provemesh_nats::connect(&a, "intruder"),
            )
            .await;
            assert!(
                !matches!(r, Ok(Ok(_))),
                "{why}: connection should have been refused"
            );
        };
        refused(args(&url, Some(&good.ca), None), "no client certificate").await;
        refused(
            args(
                &url,
                Some(&rogue.ca),
                Some((&rogue.client_cert, &rogue.client_key)),
            ),
            "certificates from another CA",
        )
        .await;
        refused(
            args(&format!("nats://127.0.0.1:{}", nats.port), None, None),
            "plain text",
        )
        .await;

        // Half a client certificate is a configuration error naming the variable.
        let half = args(&url, Some(&good.ca), None);
        let half = NatsArgs {
            nats_tls_cert: Some(good.client_cert.clone()),
            ..half
        };
        let e = half.validate().unwrap_err();
        assert_eq!(e.variable, "NATS_TLS_CERT");
    })
    .await
}
