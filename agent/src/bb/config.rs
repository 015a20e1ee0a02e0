//! Configuration of the `bb` backend (PROVER_REAL_PROOFS=true): where bb, the CRS and the
//! compiled circuits are, and how bb runs. Checked once at start-up, so that a missing bb
//! or a CRS too small for the circuits stops the agent with an error naming the variable
//! instead of failing every job.

use clap::Args;
use provemesh_bb::bb::{crs_points_needed, BbConfig};
use provemesh_bb::circuits::{source_tree_artifacts, CircuitSet};
use provemesh_bb::crs::{crs_points, g2_bytes, g2_tau, insecure_devnet_tau, G2_FILE};
use provemesh_common::config::ConfigError;
use std::path::{Path, PathBuf};

/// The source tree's `.tools/` (scripts/bootstrap, scripts/crs): the defaults of a devnet.
fn tools_dir() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools");
    std::fs::canonicalize(&p).unwrap_or(p)
}

#[derive(Debug, Clone, Args, PartialEq, Eq, Default)]
#[command(next_help_heading = "Real proofs (PROVER_REAL_PROOFS=true)")]
pub struct BbArgs {
    /// The bb binary that proves (default: the pinned one scripts/bootstrap installs in
    /// this source tree's .tools/bin/bb).
    #[arg(
        long = "bb-binary-path",
        env = "BB_BINARY_PATH",
        value_name = "BB_BINARY_PATH"
    )]
    pub binary: Option<PathBuf>,

    /// The bb binary that verifies child proofs natively before a parent is proved. With
    /// Aztec's ceremony CRS that is the pristine bb; with the INSECURE devnet CRS it is the
    /// patched copy scripts/crs writes (default: .tools/bin/bb-insecure-devnet).
    #[arg(
        long = "bb-verifier-path",
        env = "BB_VERIFIER_PATH",
        value_name = "BB_VERIFIER_PATH"
    )]
    pub verifier: Option<PathBuf>,

    /// Directory of the CRS (bn254_g1.dat, bn254_g2.dat) with at least as many points as the
    /// largest circuit's dyadic size (default: the INSECURE devnet CRS of scripts/crs,
    /// .tools/crs/insecure-devnet).
    #[arg(long = "crs-path", env = "CRS_PATH", value_name = "CRS_PATH")]
    pub crs: Option<PathBuf>,

    /// The compiled circuits (default: this source tree's circuits/artifacts). Their
    /// verification keys, and the vk tree the circuits pin, belong to one CRS.
    #[arg(
        long = "prover-circuits-dir",
        env = "PROVER_CIRCUITS_DIR",
        value_name = "PROVER_CIRCUITS_DIR"
    )]
    pub circuits: Option<PathBuf>,

    /// Threads per bb process (default: all cores).
    #[arg(long = "bb-hardware-concurrency", env = "BB_HARDWARE_CONCURRENCY", value_name = "BB_HARDWARE_CONCURRENCY",
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub threads: Option<u32>,

    /// bb's low-memory mode (about half the memory, about twice the time).
    #[arg(long = "bb-slow-low-memory", env = "BB_SLOW_LOW_MEMORY", value_name = "BB_SLOW_LOW_MEMORY",
          default_value_t = false, num_args = 0..=1, default_missing_value = "true",
          action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub low_memory: bool,

    /// Where bb's per-job temporary files go (removed after each step).
    #[arg(
        long = "bb-working-directory",
        env = "BB_WORKING_DIRECTORY",
        value_name = "BB_WORKING_DIRECTORY"
    )]
    pub work_dir: Option<PathBuf>,
}

/// A checked `bb` backend configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BbBackendConfig {
    pub bb: BbConfig,
    pub circuits_dir: PathBuf,
    /// The circuits and CRS are the INSECURE devnet ones (known τ): logged loudly.
    pub insecure_devnet: bool,
}

fn executable(var: &'static str, p: &Path, hint: &str) -> Result<(), ConfigError> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(p) {
        Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => Ok(()),
        Ok(_) => Err(ConfigError::new(
            var,
            format!("{} is not an executable file", p.display()),
        )),
        Err(e) => Err(ConfigError::new(
            var,
            format!("{}: {e} ({hint})", p.display()),
        )),
    }
}

