//! Identifiers: epochs, content-addressed job ids, agent ids.

use crate::ProofType;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// An L2 epoch number.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(transparent)]
pub struct EpochNumber(pub u64);

impl fmt::Display for EpochNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl FromStr for EpochNumber {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim().parse().map(EpochNumber)
    }
}

/// A job's identity: SHA-256 over a domain tag, the proof type and the circuit inputs.
///
/// Same type and inputs ⇒ same id, so the id is the JetStream `Nats-Msg-Id` (dedup at
/// enqueue), the object key of the proof and the result key: a job is proved once no matter
/// how many nodes or restarts enqueue it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct JobId(#[serde(with = "hex_bytes")] pub [u8; 32]);

impl JobId {
    /// Derives the id of a job from its proof type and its full inputs.
    pub fn derive(proof_type: ProofType, inputs: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(b"provemesh/job/v1\0");
        h.update(proof_type.as_str().as_bytes());
        h.update([0u8]);
        h.update(inputs);
        JobId(h.finalize().into())
    }

    /// Full lowercase hex, 64 characters: used in subjects, object keys and KV keys.
    pub fn to_hex(&self) -> String {
        self.hex().as_str().to_owned()
    }

    /// The hex form on the stack: ids are written into every job's subjects, keys and
    /// headers, and `hex::encode`'s char-by-char collection was ~2% of the mesh's client CPU.
    fn hex(&self) -> JobIdHex {
        let mut out = [0u8; 64];
        for (pair, byte) in out.chunks_exact_mut(2).zip(self.0) {
            pair[0] = HEX_DIGITS[usize::from(byte >> 4)];
            pair[1] = HEX_DIGITS[usize::from(byte & 0x0f)];
        }
        JobIdHex(out)
    }

    /// A short form for humans (`3f9a…c01d`).
    pub fn short(&self) -> String {
        let h = self.hex();
        let h = h.as_str();
        format!("{}…{}", &h[..4], &h[60..])
    }
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// A job id's 64 lowercase hex digits (ASCII by construction).
struct JobIdHex([u8; 64]);

impl JobIdHex {
    fn as_str(&self) -> &str {
        // Only ever filled from HEX_DIGITS, so never the fallback.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.hex().as_str())
    }
}

impl fmt::Debug for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JobId({})", self.short())
    }
}

/// A job id string that is not 64 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid job id '{0}': expected 64 hex digits")]
pub struct InvalidJobId(pub String);

impl FromStr for JobId {
    type Err = InvalidJobId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().trim_start_matches("0x");
        let mut out = [0u8; 32];
        hex::decode_to_slice(t, &mut out).map_err(|_| InvalidJobId(s.to_string()))?;
        Ok(JobId(out))
    }
}

/// SHA-256 of a byte string, the content hash used to verify inputs and proofs on read.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// An agent's self-chosen name (host name plus a random suffix by default); shown in job
/// status and results so operators can see who proved what.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AgentId(pub String);

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub(crate) mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&hex::encode(v))
        } else {
            s.serialize_bytes(v)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        use serde::de::Error;
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            let mut out = [0u8; 32];
            hex::decode_to_slice(s.trim_start_matches("0x"), &mut out).map_err(D::Error::custom)?;
            Ok(out)
        } else {
            let b: serde_bytes_compat::ByteBuf = Deserialize::deserialize(d)?;
            b.0.try_into()
                .map_err(|v: Vec<u8>| D::Error::invalid_length(v.len(), &"32 bytes"))
        }
    }

    /// Accepts msgpack bin (what we write) as well as an array of u8 (what generic
    /// encoders write), so a hand-made envelope from other tooling still decodes.
    mod serde_bytes_compat {
        use serde::de::{SeqAccess, Visitor};
        use serde::{Deserialize, Deserializer};
        use std::fmt;

        pub struct ByteBuf(pub Vec<u8>);

        impl<'de> Deserialize<'de> for ByteBuf {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = ByteBuf;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str("bytes")
                    }
                    fn visit_bytes<E>(self, v: &[u8]) -> Result<ByteBuf, E> {
                        Ok(ByteBuf(v.to_vec()))
                    }
                    fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<ByteBuf, E> {
                        Ok(ByteBuf(v))
                    }
                    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<ByteBuf, A::Error> {
                        let mut out = Vec::new();
                        while let Some(b) = a.next_element::<u8>()? {
                            out.push(b);
                        }
                        Ok(ByteBuf(out))
                    }
                }
                d.deserialize_byte_buf(V)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_id_is_content_addressed() {
        let a = JobId::derive(ProofType::MergeRollup, b"in");
        assert_eq!(a, JobId::derive(ProofType::MergeRollup, b"in"));
        assert_ne!(a, JobId::derive(ProofType::MergeRollup, b"in2"));
        assert_ne!(a, JobId::derive(ProofType::RootRollup, b"in"));
    }

    #[test]
    fn job_id_parses_its_hex_and_rejects_garbage() {
        let a = JobId::derive(ProofType::BaseParity, b"x");
        assert_eq!(a.to_hex().parse::<JobId>(), Ok(a));
        assert_eq!(format!("0x{a}").parse::<JobId>(), Ok(a));
        assert!("abc".parse::<JobId>().is_err());
        assert!(a.short().contains('…'));
    }

    #[test]
    fn job_id_hex_is_the_hex_crates_lowercase_encoding() {
        for id in [
            JobId([0; 32]),
            JobId([0xff; 32]),
            JobId::derive(ProofType::RootRollup, b"r"),
        ] {
            let want = hex::encode(id.0);
            assert_eq!(id.to_hex(), want);
            assert_eq!(id.to_string(), want);
            assert_eq!(id.short(), format!("{}…{}", &want[..4], &want[60..]));
        }
    }
}
