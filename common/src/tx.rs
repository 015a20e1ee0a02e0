//! The L2 transaction as the prover node receives it: the public outputs of the user's
//! private execution plus a client proof that they are right.
//!
//! Private execution happens on the user's device; what reaches the node is its result —
//! note hashes, nullifiers, public data writes, L2→L1 messages, who pays the fee and how
//! much — and a proof (of the "private kernel tail" circuit when real proofs are on, a
//! bound fake in simulated mode). The first nullifier is the tx's unique, unreplayable
//! id: the tx hash is that nullifier (Aztec's rule), so a replayed tx is a double spend.
//!
//! The wire form is rmp-serde through [`crate::codec`] (canonical: one encoding per tx);
//! [`Tx::decode`] refuses anything above [`MAX_TX_SIZE_BYTES`] before parsing.

use crate::codec::{self, CodecError};
use crate::hash::leaves::{public_data_leaf_slot, separator, FEE_JUICE_ADDRESS};
use crate::hash::{poseidon2_hash_with_separator, Fr};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// Note hashes one tx may create; they are inserted as one subtree of this size.
pub const MAX_NOTE_HASHES_PER_TX: usize = 8;
/// Height of the per-tx note hash subtree.
pub const NOTE_HASH_SUBTREE_HEIGHT: u8 = 3;
/// Nullifiers one tx may emit (the first is the tx hash); inserted as one subtree.
pub const MAX_NULLIFIERS_PER_TX: usize = 8;
/// Height of the per-tx nullifier subtree.
pub const NULLIFIER_SUBTREE_HEIGHT: u8 = 3;
/// Public data writes one tx may make (the protocol's fee payment write comes on top).
pub const MAX_PUBLIC_DATA_WRITES_PER_TX: usize = 8;
/// L2→L1 messages one tx may send.
pub const MAX_L2_TO_L1_MSGS_PER_TX: usize = 4;
/// Largest encoded tx accepted (a real client proof is about 15 KiB).
pub const MAX_TX_SIZE_BYTES: usize = 64 * 1024;

/// Fields of a tx's public outputs as the private kernel tail circuit exposes them (each
/// list padded to its maximum, followed by its count; then fee payer and fee).
pub const KERNEL_PUBLIC_INPUTS: usize = MAX_NOTE_HASHES_PER_TX
    + 1
    + MAX_NULLIFIERS_PER_TX
    + 1
    + 3 * MAX_PUBLIC_DATA_WRITES_PER_TX
    + 1
    + 2 * MAX_L2_TO_L1_MSGS_PER_TX
    + 1
    + 2;

/// A tx's first nullifier as its sender derives it from a secret and a nonce. The private
/// kernel tail proves this derivation without revealing the secret, so only the secret's
/// holder can make the tx's client proof (`circuits/types/src/tx.nr` `tx_nullifier`).
pub fn tx_nullifier(secret: Fr, nonce: Fr) -> Fr {
    poseidon2_hash_with_separator(&[secret, nonce], separator::TX_NULLIFIER)
}

/// A tx's hash: its first nullifier.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TxHash(pub Fr);

impl fmt::Display for TxHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for TxHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TxHash({})", self.0)
    }
}

/// A write to a contract's public storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PublicDataWrite {
    pub contract_address: Fr,
    pub storage_slot: Fr,
    pub value: Fr,
}

impl PublicDataWrite {
    /// The public data tree key this write lands on.
    pub fn leaf_slot(&self) -> Fr {
        public_data_leaf_slot(self.contract_address, self.storage_slot)
    }
}

/// A message to an L1 contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct L2ToL1Message {
    /// L1 recipient address (as a field).
    pub recipient: Fr,
    pub content: Fr,
}

/// The public outputs of a tx's private execution (what the client proof proves).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxPublicOutputs {
    pub note_hashes: Vec<Fr>,
    /// At least one; the first is the tx hash.
    pub nullifiers: Vec<Fr>,
    pub public_data_writes: Vec<PublicDataWrite>,
    pub l2_to_l1_messages: Vec<L2ToL1Message>,
    /// Address whose fee juice balance pays `fee`.
    pub fee_payer: Fr,
    /// Fee in fee juice, taken from the fee payer's balance when the tx is included.
    pub fee: Fr,
}

