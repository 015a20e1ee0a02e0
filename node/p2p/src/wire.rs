//! Wire forms of what nodes exchange, one per thing, used by both transports (libp2p
//! gossip and request-response, JSON-RPC):
//!
//! - a tx is its canonical encoding ([`Tx::encode`], rmp-serde): in gossip as raw bytes, in
//!   JSON as `0x`-hex ([`HexTx`]); decoding refuses oversized input before parsing and a tx
//!   without a hash;
//! - a tx hash is the 32-byte big-endian field element, `0x` and 64 hex digits in JSON
//!   ([`HexTxHash`]);
//! - an epoch proof quote is the ABI encoding of `SignedEpochProofQuote` in gossip (exactly
//!   what `claimEpochProofRight` takes), and a camelCase object in JSON ([`SignedQuoteJson`]).

use alloy::primitives::{Address, B256, U256};
use alloy::sol_types::SolValue;
use provemesh_common::hash::Fr;
use provemesh_common::tx::{Tx, TxHash, MAX_TX_SIZE_BYTES};
use provemesh_l1::{EpochProofQuote, Signature, SignedEpochProofQuote};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Size of an ABI-encoded `SignedEpochProofQuote` (eight static words).
pub const QUOTE_WIRE_SIZE: usize = 8 * 32;

/// A message could not be decoded. The message names what was wrong, never echoes more
/// than a short prefix of the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("tx: {0}")]
    Tx(String),
    #[error("tx has no nullifier, so no hash")]
    TxWithoutHash,
    #[error("tx hash: {0}")]
    TxHash(String),
    #[error("epoch proof quote: {0}")]
    Quote(String),
    #[error("field element: {0}")]
    Field(String),
}

/// The canonical encoding of `tx`.
pub fn encode_tx(tx: &Tx) -> Result<Vec<u8>, WireError> {
    tx.encode().map_err(|e| WireError::Tx(e.to_string()))
}

/// Decodes a tx (size-checked before parsing) and requires it to have a hash.
pub fn decode_tx(bytes: &[u8]) -> Result<Tx, WireError> {
    let tx = Tx::decode(bytes).map_err(|e| WireError::Tx(e.to_string()))?;
    if tx.hash().is_none() {
        return Err(WireError::TxWithoutHash);
    }
    Ok(tx)
}

/// The ABI encoding of a signed quote (what `claimEpochProofRight` takes).
pub fn encode_quote(quote: &SignedEpochProofQuote) -> Vec<u8> {
    quote.abi_encode()
}

/// Decodes an ABI-encoded signed quote, refusing any other length or a non-canonical
/// encoding (e.g. a `uint32` fee with high bits set).
pub fn decode_quote(bytes: &[u8]) -> Result<SignedEpochProofQuote, WireError> {
    if bytes.len() != QUOTE_WIRE_SIZE {
        return Err(WireError::Quote(format!(
            "expected {QUOTE_WIRE_SIZE} bytes of ABI encoding, got {}",
            bytes.len()
        )));
    }
    <SignedEpochProofQuote as SolValue>::abi_decode_validate(bytes)
        .map_err(|e| WireError::Quote(e.to_string()))
}

/// `0x` and lowercase hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

/// Parses `0x`-prefixed hex.
fn from_hex(s: &str, max_bytes: usize) -> Result<Vec<u8>, String> {
    let h = s
        .strip_prefix("0x")
        .ok_or_else(|| "expected 0x-prefixed hex".to_string())?;
    if h.len() > 2 * max_bytes {
        return Err(format!(
            "{} hex digits, at most {} allowed",
            h.len(),
            2 * max_bytes
        ));
    }
    hex::decode(h).map_err(|e| format!("bad hex: {e}"))
}

/// Parses a tx hash: `0x` and up to 64 hex digits, a canonical field element.
pub fn parse_tx_hash(s: &str) -> Result<TxHash, WireError> {
    if !s.starts_with("0x") {
        return Err(WireError::TxHash(
            "expected 0x and 64 hex digits".to_string(),
        ));
    }
    Fr::from_str(s)
        .map(TxHash)
        .map_err(|e| WireError::TxHash(e.to_string()))
}

/// A tx in JSON: `"0x…"`, the hex of its canonical encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HexTx(pub Tx);

impl Serialize for HexTx {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let bytes = encode_tx(&self.0).map_err(serde::ser::Error::custom)?;
        s.serialize_str(&to_hex(&bytes))
    }
}

impl<'de> Deserialize<'de> for HexTx {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let bytes = from_hex(&s, MAX_TX_SIZE_BYTES)
            .map_err(|e| serde::de::Error::custom(WireError::Tx(e)))?;
        decode_tx(&bytes)
            .map(HexTx)
            .map_err(serde::de::Error::custom)
    }
}

/// A tx hash in JSON: `"0x"` and 64 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HexTxHash(pub TxHash);

impl fmt::Debug for HexTxHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for HexTxHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<TxHash> for HexTxHash {
    fn from(h: TxHash) -> Self {
        HexTxHash(h)
    }
}

impl Serialize for HexTxHash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0 .0.to_hex())
    }
}

impl<'de> Deserialize<'de> for HexTxHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_tx_hash(&s)
            .map(HexTxHash)
            .map_err(serde::de::Error::custom)
    }
}

/// A field element in JSON: `"0x"` and 64 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HexFr(pub Fr);

