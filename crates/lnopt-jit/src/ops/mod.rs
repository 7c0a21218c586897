//! Runtime functions: the ops that are hot in real models and worth a native implementation
//! (products, element-wise math, softmax, reductions, data movement that can share buffers).
//! Each refuses (an error) what it cannot compute exactly, and the plan then runs the node
//! through the interpreter's implementation ([`crate::fallback`]), which also covers every
//! op not listed here.

pub(crate) mod bcast;
mod elementwise;
mod linalg;
pub(crate) mod norm;
pub(crate) mod reduce;
pub(crate) mod sgemm;
pub(crate) mod shape;

use crate::error::{bail, OpResult};
use crate::node::PNode;
use crate::value::Val;
use lnopt_ir::AttrValue;

/// What an op kernel sees: the node and its input values.
pub(crate) struct Ctx<'a> {
    /// The node.
    pub node: &'a PNode,
    /// Input values by slot (`None`: omitted optional input).
    pub ins: &'a [Option<&'a Val>],
    /// Threads the op may use.
    pub threads: usize,
}

impl<'a> Ctx<'a> {
    /// Required input `i`.
    pub(crate) fn input(&self, i: usize) -> OpResult<&'a Val> {
        match self.ins.get(i).copied().flatten() {
            Some(v) => Ok(v),
            None => bail!("input {i} is missing"),
        }
    }

    /// Optional input `i`.
    pub(crate) fn opt(&self, i: usize) -> Option<&'a Val> {
        self.ins.get(i).copied().flatten()
    }

    /// Attribute `name`.
    pub(crate) fn attr(&self, name: &str) -> Option<&'a AttrValue> {
        self.node
            .attrs
            .iter()
            .find(|a| a.name == name)
            .map(|a| &a.value)
    }

    /// INT attribute with default.
    pub(crate) fn int(&self, name: &str, default: i64) -> OpResult<i64> {
        match self.attr(name) {
            None => Ok(default),
            Some(AttrValue::Int(v)) => Ok(*v),
            Some(o) => bail!("attribute '{name}' must be INT, found {}", o.type_name()),
        }
    }

    /// FLOAT attribute with default.
    pub(crate) fn float(&self, name: &str, default: f32) -> OpResult<f32> {
        match self.attr(name) {
            None => Ok(default),
            Some(AttrValue::Float(v)) => Ok(*v),
            Some(o) => bail!("attribute '{name}' must be FLOAT, found {}", o.type_name()),
        }
    }

    /// INTS attribute, if present.
    pub(crate) fn ints(&self, name: &str) -> OpResult<Option<Vec<i64>>> {
        match self.attr(name) {
            None => Ok(None),
            Some(AttrValue::Ints(v)) => Ok(Some(v.clone())),
            Some(o) => bail!("attribute '{name}' must be INTS, found {}", o.type_name()),
        }
    }

    /// The ai.onnx opset the node was written against.
    pub(crate) fn opset(&self) -> i64 {
        self.node.opset
    }
}

fn one(v: OpResult<Val>) -> OpResult<Vec<Val>> {
    v.map(|v| vec![v])
}

/// True if `op` (in the default domain) has a runtime function here.
pub(crate) fn supported(domain: &str, op: &str) -> bool {
    if !lnopt_ir::is_default_domain(domain) {
        return false;
    }
    elementwise::is_unary(op)
        || elementwise::is_binary(op)
        || matches!(
            op,
            "Cast"
                | "CastLike"
                | "Where"
                | "IsNaN"
                | "IsInf"
                | "Identity"
                | "Shape"
                | "Size"
                | "Reshape"
                | "Flatten"
                | "Squeeze"
                | "Unsqueeze"
                | "Transpose"
                | "Concat"
                | "Slice"
                | "Split"
                | "Gather"
                | "Expand"
                | "ReduceMean"
                | "ReduceSum"
                | "ReduceMax"
                | "ReduceMin"
                | "ReduceProd"
                | "ReduceSumSquare"
                | "ReduceL2"
                | "Softmax"
                | "LogSoftmax"
                | "MatMul"
                | "Gemm"
                | "Conv"
        )
}

/// Runs one op. Refuses any input held opaque (a dtype only the interpreter computes on),
/// so that the node runs through the interpreter instead and such values are never converted.
pub(crate) fn run(c: &Ctx<'_>) -> OpResult<Vec<Val>> {
    if let Some((i, v)) = c
        .ins
        .iter()
        .enumerate()
        .find_map(|(i, v)| v.filter(|v| v.as_opaque().is_some()).map(|v| (i, v)))
    {
        bail!("input {i}: {}", crate::value::opaque_refusal(v.dtype));
    }
    let op = c.node.op.as_str();
    if elementwise::is_unary(op) {
        return one(elementwise::unary(c, op));
    }
    if elementwise::is_binary(op) {
        return one(elementwise::binary(c, op));
    }
    match op {
        "Cast" => one(elementwise::cast_op(c)),
        "CastLike" => one(elementwise::cast(c.input(0)?, c.input(1)?.dtype)),
        "Where" => one(elementwise::where_op(c)),
        "IsNaN" | "IsInf" => one(elementwise::float_class(c, op)),
        "Identity" => Ok(vec![c.input(0)?.clone()]),
        "Shape" => one(shape::shape_op(c)),
        "Size" => one(Val::ints(vec![], vec![c.input(0)?.numel() as i64])),
        "Reshape" => one(shape::reshape(c)),
        "Flatten" => one(shape::flatten(c)),
        "Squeeze" => one(shape::squeeze(c)),
        "Unsqueeze" => one(shape::unsqueeze(c)),
        "Transpose" => one(shape::transpose(c)),
        "Concat" => one(shape::concat(c)),
        "Slice" => one(shape::slice(c)),
        "Split" => shape::split(c),
        "Gather" => one(shape::gather(c)),
        "Expand" => one(shape::expand(c)),
        "ReduceMean" | "ReduceSum" | "ReduceMax" | "ReduceMin" | "ReduceProd"
        | "ReduceSumSquare" | "ReduceL2" => one(reduce::reduce(c, op)),
        "Softmax" | "LogSoftmax" => one(reduce::softmax(c, op == "LogSoftmax")),
        "MatMul" => one(linalg::matmul(c)),
        "Gemm" => one(linalg::gemm(c)),
        "Conv" => one(linalg::conv(c)),
        _ => bail!("no runtime function for op '{op}'"),
    }
}