impl TxPublicOutputs {
    /// The private kernel tail's public inputs: what a real client proof is verified over,
    /// by the node (`bb verify`) and by the base rollup (recursively). `None` when a list
    /// is over its maximum (such a tx has no valid encoding in the circuits).
    pub fn kernel_public_inputs(&self) -> Option<Vec<Fr>> {
        fn list<T: Copy>(
            out: &mut Vec<Fr>,
            items: &[T],
            max: usize,
            fields: impl Fn(T) -> Vec<Fr>,
            width: usize,
        ) -> Option<()> {
            if items.len() > max {
                return None;
            }
            for &x in items {
                out.extend(fields(x));
            }
            out.extend(std::iter::repeat_n(Fr::ZERO, (max - items.len()) * width));
            out.push(Fr::from(items.len() as u64));
            Some(())
        }
        let mut out = Vec::with_capacity(KERNEL_PUBLIC_INPUTS);
        list(
            &mut out,
            &self.note_hashes,
            MAX_NOTE_HASHES_PER_TX,
            |f| vec![f],
            1,
        )?;
        list(
            &mut out,
            &self.nullifiers,
            MAX_NULLIFIERS_PER_TX,
            |f| vec![f],
            1,
        )?;
        list(
            &mut out,
            &self.public_data_writes,
            MAX_PUBLIC_DATA_WRITES_PER_TX,
            |w| vec![w.contract_address, w.storage_slot, w.value],
            3,
        )?;
        list(
            &mut out,
            &self.l2_to_l1_messages,
            MAX_L2_TO_L1_MSGS_PER_TX,
            |m| vec![m.recipient, m.content],
            2,
        )?;
        out.push(self.fee_payer);
        out.push(self.fee);
        debug_assert_eq!(out.len(), KERNEL_PUBLIC_INPUTS);
        Some(out)
    }

    /// sha256 of the canonical encoding: what a simulated client proof commits to.
    pub fn digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"provemesh/tx-public-outputs/v1\0");
        let mut field = |f: &Fr| h.update(f.to_be_bytes());
        for x in &self.note_hashes {
            field(x);
        }
        field(&Fr::from(u64::MAX));
        for x in &self.nullifiers {
            field(x);
        }
        field(&Fr::from(u64::MAX));
        for w in &self.public_data_writes {
            field(&w.contract_address);
            field(&w.storage_slot);
            field(&w.value);
        }
        field(&Fr::from(u64::MAX));
        for m in &self.l2_to_l1_messages {
            field(&m.recipient);
            field(&m.content);
        }
        field(&Fr::from(u64::MAX));
        field(&self.fee_payer);
        field(&self.fee);
        h.finalize().into()
    }
}

/// The proof that a tx's public outputs come from a valid private execution.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientProof {
    /// A bound fake proof (PROVER_REAL_PROOFS=false): see [`SimulatedClientProof`].
    Simulated(Bytes),
    /// An UltraHonk proof of the private kernel tail circuit, with its verification key hash.
    Honk { proof: Bytes, vk_hash: Fr },
}

impl fmt::Debug for ClientProof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientProof::Simulated(b) => write!(f, "Simulated({} bytes)", b.len()),
            ClientProof::Honk { proof, vk_hash } => {
                write!(f, "Honk({} bytes, vk {vk_hash})", proof.len())
            }
        }
    }
}

/// A transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tx {
    pub outputs: TxPublicOutputs,
    pub proof: ClientProof,
}

/// A tx whose shape breaks the format's rules (independent of any state).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxFormatError {
    #[error("tx has no nullifier (the first nullifier is the tx hash)")]
    NoNullifier,
    #[error("tx has {count} {what}, at most {max} allowed")]
    TooMany {
        what: &'static str,
        count: usize,
        max: usize,
    },
    #[error("{what} {index} is zero (zero is the padding value)")]
    ZeroValue { what: &'static str, index: usize },
    #[error("nullifier {second} repeats nullifier {first} within the tx")]
    DuplicateNullifier { first: usize, second: usize },
    #[error("public data write {index} targets the fee juice contract's storage")]
    ProtocolStorageWrite { index: usize },
    #[error("public data writes {first} and {second} write the same slot")]
    DuplicateSlot { first: usize, second: usize },
    #[error("encoded tx is {size} bytes, at most {max} allowed")]
    TooLarge { size: usize, max: usize },
}

