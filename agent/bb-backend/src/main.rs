//! `provemesh-bb`: devnet tooling for real proofs.
//!
//! - `provemesh-bb crs --points N --out DIR`: the INSECURE devnet CRS (known τ).
//! - `provemesh-bb patch-bb --bb PATH --out PATH`: the INSECURE copy of bb whose native
//!   verifier and Solidity verifiers use the devnet [τ]G2.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use provemesh_bb::{crs, patch};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "provemesh-bb",
    about = "Devnet tooling for real proofs (INSECURE CRS: tests and devnets only)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Writes an INSECURE CRS (τ derived from a public seed) into DIR: bn254_g1.dat and
    /// bn254_g2.dat. Anyone can forge proofs against it: devnets and tests only.
    Crs {
        /// Number of G1 points (a circuit of 2^k gates needs at least 2^k + 1).
        #[arg(long)]
        points: u64,
        #[arg(long)]
        out: PathBuf,
    },
    /// Writes a COPY of bb whose compiled-in G2 point is the devnet [τ]G2, so that `bb verify`
    /// and `bb write_solidity_verifier` work with the devnet CRS. The pristine bb is untouched.
    PatchBb {
        #[arg(long)]
        bb: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Crs { points, out } => {
            crs::generate_insecure_devnet_crs(&out, points)
                .with_context(|| format!("generating {points} CRS points"))?;
        }
        Command::PatchBb { bb, out } => {
            eprintln!("WARNING: writing an INSECURE bb copy that trusts the devnet CRS (devnets and tests only)");
            let g2 = crs::g2_bytes(&crs::g2_tau(crs::insecure_devnet_tau()));
            let p = patch::patch_bb(&bb, &out, &g2)?;
            println!("{} sha256 = {}", p.path.display(), p.sha256);
        }
    }
    Ok(())
}
