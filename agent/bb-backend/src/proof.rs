//! A real proof as the agent stores it and a parent job receives it: the circuit, its
//! verification-key hash, the public inputs and bb's proof, in one self-describing blob
//! (magic `PMHONK01` + named-field MessagePack), so a parent can check what it is given
//! before spending a minute proving on top of it.

use serde::{Deserialize, Serialize};

const MAGIC: &[u8; 8] = b"PMHONK01";

/// One proof of one circuit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealProof {
    /// The circuit's name in the circuit set (`parity_base`).
    pub circuit: String,
    /// Its verification key's hash (bb's), 32 bytes big-endian.
    #[serde(with = "serde_bytes_array")]
    pub vk_hash: [u8; 32],
    /// The public inputs, 32-byte big-endian fields, in bb's order.
    pub public_inputs: Vec<[u8; 32]>,
    /// bb's proof bytes (32-byte fields): what `bb verify -p` and the Solidity verifier take.
    #[serde(with = "serde_bytes_vec")]
    pub proof: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofFormatError {
    #[error("not a real proof (no PMHONK01 header; a simulated proof?)")]
    Magic,
    #[error("real proof does not decode: {0}")]
    Decode(String),
    #[error("real proof does not encode: {0}")]
    Encode(String),
}

impl RealProof {
    pub fn encode(&self) -> Result<Vec<u8>, ProofFormatError> {
        let mut out = MAGIC.to_vec();
        rmp_serde::encode::write_named(&mut out, self)
            .map_err(|e| ProofFormatError::Encode(e.to_string()))?;
        Ok(out)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, ProofFormatError> {
        let body = bytes.strip_prefix(MAGIC).ok_or(ProofFormatError::Magic)?;
        rmp_serde::from_slice(body).map_err(|e| ProofFormatError::Decode(e.to_string()))
    }

    /// The public inputs as one byte string (bb's `public_inputs` file).
    pub fn public_inputs_bytes(&self) -> Vec<u8> {
        self.public_inputs.concat()
    }

    /// The proof as 32-byte fields, `0x` hex (what a parent's `ChildProof.proof` takes).
    pub fn proof_fields(&self) -> Vec<String> {
        fields_hex(&self.proof)
    }
}

/// 32-byte big-endian chunks as `0x` hex strings (a trailing partial chunk is dropped:
/// bb's files are whole fields).
pub fn fields_hex(bytes: &[u8]) -> Vec<String> {
    bytes
        .chunks_exact(32)
        .map(|c| format!("0x{}", hex::encode(c)))
        .collect()
}

/// Splits bb's public inputs file into fields (`None` when not a whole number of them).
pub fn split_fields(bytes: &[u8]) -> Option<Vec<[u8; 32]>> {
    if !bytes.len().is_multiple_of(32) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(32)
            .map(|c| {
                let mut a = [0u8; 32];
                a.copy_from_slice(c);
                a
            })
            .collect(),
    )
}

mod serde_bytes_array {
    use serde::{Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let v = super::serde_bytes_vec::deserialize(d)?;
        v.try_into()
            .map_err(|v: Vec<u8>| serde::de::Error::custom(format!("{} bytes, not 32", v.len())))
    }
}

mod serde_bytes_vec {
    use serde::de::{SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};
    use std::fmt;
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
                let mut out = Vec::new();
                while let Some(b) = seq.next_element()? {
                    out.push(b);
                }
                Ok(out)
            }
        }
        d.deserialize_bytes(V)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_trips_and_refuses_other_blobs() {
        let p = RealProof {
            circuit: "parity_base".into(),
            vk_hash: [7; 32],
            public_inputs: vec![[1; 32], [2; 32]],
            proof: vec![9; 64],
        };
        let b = p.encode().unwrap();
        assert_eq!(RealProof::decode(&b).unwrap(), p);
        assert_eq!(
            RealProof::decode(b"PMSIMPF1xxxx"),
            Err(ProofFormatError::Magic)
        );
        assert!(matches!(
            RealProof::decode(&b[..20]),
            Err(ProofFormatError::Decode(_))
        ));
        assert_eq!(p.proof_fields().len(), 2);
        assert_eq!(
            split_fields(&p.public_inputs_bytes()).unwrap(),
            p.public_inputs
        );
        assert!(split_fields(&[0; 33]).is_none());
    }
}
