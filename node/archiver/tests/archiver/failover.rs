//! Several L1 URLs: a dead one is skipped, a killed one is failed over from, and the
//! archiver says which one it reads from (scheme, host and port only). A node on another
//! chain, or a rollup address without a contract, stops it with an error naming the
//! variable.

use crate::support::*;
use provemesh_archiver::{Archiver, ArchiverError};
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fails_over_between_l1_urls() {
    within(60, async {
        let chain = Chain::start().await;
        let proxy = Proxy::start(chain.anvil.port).await;
        let dead = dead_url().await;
        let dir = tempfile::tempdir().unwrap();
        let urls = vec![dead.clone(), proxy.url(), chain.url()];
        let run = Running::start(config(&chain, urls, dir.path()));

        chain.propose(&block(1, 1, 0)).await;
        let s = run.synced(&chain).await;
        // The dead URL was skipped; the proxy (second URL) serves.
        assert_eq!(s.l1_host, Some(host_of(&proxy.url())), "{s:?}");
        assert_eq!(s.tips.pending, 1);

        // The proxy dies mid-run: the archiver moves on to anvil itself.
        proxy.kill().await;
        chain.propose(&block(2, 2, 0)).await;
        chain.propose(&block(3, 3, 0)).await;
        let s = run.synced(&chain).await;
        assert_eq!(s.l1_host, Some(host_of(&chain.url())), "{s:?}");
        assert_eq!(s.tips.pending, 3);
        assert_eq!(archives(&run.archiver).await.len(), 3);
        run.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_a_node_on_another_chain_and_a_rollup_without_code() {
    within(60, async {
        let chain = Chain::start().await;
        let dir = tempfile::tempdir().unwrap();
        // Credentials in the URL must not reach the error.
        let url: url::Url = format!("http://operator:s3cr3t-key@127.0.0.1:{}", chain.anvil.port)
            .parse()
            .unwrap();

        let mut c = config(&chain, vec![url.clone()], &dir.path().join("a"));
        c.l1_chain_id = 1;
        let a = Archiver::open(c).unwrap();
        let e = a.run(CancellationToken::new()).await.unwrap_err();
        assert!(
            matches!(
                e,
                ArchiverError::ChainIdMismatch {
                    expected: 1,
                    actual: CHAIN_ID,
                    ..
                }
            ),
            "{e}"
        );
        let msg = e.to_string();
        assert!(
            msg.contains("L1_CHAIN_ID") && msg.contains("31337"),
            "{msg}"
        );
        assert!(
            !msg.contains("s3cr3t") && !msg.contains("operator"),
            "{msg}"
        );

        let mut c = config(&chain, vec![url], &dir.path().join("b"));
        c.contracts.rollup = unused_address();
        let a = Archiver::open(c).unwrap();
        let e = a.run(CancellationToken::new()).await.unwrap_err();
        assert!(matches!(e, ArchiverError::NoRollupCode { .. }), "{e}");
        assert!(e.to_string().contains("L1_DEPLOYMENT_FILE"), "{e}");
        drop(a);

        // An archive directory belongs to one deployment.
        let mut c = config(&chain, vec![chain.url()], &dir.path().join("b"));
        c.contracts.inbox = unused_address();
        let e = Archiver::open(c).unwrap_err();
        assert!(matches!(e, ArchiverError::OtherDeployment { .. }), "{e}");
        assert!(e.to_string().contains("DATA_DIRECTORY"), "{e}");
    })
    .await
}
