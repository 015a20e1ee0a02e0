//! A sequencer refuses to start on a world state whose genesis is not the one the Rollup
//! was deployed for, saying so.

use crate::support::*;
use provemesh_sequencer::{Genesis, SequencerError};
use provemesh_world_state::TreeHeights;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_world_state_of_another_genesis_is_refused() {
    within(30, async {
        let (chain, _ws) = Chain::start(32, 16, 32).await;
        let other = Genesis::devnet(1, 0, TreeHeights::uniform(16))
            .open_world_state(&chain.dir.path().join("other"))
            .unwrap();
        let e = provemesh_sequencer::start(chain.config(true), other, CancellationToken::new())
            .await
            .err()
            .expect("refused");
        assert!(matches!(e, SequencerError::GenesisMismatch { .. }), "{e}");
        assert!(
            e.to_string().contains("deployed for another genesis"),
            "{e}"
        );
    })
    .await
}
