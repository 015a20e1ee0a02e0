//! Per-role proof-store credentials: the IAM policies shipped in `infra/s3/`, applied by
//! `moto` (an S3 server that enforces them per access key), let each role do what the code
//! needs through `ProofStore` and refuse every other action with a 403.
//!
//! agent: reads inputs and proofs, writes proofs (also in parts). node (its broker): writes
//! inputs (also in parts), reads proofs and inputs. Neither deletes, neither touches keys
//! outside `inputs/` and `proofs/` under the store's prefix, and unknown keys, wrong secrets
//! and unsigned requests get nothing.

use crate::support::*;
use bytes::Bytes;
use provemesh_agent::AgentConfig;
use provemesh_common::config::{ProofStoreArgs, Secret};
use provemesh_common::{EpochNumber, JobId, JobOutcome, ProofType};
use provemesh_harness::{MotoS3, NatsServer, S3Keys};
use provemesh_store::{ProofStore, StoreError, MULTIPART_THRESHOLD};
use std::time::Duration;

/// A store at `url` on `s3`'s endpoint with `keys`.
fn open_at(s3: &MotoS3, url: &str, keys: &S3Keys) -> ProofStore {
    let config = ProofStoreArgs {
        url: Some(url.into()),
        endpoint: Some(s3.endpoint()),
        region: "us-east-1".into(),
        access_key_id: Some(Secret::new(keys.access_key.clone())),
        secret_access_key: Some(Secret::new(keys.secret_key.clone())),
    }
    .validate()
    .expect("valid store config");
    ProofStore::open(&config).expect("open s3 store")
}

/// The store as `role` sees it.
fn store_of(s3: &MotoS3, role: &str) -> ProofStore {
    let keys = s3.keys(role).unwrap_or_else(|| panic!("no role {role}"));
    open_at(s3, &s3.store_url(), keys)
}

/// Asserts `r` is a refusal: a 403 surfaced as a permanent permission error naming `code`.
#[track_caller]
fn refused<T: std::fmt::Debug>(what: &str, r: Result<T, StoreError>, code: &str) {
    let e = match r {
        Ok(v) => panic!("{what}: must be refused, got {v:?}"),
        Err(e) => e,
    };
    let msg = format!("{e} / {e:?}");
    assert!(
        matches!(
            &e,
            StoreError::Backend {
                source: object_store::Error::PermissionDenied { .. },
                ..
            }
        ),
        "{what}: expected a permission error, got {msg}"
    );
    assert!(!e.is_transient(), "{what}: a refusal is not retried: {msg}");
    assert!(
        msg.contains("403") && msg.contains(code),
        "{what}: expected 403 {code}: {msg}"
    );
}

/// Asserts a delete was refused. object_store deletes through S3's bulk `DeleteObjects`,
/// which answers 200 and refuses per key in its body: that surfaces as a generic store error
/// naming `AccessDenied`, not as a 403 (and `StoreError::is_transient` counts it transient).
#[track_caller]
fn delete_refused(what: &str, r: Result<(), StoreError>) {
    let e = r.expect_err(&format!("{what}: must be refused"));
    let msg = format!("{e} / {e:?}");
    assert!(
        matches!(e, StoreError::Backend { op: "delete", .. }) && msg.contains("AccessDenied"),
        "{what}: expected an AccessDenied delete error, got {msg}"
    );
}

