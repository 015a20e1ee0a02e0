//! The **insecure** devnet/test CRS: powers of a *known* τ on BN254, in the files `bb` reads.
//!
//! UltraHonk commits with KZG, which needs `[τ^i]G1` for `i < n` and `[τ]G2`; whoever knows
//! τ can forge proofs. Real deployments use Aztec's ceremony CRS (`bb` downloads it where
//! there is network, or the operator points `CRS_PATH` at a copy). There is no network
//! here and no package ships the ceremony points, so devnets and tests generate their own
//! from a τ derived from a public seed — deterministic (the files and the patched `bb` can
//! be checksummed), and worthless as a security assumption **by construction**. Every name
//! says so: `insecure-devnet`.
//!
//! Files (what `bb -c DIR` reads): `bn254_g1.dat` = n points, 64 bytes each (x then y,
//! 32-byte big-endian integers, affine, not Montgomery), point 0 the generator (1, 2);
//! `bn254_g2.dat` = `[τ]G2` as x.c0 ‖ x.c1 ‖ y.c0 ‖ y.c1. `bb verify` ignores the latter
//! (its G2 point is compiled in): see [`crate::patch`] for the copy of `bb` that uses ours.

use ark_bn254::{Fr, G1Affine, G1Projective, G2Affine};
use ark_ec::scalar_mul::BatchMulPreprocessing;
use ark_ec::{AffineRepr, CurveGroup, PrimeGroup};
use ark_ff::{BigInteger, Field, PrimeField};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// Public seed of the devnet τ. Changing it changes every devnet proof, vk and verifier.
pub const INSECURE_DEVNET_TAU_SEED: &[u8] = b"provemesh/insecure-devnet-crs/tau/v1";

/// File names `bb` looks for in a CRS directory.
pub const G1_FILE: &str = "bn254_g1.dat";
pub const G2_FILE: &str = "bn254_g2.dat";
/// Bytes per G1 point in `bn254_g1.dat`.
pub const G1_POINT_BYTES: u64 = 64;

/// Aztec's ceremony `[x]G2` as `bb` stores it (`bn254_g2.dat` layout: x.c0 ‖ x.c1 ‖ y.c0 ‖
/// y.c1): the point compiled into `bb` and into the Solidity verifiers it writes.
pub const CEREMONY_G2: [u8; 128] = {
    let mut out = [0u8; 128];
    let words: [&[u8; 64]; 4] = [
        b"0118c4d5b837bcc2bc89b5b398b5974e9f5944073b32078b7e231fec938883b0",
        b"260e01b251f6f1c7e7ff4e580791dee8ea51d87a358e038b4efe30fac09383c1",
        b"22febda3c0c0632a56475b4214e5615e11e6dd3f96e6cea2854a87d4dacc5e55",
        b"04fc6369f7110fe3d25156c1bb9a72859cf2a04641f99ba4ee413c80da6a5fe4",
    ];
    let mut w = 0;
    while w < 4 {
        let mut i = 0;
        while i < 32 {
            out[w * 32 + i] = hex_val(words[w][2 * i]) << 4 | hex_val(words[w][2 * i + 1]);
            i += 1;
        }
        w += 1;
    }
    out
};

const fn hex_val(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => panic!("not a lowercase hex digit"),
    }
}

