//! The harness really starts the servers: a JetStream round trip on a single server and on
//! a 3-node cluster with a 3-replica stream, S3 operations through `object_store`'s
//! AmazonS3 backend, a transaction on anvil through alloy — and every process is gone
//! when its handle drops.

use crate::support::*;
use async_nats::jetstream::{consumer::pull, context::PublishErrorKind, stream};
use futures::StreamExt;
use object_store::{aws::AmazonS3Builder, path::Path, ObjectStore, ObjectStoreExt, PutPayload};
use provemesh_harness::{Anvil, NatsCluster, NatsServer, S3Server};
use std::time::Duration;

fn alive(pid: u32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_ok()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
}

async fn round_trip(url: &str, replicas: usize) {
    let js = js(url).await;
    let s = js
        .create_stream(stream::Config {
            name: "RT".into(),
            subjects: vec!["rt.>".into()],
            num_replicas: replicas,
            ..Default::default()
        })
        .await
        .expect("create stream");
    // A new replicated stream elects its leader after it is created; until then a publish
    // finds no responders (reported as "stream not found", so nothing was stored): retried,
    // within 20 s for all ten.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    for i in 0..10 {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        eventually(left, "a publish stored", || {
            let js = js.clone();
            async move {
                let ack = js
                    .publish(format!("rt.{i}"), format!("m{i}").into())
                    .await
                    .unwrap()
                    .await;
                match ack {
                    Ok(_) => true,
                    Err(e) if e.kind() == PublishErrorKind::StreamNotFound => false,
                    Err(e) => panic!("stored: {e:?}"),
                }
            }
        })
        .await;
    }
    let c = s
        .create_consumer(pull::Config {
            durable_name: Some("rt".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut got = Vec::new();
    // A fresh replicated consumer elects its leader first; until then pulls are answered
    // "no responders". Pull until all ten arrived, within a bound.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while got.len() < 10 && std::time::Instant::now() < deadline {
        let Ok(mut msgs) = c
            .fetch()
            .max_messages(10)
            .expires(Duration::from_secs(2))
            .messages()
            .await
        else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        while let Some(m) = msgs.next().await {
            match m {
                Ok(m) => {
                    got.push(String::from_utf8(m.payload.to_vec()).unwrap());
                    m.ack().await.unwrap();
                }
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    break;
                }
            }
        }
    }
    assert_eq!(got, (0..10).map(|i| format!("m{i}")).collect::<Vec<_>>());
    let mut s = s;
    let info = s.info().await.unwrap();
    assert_eq!(info.config.num_replicas, replicas);
    if replicas > 1 {
        let cluster = info.cluster.as_ref().expect("clustered stream");
        assert_eq!(
            cluster.replicas.len() + 1,
            replicas,
            "leader plus {} followers",
            replicas - 1
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_round_trip_on_a_single_server_and_the_server_stops_on_drop() {
    within(Duration::from_secs(60), async {
        let nats = NatsServer::start().expect("nats");
        let pid = nats.pid().unwrap();
        round_trip(&nats.url(), 1).await;
        assert!(
            nats.monitor("/jsz").unwrap().contains("\"streams\": 1")
                || nats.monitor("/jsz").unwrap().contains("\"streams\":1")
        );
        drop(nats);
        assert!(!alive(pid), "nats-server {pid} still running after drop");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_round_trip_on_a_three_node_cluster_with_r3_stream() {
    within(Duration::from_secs(90), async {
        let cluster = NatsCluster::start(3).expect("cluster");
        let pids: Vec<u32> = cluster.nodes.iter().map(|n| n.pid().unwrap()).collect();
        let ports: std::collections::HashSet<u16> = cluster.nodes.iter().map(|n| n.port).collect();
        assert_eq!(ports.len(), 3, "distinct ports");
        round_trip(&cluster.urls(), 3).await;
        let routes = cluster.nodes[0].monitor("/routez").unwrap();
        assert!(routes.contains("\"num_routes\""), "{routes}");
        drop(cluster);
        for pid in pids {
            assert!(!alive(pid), "cluster node {pid} still running");
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_put_get_list_delete_and_multipart_through_object_store() {
    within(Duration::from_secs(60), async {
        provemesh_store::install_crypto_provider();
        let s3 = S3Server::start("bucket").expect("s3");
        let store = AmazonS3Builder::new()
            .with_bucket_name("bucket")
            .with_region("us-east-1")
            .with_endpoint(s3.endpoint())
            .with_allow_http(true)
            .with_virtual_hosted_style_request(false)
            .with_access_key_id(&s3.access_key)
            .with_secret_access_key(&s3.secret_key)
            .build()
            .expect("s3 client");
        let p = Path::from("a/b.bin");
        store
            .put(&p, PutPayload::from_static(b"hello"))
            .await
            .expect("put");
        assert_eq!(
            store.get(&p).await.unwrap().bytes().await.unwrap(),
            "hello".as_bytes()
        );
        let listed: Vec<_> = store
            .list(Some(&Path::from("a")))
            .map(|m| m.unwrap().location)
            .collect()
            .await;
        assert_eq!(listed, vec![p.clone()]);
        store.delete(&p).await.expect("delete");
        assert!(matches!(
            store.get(&p).await,
            Err(object_store::Error::NotFound { .. })
        ));

        // Multipart (and our verified store on top of it) with a 12 MiB object.
        let env = StoreEnv::s3(&s3);
        let big = bytes::Bytes::from(
            (0..12 * 1024 * 1024)
                .map(|i| (i % 251) as u8)
                .collect::<Vec<u8>>(),
        );
        let r = env
            .store
            .put("inputs/1/big", big.clone())
            .await
            .expect("multipart put");
        assert_eq!(env.store.get_verified(&r).await.unwrap(), big);

        // Wrong credentials are refused.
        let bad = AmazonS3Builder::new()
            .with_bucket_name("bucket")
            .with_region("us-east-1")
            .with_endpoint(s3.endpoint())
            .with_allow_http(true)
            .with_access_key_id(&s3.access_key)
            .with_secret_access_key("wrong-secret")
            .build()
            .unwrap();
        assert!(bad.put(&p, PutPayload::from_static(b"x")).await.is_err());
        let pid = s3.pid().unwrap();
        drop(s3);
        assert!(!alive(pid));
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anvil_transfer_through_alloy() {
    use alloy::network::TransactionBuilder;
    use alloy::primitives::{Address, U256};
    use alloy::providers::{Provider, ProviderBuilder};
    use alloy::rpc::types::TransactionRequest;
    use alloy::signers::local::PrivateKeySigner;

    within(Duration::from_secs(60), async {
        provemesh_store::install_crypto_provider();
        let anvil = Anvil::start(31337).expect("anvil");
        let key = anvil.dev_private_key(0).expect("dev key in anvil's banner");
        let signer: PrivateKeySigner = key.parse().expect("key");
        let from = signer.address();
        let provider = ProviderBuilder::new()
            .wallet(signer)
            .connect_http(anvil.url().parse().unwrap());
        assert_eq!(provider.get_chain_id().await.unwrap(), 31337);
        let to = Address::repeat_byte(0x42);
        let value = U256::from(1_000_000_000_000_000u64);
        let tx = TransactionRequest::default()
            .with_from(from)
            .with_to(to)
            .with_value(value);
        let receipt = provider
            .send_transaction(tx)
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        assert!(receipt.status(), "transfer succeeded");
        assert_eq!(provider.get_balance(to).await.unwrap(), value);
        let pid = anvil.pid().unwrap();
        drop(anvil);
        assert!(!alive(pid));
    })
    .await
}
