//! The **insecure** devnet copy of `bb` that verifies proofs made with a τ-CRS.
//!
//! `bb verify` checks the KZG opening against a G2 point compiled into the binary — Aztec's
//! ceremony `[x]G2` — and ignores `bn254_g2.dat`, so proofs made with the devnet CRS
//! ([`crate::crs`]) fail natively. The point sits in the binary twice over: once as the
//! 128-byte image of `bn254_g2.dat`, and as 16 lowercase hex constants in the Solidity
//! verifier templates (four templates, order x.c1, x.c0, y.c1, y.c0). Replacing both forms
//! with `[τ]G2`, byte for byte and length for length, in a COPY gives a `bb` whose `verify`
//! and `write_solidity_verifier` use the devnet point. The pristine binary is never touched.
//! Insecure by construction, named so, and checksummed like any other pinned tool.

use crate::crs::{g2_evm_words, CEREMONY_G2};
use sha2::{Digest, Sha256};
use std::fs;
use std::path::{Path, PathBuf};

/// The copy's conventional name, beside the pristine `bb`.
pub const PATCHED_BB_NAME: &str = "bb-insecure-devnet";

/// Occurrences expected in bb 5.0.0: one raw image, four templates × one hex constant each.
const RAW_COUNT: usize = 1;
const HEX_COUNT_PER_WORD: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("refusing to patch {0} in place: the pristine bb must stay as it is")]
    InPlace(PathBuf),
    #[error("{path}: the ceremony G2 point occurs {found} times as raw bytes and the hex word {word} {hex_found} times (expected {RAW_COUNT} and {HEX_COUNT_PER_WORD}): not the bb this patch was made for")]
    Unexpected {
        path: PathBuf,
        found: usize,
        word: usize,
        hex_found: usize,
    },
}

/// What [`patch_bb`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchedBb {
    pub path: PathBuf,
    /// sha256 of the patched copy, hex.
    pub sha256: String,
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

fn replace_all(buf: &mut [u8], from: &[u8], to: &[u8]) {
    debug_assert_eq!(from.len(), to.len());
    let mut i = 0;
    while i + from.len() <= buf.len() {
        if &buf[i..i + from.len()] == from {
            buf[i..i + from.len()].copy_from_slice(to);
            i += from.len();
        } else {
            i += 1;
        }
    }
}

/// Patches `bb` bytes: every form of the ceremony G2 becomes `g2` (a `bn254_g2.dat` image).
pub fn patch_bytes(path: &Path, bytes: &mut [u8], g2: &[u8; 128]) -> Result<(), PatchError> {
    let found = count(bytes, &CEREMONY_G2);
    let old = g2_evm_words(&CEREMONY_G2).map(|w| hex::encode(w).into_bytes());
    let new = g2_evm_words(g2).map(|w| hex::encode(w).into_bytes());
    for (word, h) in old.iter().enumerate() {
        let hex_found = count(bytes, h);
        if found != RAW_COUNT || hex_found != HEX_COUNT_PER_WORD {
            return Err(PatchError::Unexpected {
                path: path.to_path_buf(),
                found,
                word,
                hex_found,
            });
        }
    }
    replace_all(bytes, &CEREMONY_G2, g2);
    for (o, n) in old.iter().zip(&new) {
        replace_all(bytes, o, n);
    }
    Ok(())
}

/// Writes a copy of `pristine` to `out` with the ceremony G2 replaced by `g2` (atomically,
/// executable). `out` must not be `pristine`.
pub fn patch_bb(pristine: &Path, out: &Path, g2: &[u8; 128]) -> Result<PatchedBb, PatchError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PatchError::Io { path, source }
    };
    let same = match (fs::canonicalize(pristine), fs::canonicalize(out)) {
        (Ok(a), Ok(b)) => a == b,
        _ => pristine == out,
    };
    if same {
        return Err(PatchError::InPlace(out.to_path_buf()));
    }
    let mut bytes = fs::read(pristine).map_err(io(pristine))?;
    patch_bytes(pristine, &mut bytes, g2)?;
    let tmp = out.with_file_name(format!(
        ".{}.tmp",
        out.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    fs::write(&tmp, &bytes).map_err(io(&tmp))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755)).map_err(io(&tmp))?;
    }
    fs::rename(&tmp, out).map_err(io(out))?;
    Ok(PatchedBb {
        path: out.to_path_buf(),
        sha256: hex::encode(Sha256::digest(&bytes)),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn fake_bb() -> Vec<u8> {
        let mut b = b"ELF....".to_vec();
        b.extend_from_slice(&CEREMONY_G2);
        for _ in 0..4 {
            b.extend_from_slice(b"\n// G2 point from VK\n");
            for w in g2_evm_words(&CEREMONY_G2) {
                b.extend_from_slice(b"mstore(0x1c0, 0x");
                b.extend_from_slice(hex::encode(w).as_bytes());
                b.extend_from_slice(b")\n");
            }
        }
        b
    }

    #[test]
    fn replaces_both_forms_and_keeps_the_length() {
        let dir = tempfile::tempdir().unwrap();
        let (src, dst) = (dir.path().join("bb"), dir.path().join(PATCHED_BB_NAME));
        let orig = fake_bb();
        fs::write(&src, &orig).unwrap();
        let mut g2 = [0u8; 128];
        g2.iter_mut().enumerate().for_each(|(i, b)| *b = i as u8);
        let p = patch_bb(&src, &dst, &g2).unwrap();
        let out = fs::read(&dst).unwrap();
        assert_eq!(out.len(), orig.len());
        assert_eq!(fs::read(&src).unwrap(), orig, "pristine untouched");
        assert_eq!(count(&out, &CEREMONY_G2), 0);
        assert_eq!(count(&out, &g2), 1);
        for w in g2_evm_words(&g2) {
            assert_eq!(count(&out, hex::encode(w).as_bytes()), 4);
        }
        assert_eq!(p.sha256, hex::encode(Sha256::digest(&out)));
        // Patching the patched copy finds no ceremony point: refused, not double-patched.
        assert!(matches!(
            patch_bb(&dst, &dir.path().join("again"), &g2),
            Err(PatchError::Unexpected { found: 0, .. })
        ));
        assert!(matches!(
            patch_bb(&src, &src, &g2),
            Err(PatchError::InPlace(_))
        ));
    }
}