impl Tx {
    /// The tx hash (its first nullifier); `None` for a tx without nullifiers.
    pub fn hash(&self) -> Option<TxHash> {
        self.outputs.nullifiers.first().copied().map(TxHash)
    }

    /// The canonical encoding.
    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        codec::encode("tx", self)
    }

    /// Decodes a tx, refusing oversized input before parsing it.
    pub fn decode(bytes: &[u8]) -> Result<Tx, TxDecodeError> {
        if bytes.len() > MAX_TX_SIZE_BYTES {
            return Err(TxDecodeError::TooLarge {
                size: bytes.len(),
                max: MAX_TX_SIZE_BYTES,
            });
        }
        Ok(codec::decode("tx", bytes)?)
    }

    /// Checks the format's limits that need no state: counts, zeros, duplicates within
    /// the tx, protocol storage. (Fields are canonical by construction of [`Fr`].)
    pub fn check_format(&self) -> Result<(), TxFormatError> {
        let o = &self.outputs;
        if o.nullifiers.is_empty() {
            return Err(TxFormatError::NoNullifier);
        }
        let limits = [
            ("note hashes", o.note_hashes.len(), MAX_NOTE_HASHES_PER_TX),
            ("nullifiers", o.nullifiers.len(), MAX_NULLIFIERS_PER_TX),
            (
                "public data writes",
                o.public_data_writes.len(),
                MAX_PUBLIC_DATA_WRITES_PER_TX,
            ),
            (
                "L2→L1 messages",
                o.l2_to_l1_messages.len(),
                MAX_L2_TO_L1_MSGS_PER_TX,
            ),
        ];
        for (what, count, max) in limits {
            if count > max {
                return Err(TxFormatError::TooMany { what, count, max });
            }
        }
        if let Some(index) = o.note_hashes.iter().position(|n| n.is_zero()) {
            return Err(TxFormatError::ZeroValue {
                what: "note hash",
                index,
            });
        }
        if let Some(index) = o.nullifiers.iter().position(|n| n.is_zero()) {
            return Err(TxFormatError::ZeroValue {
                what: "nullifier",
                index,
            });
        }
        for (second, n) in o.nullifiers.iter().enumerate() {
            if let Some(first) = o.nullifiers[..second].iter().position(|m| m == n) {
                return Err(TxFormatError::DuplicateNullifier { first, second });
            }
        }
        let fee_juice = Fr::from(FEE_JUICE_ADDRESS);
        for (index, w) in o.public_data_writes.iter().enumerate() {
            if w.contract_address == fee_juice {
                return Err(TxFormatError::ProtocolStorageWrite { index });
            }
            if let Some(first) = o.public_data_writes[..index].iter().position(|v| {
                v.contract_address == w.contract_address && v.storage_slot == w.storage_slot
            }) {
                return Err(TxFormatError::DuplicateSlot {
                    first,
                    second: index,
                });
            }
        }
        Ok(())
    }
}

/// A tx could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum TxDecodeError {
    #[error("encoded tx is {size} bytes, at most {max} allowed")]
    TooLarge { size: usize, max: usize },
    #[error(transparent)]
    Codec(#[from] CodecError),
}

const SIM_CLIENT_PROOF_MAGIC: &[u8; 8] = b"PMCLIPF1";
/// Magic, tx hash, outputs digest, binding tag.
pub const SIM_CLIENT_PROOF_LEN: usize = 8 + 32 + 32 + 32;

/// The simulated client proof: binds the tx hash and the digest of the public outputs, like
/// the simulated rollup proofs of [`crate::circuit::SimulatedProof`]. It proves nothing
/// about private execution; it lets tests and devnets exercise every rejection path.
pub struct SimulatedClientProof;

/// Why a client proof was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientProofError {
    #[error("not a simulated client proof ({0} bytes, bad magic or length)")]
    Malformed(usize),
    #[error("proof is for tx {found}, not {expected}")]
    WrongTx { expected: String, found: String },
    #[error("proof does not commit to these public outputs")]
    WrongOutputs,
    #[error("proof binding tag does not match its contents (tampered)")]
    Tampered,
    #[error("{0} client proofs are not verifiable by this node")]
    Unsupported(&'static str),
    #[error("a simulated client proof where real proofs are required")]
    SimulatedWhereRealRequired,
    #[error("proof made with verification key {found}, not the private kernel tail's {expected}")]
    WrongKey { expected: String, found: String },
    #[error("proof is {got} bytes, a private kernel tail proof is {want}")]
    WrongLength { got: usize, want: usize },
    #[error("public outputs exceed the private kernel tail's limits")]
    OverLimits,
    #[error("private kernel tail proof does not verify: {0}")]
    Invalid(String),
    #[error("client proof could not be checked: {0}")]
    Unverifiable(String),
}

