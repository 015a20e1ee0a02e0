//! What a real-proof job carries (`ProvingRequest::inputs` with PROVER_REAL_PROOFS=true) and
//! how it becomes a circuit's full inputs.
//!
//! The node names the circuit, gives the parameters that are its own business (messages,
//! tree witnesses, …) as noir_js-style JSON, and hands over the child proofs as stored
//! (one [`RealProof`] per slot of the circuit). The prover fills in the rest from its own
//! circuit set, so that what the circuit checks is consistent by construction: each slot's
//! public inputs decoded from the child proof, its `ChildProof` (proof and verification key
//! as fields, the key's hash and vk tree path), and `vk_tree_root` when the node left it out.

use crate::abi::{AbiType, StructField};
use crate::circuits::{CircuitSet, CompiledCircuit};
use crate::proof::{fields_hex, RealProof};
use acir::{AcirField, FieldElement};
use provemesh_common::codec::{self, CodecError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::Arc;

/// The inputs of one real-proof job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealJobInputs {
    /// The circuit, by its name in `circuits/artifacts` (`parity_base`).
    pub circuit: String,
    /// Its parameters other than the child slots, as a JSON object (noir_js conventions).
    pub inputs_json: String,
    /// One stored child proof per slot of the circuit, in slot order.
    pub children: Vec<RealProof>,
    /// Who the job is (epoch, place in the proof tree, attempt): not read by the prover,
    /// but part of the content-addressed job id, so equal circuits at different places
    /// (two blocks without L1→L2 messages) or a re-proof never share an id.
    #[serde(default)]
    pub tag: String,
}

impl RealJobInputs {
    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        codec::encode("real proof job inputs", self)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        codec::decode("real proof job inputs", bytes)
    }
}

/// Why a job's inputs cannot be made into the circuit's inputs: the same job always fails
/// the same way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrepareError {
    #[error("unknown circuit {0}")]
    UnknownCircuit(String),
    #[error("circuit {circuit}: inputs are not a JSON object: {reason}")]
    Json { circuit: String, reason: String },
    #[error("circuit {circuit}: {got} child proofs for {want} slots")]
    SlotCount {
        circuit: String,
        got: usize,
        want: usize,
    },
    #[error("circuit {circuit}: child {slot} is a proof of {child}, which this slot does not take ({allowed})")]
    WrongChild {
        circuit: String,
        slot: usize,
        child: String,
        allowed: String,
    },
    #[error("circuit {circuit}: child {slot} ({child}): {reason}")]
    BadChild {
        circuit: String,
        slot: usize,
        child: String,
        reason: String,
    },
    #[error("circuit {circuit}: {reason}")]
    Internal { circuit: String, reason: String },
}

/// A job made ready: the circuit, its complete inputs, and the children to verify.
#[derive(Debug, Clone)]
pub struct PreparedJob {
    pub circuit: Arc<CompiledCircuit>,
    pub inputs: Value,
    pub children: Vec<(Arc<CompiledCircuit>, RealProof)>,
}

/// One step of a parameter path: a field name or an array index.
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

fn parse_path(path: &str) -> Option<Vec<Step<'_>>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (name, rest) = part.split_at(part.find('[').unwrap_or(part.len()));
        if !name.is_empty() {
            out.push(Step::Key(name));
        }
        let mut rest = rest;
        while let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            out.push(Step::Index(r[..end].parse().ok()?));
            rest = &r[end + 1..];
        }
        if !rest.is_empty() {
            return None;
        }
    }
    Some(out)
}

/// The ABI type at a parameter path.
fn type_at<'a>(c: &'a CompiledCircuit, path: &str) -> Option<&'a AbiType> {
    let steps = parse_path(path)?;
    let (first, rest) = steps.split_first()?;
    let Step::Key(name) = first else { return None };
    let mut t = &c
        .artifact
        .file
        .abi
        .parameters
        .iter()
        .find(|p| p.name == *name)?
        .typ;
    for s in rest {
        t = match (s, t) {
            (Step::Index(i), AbiType::Array { length, typ }) if (*i as u32) < *length => typ,
            (Step::Key(k), AbiType::Struct { fields, .. }) => {
                &fields.iter().find(|f: &&StructField| f.name == *k)?.typ
            }
            _ => return None,
        };
    }
    Some(t)
}