impl BbArgs {
    /// Checks bb, the CRS and the circuits (PROVER_REAL_PROOFS=true).
    pub fn validate(&self) -> Result<BbBackendConfig, ConfigError> {
        let tools = tools_dir();
        let prover = self.binary.clone().unwrap_or_else(|| tools.join("bin/bb"));
        executable(
            "BB_BINARY_PATH",
            &prover,
            "install it with scripts/bootstrap bb",
        )?;
        let verifier = self
            .verifier
            .clone()
            .unwrap_or_else(|| tools.join("bin/bb-insecure-devnet"));
        executable(
            "BB_VERIFIER_PATH",
            &verifier,
            "scripts/crs writes the devnet copy; with a ceremony CRS use the pristine bb",
        )?;
        let circuits_dir = self.circuits.clone().unwrap_or_else(source_tree_artifacts);
        let set = CircuitSet::load(&circuits_dir)
            .map_err(|e| ConfigError::new("PROVER_CIRCUITS_DIR", e.to_string()))?;
        let crs_dir = self
            .crs
            .clone()
            .unwrap_or_else(|| tools.join("crs/insecure-devnet"));
        let have = crs_points(&crs_dir).map_err(|e| {
            ConfigError::new(
                "CRS_PATH",
                format!("{e} (scripts/crs writes the devnet CRS)"),
            )
        })?;
        let need = crs_points_needed(set.max_gates());
        if have < need {
            return Err(ConfigError::new(
                "CRS_PATH",
                format!(
                    "{} has {have} points; the largest circuit needs {need} (scripts/crs --points {need})",
                    crs_dir.display()
                ),
            ));
        }
        // Verification keys (and the vk tree the circuits pin) are computed with one CRS:
        // circuits built for the devnet CRS prove nothing verifiable with another.
        let devnet_g2 = g2_bytes(&g2_tau(insecure_devnet_tau()));
        let crs_is_devnet = std::fs::read(crs_dir.join(G2_FILE)).is_ok_and(|g2| g2 == devnet_g2);
        let insecure_devnet = set.manifest.crs == "insecure-devnet";
        if insecure_devnet && !crs_is_devnet {
            return Err(ConfigError::new(
                "CRS_PATH",
                format!(
                    "{} is not the devnet CRS the circuits in {} were built for (rebuild them for this CRS, or use scripts/crs)",
                    crs_dir.display(),
                    circuits_dir.display()
                ),
            ));
        }
        Ok(BbBackendConfig {
            bb: BbConfig {
                prover,
                verifier,
                crs_dir,
                threads: self.threads,
                low_memory: self.low_memory,
                work_dir: self
                    .work_dir
                    .clone()
                    .unwrap_or_else(|| std::env::temp_dir().join("provemesh-bb")),
            },
            circuits_dir,
            insecure_devnet,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn missing_tools_and_small_crs_name_their_variable() {
        let tmp = tempfile::tempdir().unwrap();
        let e = BbArgs {
            binary: Some(tmp.path().join("bb")),
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(e.variable, "BB_BINARY_PATH");
        assert!(e.reason.contains("scripts/bootstrap bb"), "{e}");

        // A stand-in "bb" that is executable; a CRS directory with too few points.
        let fake = tmp.path().join("fake-bb");
        std::fs::write(&fake, "#!/bin/sh\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let crs = tmp.path().join("crs");
        provemesh_bb::crs::write_crs(&crs, 16, insecure_devnet_tau()).unwrap();
        let args = BbArgs {
            binary: Some(fake.clone()),
            verifier: Some(fake.clone()),
            crs: Some(crs.clone()),
            ..Default::default()
        };
        let e = args.validate().unwrap_err();
        assert_eq!(e.variable, "CRS_PATH");
        assert!(
            e.reason.contains("has 16 points") && e.reason.contains("scripts/crs --points"),
            "{e}"
        );

        let e = BbArgs {
            crs: Some(tmp.path().join("none")),
            ..args.clone()
        }
        .validate()
        .unwrap_err();
        assert_eq!(e.variable, "CRS_PATH");

        let e = BbArgs {
            circuits: Some(tmp.path().to_path_buf()),
            ..args
        }
        .validate()
        .unwrap_err();
        assert_eq!(e.variable, "PROVER_CIRCUITS_DIR");
    }
}