impl SimulatedClientProof {
    /// The simulated proof of `outputs` (whose first nullifier is the tx hash).
    pub fn create(outputs: &TxPublicOutputs) -> ClientProof {
        let tx = outputs
            .nullifiers
            .first()
            .copied()
            .unwrap_or(Fr::ZERO)
            .to_be_bytes();
        let digest = outputs.digest();
        let mut p = Vec::with_capacity(SIM_CLIENT_PROOF_LEN);
        p.extend_from_slice(SIM_CLIENT_PROOF_MAGIC);
        p.extend_from_slice(&tx);
        p.extend_from_slice(&digest);
        p.extend_from_slice(&Self::tag(&tx, &digest));
        ClientProof::Simulated(Bytes::from(p))
    }

    /// Checks that `proof` is the simulated proof of exactly these outputs.
    pub fn verify(proof: &[u8], outputs: &TxPublicOutputs) -> Result<(), ClientProofError> {
        if proof.len() != SIM_CLIENT_PROOF_LEN || &proof[..8] != SIM_CLIENT_PROOF_MAGIC {
            return Err(ClientProofError::Malformed(proof.len()));
        }
        let part = |i: usize| -> [u8; 32] {
            let mut a = [0u8; 32];
            a.copy_from_slice(&proof[8 + 32 * i..8 + 32 * (i + 1)]);
            a
        };
        let (tx, digest, tag) = (part(0), part(1), part(2));
        let expected = outputs
            .nullifiers
            .first()
            .copied()
            .unwrap_or(Fr::ZERO)
            .to_be_bytes();
        if tx != expected {
            return Err(ClientProofError::WrongTx {
                expected: hex::encode(expected),
                found: hex::encode(tx),
            });
        }
        if tag != Self::tag(&tx, &digest) {
            return Err(ClientProofError::Tampered);
        }
        if digest != outputs.digest() {
            return Err(ClientProofError::WrongOutputs);
        }
        Ok(())
    }

    fn tag(tx: &[u8; 32], digest: &[u8; 32]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"provemesh/sim-client-proof/v1\0");
        h.update(tx);
        h.update(digest);
        h.finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outputs() -> TxPublicOutputs {
        TxPublicOutputs {
            note_hashes: vec![Fr::from(11u64)],
            nullifiers: vec![Fr::from(1001u64), Fr::from(1002u64)],
            public_data_writes: vec![PublicDataWrite {
                contract_address: Fr::from(77u64),
                storage_slot: Fr::from(1u64),
                value: Fr::from(9u64),
            }],
            l2_to_l1_messages: vec![],
            fee_payer: Fr::from(42u64),
            fee: Fr::from(10u64),
        }
    }

    #[test]
    fn codec_round_trip_is_canonical() {
        let o = outputs();
        let tx = Tx {
            proof: SimulatedClientProof::create(&o),
            outputs: o,
        };
        let enc = tx.encode().unwrap();
        let back = Tx::decode(&enc).unwrap();
        assert_eq!(back, tx);
        assert_eq!(back.encode().unwrap(), enc);
        assert_eq!(tx.hash(), Some(TxHash(Fr::from(1001u64))));
        assert!(matches!(
            Tx::decode(&vec![0u8; MAX_TX_SIZE_BYTES + 1]),
            Err(TxDecodeError::TooLarge { .. })
        ));
    }

