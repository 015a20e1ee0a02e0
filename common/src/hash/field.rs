//! The BN254 scalar field element every tree, hash and tx field is made of: Noir's `Field`.
//!
//! A newtype over `ark_bn254::Fr` so that the wire form is ours and fixed: 32 bytes,
//! big-endian, canonical (below the modulus). Decoding a non-canonical encoding fails
//! instead of silently reducing, so two byte strings never name the same element — a tx
//! hash or a nullifier has exactly one encoding.

use ark_ff::{BigInteger, PrimeField};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// An element of the BN254 scalar field (Noir's `Field`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Fr(ark_bn254::Fr);

/// 32 bytes that are not the canonical big-endian encoding of a field element.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("field element must be 32 bytes, got {0}")]
    Length(usize),
    #[error("0x{0} is not below the BN254 scalar field modulus")]
    NotCanonical(String),
    #[error("cannot parse {0:?} as a field element (0x-hex or decimal)")]
    Parse(String),
}

impl Fr {
    pub const ZERO: Fr = Fr(ark_ff::MontFp!("0"));
    pub const ONE: Fr = Fr(ark_ff::MontFp!("1"));

    /// Wraps an arkworks element (for code that does curve or field work itself).
    pub const fn from_ark(f: ark_bn254::Fr) -> Self {
        Fr(f)
    }

    /// The arkworks element.
    pub const fn to_ark(self) -> ark_bn254::Fr {
        self.0
    }

    /// Canonical big-endian bytes; their lexicographic order is the integer order.
    pub fn to_be_bytes(self) -> [u8; 32] {
        let v = self.0.into_bigint().to_bytes_be();
        let mut out = [0u8; 32];
        out[32 - v.len()..].copy_from_slice(&v);
        out
    }

    /// Parses canonical big-endian bytes, refusing values at or above the modulus.
    pub fn from_be_bytes(bytes: &[u8; 32]) -> Result<Self, FieldError> {
        let f = ark_bn254::Fr::from_be_bytes_mod_order(bytes);
        let back = Fr(f).to_be_bytes();
        if &back != bytes {
            return Err(FieldError::NotCanonical(hex::encode(bytes)));
        }
        Ok(Fr(f))
    }

    /// Reduces arbitrary bytes into the field (for hashes such as sha256 → field).
    pub fn from_be_bytes_reduce(bytes: &[u8]) -> Self {
        Fr(ark_bn254::Fr::from_be_bytes_mod_order(bytes))
    }

    /// The value as a u64 when it fits (leaf indices, block numbers stored as fields).
    pub fn to_u64(self) -> Option<u64> {
        let b = self.to_be_bytes();
        if b[..24].iter().any(|&x| x != 0) {
            return None;
        }
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[24..]);
        Some(u64::from_be_bytes(a))
    }

    pub fn is_zero(self) -> bool {
        self == Fr::ZERO
    }

    /// `0x` and 64 lowercase hex digits.
    pub fn to_hex(self) -> String {
        format!("0x{}", hex::encode(self.to_be_bytes()))
    }
}

impl From<u64> for Fr {
    fn from(v: u64) -> Self {
        Fr(ark_bn254::Fr::from(v))
    }
}

impl From<u128> for Fr {
    fn from(v: u128) -> Self {
        Fr(ark_bn254::Fr::from(v))
    }
}

impl std::ops::Add for Fr {
    type Output = Fr;
    fn add(self, rhs: Fr) -> Fr {
        Fr(self.0 + rhs.0)
    }
}

impl std::ops::Sub for Fr {
    type Output = Fr;
    fn sub(self, rhs: Fr) -> Fr {
        Fr(self.0 - rhs.0)
    }
}

impl std::ops::Mul for Fr {
    type Output = Fr;
    fn mul(self, rhs: Fr) -> Fr {
        Fr(self.0 * rhs.0)
    }
}

/// Integer order of the canonical representatives (what indexed trees sort by).
impl Ord for Fr {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.into_bigint().cmp(&other.0.into_bigint())
    }
}

impl PartialOrd for Fr {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Fr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Fr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Small values (indices, counters, test inputs) read better in decimal.
        match self.to_u64() {
            Some(v) if v < 1 << 32 => write!(f, "Fr({v})"),
            _ => write!(f, "Fr({})", self.to_hex()),
        }
    }
}