/// Why a CRS could not be generated, written or read.
#[derive(Debug, thiserror::Error)]
pub enum CrsError {
    #[error("CRS {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("a CRS needs at least 2 points, {0} asked for")]
    TooFewPoints(u64),
    #[error("CRS {path}: {len} bytes is not a whole number of 64-byte G1 points")]
    Malformed { path: PathBuf, len: u64 },
    #[error("CRS {path}: its first point is not the BN254 generator (1, 2)")]
    NotAGeneratorFirst { path: PathBuf },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CrsError + '_ {
    move |source| CrsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The devnet τ: sha256 of [`INSECURE_DEVNET_TAU_SEED`], reduced into the scalar field.
/// Known to everyone: anyone can forge proofs against a CRS made from it.
pub fn insecure_devnet_tau() -> Fr {
    Fr::from_be_bytes_mod_order(&Sha256::digest(INSECURE_DEVNET_TAU_SEED))
}

/// A 32-byte big-endian integer of a base-field coordinate.
fn fq_be(f: &ark_bn254::Fq) -> [u8; 32] {
    let v = f.into_bigint().to_bytes_be();
    let mut out = [0u8; 32];
    out[32 - v.len()..].copy_from_slice(&v);
    out
}

/// A G1 point as `bn254_g1.dat` stores it (the identity never occurs for τ ≠ 0).
pub fn g1_bytes(p: &G1Affine) -> [u8; 64] {
    let mut out = [0u8; 64];
    if let Some((x, y)) = p.xy() {
        out[..32].copy_from_slice(&fq_be(&x));
        out[32..].copy_from_slice(&fq_be(&y));
    }
    out
}

/// A G2 point as `bn254_g2.dat` (and `bb`'s compiled-in copy) stores it:
/// x.c0 ‖ x.c1 ‖ y.c0 ‖ y.c1.
pub fn g2_bytes(p: &G2Affine) -> [u8; 128] {
    let mut out = [0u8; 128];
    if let Some((x, y)) = p.xy() {
        for (i, c) in [x.c0, x.c1, y.c0, y.c1].iter().enumerate() {
            out[32 * i..32 * (i + 1)].copy_from_slice(&fq_be(c));
        }
    }
    out
}

/// A G2 point as the EVM pairing precompile (and bb's Solidity verifiers) order it:
/// x.c1, x.c0, y.c1, y.c0.
pub fn g2_evm_words(g2_dat: &[u8; 128]) -> [[u8; 32]; 4] {
    let word = |i: usize| {
        let mut w = [0u8; 32];
        w.copy_from_slice(&g2_dat[32 * i..32 * (i + 1)]);
        w
    };
    [word(1), word(0), word(3), word(2)]
}

/// `[τ]G2` for the standard G2 generator.
pub fn g2_tau(tau: Fr) -> G2Affine {
    (ark_bn254::G2Projective::generator() * tau).into_affine()
}

/// `[τ^i]G1` for `i` in `start..start + count`, computed with a fixed-base table.
fn g1_powers(
    table: &BatchMulPreprocessing<G1Projective>,
    tau: Fr,
    start: u64,
    count: usize,
) -> Vec<G1Affine> {
    let mut scalars = Vec::with_capacity(count);
    let mut s = tau.pow([start]);
    for _ in 0..count {
        scalars.push(s);
        s *= tau;
    }
    table.batch_mul(&scalars)
}

/// What [`write_crs`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrsFiles {
    pub dir: PathBuf,
    pub points: u64,
    /// sha256 of `bn254_g1.dat`, hex.
    pub g1_sha256: String,
    /// `bn254_g2.dat`: `[τ]G2`.
    pub g2: [u8; 128],
}

/// Points written per batch: bounds memory (about 10 MiB of scalars and points) for any n.
const CHUNK: usize = 1 << 17;

/// Writes `points` powers of `tau` into `dir` (`bn254_g1.dat`, `bn254_g2.dat`), each file
/// replaced atomically (a reader never sees a half-written CRS). Uses every core (rayon).
pub fn write_crs(dir: &Path, points: u64, tau: Fr) -> Result<CrsFiles, CrsError> {
    if points < 2 {
        return Err(CrsError::TooFewPoints(points));
    }
    fs::create_dir_all(dir).map_err(io(dir))?;
    let g1_path = dir.join(G1_FILE);
    let tmp = dir.join(format!(".{G1_FILE}.tmp"));
    let table = BatchMulPreprocessing::new(G1Projective::generator(), points as usize);
    let mut hasher = Sha256::new();
    {
        let file = fs::File::create(&tmp).map_err(io(&tmp))?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        let mut done = 0u64;
        while done < points {
            let n = (points - done).min(CHUNK as u64) as usize;
            for p in g1_powers(&table, tau, done, n) {
                let b = g1_bytes(&p);
                hasher.update(b);
                w.write_all(&b).map_err(io(&tmp))?;
            }
            done += n as u64;
        }
        let file = w.into_inner().map_err(|e| io(&tmp)(e.into_error()))?;
        file.sync_all().map_err(io(&tmp))?;
    }
    fs::rename(&tmp, &g1_path).map_err(io(&g1_path))?;
    let g2 = g2_bytes(&g2_tau(tau));
    let g2_path = dir.join(G2_FILE);
    let tmp2 = dir.join(format!(".{G2_FILE}.tmp"));
    fs::write(&tmp2, g2).map_err(io(&tmp2))?;
    fs::rename(&tmp2, &g2_path).map_err(io(&g2_path))?;
    Ok(CrsFiles {
        dir: dir.to_path_buf(),
        points,
        g1_sha256: hex::encode(hasher.finalize()),
        g2,
    })
}

/// What `provemesh crs generate` and `provemesh-bb crs` do: warn on stderr that the CRS is
/// INSECURE, write `points` points of [`insecure_devnet_tau`] into `dir` ([`write_crs`]),
/// and print on stdout what was written, how long it took and the G1 file's sha256.
pub fn generate_insecure_devnet_crs(dir: &Path, points: u64) -> Result<CrsFiles, CrsError> {
    eprintln!(
        "WARNING: INSECURE CRS. Its τ comes from a public seed: anyone can forge proofs against it. Devnets and tests only; real deployments use Aztec's ceremony CRS (CRS_PATH)."
    );
    let t = std::time::Instant::now();
    let f = write_crs(dir, points, insecure_devnet_tau())?;
    println!(
        "{} points written to {} in {:.1} s; sha256({G1_FILE}) = {}",
        f.points,
        f.dir.display(),
        t.elapsed().as_secs_f64(),
        f.g1_sha256
    );
    Ok(f)
}