fn id(n: u64) -> JobId {
    JobId::derive(ProofType::PublicBaseRollup, &n.to_be_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_may_do_only_what_its_shipped_policy_allows() {
    within(Duration::from_secs(120), async {
        // A prefixed store: the policies are rendered for it and hold only under it.
        let s3 = MotoS3::start("proofs", "farm-a").expect("moto");
        assert_eq!(
            s3.roles(),
            ["agent", "node"],
            "one user per infra/s3/*.json"
        );
        let agent = store_of(&s3, "agent");
        let node = store_of(&s3, "node");
        let e = EpochNumber(7);
        let input = ProofStore::input_key(e, &id(1));
        let proof = ProofStore::proof_key(e, &id(1));
        let big = Bytes::from(vec![5u8; MULTIPART_THRESHOLD + 1]);

        // node: writes inputs (single request and in parts), may read them back.
        let input_ref = node.put(&input, Bytes::from_static(b"in")).await.unwrap();
        let big_input = ProofStore::input_key(e, &id(2));
        let big_input_ref = node.put(&big_input, big.clone()).await.unwrap();
        assert_eq!(node.get_verified(&input_ref).await.unwrap(), "in");

        // agent: reads inputs, checks for and writes proofs (single request and in parts).
        assert_eq!(agent.get_verified(&input_ref).await.unwrap(), "in");
        assert_eq!(agent.get_verified(&big_input_ref).await.unwrap(), big);
        assert!(agent.get_if_exists(&proof).await.unwrap().is_none());
        let proof_ref = agent.put(&proof, Bytes::from_static(b"pf")).await.unwrap();
        assert!(agent.exists(&proof).await.unwrap());
        let (found, _) = agent.get_if_exists(&proof).await.unwrap().unwrap();
        assert_eq!(found, proof_ref);
        let big_proof = ProofStore::proof_key(e, &id(2));
        agent.put(&big_proof, big.clone()).await.unwrap();

        // node: reads proofs.
        assert_eq!(node.get_verified(&proof_ref).await.unwrap(), "pf");
        assert!(node.exists(&big_proof).await.unwrap());

        // agent: may not write inputs (either way), overwrite them, or delete anything.
        let other_input = ProofStore::input_key(e, &id(3));
        refused(
            "agent puts an input",
            agent.put(&other_input, Bytes::from_static(b"x")).await,
            "AccessDenied",
        );
        refused(
            "agent overwrites an input",
            agent.put(&input, Bytes::from_static(b"forged")).await,
            "AccessDenied",
        );
        refused(
            "agent puts an input in parts",
            agent.put(&other_input, big.clone()).await,
            "AccessDenied",
        );
        delete_refused("agent deletes a proof", agent.delete(&proof).await);
        delete_refused("agent deletes an input", agent.delete(&input).await);

        // node: may not write proofs (either way) or delete anything.
        refused(
            "node puts a proof",
            node.put(&ProofStore::proof_key(e, &id(4)), Bytes::from_static(b"x"))
                .await,
            "AccessDenied",
        );
        refused(
            "node overwrites a proof",
            node.put(&proof, Bytes::from_static(b"forged")).await,
            "AccessDenied",
        );
        refused(
            "node puts a proof in parts",
            node.put(&ProofStore::proof_key(e, &id(4)), big.clone())
                .await,
            "AccessDenied",
        );
        delete_refused("node deletes a proof", node.delete(&proof).await);
        delete_refused("node deletes an input", node.delete(&input).await);

        // Nobody touches keys outside inputs/ and proofs/, nor outside the store's prefix.
        for (role, store) in [("agent", &agent), ("node", &node)] {
            refused(
                &format!("{role} puts another key"),
                store.put("other/x", Bytes::from_static(b"x")).await,
                "AccessDenied",
            );
            let unprefixed = open_at(&s3, "s3://proofs", s3.keys(role).unwrap());
            refused(
                &format!("{role} reads a proof outside the prefix"),
                unprefixed.get(&proof).await,
                "AccessDenied",
            );
            refused(
                &format!("{role} puts a proof outside the prefix"),
                unprefixed.put(&proof, Bytes::from_static(b"x")).await,
                "AccessDenied",
            );
        }

        // Nothing was changed by the refused requests.
        assert_eq!(agent.get_verified(&input_ref).await.unwrap(), "in");
        assert_eq!(node.get_verified(&proof_ref).await.unwrap(), "pf");
        assert!(!node.exists(&other_input).await.unwrap());
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_keys_wrong_secrets_and_unsigned_requests_get_nothing() {
    within(Duration::from_secs(120), async {
        let s3 = MotoS3::start("proofs", "").expect("moto");
        let proof = ProofStore::proof_key(EpochNumber(1), &id(1));
        let input = ProofStore::input_key(EpochNumber(1), &id(1));
        let stored = store_of(&s3, "agent")
            .put(&proof, Bytes::from_static(b"pf"))
            .await
            .unwrap();

        let bad = s3.bad_keys();
        assert_eq!(bad.len(), 2);
        for (keys, code) in bad
            .iter()
            .zip(["InvalidAccessKeyId", "SignatureDoesNotMatch"])
        {
            let store = open_at(&s3, &s3.store_url(), keys);
            refused(
                &format!("{code}: get"),
                store.get_verified(&stored).await,
                code,
            );
            refused(&format!("{code}: head"), store.exists(&proof).await, "403");
            refused(
                &format!("{code}: put proof"),
                store.put(&proof, Bytes::from_static(b"x")).await,
                code,
            );
            refused(
                &format!("{code}: put input"),
                store.put(&input, Bytes::from_static(b"x")).await,
                code,
            );
            refused(&format!("{code}: delete"), store.delete(&proof).await, code);
        }

        for (method, body) in [("GET", ""), ("HEAD", ""), ("PUT", "x"), ("DELETE", "")] {
            let (status, text) = s3.anonymous(method, &proof, body).expect("request");
            assert_eq!(status, 403, "unsigned {method}: {text}");
        }
        // Still there, unchanged.
        assert_eq!(
            store_of(&s3, "node").get_verified(&stored).await.unwrap(),
            "pf"
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mesh_proves_large_input_jobs_with_each_role_on_its_own_credentials() {
    within(Duration::from_secs(120), async {
        let nats = NatsServer::start().expect("nats");
        let s3 = MotoS3::start("proofs", "").expect("moto");
        let node = store_of(&s3, "node");
        let b = broker(
            topology(&nats.url(), Default::default()).await,
            node.clone(),
        );
        let mut results = b.results("node", None).await.unwrap();

        // 200 KiB of inputs each: far above what rides inline, so they go through the store.
        let jobs: Vec<_> = (0..4u64)
            .map(|n| {
                let mut j = job(9, ProofType::PublicBaseRollup, n);
                let mut i =
                    provemesh_common::circuit::SimulatedCircuitInputs::decode(&j.inputs).unwrap();
                i.payload = Bytes::from(vec![n as u8; 200 * 1024]);
                j.inputs = i.encode().unwrap().into();
                j
            })
            .collect();
        for j in &jobs {
            b.enqueue(j.clone()).await.unwrap();
            assert!(
                node.exists(&ProofStore::input_key(j.epoch, &j.id()))
                    .await
                    .unwrap(),
                "inputs went through the store"
            );
        }

        let agents = [
            InProcessAgent::start(
                &nats.url(),
                AgentConfig::new("a", &[], 1),
                store_of(&s3, "agent"),
                sim(Duration::ZERO),
            )
            .await,
            InProcessAgent::start(
                &nats.url(),
                AgentConfig::new("b", &[], 1),
                store_of(&s3, "agent"),
                sim(Duration::ZERO),
            )
            .await,
        ];
        let got = collect(&mut results, jobs.len(), Duration::from_secs(60)).await;
        assert_eq!(got.len(), jobs.len(), "every job reported: {got:?}");
        for j in &jobs {
            let r = &got[&j.id()][0];
            let JobOutcome::Proved(proof) = &r.outcome else {
                panic!("{r:?}");
            };
            assert_eq!(proof.key, ProofStore::proof_key(j.epoch, &j.id()));
            // The node reads what the agents wrote, hash-checked.
            let bytes = node.get_verified(proof).await.unwrap();
            assert_eq!(bytes.len() as u64, proof.size);
        }
        for a in agents {
            a.stop().await;
        }
    })
    .await
}