    #[test]
    fn simulated_proof_binds_outputs() {
        let o = outputs();
        let ClientProof::Simulated(p) = SimulatedClientProof::create(&o) else {
            unreachable!()
        };
        assert_eq!(SimulatedClientProof::verify(&p, &o), Ok(()));
        let mut changed = o.clone();
        changed.fee = Fr::from(1u64);
        assert_eq!(
            SimulatedClientProof::verify(&p, &changed),
            Err(ClientProofError::WrongOutputs)
        );
        let mut other_tx = o.clone();
        other_tx.nullifiers[0] = Fr::from(5u64);
        assert!(matches!(
            SimulatedClientProof::verify(&p, &other_tx),
            Err(ClientProofError::WrongTx { .. })
        ));
        let mut t = p.to_vec();
        t[8 + 32 + 3] ^= 1;
        assert_eq!(
            SimulatedClientProof::verify(&t, &o),
            Err(ClientProofError::Tampered)
        );
        assert_eq!(
            SimulatedClientProof::verify(&p[..10], &o),
            Err(ClientProofError::Malformed(10))
        );
    }

    #[test]
    fn format_rules() {
        let ok = |o: TxPublicOutputs| Tx {
            proof: SimulatedClientProof::create(&o),
            outputs: o,
        };
        assert_eq!(ok(outputs()).check_format(), Ok(()));
        let mut o = outputs();
        o.nullifiers.clear();
        assert_eq!(ok(o).check_format(), Err(TxFormatError::NoNullifier));
        let mut o = outputs();
        o.nullifiers.push(Fr::from(1001u64));
        assert_eq!(
            ok(o).check_format(),
            Err(TxFormatError::DuplicateNullifier {
                first: 0,
                second: 2
            })
        );
        let mut o = outputs();
        o.note_hashes = vec![Fr::from(1u64); MAX_NOTE_HASHES_PER_TX + 1];
        assert!(matches!(
            ok(o).check_format(),
            Err(TxFormatError::TooMany { .. })
        ));
        let mut o = outputs();
        o.public_data_writes[0].contract_address = Fr::from(FEE_JUICE_ADDRESS);
        assert_eq!(
            ok(o).check_format(),
            Err(TxFormatError::ProtocolStorageWrite { index: 0 })
        );
        let mut o = outputs();
        o.note_hashes.push(Fr::ZERO);
        assert!(matches!(
            ok(o).check_format(),
            Err(TxFormatError::ZeroValue { .. })
        ));
    }
}

#[cfg(test)]
mod kernel_tests {
    use super::*;

    /// The private kernel tail's accepted case (circuits/private_kernel_tail/cases/valid.json)
    /// carries this nullifier for secret 7, nonce 1: Noir computes the same derivation.
    #[test]
    fn tx_nullifier_matches_the_kernel_circuit() {
        assert_eq!(
            tx_nullifier(Fr::from(7u64), Fr::from(1u64)).to_hex(),
            "0x0b0130b3dfbc7bfaa31e0d1482f22383fcd5c301f4b3e257e8be2d6bd06e4c3e"
        );
    }

    #[test]
    fn kernel_public_inputs_pad_every_list_and_count_it() {
        let o = TxPublicOutputs {
            note_hashes: vec![Fr::from(1u64)],
            nullifiers: vec![Fr::from(2u64), Fr::from(3u64)],
            public_data_writes: vec![PublicDataWrite {
                contract_address: Fr::from(4u64),
                storage_slot: Fr::from(5u64),
                value: Fr::from(6u64),
            }],
            l2_to_l1_messages: vec![L2ToL1Message {
                recipient: Fr::from(7u64),
                content: Fr::from(8u64),
            }],
            fee_payer: Fr::from(9u64),
            fee: Fr::from(10u64),
        };
        let f = o.kernel_public_inputs().unwrap();
        assert_eq!(f.len(), KERNEL_PUBLIC_INPUTS);
        assert_eq!(KERNEL_PUBLIC_INPUTS, 54);
        let u = |x: u64| Fr::from(x);
        assert_eq!((f[0], f[1], f[8]), (u(1), Fr::ZERO, u(1)));
        assert_eq!((f[9], f[10], f[11], f[17]), (u(2), u(3), Fr::ZERO, u(2)));
        assert_eq!(
            (f[18], f[19], f[20], f[21], f[42]),
            (u(4), u(5), u(6), Fr::ZERO, u(1))
        );
        assert_eq!((f[43], f[44], f[45], f[51]), (u(7), u(8), Fr::ZERO, u(1)));
        assert_eq!((f[52], f[53]), (u(9), u(10)));
        let mut over = o.clone();
        over.note_hashes = vec![u(1); MAX_NOTE_HASHES_PER_TX + 1];
        assert_eq!(over.kernel_public_inputs(), None);
    }
}