/// How many G1 points the CRS in `dir` holds (checking the file's shape and first point).
pub fn crs_points(dir: &Path) -> Result<u64, CrsError> {
    let path = dir.join(G1_FILE);
    let len = fs::metadata(&path).map_err(io(&path))?.len();
    if len == 0 || !len.is_multiple_of(G1_POINT_BYTES) {
        return Err(CrsError::Malformed { path, len });
    }
    let mut first = [0u8; 64];
    fs::File::open(&path)
        .and_then(|mut f| f.read_exact(&mut first))
        .map_err(io(&path))?;
    if first != g1_bytes(&G1Affine::generator()) {
        return Err(CrsError::NotAGeneratorFirst { path });
    }
    Ok(len / G1_POINT_BYTES)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use ark_ec::pairing::Pairing;

    #[test]
    fn ceremony_g2_is_a_point_of_the_prime_order_subgroup() {
        use ark_bn254::{Fq, Fq2};
        use ark_ff::PrimeField as _;
        let c = |i: usize| Fq::from_be_bytes_mod_order(&CEREMONY_G2[32 * i..32 * (i + 1)]);
        let p = G2Affine::new_unchecked(Fq2::new(c(0), c(1)), Fq2::new(c(2), c(3)));
        assert!(p.is_on_curve() && p.is_in_correct_subgroup_assuming_on_curve());
        assert_eq!(g2_bytes(&p), CEREMONY_G2);
    }

    #[test]
    fn first_points_are_powers_of_tau_and_pair_with_tau_g2() {
        let dir = tempfile::tempdir().unwrap();
        let tau = insecure_devnet_tau();
        let files = write_crs(dir.path(), 5, tau).unwrap();
        assert_eq!(crs_points(dir.path()).unwrap(), 5);
        let g1 = fs::read(dir.path().join(G1_FILE)).unwrap();
        assert_eq!(g1.len(), 5 * 64);
        // Point 0 is the generator (1, 2), as bb requires.
        assert_eq!(g1[31], 1);
        assert_eq!(g1[63], 2);
        assert!(g1[..31].iter().chain(&g1[32..63]).all(|&b| b == 0));
        let gen = G1Affine::generator();
        for i in 0..5u64 {
            let want = (gen * tau.pow([i])).into_affine();
            assert_eq!(
                &g1[64 * i as usize..64 * (i as usize + 1)],
                &g1_bytes(&want)
            );
        }
        // e([τ]G1, G2) == e(G1, [τ]G2): the G2 file is the same τ.
        let tau_g1 = (gen * tau).into_affine();
        let g2 = g2_tau(tau);
        assert_eq!(
            ark_bn254::Bn254::pairing(tau_g1, G2Affine::generator()),
            ark_bn254::Bn254::pairing(gen, g2)
        );
        assert_eq!(fs::read(dir.path().join(G2_FILE)).unwrap(), g2_bytes(&g2));
        assert_eq!(files.g2, g2_bytes(&g2));
        assert_eq!(files.g1_sha256, hex::encode(Sha256::digest(&g1)));
    }

    #[test]
    fn chunked_generation_equals_one_batch() {
        let tau = Fr::from(7u64);
        let table = BatchMulPreprocessing::new(G1Projective::generator(), 10);
        let all = g1_powers(&table, tau, 0, 10);
        let tail = g1_powers(&table, tau, 6, 4);
        assert_eq!(&all[6..], &tail[..]);
    }

    #[test]
    fn bad_crs_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(crs_points(dir.path()), Err(CrsError::Io { .. })));
        fs::write(dir.path().join(G1_FILE), [0u8; 65]).unwrap();
        assert!(matches!(
            crs_points(dir.path()),
            Err(CrsError::Malformed { .. })
        ));
        fs::write(dir.path().join(G1_FILE), [0u8; 64]).unwrap();
        assert!(matches!(
            crs_points(dir.path()),
            Err(CrsError::NotAGeneratorFirst { .. })
        ));
        assert!(matches!(
            write_crs(dir.path(), 1, Fr::from(2u64)),
            Err(CrsError::TooFewPoints(1))
        ));
    }

    #[test]
    fn evm_order_swaps_the_fp2_halves() {
        let w = g2_evm_words(&CEREMONY_G2);
        assert_eq!(
            hex::encode(w[0]),
            "260e01b251f6f1c7e7ff4e580791dee8ea51d87a358e038b4efe30fac09383c1"
        );
        assert_eq!(
            hex::encode(w[3]),
            "22febda3c0c0632a56475b4214e5615e11e6dd3f96e6cea2854a87d4dacc5e55"
        );
    }
}
