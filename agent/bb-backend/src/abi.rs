//! A compiled Noir program's ABI, and the mapping between named inputs and witnesses.
//!
//! No Rust crate publishes Noir's ABI encoder (`noirc_abi`), so this is ours, following the
//! rules noir_js applies: parameters are flattened in declaration order (arrays element by
//! element, structs field by field, tuples in order, strings byte by byte) into witnesses
//! `0, 1, 2, …`; the return value occupies the witnesses right after them. Inputs are JSON
//! values as noir_js takes them: a field is a `0x` hex or decimal string (or a JSON
//! integer), integers and booleans likewise, arrays and tuples JSON arrays, structs JSON
//! objects. Every value is checked (canonical field, integer width, array length, every
//! struct field present, nothing extra), and an error names the input's path.

use acir::{AcirField, FieldElement};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// A parameter's or return value's type, as the artifact's `abi` spells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum AbiType {
    Field,
    Boolean,
    Integer {
        sign: Sign,
        width: u32,
    },
    Array {
        length: u32,
        #[serde(rename = "type")]
        typ: Box<AbiType>,
    },
    String {
        length: u32,
    },
    Struct {
        path: String,
        fields: Vec<StructField>,
    },
    Tuple {
        fields: Vec<AbiType>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sign {
    Unsigned,
    Signed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StructField {
    pub name: String,
    #[serde(rename = "type")]
    pub typ: AbiType,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AbiParameter {
    pub name: String,
    #[serde(rename = "type")]
    pub typ: AbiType,
    pub visibility: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AbiReturn {
    pub abi_type: AbiType,
    pub visibility: String,
}

/// The program's interface.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Abi {
    pub parameters: Vec<AbiParameter>,
    pub return_type: Option<AbiReturn>,
    /// Error selector (decimal u64) → the type of its payload; for `assert(…, "text")` the
    /// kind is `string` and the text is here.
    #[serde(default)]
    pub error_types: BTreeMap<String, Value>,
}

/// An input that does not fit the ABI; `path` names it (`children[1].vk[3]`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("input `{path}`: {reason}")]
pub struct AbiError {
    pub path: String,
    pub reason: String,
}

fn err(path: &str, reason: impl Into<String>) -> AbiError {
    AbiError {
        path: path.to_string(),
        reason: reason.into(),
    }
}

impl AbiType {
    /// Number of field elements (witnesses) a value of this type takes.
    pub fn field_count(&self) -> usize {
        match self {
            AbiType::Field | AbiType::Boolean | AbiType::Integer { .. } => 1,
            AbiType::Array { length, typ } => *length as usize * typ.field_count(),
            AbiType::String { length } => *length as usize,
            AbiType::Struct { fields, .. } => fields.iter().map(|f| f.typ.field_count()).sum(),
            AbiType::Tuple { fields } => fields.iter().map(AbiType::field_count).sum(),
        }
    }
}

/// Parses a field from a JSON value: `0x` hex, decimal string, or non-negative integer.
/// Values at or above the modulus are refused rather than reduced.
pub fn parse_field(v: &Value) -> Result<FieldElement, String> {
    let s = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) if n.is_u64() => n.to_string(),
        other => {
            return Err(format!(
                "expected a field (hex or decimal string), got {other}"
            ))
        }
    };
    let f = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        if h.is_empty() || !h.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!("'{s}' is not hex"));
        }
        let digits = h.trim_start_matches('0');
        if digits.len() > 64 {
            return Err(format!("'{s}' is not below the field modulus"));
        }
        let bytes = hex::decode(format!("{digits:0>64}")).map_err(|e| e.to_string())?;
        let f = FieldElement::from_be_bytes_reduce(&bytes);
        if f.to_be_bytes() != bytes {
            return Err(format!("'{s}' is not below the field modulus"));
        }
        f
    } else {
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            return Err(format!("'{s}' is neither 0x-hex nor decimal"));
        }
        let f = FieldElement::try_from_str(&s).ok_or_else(|| format!("'{s}' is not a number"))?;
        if f.to_string() != s.trim_start_matches('0') && s.bytes().any(|c| c != b'0') {
            return Err(format!("'{s}' is not below the field modulus"));
        }
        f
    };
    Ok(f)
}