impl FromStr for Fr {
    type Err = FieldError;

    /// `0x`-prefixed hex (up to 64 digits) or decimal; either must be below the modulus.
    fn from_str(s: &str) -> Result<Self, FieldError> {
        let parse_err = || FieldError::Parse(s.to_string());
        if let Some(h) = s.strip_prefix("0x") {
            if h.is_empty() || h.len() > 64 {
                return Err(parse_err());
            }
            let padded = format!("{h:0>64}");
            let v = hex::decode(padded).map_err(|_| parse_err())?;
            let mut a = [0u8; 32];
            a.copy_from_slice(&v);
            Fr::from_be_bytes(&a)
        } else {
            if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
                return Err(parse_err());
            }
            let f = ark_bn254::Fr::from_str(s).map_err(|_| parse_err())?;
            // ark reduces silently; refuse decimals at or above the modulus.
            let canonical = f.into_bigint().to_string();
            if canonical != s.trim_start_matches('0') && !(s.bytes().all(|c| c == b'0')) {
                return Err(FieldError::NotCanonical(s.to_string()));
            }
            Ok(Fr(f))
        }
    }
}

impl Serialize for Fr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.to_be_bytes())
    }
}

impl<'de> Deserialize<'de> for Fr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = Fr;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("32 big-endian bytes of a canonical BN254 field element")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Fr, E> {
                let a: &[u8; 32] = v
                    .try_into()
                    .map_err(|_| E::custom(FieldError::Length(v.len())))?;
                Fr::from_be_bytes(a).map_err(E::custom)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Fr, A::Error> {
                let mut a = [0u8; 32];
                for (i, b) in a.iter_mut().enumerate() {
                    *b = seq
                        .next_element()?
                        .ok_or_else(|| de::Error::custom(FieldError::Length(i)))?;
                }
                if seq.next_element::<u8>()?.is_some() {
                    return Err(de::Error::custom(FieldError::Length(33)));
                }
                Fr::from_be_bytes(&a).map_err(de::Error::custom)
            }
        }
        d.deserialize_bytes(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODULUS_HEX: &str = "0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001";

    #[test]
    fn bytes_round_trip_and_order() {
        let a = Fr::from(5u64);
        let b = Fr::from(1u128 << 100);
        assert_eq!(Fr::from_be_bytes(&a.to_be_bytes()).unwrap(), a);
        assert!(a < b && a.to_be_bytes() < b.to_be_bytes());
        assert!(Fr::ZERO - Fr::ONE > b, "p-1 is the largest element");
        assert_eq!(a.to_u64(), Some(5));
        assert_eq!(b.to_u64(), None);
    }

    #[test]
    fn non_canonical_encodings_are_refused() {
        assert!(matches!(
            MODULUS_HEX.parse::<Fr>(),
            Err(FieldError::NotCanonical(_))
        ));
        let p_minus_1 = "0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000000";
        assert_eq!(p_minus_1.parse::<Fr>().unwrap(), Fr::ZERO - Fr::ONE);
        assert_eq!("0x05".parse::<Fr>().unwrap(), Fr::from(5u64));
        assert_eq!("42".parse::<Fr>().unwrap(), Fr::from(42u64));
        assert_eq!("0".parse::<Fr>().unwrap(), Fr::ZERO);
        assert!(
            "21888242871839275222246405745257275088548364400416034343698204186575808495617"
                .parse::<Fr>()
                .is_err()
        );
        assert!("0xzz".parse::<Fr>().is_err());
    }

    #[test]
    fn serde_is_32_bytes_and_checked() {
        let a = Fr::from(7u64);
        let enc = rmp_serde::to_vec(&a).unwrap();
        assert_eq!(enc.len(), 34, "bin8 header + 32 bytes");
        assert_eq!(rmp_serde::from_slice::<Fr>(&enc).unwrap(), a);
        let bad = rmp_serde::to_vec(&serde_bytes_like([0xff; 32])).unwrap();
        assert!(rmp_serde::from_slice::<Fr>(&bad).is_err());
    }

    fn serde_bytes_like(b: [u8; 32]) -> impl Serialize {
        struct B([u8; 32]);
        impl Serialize for B {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(&self.0)
            }
        }
        B(b)
    }
}
