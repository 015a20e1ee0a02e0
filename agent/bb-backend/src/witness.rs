//! Witness generation in Rust: Noir's own ACVM (`acvm` + `bn254_blackbox_solver` 1.0.0)
//! executes a compiled circuit on named inputs. Its witnesses are byte-identical to
//! noir_js's for beta.26 artifacts (tested against noir_js in `tests/`), so no node process
//! runs on the proving path.
//!
//! A failing `assert(…, "message")` comes back as [`WitnessError::Assertion`] with the
//! circuit's own message: the same inputs always fail the same way, so the job fails for
//! good. Recursive proof verification is a no-op here (the ACVM does not check proofs);
//! the backend verifies children with bb before proving a parent.

use crate::abi::{AbiError, AbiType};
use crate::artifact::Artifact;
use acir::brillig::ForeignCallResult;
use acir::native_types::{Witness, WitnessMap, WitnessStack};
use acir::{AcirField, FieldElement, SerializationFormat};
use acvm::pwg::{ACVMStatus, OpcodeResolutionError, ResolvedAssertionPayload, ACVM};
use bn254_blackbox_solver::Bn254BlackBoxSolver;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WitnessError {
    /// The inputs do not fit the circuit's ABI.
    #[error("circuit {circuit}: {source}")]
    Inputs {
        circuit: String,
        #[source]
        source: AbiError,
    },
    /// A constraint fails: the circuit rejects these inputs.
    #[error("circuit {circuit}: assertion failed: {message}")]
    Assertion { circuit: String, message: String },
    /// Something the executor does not support (a foreign call other than print, a
    /// non-inlined ACIR call) or an internal error.
    #[error("circuit {circuit}: witness generation failed: {reason}")]
    Execution { circuit: String, reason: String },
}

/// What executing a circuit gives.
#[derive(Debug, Clone)]
pub struct Execution {
    /// The gzipped witness stack, as `bb -w` and bb's msgpack API take it.
    pub witness_gz: Vec<u8>,
    /// The return value decoded by the ABI (`Null` for a circuit without one).
    pub return_value: Value,
    /// The proof's public inputs in bb's order: public parameters and return values by
    /// ascending witness index.
    pub public_inputs: Vec<FieldElement>,
}

fn payload_message(artifact: &Artifact, p: &ResolvedAssertionPayload<FieldElement>) -> String {
    match p {
        ResolvedAssertionPayload::String(s) => s.clone(),
        ResolvedAssertionPayload::Raw(raw) => {
            let sel = raw.selector.as_u64();
            artifact.file.abi.error_message(sel).unwrap_or_else(|| {
                let data: Vec<String> = raw.data.iter().map(|f| f.to_hex()).collect();
                format!("error selector {sel} with data [{}]", data.join(", "))
            })
        }
    }
}

fn failure(artifact: &Artifact, e: OpcodeResolutionError<FieldElement>) -> WitnessError {
    let circuit = artifact.name.clone();
    match e {
        OpcodeResolutionError::UnsatisfiedConstrain { payload, .. }
        | OpcodeResolutionError::BrilligFunctionFailed { payload, .. }
        | OpcodeResolutionError::IndexOutOfBounds { payload, .. } => WitnessError::Assertion {
            circuit,
            message: payload
                .map(|p| payload_message(artifact, &p))
                .unwrap_or_else(|| "a constraint without a message fails".to_string()),
        },
        // Range checks on integer casts fail like assertions: these inputs never satisfy
        // the circuit.
        e @ OpcodeResolutionError::InvalidInputBitSize { .. } => WitnessError::Assertion {
            circuit,
            message: e.to_string(),
        },
        e => WitnessError::Execution {
            circuit,
            reason: e.to_string(),
        },
    }
}