fn encode_value(
    typ: &AbiType,
    v: &Value,
    path: &str,
    out: &mut Vec<FieldElement>,
) -> Result<(), AbiError> {
    match typ {
        AbiType::Field => out.push(parse_field(v).map_err(|r| err(path, r))?),
        AbiType::Boolean => out.push(match v {
            Value::Bool(b) => FieldElement::from(u128::from(*b)),
            other => match parse_field(other) {
                Ok(f) if f.is_zero() || f.is_one() => f,
                _ => return Err(err(path, format!("expected a boolean, got {other}"))),
            },
        }),
        AbiType::Integer { sign, width } => {
            let f = match (sign, v) {
                (Sign::Signed, Value::Number(n)) if n.is_i64() && !n.is_u64() => {
                    let x = n.as_i64().unwrap_or_default();
                    if *width > 64 || x < -(1i128 << (width - 1)) as i64 {
                        return Err(err(path, format!("{x} does not fit i{width}")));
                    }
                    // Two's complement in `width` bits, as Noir stores signed integers.
                    FieldElement::from((1u128 << width) - u128::from(x.unsigned_abs()))
                }
                _ => parse_field(v).map_err(|r| err(path, r))?,
            };
            if f.num_bits() > *width {
                return Err(err(path, format!("does not fit a {width}-bit integer")));
            }
            out.push(f);
        }
        AbiType::Array { length, typ } => {
            let items = v
                .as_array()
                .ok_or_else(|| err(path, format!("expected an array of {length}")))?;
            if items.len() != *length as usize {
                return Err(err(
                    path,
                    format!("expected {length} elements, got {}", items.len()),
                ));
            }
            for (i, item) in items.iter().enumerate() {
                encode_value(typ, item, &format!("{path}[{i}]"), out)?;
            }
        }
        AbiType::String { length } => {
            let s = v.as_str().ok_or_else(|| err(path, "expected a string"))?;
            if s.len() != *length as usize {
                return Err(err(
                    path,
                    format!("expected {length} bytes, got {}", s.len()),
                ));
            }
            out.extend(s.bytes().map(|b| FieldElement::from(u128::from(b))));
        }
        AbiType::Struct { fields, .. } => {
            let obj = v
                .as_object()
                .ok_or_else(|| err(path, "expected an object (struct)"))?;
            for f in fields {
                let fv = obj
                    .get(&f.name)
                    .ok_or_else(|| err(path, format!("missing field `{}`", f.name)))?;
                encode_value(&f.typ, fv, &format!("{path}.{}", f.name), out)?;
            }
            if let Some(extra) = obj.keys().find(|k| !fields.iter().any(|f| &f.name == *k)) {
                return Err(err(path, format!("unknown field `{extra}`")));
            }
        }
        AbiType::Tuple { fields } => {
            let items = v
                .as_array()
                .ok_or_else(|| err(path, format!("expected a tuple of {}", fields.len())))?;
            if items.len() != fields.len() {
                return Err(err(
                    path,
                    format!("expected {} elements, got {}", fields.len(), items.len()),
                ));
            }
            for (i, (t, item)) in fields.iter().zip(items).enumerate() {
                encode_value(t, item, &format!("{path}.{i}"), out)?;
            }
        }
    }
    Ok(())
}

/// A field as `0x` and 64 hex digits.
pub fn field_hex(f: &FieldElement) -> String {
    format!("0x{}", hex::encode(f.to_be_bytes()))
}

fn decode_value(typ: &AbiType, fields: &mut impl Iterator<Item = FieldElement>) -> Option<Value> {
    Some(match typ {
        AbiType::Field | AbiType::Integer { .. } => Value::String(field_hex(&fields.next()?)),
        AbiType::Boolean => Value::Bool(!fields.next()?.is_zero()),
        AbiType::Array { length, typ } => Value::Array(
            (0..*length)
                .map(|_| decode_value(typ, fields))
                .collect::<Option<_>>()?,
        ),
        AbiType::String { length } => {
            let bytes: Vec<u8> = (0..*length)
                .map(|_| fields.next().map(|f| f.to_u128() as u8))
                .collect::<Option<_>>()?;
            Value::String(String::from_utf8_lossy(&bytes).into_owned())
        }
        AbiType::Struct { fields: fs, .. } => Value::Object(
            fs.iter()
                .map(|f| Some((f.name.clone(), decode_value(&f.typ, fields)?)))
                .collect::<Option<_>>()?,
        ),
        AbiType::Tuple { fields: fs } => Value::Array(
            fs.iter()
                .map(|t| decode_value(t, fields))
                .collect::<Option<_>>()?,
        ),
    })
}

/// Decodes a value of type `typ` from exactly its flattened fields.
pub fn decode_value_of(typ: &AbiType, fields: &[FieldElement]) -> Option<Value> {
    if fields.len() != typ.field_count() {
        return None;
    }
    decode_value(typ, &mut fields.iter().copied())
}

impl Abi {
    /// Witnesses the parameters take (the return value starts right after).
    pub fn parameter_witness_count(&self) -> usize {
        self.parameters.iter().map(|p| p.typ.field_count()).sum()
    }

