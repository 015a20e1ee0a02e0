//! The wire codec of the mesh: MessagePack through rmp-serde, with field names kept
//! (`to_vec_named`) so a message dumped by standard NATS tooling decodes with any
//! MessagePack viewer and new optional fields stay backward compatible.

use serde::{de::DeserializeOwned, Serialize};

/// Encoding or decoding a mesh message failed.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("cannot encode {what}: {source}")]
    Encode {
        what: &'static str,
        #[source]
        source: rmp_serde::encode::Error,
    },
    #[error("cannot decode {what} ({len} bytes): {source}")]
    Decode {
        what: &'static str,
        len: usize,
        #[source]
        source: rmp_serde::decode::Error,
    },
}

/// Encodes `value` as named-field MessagePack; `what` names it in errors.
pub fn encode<T: Serialize>(what: &'static str, value: &T) -> Result<Vec<u8>, CodecError> {
    rmp_serde::to_vec_named(value).map_err(|source| CodecError::Encode { what, source })
}

/// Decodes MessagePack produced by [`encode`]; `what` names it in errors.
pub fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, CodecError> {
    rmp_serde::from_slice(bytes).map_err(|source| CodecError::Decode {
        what,
        len: bytes.len(),
        source,
    })
}