impl Serialize for HexFr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_hex())
    }
}

impl<'de> Deserialize<'de> for HexFr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Fr::from_str(&s)
            .map(HexFr)
            .map_err(|e| serde::de::Error::custom(WireError::Field(e.to_string())))
    }
}

/// An `EpochProofQuote` in JSON (camelCase, numbers as `0x` hex strings as alloy writes
/// them; decimal strings are accepted too).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QuoteJson {
    pub epoch_to_prove: U256,
    pub valid_until_slot: U256,
    pub bond_amount: U256,
    pub basis_point_fee: u32,
    pub prover: Address,
}

/// The quote's secp256k1 signature in JSON (`v` is 27 or 28).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureJson {
    pub v: u8,
    pub r: B256,
    pub s: B256,
}

/// A signed epoch proof quote in JSON: `{"quote": {...}, "signature": {"v", "r", "s"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedQuoteJson {
    pub quote: QuoteJson,
    pub signature: SignatureJson,
}

impl From<&SignedEpochProofQuote> for SignedQuoteJson {
    fn from(s: &SignedEpochProofQuote) -> Self {
        SignedQuoteJson {
            quote: QuoteJson {
                epoch_to_prove: s.quote.epochToProve,
                valid_until_slot: s.quote.validUntilSlot,
                bond_amount: s.quote.bondAmount,
                basis_point_fee: s.quote.basisPointFee,
                prover: s.quote.prover,
            },
            signature: SignatureJson {
                v: s.signature.v,
                r: s.signature.r,
                s: s.signature.s,
            },
        }
    }
}

impl From<SignedQuoteJson> for SignedEpochProofQuote {
    fn from(j: SignedQuoteJson) -> Self {
        SignedEpochProofQuote {
            quote: EpochProofQuote {
                epochToProve: j.quote.epoch_to_prove,
                validUntilSlot: j.quote.valid_until_slot,
                bondAmount: j.quote.bond_amount,
                basisPointFee: j.quote.basis_point_fee,
                prover: j.quote.prover,
            },
            signature: Signature {
                v: j.signature.v,
                r: j.signature.r,
                s: j.signature.s,
            },
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use provemesh_common::tx::{SimulatedClientProof, TxPublicOutputs};

    fn tx() -> Tx {
        let outputs = TxPublicOutputs {
            note_hashes: vec![Fr::from(1u64)],
            nullifiers: vec![Fr::from(77u64)],
            public_data_writes: vec![],
            l2_to_l1_messages: vec![],
            fee_payer: Fr::from(5u64),
            fee: Fr::from(1u64),
        };
        Tx {
            proof: SimulatedClientProof::create(&outputs),
            outputs,
        }
    }

    /// A well-formed quote (its signature is not a real one).
    pub(crate) fn quote() -> SignedEpochProofQuote {
        SignedEpochProofQuote {
            quote: EpochProofQuote {
                epochToProve: U256::from(3),
                validUntilSlot: U256::from(40),
                bondAmount: U256::from(10).pow(U256::from(20)),
                basisPointFee: 250,
                prover: Address::repeat_byte(0x11),
            },
            signature: Signature {
                v: 27,
                r: B256::repeat_byte(1),
                s: B256::repeat_byte(2),
            },
        }
    }

    #[test]
    fn tx_round_trips_in_json_and_bad_input_is_named() {
        let t = HexTx(tx());
        let json = serde_json::to_string(&t).unwrap();
        assert!(json.starts_with("\"0x"));
        let back: HexTx = serde_json::from_str(&json).unwrap();
        assert_eq!(back, t);
        let e = serde_json::from_str::<HexTx>("\"0xzz\"").unwrap_err();
        assert!(e.to_string().contains("bad hex"), "{e}");
        let e = serde_json::from_str::<HexTx>("\"abcd\"").unwrap_err();
        assert!(e.to_string().contains("0x-prefixed"), "{e}");
        let e = serde_json::from_str::<HexTx>("\"0x0102\"").unwrap_err();
        assert!(e.to_string().starts_with("tx:"), "{e}");
    }

    #[test]
    fn tx_hash_json_is_64_hex_digits() {
        let h = HexTxHash(TxHash(Fr::from(77u64)));
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json.len(), 2 + 2 + 64);
        assert_eq!(serde_json::from_str::<HexTxHash>(&json).unwrap(), h);
        assert!(serde_json::from_str::<HexTxHash>("\"77\"").is_err());
        let too_big = format!("\"0x{}\"", "ff".repeat(32));
        assert!(serde_json::from_str::<HexTxHash>(&too_big).is_err());
    }

    #[test]
    fn quote_round_trips_in_abi_and_json() {
        let q = quote();
        let bytes = encode_quote(&q);
        assert_eq!(bytes.len(), QUOTE_WIRE_SIZE);
        assert_eq!(decode_quote(&bytes).unwrap(), q);
        assert!(decode_quote(&bytes[..100]).is_err());
        let mut bad = bytes.clone();
        bad[3 * 32 + 10] = 1; // high bits of the uint32 fee
        assert!(decode_quote(&bad).is_err());

        let json = serde_json::to_value(SignedQuoteJson::from(&q)).unwrap();
        assert_eq!(json["quote"]["basisPointFee"], 250);
        let back: SignedQuoteJson = serde_json::from_value(json).unwrap();
        assert_eq!(SignedEpochProofQuote::from(back), q);
    }
}
