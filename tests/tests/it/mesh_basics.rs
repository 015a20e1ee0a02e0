//! The mesh's normal operation against a real nats-server and a real S3 server: every job
//! proved exactly once, allow-lists respected, duplicates collapsed, poison jobs failed
//! once with their reason.

use crate::support::*;
use provemesh_agent::AgentConfig;
use provemesh_broker::{Broker, Results};
use provemesh_common::circuit::SimulatedProof;
use provemesh_common::{FailureKind, JobOutcome, ProofType};
use provemesh_harness::{NatsServer, S3Server};
use provemesh_nats::TopologyConfig;
use provemesh_store::ProofStore;
use std::collections::HashSet;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thousand_jobs_four_agents_mixed_allow_lists_each_proved_once() {
    within(Duration::from_secs(240), async {
        let nats = NatsServer::start().expect("nats");
        let s3 = S3Server::start("proofs").expect("s3");
        let store = StoreEnv::s3(&s3);
        let broker = broker(
            topology(&nats.url(), Default::default()).await,
            store.store.clone(),
        );
        let mut results = broker.results("node", None).await.expect("results");

        use ProofType::*;
        let allow: [(&str, Vec<ProofType>); 4] = [
            ("parity", vec![BaseParity, RootParity]),
            (
                "base",
                vec![PrivateBaseRollup, PublicBaseRollup, MergeRollup],
            ),
            (
                "top",
                vec![BlockRootRollup, BlockMergeRollup, RootRollup, MergeRollup],
            ),
            ("any", vec![]),
        ];
        let mut agents = Vec::new();
        for (id, types) in &allow {
            // Concurrency 1 for half of them: the case where taking more jobs than free slots
            // would show up first.
            let cfg = AgentConfig::new(
                *id,
                types,
                if types.is_empty() || types.len() == 2 {
                    1
                } else {
                    4
                },
            );
            agents.push(
                InProcessAgent::start(&nats.url(), cfg, store.store.clone(), sim(Duration::ZERO))
                    .await,
            );
        }

        let jobs: Vec<_> = (0..1000u64)
            .map(|n| job(1 + n % 3, ProofType::ALL[(n % 8) as usize], n))
            .collect();
        let enqueued = broker.enqueue_many(jobs.clone()).await.expect("enqueue");
        assert!(enqueued.iter().all(|e| !e.duplicate));

        let got = collect(&mut results, 1000, Duration::from_secs(120)).await;
        assert_eq!(got.len(), 1000, "every job reported");
        // No second result for any job arrives later either.
        assert!(next_result(&mut results, Duration::from_millis(500))
            .await
            .is_none());

        for j in &jobs {
            let rs = &got[&j.id()];
            assert_eq!(rs.len(), 1, "one result per job");
            let r = &rs[0];
            assert_eq!(
                r.attempt, 1,
                "delivered once, never bounced between agents: {r:?}"
            );
            let JobOutcome::Proved(proof) = &r.outcome else {
                panic!("job failed: {r:?}")
            };
            assert_eq!(proof.key, ProofStore::proof_key(j.epoch, &j.id()));
            let allowed = &allow
                .iter()
                .find(|(id, _)| *id == r.agent.0)
                .expect("known agent")
                .1;
            assert!(
                allowed.is_empty() || allowed.contains(&r.proof_type),
                "{} proved {}",
                r.agent,
                r.proof_type
            );
        }
        // Every proof is in the store, intact and bound to its job.
        for j in jobs.iter().step_by(7) {
            let JobOutcome::Proved(p) = &got[&j.id()][0].outcome else {
                unreachable!()
            };
            let bytes = store.store.get_verified(p).await.expect("proof stored");
            let pi = provemesh_common::circuit::SimulatedCircuitInputs::decode(&j.inputs)
                .unwrap()
                .public_inputs;
            SimulatedProof::verify(&bytes, &j.id(), &pi).expect("proof binds to its job");
        }
        let mut proved = 0;
        for a in agents {
            let s = a.stop().await;
            proved += s.get(|s| &s.proved);
            assert_eq!(s.get(|s| &s.reused), 0);
            assert_eq!(
                s.get(|s| &s.overflow),
                0,
                "no job taken without a free slot"
            );
        }
        assert_eq!(proved, 1000, "nothing proved twice");
        assert!(broker
            .queue_depths()
            .await
            .unwrap()
            .iter()
            .all(|d| d.queued == 0));
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_enqueues_from_two_brokers_make_one_job_and_one_proof() {
    within(Duration::from_secs(240), async {
        let nats = NatsServer::start().expect("nats");
        let dir = tempfile::tempdir().unwrap();
        let store = StoreEnv::file(dir.path());
        let b1 = broker(
            topology(&nats.url(), Default::default()).await,
            store.store.clone(),
        );
        // A second node: its own connection, same mesh.
        let b2 = broker(
            topology(&nats.url(), Default::default()).await,
            store.store.clone(),
        );
        let mut results = b1.results("node", None).await.expect("results");

        let j = job(7, ProofType::MergeRollup, 1);
        let (a, b) = tokio::join!(b1.enqueue(j.clone()), b2.enqueue(j.clone()));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.id, b.id);
        assert!(
            a.duplicate != b.duplicate,
            "exactly one of the two was new: {a:?} {b:?}"
        );
        assert!(
            b1.enqueue(j.clone()).await.unwrap().duplicate,
            "same inputs again: duplicate"
        );
        let depth: u64 = b1
            .queue_depths()
            .await
            .unwrap()
            .iter()
            .map(|d| d.queued)
            .sum();
        assert_eq!(depth, 1);

        let agent = InProcessAgent::start(
            &nats.url(),
            AgentConfig::new("a", &[], 2),
            store.store.clone(),
            sim(Duration::ZERO),
        )
        .await;
        let got = collect(&mut results, 1, Duration::from_secs(20)).await;
        assert_eq!(got[&j.id()].len(), 1);
        assert!(next_result(&mut results, Duration::from_millis(500))
            .await
            .is_none());
        assert_eq!(
            store.store.list("proofs/7").await.unwrap().len(),
            1,
            "one proof object"
        );
        let s = agent.stop().await;
        assert_eq!(s.get(|s| &s.proved), 1);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_jobs_fail_once_with_their_reason_and_others_pass() {
    within(Duration::from_secs(240), async {
        let nats = NatsServer::start().expect("nats");
        let dir = tempfile::tempdir().unwrap();
        let store = StoreEnv::file(dir.path());
        let topo = topology(&nats.url(), fast_topology()).await;
        let js = topo.js.clone();
        let broker = broker(topo, store.store.clone());
        let mut results = broker.results("node", None).await.expect("results");

        // 1. A circuit assertion failure.
        let assertion = failing_job(
            3,
            ProofType::MergeRollup,
            "left.end_archive != right.start_archive",
        );
        // 2. Inputs that are not this circuit's inputs at all.
        let mut garbage = job(3, ProofType::RootParity, 0);
        garbage.inputs = bytes::Bytes::from_static(b"\x93\x01\x02");
        // 3. A healthy job beside them.
        let healthy = job(3, ProofType::BaseParity, 1);
        broker
            .enqueue_many(vec![assertion.clone(), garbage.clone(), healthy.clone()])
            .await
            .unwrap();

        // 4. An undecodable payload that still carries readable headers (as a hand-made or
        //    hostile publish with standard tooling would).
        let hostile_id = provemesh_common::JobId::derive(ProofType::BlockRootRollup, b"hostile");
        let mut h = async_nats::HeaderMap::new();
        h.insert("Prove-Job-Id", hostile_id.to_hex().as_str());
        h.insert("Prove-Type", "block_root_rollup");
        h.insert("Prove-Epoch", "3");
        js.publish_with_headers("prove.job.3.block_root_rollup", h, "not msgpack".into())
            .await
            .unwrap()
            .await
            .unwrap();
        // 5. A payload with no headers at all, of a known type.
        js.publish("prove.job.3.block_merge_rollup", "\u{0}\u{1}junk".into())
            .await
            .unwrap()
            .await
            .unwrap();

        let agent = InProcessAgent::start(
            &nats.url(),
            AgentConfig::new("a", &[], 4),
            store.store.clone(),
            sim(Duration::ZERO),
        )
        .await;
        let got = collect(&mut results, 4, Duration::from_secs(20)).await;
        let failure = |id: &provemesh_common::JobId| match &got[id][0].outcome {
            JobOutcome::Failed { kind, error } => (*kind, error.clone()),
            o => panic!("expected failure, got {o:?}"),
        };
        let (k, e) = failure(&assertion.id());
        assert_eq!(k, FailureKind::Deterministic);
        assert!(e.contains("left.end_archive != right.start_archive"), "{e}");
        let (_, e) = failure(&garbage.id());
        assert!(e.contains("invalid circuit inputs"), "{e}");
        let (_, e) = failure(&hostile_id);
        assert!(
            e.contains("malformed job") && e.contains("prove.job.3.block_root_rollup"),
            "{e}"
        );
        assert!(matches!(
            got[&healthy.id()][0].outcome,
            JobOutcome::Proved(_)
        ));
        for r in got.values() {
            assert_eq!(r.len(), 1);
            assert_eq!(r[0].attempt, 1, "terminated after one attempt: {:?}", r[0]);
        }

        // Nothing is redelivered: after AckWait passes, no more work and no more results.
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert!(next_result(&mut results, Duration::from_millis(300))
            .await
            .is_none());
        let s = agent.stop().await;
        assert_eq!(s.get(|s| &s.started), 5, "each poison job taken once");
        assert_eq!(s.get(|s| &s.failed), 4);
        let depth: u64 = broker
            .queue_depths()
            .await
            .unwrap()
            .iter()
            .map(|d| d.queued)
            .sum();
        assert_eq!(depth, 0, "poison jobs left the queue");
        let history = broker
            .job_history(&assertion.id())
            .await
            .unwrap()
            .expect("history");
        let states: HashSet<_> = history.revisions.iter().map(|s| s.state).collect();
        assert!(
            states.contains(&provemesh_common::JobState::Failed),
            "{history:?}"
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_with_the_longest_path_to_the_root_are_served_first() {
    within(Duration::from_secs(60), async {
        let nats = NatsServer::start().expect("nats");
        let b = broker(
            topology(&nats.url(), Default::default()).await,
            ProofStore::in_memory(),
        );
        let mut results = b.results("node", None).await.unwrap();
        // A backlog of merges, enqueued first; then the root, a block root and a base
        // rollup (the job the most proving still waits on).
        let merges: Vec<_> = (0..12).map(|n| job(1, ProofType::MergeRollup, n)).collect();
        b.enqueue_many(merges).await.unwrap();
        let others = [
            ProofType::RootRollup,
            ProofType::BlockRootRollup,
            ProofType::PrivateBaseRollup,
        ];
        let others: Vec<_> = others
            .iter()
            .enumerate()
            .map(|(i, t)| job(1, *t, 100 + i as u64))
            .collect();
        b.enqueue_many(others).await.unwrap();
        // One agent, one slot: the order it proves in is the mesh's priority order.
        let agent = InProcessAgent::start(
            &nats.url(),
            AgentConfig::new("a", &[], 1),
            ProofStore::in_memory(),
            sim(Duration::from_millis(20)),
        )
        .await;
        let mut order = Vec::new();
        while order.len() < 15 {
            let r = next_result(&mut results, Duration::from_secs(20))
                .await
                .expect("result");
            order.push(r.proof_type);
        }
        agent.stop().await;
        // The first merge may already have been taken before the others were queued;
        // after that the base rollup goes first, the merges next, and the chain to the
        // root last: block root, then root.
        let base = order
            .iter()
            .position(|t| *t == ProofType::PrivateBaseRollup)
            .unwrap();
        assert!(base <= 1, "the base rollup is served first: {order:?}");
        assert_eq!(
            &order[13..],
            &[ProofType::BlockRootRollup, ProofType::RootRollup],
            "the chain to the root comes last: {order:?}"
        );
    })
    .await
}

/// An agent whose queues were all found empty, with rechecks and safety sweeps far off.
fn agent_slow_to_recheck(id: &str) -> AgentConfig {
    let mut cfg = AgentConfig::new(id, &[], 1);
    cfg.empty_recheck = Duration::from_secs(60);
    cfg.idle_sweep = Duration::from_secs(60);
    cfg
}

/// A mesh with one in-process agent, whose first sweep has found every queue empty.
async fn one_agent_past_its_first_sweep(
    cfg: AgentConfig,
    proving: Duration,
) -> (NatsServer, Broker, Results, InProcessAgent) {
    let backend = provemesh_agent::SimulatedBackend::new(sim(proving));
    one_agent_past_its_first_sweep_proving_with(cfg, std::sync::Arc::new(backend)).await
}

/// [`one_agent_past_its_first_sweep`] with an agent proving through `backend`.
async fn one_agent_past_its_first_sweep_proving_with(
    cfg: AgentConfig,
    backend: std::sync::Arc<dyn provemesh_agent::ProvingBackend>,
) -> (NatsServer, Broker, Results, InProcessAgent) {
    let nats = NatsServer::start().expect("nats");
    let b = broker(
        topology(&nats.url(), Default::default()).await,
        ProofStore::in_memory(),
    );
    let results = b.results("node", None).await.unwrap();
    let agent =
        InProcessAgent::with_backend(&nats.url(), cfg, ProofStore::in_memory(), backend).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    (nats, b, results, agent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_agent_does_not_ask_its_drained_queues_for_every_job() {
    within(Duration::from_secs(90), async {
        let (_nats, b, mut results, agent) =
            one_agent_past_its_first_sweep(agent_slow_to_recheck("a"), Duration::ZERO).await;
        // Jobs of the type it asks last: every queue before it stays empty.
        let jobs: Vec<_> = (0..200).map(|n| job(1, ProofType::RootRollup, n)).collect();
        b.enqueue_many(jobs).await.unwrap();
        let got = collect(&mut results, 200, Duration::from_secs(60)).await;
        let stats = agent.stop().await;
        assert_eq!(got.len(), 200, "every job proved");
        // Asking the seven empty queues before each job would be 1,400 empty pulls.
        let (pulls, empty) = (stats.get(|s| &s.pulls), stats.get(|s| &s.empty_pulls));
        assert!(
            empty < 50,
            "{empty} empty pulls for 200 jobs ({pulls} pulls in all)"
        );
        assert!(pulls < 250, "{pulls} pulls for 200 jobs ({empty} empty)");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_with_a_free_slot_leaves_its_empty_queues_to_the_doorbells() {
    within(Duration::from_secs(60), async {
        // Two slots and one job at a time: never full, so always listening. Rechecks are
        // due almost at once, so only listening keeps it from asking its empty queues.
        let mut cfg = agent_slow_to_recheck("a");
        cfg.concurrency = 2;
        cfg.empty_recheck = Duration::from_millis(1);
        let (_nats, b, mut results, agent) =
            one_agent_past_its_first_sweep(cfg, Duration::ZERO).await;
        for n in 0..20 {
            b.enqueue(job(1, ProofType::RootRollup, n)).await.unwrap();
            let got = next_result(&mut results, Duration::from_secs(10)).await;
            assert!(got.is_some(), "job {n} proved after its ring");
        }
        let stats = agent.stop().await;
        // The first sweep finds all eight queues empty; after that each ring's sweep asks
        // its own queue only. Asking the seven others each time would be 140 more.
        let (pulls, empty) = (stats.get(|s| &s.pulls), stats.get(|s| &s.empty_pulls));
        assert!(empty <= 16, "{empty} empty pulls ({pulls} in all)");
        assert_eq!(stats.get(|s| &s.proved), 20);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_handed_back_at_shutdown_rings_for_an_idle_agent() {
    within(Duration::from_secs(60), async {
        let mut leaving = AgentConfig::new("leaving", &[], 1);
        leaving.drain_deadline = Duration::from_millis(100);
        let (nats, b, mut results, leaving) =
            one_agent_past_its_first_sweep(leaving, Duration::from_secs(30)).await;
        b.enqueue(job(1, ProofType::MergeRollup, 1)).await.unwrap();
        eventually(Duration::from_secs(10), "job taken", || async {
            leaving.stats.get(|s| &s.started) > 0
        })
        .await;
        // An idle agent that has found every queue empty and sweeps only once a minute.
        let staying = InProcessAgent::start(
            &nats.url(),
            agent_slow_to_recheck("staying"),
            ProofStore::in_memory(),
            sim(Duration::ZERO),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let left = leaving.stop().await;
        assert_eq!(left.get(|s| &s.handed_back), 1);
        let got = next_result(&mut results, Duration::from_secs(10)).await;
        let stats = staying.stop().await;
        assert_eq!(got.map(|r| r.agent.0), Some("staying".to_string()));
        assert_eq!(stats.get(|s| &s.proved), 1);
    })
    .await
}

/// Fails each job's first attempt as a transient failure, then proves like the simulated
/// backend.
struct FailsFirstAttempt {
    sim: provemesh_agent::SimulatedBackend,
    failed: std::sync::Mutex<HashSet<provemesh_common::JobId>>,
}

impl provemesh_agent::ProvingBackend for FailsFirstAttempt {
    fn name(&self) -> &'static str {
        "fails-first-attempt"
    }

    fn prove(
        &self,
        req: provemesh_agent::ProvingRequest,
    ) -> futures::future::BoxFuture<'_, Result<bytes::Bytes, provemesh_agent::BackendError>> {
        let first = self.failed.lock().unwrap().insert(req.id);
        if first {
            return Box::pin(async {
                Err(provemesh_agent::BackendError::Transient(
                    "the prover host is out of memory".into(),
                ))
            });
        }
        self.sim.prove(req)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_back_from_its_retry_delay_rings_for_an_idle_agent() {
    within(Duration::from_secs(60), async {
        // An agent that sweeps its queues only once a minute: it takes jobs when rung.
        let backend = FailsFirstAttempt {
            sim: provemesh_agent::SimulatedBackend::new(sim(Duration::ZERO)),
            failed: Default::default(),
        };
        let (_nats, b, mut results, agent) = one_agent_past_its_first_sweep_proving_with(
            agent_slow_to_recheck("a"),
            std::sync::Arc::new(backend),
        )
        .await;
        b.enqueue(job(1, ProofType::MergeRollup, 1)).await.unwrap();
        // The first attempt fails and the job is handed back for 1 s; the agent is idle
        // again long before it is queued again.
        let got = next_result(&mut results, Duration::from_secs(15)).await;
        let stats = agent.stop().await;
        assert_eq!(stats.get(|s| &s.retried), 1);
        assert_eq!(stats.get(|s| &s.proved), 1);
        let got = got.expect("the retried job proved well before the minute's sweep");
        assert_eq!(got.attempt, 2);
        assert!(matches!(got.outcome, JobOutcome::Proved(_)), "{got:?}");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_found_empty_is_asked_before_a_busy_agent_goes_idle() {
    within(Duration::from_secs(60), async {
        let (_nats, b, mut results, agent) =
            one_agent_past_its_first_sweep(agent_slow_to_recheck("a"), Duration::from_millis(800))
                .await;
        b.enqueue(job(1, ProofType::MergeRollup, 1)).await.unwrap();
        eventually(Duration::from_secs(10), "merge taken", || async {
            agent.stats.get(|s| &s.started) > 0
        })
        .await;
        // The agent is full and has left the doorbell groups: this job's ring reaches
        // nobody, and its queue was found empty a moment ago.
        tokio::time::sleep(Duration::from_millis(200)).await;
        b.enqueue(job(1, ProofType::PrivateBaseRollup, 2))
            .await
            .unwrap();
        // Once the merge is done the agent asks that queue after all, long before its
        // recheck or safety sweep (a minute) would.
        let got = collect(&mut results, 2, Duration::from_secs(10)).await;
        agent.stop().await;
        let types: HashSet<ProofType> = got.values().flatten().map(|r| r.proof_type).collect();
        assert_eq!(
            types,
            HashSet::from([ProofType::MergeRollup, ProofType::PrivateBaseRollup]),
            "both jobs proved: {got:?}"
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_inputs_go_through_the_store_and_jobs_are_legible_to_nats_tools() {
    within(Duration::from_secs(60), async {
        let nats = NatsServer::start().expect("nats");
        let s3 = S3Server::start("proofs").expect("s3");
        let store = StoreEnv::s3(&s3);
        let b = broker(
            topology(&nats.url(), Default::default()).await,
            store.store.clone(),
        );
        let mut results = b.results("node", None).await.unwrap();

        // 200 KiB of inputs: far above what rides inline in an envelope.
        let mut inputs = provemesh_common::circuit::SimulatedCircuitInputs::decode(
            &job(4, ProofType::PublicBaseRollup, 1).inputs,
        )
        .unwrap();
        inputs.payload = bytes::Bytes::from(vec![7u8; 200 * 1024]);
        let big = provemesh_broker::NewJob {
            epoch: provemesh_common::EpochNumber(4),
            proof_type: ProofType::PublicBaseRollup,
            inputs: inputs.encode().unwrap().into(),
            deadline_ms: None,
        };
        b.enqueue(big.clone()).await.unwrap();
        let key = ProofStore::input_key(big.epoch, &big.id());
        assert!(
            store.store.exists(&key).await.unwrap(),
            "inputs uploaded to {key}"
        );

        // What `nats stream get` would show: readable headers, a small payload.
        let raw = b
            .topology()
            .jobs
            .direct_get_last_for_subject("prove.job.4.public_base_rollup")
            .await
            .unwrap();
        let h = |n: &str| raw.headers.get(n).map(|v| v.to_string());
        assert_eq!(h("Prove-Type").as_deref(), Some("public_base_rollup"));
        assert_eq!(h("Prove-Epoch").as_deref(), Some("4"));
        assert_eq!(h("Prove-Job-Id"), Some(big.id().to_hex()));
        assert_eq!(h("Nats-Msg-Id"), Some(big.id().to_hex()));
        // Ours, besides the de-duplication id (the rest are the direct get's own): each
        // header is paid for on every publish, store and delivery.
        let mut ours: Vec<String> = raw
            .headers
            .iter()
            .map(|(n, _)| n.to_string())
            .filter(|n| n.starts_with("Prove-"))
            .collect();
        ours.sort();
        assert_eq!(ours, ["Prove-Epoch", "Prove-Job-Id", "Prove-Type"]);
        assert!(
            raw.payload.len() < 1024,
            "envelope stays small: {} bytes",
            raw.payload.len()
        );

        let agent = InProcessAgent::start(
            &nats.url(),
            AgentConfig::new("a", &[], 1),
            store.store.clone(),
            sim(Duration::ZERO),
        )
        .await;
        let got = collect(&mut results, 1, Duration::from_secs(20)).await;
        let r = &got[&big.id()][0];
        assert!(matches!(r.outcome, JobOutcome::Proved(_)), "{r:?}");
        agent.stop().await;

        // Inputs that no longer match their recorded hash are refused, not proved.
        let mut tampered = inputs.clone();
        tampered.payload = bytes::Bytes::from(vec![8u8; 200 * 1024]);
        let job2 = provemesh_broker::NewJob {
            inputs: tampered.encode().unwrap().into(),
            ..big.clone()
        };
        b.enqueue(job2.clone()).await.unwrap();
        let key2 = ProofStore::input_key(job2.epoch, &job2.id());
        store
            .store
            .put(&key2, bytes::Bytes::from_static(b"substituted"))
            .await
            .unwrap();
        let agent = InProcessAgent::start(
            &nats.url(),
            AgentConfig::new("b", &[], 1),
            store.store.clone(),
            sim(Duration::ZERO),
        )
        .await;
        let got = collect(&mut results, 1, Duration::from_secs(20)).await;
        match &got[&job2.id()][0].outcome {
            JobOutcome::Failed { error, .. } => assert!(error.contains("corrupt"), "{error}"),
            o => panic!("substituted inputs must not be proved: {o:?}"),
        }
        agent.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incompatible_existing_stream_is_refused_with_a_clear_error() {
    within(Duration::from_secs(30), async {
        let nats = NatsServer::start().expect("nats");
        let js = js(&nats.url()).await;
        js.create_stream(async_nats::jetstream::stream::Config {
            name: "PROVE_JOBS".into(),
            subjects: vec!["prove.job.>".into()],
            retention: async_nats::jetstream::stream::RetentionPolicy::Limits,
            ..Default::default()
        })
        .await
        .unwrap();
        let err = provemesh_nats::Topology::apply(js.clone(), Default::default())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("PROVE_JOBS") && err.contains("retention") && err.contains("WorkQueue"),
            "{err}"
        );
        // Applying twice over a compatible topology is a no-op.
        let nats2 = NatsServer::start().expect("nats");
        let js2 = crate::support::js(&nats2.url()).await;
        provemesh_nats::Topology::apply(js2.clone(), Default::default())
            .await
            .unwrap();
        provemesh_nats::Topology::apply(js2, Default::default())
            .await
            .expect("idempotent");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_announce_themselves_and_leave_when_stopped_or_killed() {
    within(Duration::from_secs(60), async {
        // Presence lasts 4 s without a refresh (agents refresh every third of it).
        let mesh = Mesh::start(TopologyConfig {
            agent_ttl: Duration::from_secs(4),
            ..fast_topology()
        })
        .await;
        let mut spot = AgentProcess::start(
            &mesh.url(),
            &mesh.store,
            "spot-1",
            &[
                ("PROVER_AGENT_CONCURRENCY", "3"),
                ("PROVER_AGENT_PROOF_TYPES", "base_parity,merge_rollup"),
            ],
        );
        let mut steady = AgentProcess::start(&mesh.url(), &mesh.store, "steady-1", &[]);
        let b = mesh.broker.clone();
        eventually(Duration::from_secs(15), "both agents present", || {
            let b = b.clone();
            async move { b.agents().await.map(|a| a.len() == 2).unwrap_or(false) }
        })
        .await;
        let present = b.agents().await.unwrap();
        let s = present
            .iter()
            .find(|a| a.agent.0 == "spot-1")
            .expect("spot-1");
        assert_eq!(s.concurrency, 3);
        assert_eq!(s.backend, "simulated");
        let mut types = s.proof_types.clone();
        types.sort();
        let mut want = vec![ProofType::BaseParity, ProofType::MergeRollup];
        want.sort();
        assert_eq!(types, want, "its allow-list");

        // Killed: nobody withdraws it; it stops counting once its presence expires.
        spot.kill9();
        eventually(Duration::from_secs(10), "the killed agent expires", || {
            let b = b.clone();
            async move {
                b.agents()
                    .await
                    .map(|a| a.iter().all(|p| p.agent.0 != "spot-1"))
                    .unwrap_or(false)
            }
        })
        .await;
        assert_eq!(b.agents().await.unwrap().len(), 1, "the other one stays");

        // Stopped (SIGTERM): it withdraws itself at once, well before the TTL.
        steady.sigterm();
        assert_eq!(steady.wait_exit(Duration::from_secs(10)), Some(0));
        assert!(
            b.agents().await.unwrap().is_empty(),
            "a stopped agent withdraws its presence"
        );
    })
    .await
}

/// A proof that takes several AckWaits is kept alive by its agent's in-progress acks: the
/// server does not hand it to the idle agent beside it, and it is proved and reported once,
/// on its first attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proof_longer_than_ack_wait_is_kept_alive_not_redelivered() {
    within(Duration::from_secs(90), async {
        let mut mesh = Mesh::start(TopologyConfig {
            ack_wait: Duration::from_secs(2),
            max_deliver: 5,
            ..Default::default()
        })
        .await;
        let mut agents = Vec::new();
        for id in ["a", "b"] {
            agents.push(
                InProcessAgent::start(
                    &mesh.url(),
                    AgentConfig::new(id, &[], 1),
                    mesh.store.store.clone(),
                    sim(Duration::from_secs(7)),
                )
                .await,
            );
        }
        let long = job(6, ProofType::RootRollup, 1);
        mesh.broker.enqueue(long.clone()).await.unwrap();

        let got = collect(&mut mesh.results, 1, Duration::from_secs(30)).await;
        let r = &got[&long.id()];
        assert_eq!(r.len(), 1, "{r:?}");
        assert!(matches!(r[0].outcome, JobOutcome::Proved(_)), "{r:?}");
        assert_eq!(r[0].attempt, 1, "never redelivered: {r:?}");
        // An AckWait after the result, still nothing more.
        assert!(next_result(&mut mesh.results, Duration::from_secs(3))
            .await
            .is_none());
        let started = stop_all(agents, |s| &s.started).await;
        assert_eq!(started, 1, "one agent took the job, once");
    })
    .await
}

/// The safety sweep is for the fleet, not for each agent: 48 idle agents ask their queues
/// a third as often each as a lone agent would, and a job queued without a ring (by other
/// tooling) is still taken within a few seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_idle_fleet_sweeps_less_often_each_and_still_finds_jobs_nobody_rang_for() {
    within(Duration::from_secs(120), async {
        const FLEET: usize = 48;
        let nats = NatsServer::start().expect("nats");
        let topo = topology(&nats.url(), Default::default()).await;
        let b = broker(topo.clone(), ProofStore::in_memory());
        let mut results = b.results("node", None).await.unwrap();
        let store = ProofStore::in_memory();
        let mut agents = Vec::new();
        for i in 0..FLEET {
            let cfg = AgentConfig::new(format!("idle-{i}"), &[], 1);
            agents.push(
                InProcessAgent::start(&nats.url(), cfg, store.clone(), sim(Duration::ZERO)).await,
            );
        }
        // Each agent counts the fleet when it announces itself (1, 2, 4… s after it starts).
        eventually(
            Duration::from_secs(30),
            "every agent counted the fleet",
            || async {
                agents
                    .iter()
                    .all(|a| a.stats.get(|s| &s.fleet) >= FLEET as u64)
            },
        )
        .await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let pulls = || {
            agents
                .iter()
                .map(|a| a.stats.get(|s| &s.pulls))
                .sum::<u64>()
        };
        let (before, t0) = (pulls(), std::time::Instant::now());
        tokio::time::sleep(Duration::from_secs(6)).await;
        let per_second = (pulls() - before) as f64 / t0.elapsed().as_secs_f64();
        // A sweep per agent per second would be 48 × 8 = 384 pulls a second; each now
        // sweeps every 3 s on average (128 a second).
        assert!(
            per_second < 250.0,
            "{per_second:.0} pulls/s from {FLEET} idle agents"
        );

        // Queued with no ring, as another tool would: one of the fleet's sweeps finds it.
        let new = job(1, ProofType::MergeRollup, 1);
        let envelope = new.clone().inline_envelope(provemesh_common::unix_micros());
        provemesh_nats::messages::publish_job(&topo.js, &envelope)
            .await
            .unwrap()
            .await
            .unwrap();
        let got = next_result(&mut results, Duration::from_secs(15)).await;
        for a in agents {
            a.stop().await;
        }
        let got = got.expect("the job nobody rang for was found by a sweep");
        assert_eq!(got.id, new.id());
        assert!(matches!(got.outcome, JobOutcome::Proved(_)), "{got:?}");
    })
    .await
}