/// Sets the value at a parameter path, creating objects and arrays on the way (arrays are
/// sized from the ABI type of the path).
fn set_at(c: &CompiledCircuit, root: &mut Value, path: &str, v: Value) -> Option<()> {
    let steps = parse_path(path)?;
    let mut cur = root;
    let mut prefix = String::new();
    for s in &steps {
        match s {
            Step::Key(k) => {
                if !prefix.is_empty() {
                    prefix.push('.');
                }
                prefix.push_str(k);
                let obj = cur.as_object_mut()?;
                cur = obj.entry(k.to_string()).or_insert(Value::Null);
            }
            Step::Index(i) => {
                let len = match type_at(c, &prefix)? {
                    AbiType::Array { length, .. } => *length as usize,
                    _ => return None,
                };
                prefix.push_str(&format!("[{i}]"));
                if !cur.is_array() {
                    *cur = Value::Array(vec![Value::Null; len]);
                }
                cur = cur.as_array_mut()?.get_mut(*i)?;
            }
        }
        if cur.is_null() {
            *cur = json!({});
        }
    }
    *cur = v;
    Some(())
}

/// Makes `job` into the circuit's complete inputs (see the module documentation).
pub fn prepare(set: &CircuitSet, job: &RealJobInputs) -> Result<PreparedJob, PrepareError> {
    let circuit = set
        .get(&job.circuit)
        .ok_or_else(|| PrepareError::UnknownCircuit(job.circuit.clone()))?
        .clone();
    let name = circuit.name.clone();
    let mut inputs: Value =
        serde_json::from_str(&job.inputs_json).map_err(|e| PrepareError::Json {
            circuit: name.clone(),
            reason: e.to_string(),
        })?;
    if !inputs.is_object() {
        return Err(PrepareError::Json {
            circuit: name,
            reason: "not an object".into(),
        });
    }
    if job.children.len() != circuit.slots.len() {
        return Err(PrepareError::SlotCount {
            circuit: name,
            got: job.children.len(),
            want: circuit.slots.len(),
        });
    }
    let internal = |reason: String| PrepareError::Internal {
        circuit: circuit.name.clone(),
        reason,
    };
    let mut children = Vec::with_capacity(job.children.len());
    for (i, (slot, child)) in circuit.slots.iter().zip(&job.children).enumerate() {
        if !slot.circuits.contains(&child.circuit) {
            return Err(PrepareError::WrongChild {
                circuit: circuit.name.clone(),
                slot: i,
                child: child.circuit.clone(),
                allowed: slot.circuits.join(", "),
            });
        }
        let bad = |reason: String| PrepareError::BadChild {
            circuit: circuit.name.clone(),
            slot: i,
            child: child.circuit.clone(),
            reason,
        };
        let cc = set
            .get(&child.circuit)
            .ok_or_else(|| bad("not in the circuit set".into()))?
            .clone();
        if child.vk_hash != cc.vk_hash.to_be_bytes() {
            return Err(bad(
                "its vk hash is not the circuit's (made with other circuits or another CRS?)"
                    .into(),
            ));
        }
        let vk_index = cc
            .vk_index
            .ok_or_else(|| bad("the circuit is not in the vk tree".into()))?;
        let (_, path) = set.vk_path(vk_index).map_err(|e| bad(e.to_string()))?;
        let t = type_at(&circuit, &slot.inputs)
            .ok_or_else(|| internal(format!("slot path {} is not a parameter", slot.inputs)))?;
        if t.field_count() != child.public_inputs.len() {
            return Err(bad(format!(
                "{} public inputs, the slot's type takes {}",
                child.public_inputs.len(),
                t.field_count()
            )));
        }
        let fields: Vec<FieldElement> = child
            .public_inputs
            .iter()
            .map(|b| FieldElement::from_be_bytes_reduce(b))
            .collect();
        let pi = crate::abi::decode_value_of(t, &fields)
            .ok_or_else(|| bad("public inputs do not decode".into()))?;
        let proof = json!({
            "proof": child.proof_fields(),
            "vk": fields_hex(&cc.vk),
            "vk_hash": cc.vk_hash.to_hex(),
            "vk_index": vk_index,
            "vk_path": path.iter().map(|p| p.to_hex()).collect::<Vec<_>>(),
        });
        set_at(&circuit, &mut inputs, &slot.inputs, pi)
            .ok_or_else(|| internal(format!("cannot set {}", slot.inputs)))?;
        set_at(&circuit, &mut inputs, &slot.proof, proof)
            .ok_or_else(|| internal(format!("cannot set {}", slot.proof)))?;
        children.push((cc, child.clone()));
    }
    let wants_root = circuit
        .artifact
        .file
        .abi
        .parameters
        .iter()
        .any(|p| p.name == "vk_tree_root");
    if let Some(obj) = inputs.as_object_mut() {
        if wants_root && !obj.contains_key("vk_tree_root") {
            obj.insert(
                "vk_tree_root".into(),
                Value::String(set.vk_tree_root.to_hex()),
            );
        }
    }
    Ok(PreparedJob {
        circuit,
        inputs,
        children,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse() {
        let s = parse_path("children[1].proof[0]").unwrap_or_default();
        assert_eq!(s.len(), 4);
        assert!(parse_path("a[x]").is_none());
        assert!(parse_path("a[1]b").is_none());
    }
}
