//! Test support (feature `testing`), for this crate's tests and its dependents': the
//! bootstrapped bb, and bb set up in a test's own directory for the INSECURE devnet CRS — a
//! small CRS of the devnet τ and the patched copy of bb that verifies against it — so that
//! tests proving small circuits need neither `scripts/crs` nor its 2^21-point CRS.

use crate::bb::BbConfig;
use crate::circuits::source_tree_artifacts;
use crate::crs::{g2_bytes, g2_tau, insecure_devnet_tau, write_crs};
use crate::patch::{patch_bb, PATCHED_BB_NAME};
use std::path::{Path, PathBuf};

/// The pinned, pristine bb in this source tree's `.tools/bin`. Panics, saying how to
/// install it, when it is missing.
pub fn pristine_bb() -> PathBuf {
    let p = source_tree_artifacts().join("../../.tools/bin/bb");
    assert!(
        p.exists(),
        "{} is missing: run scripts/bootstrap bb",
        p.display()
    );
    // Canonical, so that scripts/test's check for left-over tools recognises it.
    std::fs::canonicalize(&p).unwrap_or(p)
}

/// bb for the INSECURE devnet CRS, all in `dir`: `points` points of the devnet τ in
/// `dir/crs`, [`pristine_bb`] proving, its patched copy (`dir/`[`PATCHED_BB_NAME`])
/// verifying, each step's temporary directory under `dir/work`. Panics when the CRS or the
/// copy cannot be written.
pub fn devnet_bb(dir: &Path, points: u64) -> BbConfig {
    let crs_dir = dir.join("crs");
    write_crs(&crs_dir, points, insecure_devnet_tau()).expect("write the devnet CRS");
    let patched = dir.join(PATCHED_BB_NAME);
    patch_bb(
        &pristine_bb(),
        &patched,
        &g2_bytes(&g2_tau(insecure_devnet_tau())),
    )
    .expect("patch bb");
    BbConfig {
        prover: pristine_bb(),
        verifier: patched,
        crs_dir,
        threads: None,
        low_memory: false,
        work_dir: dir.join("work"),
    }
}