/// Executes `artifact` on `inputs` (a JSON object of its parameters).
pub fn execute(artifact: &Artifact, inputs: &Value) -> Result<Execution, WitnessError> {
    let circuit = artifact.name.clone();
    let abi = &artifact.file.abi;
    let params = abi.encode(inputs).map_err(|source| WitnessError::Inputs {
        circuit: circuit.clone(),
        source,
    })?;
    let exec_err = |reason: String| WitnessError::Execution {
        circuit: circuit.clone(),
        reason,
    };
    let main = &artifact.program.functions[0];
    let mut initial = WitnessMap::new();
    for (i, f) in params.iter().enumerate() {
        initial.insert(Witness(i as u32), *f);
    }
    let solver = Bn254BlackBoxSolver;
    let mut acvm = ACVM::new(
        &solver,
        &main.opcodes,
        initial,
        &artifact.program.unconstrained_functions,
        &main.assert_messages,
    );
    loop {
        match acvm.solve() {
            ACVMStatus::Solved => break,
            ACVMStatus::InProgress => continue,
            ACVMStatus::Failure(e) => return Err(failure(artifact, e)),
            ACVMStatus::RequiresForeignCall(call) => {
                // `print`/`println` in a circuit: nothing to return, nothing to show.
                if call.function == "print" {
                    acvm.resolve_pending_foreign_call(ForeignCallResult::default());
                } else {
                    return Err(exec_err(format!(
                        "unsupported foreign call `{}` (oracles are not available to provers)",
                        call.function
                    )));
                }
            }
            ACVMStatus::RequiresAcirCall(_) => {
                return Err(exec_err(
                    "the circuit calls a non-inlined ACIR function (#[fold]); not supported".into(),
                ))
            }
        }
    }
    let witness = acvm.finalize();

    // The return value: the witnesses right after the parameters (Noir's layout), which
    // must be exactly the circuit's declared return witnesses.
    let n_params = params.len() as u32;
    let ret_len = abi
        .return_type
        .as_ref()
        .map(|r| r.abi_type.field_count())
        .unwrap_or(0) as u32;
    let return_fields: Vec<FieldElement> = (n_params..n_params + ret_len)
        .map(|i| witness.get(&Witness(i)).copied())
        .collect::<Option<_>>()
        .ok_or_else(|| exec_err("a return value witness was not solved".into()))?;
    let return_value = if ret_len == 0 {
        Value::Null
    } else {
        abi.decode_return(&return_fields)
            .ok_or_else(|| exec_err("return value does not decode".into()))?
    };
    let mut public: Vec<Witness> = main
        .public_parameters
        .0
        .iter()
        .chain(main.return_values.0.iter())
        .copied()
        .collect();
    public.sort();
    public.dedup();
    let public_inputs = public
        .iter()
        .map(|w| witness.get(w).copied())
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| exec_err("a public input witness was not solved".into()))?;
    let witness_gz = WitnessStack::from(witness)
        .serialize_with_format(SerializationFormat::default())
        .map_err(|e| exec_err(format!("serializing the witness: {e}")))?;
    Ok(Execution {
        witness_gz,
        return_value,
        public_inputs,
    })
}

/// The JSON inputs for a parameter of a given type filled with zeros (placeholders, e.g.
/// for computing a verification key without real inputs).
pub fn zero_value(typ: &AbiType) -> Value {
    match typ {
        AbiType::Field | AbiType::Integer { .. } => Value::String("0".into()),
        AbiType::Boolean => Value::Bool(false),
        AbiType::Array { length, typ } => {
            Value::Array((0..*length).map(|_| zero_value(typ)).collect())
        }
        AbiType::String { length } => Value::String("\0".repeat(*length as usize)),
        AbiType::Struct { fields, .. } => Value::Object(
            fields
                .iter()
                .map(|f| (f.name.clone(), zero_value(&f.typ)))
                .collect(),
        ),
        AbiType::Tuple { fields } => Value::Array(fields.iter().map(zero_value).collect()),
    }
}
