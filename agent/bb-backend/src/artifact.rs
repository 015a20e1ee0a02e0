//! A compiled Noir circuit: the artifact noir_wasm writes (`scripts/circuits` checks them in
//! under `circuits/artifacts/`), decoded once: its ABI and its ACIR program.

use crate::abi::Abi;
use acir::circuit::Program;
use acir::FieldElement;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;

/// The artifact file as written by the compiler (debug symbols and file map stripped).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArtifactFile {
    pub noir_version: String,
    /// The compiler's hash of the program.
    #[serde(default)]
    pub hash: serde_json::Value,
    pub abi: Abi,
    /// base64 of the gzipped, serialized ACIR program (what `bb -b` reads from the file).
    pub bytecode: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("circuit {name}: reading {path}: {source}")]
    Read {
        name: String,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("circuit {name}: not a Noir artifact: {reason}")]
    Malformed { name: String, reason: String },
}

/// A loaded circuit.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub name: String,
    pub file: ArtifactFile,
    /// The gzipped ACIR bytecode (what bb's msgpack API and `bb -b` take).
    pub bytecode: Vec<u8>,
    pub program: Program<FieldElement>,
    /// sha256 of `bytecode`: the circuit's identity for caches (vk, gates).
    pub bytecode_sha256: [u8; 32],
}

impl Artifact {
    /// Parses an artifact's JSON text.
    pub fn from_json(name: &str, json: &[u8]) -> Result<Self, ArtifactError> {
        let malformed = |reason: String| ArtifactError::Malformed {
            name: name.to_string(),
            reason,
        };
        let file: ArtifactFile =
            serde_json::from_slice(json).map_err(|e| malformed(e.to_string()))?;
        let bytecode = base64::engine::general_purpose::STANDARD
            .decode(&file.bytecode)
            .map_err(|e| malformed(format!("bytecode is not base64: {e}")))?;
        let program = Program::deserialize_program(&bytecode)
            .map_err(|e| malformed(format!("bytecode is not an ACIR program: {e}")))?;
        if program.functions.is_empty() {
            return Err(malformed("the program has no functions".into()));
        }
        let bytecode_sha256 = Sha256::digest(&bytecode).into();
        Ok(Artifact {
            name: name.to_string(),
            file,
            bytecode,
            program,
            bytecode_sha256,
        })
    }

    /// Reads an artifact file.
    pub fn load(name: &str, path: &Path) -> Result<Self, ArtifactError> {
        let json = std::fs::read(path).map_err(|source| ArtifactError::Read {
            name: name.to_string(),
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json(name, &json)
    }

    /// Number of public inputs the proof carries: public parameters plus return values.
    pub fn public_input_count(&self) -> usize {
        let main = &self.program.functions[0];
        main.public_parameters.0.len() + main.return_values.0.len()
    }
}
