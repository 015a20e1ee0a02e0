//! `provemesh crs generate`: the INSECURE devnet CRS for real proofs where Aztec's ceremony
//! CRS cannot be had (no network: bb cannot download it). τ is derived from a public seed,
//! so anyone can forge proofs against this CRS: devnets and tests only. A deployment points
//! CRS_PATH at the ceremony CRS instead.

use anyhow::Context as _;
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// The most points generated here: 2^26 + 1 (4 GiB), beyond any circuit bb proves here.
const MAX_POINTS: u64 = (1 << 26) + 1;

#[derive(Debug, Clone, Subcommand)]
pub enum CrsCommand {
    /// Writes an INSECURE CRS (publicly known τ) into DIR: bn254_g1.dat, bn254_g2.dat.
    Generate(GenerateArgs),
}

#[derive(Debug, Clone, Args)]
pub struct GenerateArgs {
    /// G1 points to write (a circuit of 2^k gates needs at least 2^k; scripts/crs writes
    /// 2^21 + 1, enough for every circuit in circuits/).
    #[arg(long)]
    pub points: u64,
    /// Directory to write into (created if missing; files replaced atomically).
    #[arg(long)]
    pub out: PathBuf,
}

impl CrsCommand {
    pub fn run(self) -> anyhow::Result<()> {
        let CrsCommand::Generate(g) = self;
        if !(2..=MAX_POINTS).contains(&g.points) {
            anyhow::bail!(
                "--points {}: a CRS here has 2 to {MAX_POINTS} points",
                g.points
            );
        }
        provemesh_bb::crs::generate_insecure_devnet_crs(&g.out, g.points).with_context(|| {
            format!(
                "generating {} CRS points into {}",
                g.points,
                g.out.display()
            )
        })?;
        Ok(())
    }
}