    /// Flattens `inputs` (a JSON object with one entry per parameter) into the parameter
    /// witnesses `0..parameter_witness_count()`, in order.
    pub fn encode(&self, inputs: &Value) -> Result<Vec<FieldElement>, AbiError> {
        let obj = inputs.as_object().ok_or_else(|| {
            err(
                "",
                "inputs must be a JSON object of the circuit's parameters",
            )
        })?;
        let mut out = Vec::with_capacity(self.parameter_witness_count());
        for p in &self.parameters {
            let v = obj.get(&p.name).ok_or_else(|| err(&p.name, "missing"))?;
            encode_value(&p.typ, v, &p.name, &mut out)?;
        }
        if let Some(extra) = obj
            .keys()
            .find(|k| !self.parameters.iter().any(|p| &p.name == *k))
        {
            return Err(err(extra, "not a parameter of this circuit"));
        }
        Ok(out)
    }

    /// The return value from its flattened fields (`None` when there are too few).
    pub fn decode_return(&self, fields: &[FieldElement]) -> Option<Value> {
        let r = self.return_type.as_ref()?;
        decode_value(&r.abi_type, &mut fields.iter().copied())
    }

    /// The text of an assertion's error selector, when it is a plain string message.
    pub fn error_message(&self, selector: u64) -> Option<String> {
        let t = self.error_types.get(&selector.to_string())?;
        match t.get("error_kind").and_then(Value::as_str) {
            Some("string") => t.get("string").and_then(Value::as_str).map(str::to_string),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn abi() -> Abi {
        serde_json::from_value(json!({
            "parameters": [
                {"name": "a", "type": {"kind": "field"}, "visibility": "private"},
                {"name": "xs", "type": {"kind": "array", "length": 2, "type": {"kind": "integer", "sign": "unsigned", "width": 8}}, "visibility": "public"},
                {"name": "s", "type": {"kind": "struct", "path": "m::S", "fields": [
                    {"name": "b", "type": {"kind": "boolean"}},
                    {"name": "t", "type": {"kind": "tuple", "fields": [{"kind": "field"}, {"kind": "string", "length": 2}]}}
                ]}, "visibility": "private"}
            ],
            "return_type": {"abi_type": {"kind": "array", "length": 2, "type": {"kind": "field"}}, "visibility": "public"},
            "error_types": {"42": {"error_kind": "string", "string": "too big"}}
        }))
        .unwrap()
    }

    #[test]
    fn flattens_in_declaration_order() {
        let a = abi();
        let v = json!({"a": "0x10", "xs": [1, "255"], "s": {"b": true, "t": ["7", "hi"]}});
        let f = a.encode(&v).unwrap();
        let want: Vec<FieldElement> = [16u128, 1, 255, 1, 7, b'h' as u128, b'i' as u128]
            .into_iter()
            .map(FieldElement::from)
            .collect();
        assert_eq!(f, want);
        assert_eq!(a.parameter_witness_count(), 7);
        assert_eq!(a.error_message(42).as_deref(), Some("too big"));
        let r = a
            .decode_return(&[FieldElement::from(1u128), FieldElement::from(2u128)])
            .unwrap();
        assert_eq!(r[1], json!(field_hex(&FieldElement::from(2u128))));
    }

    #[test]
    fn bad_inputs_name_their_path() {
        let a = abi();
        let ok = json!({"a": "1", "xs": [1, 2], "s": {"b": false, "t": ["7", "hi"]}});
        let cases = [
            (json!({"xs": [1, 2], "s": ok["s"]}), "a"),
            (json!({"a": "1", "xs": [1, 256], "s": ok["s"]}), "xs[1]"),
            (json!({"a": "1", "xs": [1], "s": ok["s"]}), "xs"),
            (
                json!({"a": "0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001", "xs": [1, 2], "s": ok["s"]}),
                "a",
            ),
            (
                json!({"a": "1", "xs": [1, 2], "s": {"b": 2, "t": ["7", "hi"]}}),
                "s.b",
            ),
            (
                json!({"a": "1", "xs": [1, 2], "s": {"b": true, "t": ["7", "h"]}}),
                "s.t.1",
            ),
            (json!({"a": "1", "xs": [1, 2], "s": {"b": true}}), "s"),
            (json!({"a": "1", "xs": [1, 2], "s": ok["s"], "z": 1}), "z"),
            (json!({"a": "zz", "xs": [1, 2], "s": ok["s"]}), "a"),
        ];
        for (v, path) in cases {
            assert_eq!(a.encode(&v).unwrap_err().path, path, "{v}");
        }
        assert!(a.encode(&ok).is_ok());
    }

    #[test]
    fn field_parsing_is_canonical() {
        let p_minus_1 = "0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000000";
        assert_eq!(
            parse_field(&json!(p_minus_1)).unwrap(),
            -FieldElement::one()
        );
        assert_eq!(
            parse_field(&json!(
                "0x0000000000000000000000000000000000000000000000000000000000000000000005"
            ))
            .unwrap(),
            FieldElement::from(5u128)
        );
        assert!(parse_field(&json!(
            "21888242871839275222246405745257275088548364400416034343698204186575808495617"
        ))
        .is_err());
        assert_eq!(parse_field(&json!("000")).unwrap(), FieldElement::zero());
        assert!(parse_field(&json!(-1)).is_err());
    }
}
