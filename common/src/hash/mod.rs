//! What the rollup hashes and how, specified once for the node and the Noir circuits:
//! the BN254 field ([`Fr`]), Poseidon2 exactly as Noir computes it, Merkle node and
//! empty-subtree hashes, indexed-tree leaf preimages, public storage slots, and the block
//! header (the archive tree's leaf). Values are cross-checked against a Noir program
//! (`circuits/vectors`).

pub mod field;
pub mod header;
pub mod leaves;
pub mod merkle;
pub mod poseidon2;

pub use field::{FieldError, Fr};
pub use header::{
    BlockHeader, ContentCommitment, GlobalVariables, PartialStateReference, StateReference,
};
pub use leaves::{IndexedLeafPreimage, NullifierLeafPreimage, PublicDataLeafPreimage};
pub use merkle::{
    empty_subtree_root, merkle_hash, merkle_root, root_from_sibling_path, AppendOnlyTreeSnapshot,
    MembershipWitness, MAX_TREE_HEIGHT,
};
pub use poseidon2::{
    permutation_count, poseidon2_hash, poseidon2_hash_with_separator, poseidon2_permutation,
};
