//! # lnopt-schema: what the ONNX standard says each op accepts
//!
//! The type constraints of every ai.onnx op schema version (generated from the onnx package
//! by `tools/gen_types.py` into `generated.rs`), and [`check_inputs`], which tells whether a
//! node's input element types satisfy them: each input's type is one its type variable
//! allows, and inputs that share a variable have the same type (`Add(f16, f32)` is refused,
//! as `onnx.checker` and ONNX Runtime refuse it).
//!
//! Unknown input types are skipped: the check only refuses what it can see is wrong.

#![warn(missing_docs)]

mod generated;

use lnopt_ir::DType;

/// How a formal input binds to a node's input slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opt {
    /// Exactly one slot.
    Single,
    /// One slot that may be omitted.
    Optional,
    /// All remaining slots (always the last formal input).
    Variadic,
}

/// One formal input of a schema.
#[derive(Clone, Copy, Debug)]
pub struct Formal {
    /// Index of its type variable in [`OpTypes::vars`].
    pub var: usize,
    /// How it binds to slots.
    pub opt: Opt,
    /// For a variadic input: whether all its slots must have the same type.
    pub homogeneous: bool,
}

/// A type variable of a schema (`T`, `T1`, or the fixed type of one input).
#[derive(Clone, Copy, Debug)]
pub struct TypeVar {
    /// Index of its allowed tensor element types in the shared table.
    pub set: usize,
    /// Whether it also allows non-tensor types (sequences, optionals, maps).
    pub non_tensor: bool,
}

/// The type constraints of one op schema version.
#[derive(Clone, Copy, Debug)]
pub struct OpTypes {
    /// Op type.
    pub op: &'static str,
    /// The opset version this schema starts at.
    pub since: i64,
    /// Formal inputs in order.
    pub inputs: &'static [Formal],
    /// Type variables.
    pub vars: &'static [TypeVar],
}

impl OpTypes {
    /// Allowed tensor element types (ONNX codes) of variable `var`.
    pub fn allowed(&self, var: usize) -> &'static [i32] {
        self.vars
            .get(var)
            .and_then(|v| generated::SETS.get(v.set))
            .copied()
            .unwrap_or(&[])
    }
}

/// The schema of ai.onnx `op` in force at `opset` (the newest version not after it).
pub fn schema(op: &str, opset: i64) -> Option<&'static OpTypes> {
    let ops = generated::OPS;
    let start = ops.partition_point(|s| s.op < op);
    ops[start..]
        .iter()
        .take_while(|s| s.op == op)
        .filter(|s| s.since <= opset)
        .last()
}

/// A node input whose element type breaks its op's type constraints.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TypeViolation {
    /// The type is not one the input allows.
    #[error("input {slot} is {dtype}, which {op}-{since} does not accept there")]
    NotAllowed {
        /// Op type.
        op: String,
        /// Schema version.
        since: i64,
        /// Input slot.
        slot: usize,
        /// Its type.
        dtype: DType,
    },
    /// Two inputs that must share a type differ.
    #[error("inputs {first} ({a}) and {second} ({b}) must have the same type in {op}-{since}")]
    Mismatch {
        /// Op type.
        op: String,
        /// Schema version.
        since: i64,
        /// The earlier slot.
        first: usize,
        /// Its type.
        a: DType,
        /// The later slot.
        second: usize,
        /// Its type.
        b: DType,
    },
}

/// Checks the element types of a node's inputs (`None`: omitted or unknown) against the
/// schema of ai.onnx `op` at `opset`. Ops the tables do not know pass.
pub fn check_inputs(op: &str, opset: i64, inputs: &[Option<DType>]) -> Result<(), TypeViolation> {
    let Some(s) = schema(op, opset) else {
        return Ok(());
    };
    // The first slot seen for each variable, with its type.
    let mut bound: Vec<Option<(usize, DType)>> = vec![None; s.vars.len()];
    for (slot, dtype) in inputs.iter().enumerate() {
        let Some(formal) = formal_of(s, slot) else {
            continue;
        };
        let Some(dtype) = *dtype else { continue };
        let Some(var) = s.vars.get(formal.var) else {
            continue;
        };
        if !var.non_tensor && !s.allowed(formal.var).contains(&dtype.onnx_code()) {
            return Err(TypeViolation::NotAllowed {
                op: op.to_string(),
                since: s.since,
                slot,
                dtype,
            });
        }
        if formal.opt == Opt::Variadic && !formal.homogeneous {
            continue;
        }
        match bound[formal.var] {
            None => bound[formal.var] = Some((slot, dtype)),
            Some((first, a)) if a != dtype => {
                return Err(TypeViolation::Mismatch {
                    op: op.to_string(),
                    since: s.since,
                    first,
                    a,
                    second: slot,
                    b: dtype,
                })
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The formal input that binds slot `slot`.
fn formal_of(s: &OpTypes, slot: usize) -> Option<&'static Formal> {
    if let Some(f) = s.inputs.get(slot) {
        return Some(f);
    }
    s.inputs.last().filter(|f| f.opt == Opt::Variadic)
}
