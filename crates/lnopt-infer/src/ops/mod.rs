//! Per-op inference rules. [`infer_node`] dispatches on the op type; each family lives in
//! its own module and reads its inputs through [`Ctx`], returning an [`Out`].

mod attention;
mod elementwise;
mod generate;
mod image;
mod index;
mod movement;
mod nn;
mod norm;
mod pool;
mod quant;
pub(crate) mod reduce;
mod rnn;
mod shape;
mod signal;

use crate::fold;
use lnopt_ir::{AttrValue, DType, Dim, Node, Tensor, TensorType};
use std::sync::Arc;

/// What a rule sees of one node: its attributes and the facts known about its inputs.
pub(crate) struct Ctx<'a> {
    /// The node.
    pub node: &'a Node,
    /// ai.onnx opset of the graph.
    pub opset: i64,
    /// Start of this node's fresh dim names (see [`Ctx::fresh`]).
    pub fresh_base: &'a str,
    /// Inferred type per input slot.
    pub types: Vec<Option<&'a TensorType>>,
    /// Known constant per input slot.
    pub consts: Vec<Option<&'a Arc<Tensor>>>,
    /// Known elements (possibly symbolic) of small 0-D/1-D integer inputs.
    pub elems: Vec<Option<Vec<Dim>>>,
}

impl Ctx<'_> {
    /// A fresh symbolic dim for axis `axis` of output `slot`: a size that depends on data
    /// (NonZero's count, Unique's length, a Resize by runtime sizes). Distinct from every
    /// other dim of the graph, so nothing is ever proven equal to it but itself.
    pub fn fresh(&self, slot: usize, axis: usize) -> Dim {
        Dim::Symbol(format!("{}.{slot}.{axis}", self.fresh_base))
    }

    /// A string attribute, lossily decoded, or `default`.
    pub fn str_attr(&self, name: &str, default: &str) -> Result<String, String> {
        match self.node.attr(name) {
            None => Ok(default.to_string()),
            Some(AttrValue::String(s)) => Ok(String::from_utf8_lossy(s).into_owned()),
            Some(other) => Err(format!(
                "attribute '{name}' must be STRING, found {}",
                other.type_name()
            )),
        }
    }

    /// A FLOATS attribute.
    pub fn floats_attr(&self, name: &str) -> Result<Option<Vec<f32>>, String> {
        match self.node.attr(name) {
            None => Ok(None),
            Some(AttrValue::Floats(v)) => Ok(Some(v.clone())),
            Some(other) => Err(format!(
                "attribute '{name}' must be FLOATS, found {}",
                other.type_name()
            )),
        }
    }

    /// A dtype given as an INT attribute (`to`, `dtype`, `output_dtype`), if present.
    pub fn dtype_attr(&self, name: &str) -> Result<Option<DType>, String> {
        match self.node.attr_int(name)? {
            None => Ok(None),
            Some(code) => {
                let c = i32::try_from(code).map_err(|_| format!("bad dtype code {code}"))?;
                Ok(Some(DType::from_onnx(c)))
            }
        }
    }

    /// Number of output slots of the node.
    pub fn n_out(&self) -> usize {
        self.node.outputs().len()
    }

    /// Rank of input `i` if known.
    pub fn rank(&self, i: usize) -> Option<usize> {
        self.shape(i).map(|s| s.len())
    }

    /// True if input `i` is present.
    pub fn has(&self, i: usize) -> bool {
        self.node.input(i).is_some()
    }

    /// Type of input `i`.
    pub fn ty(&self, i: usize) -> Option<&TensorType> {
        self.types.get(i).copied().flatten()
    }

    /// Shape of input `i` if its rank is known.
    pub fn shape(&self, i: usize) -> Option<&[Dim]> {
        self.ty(i)?.shape.as_deref()
    }

    /// Dtype of input `i` ([`DType::Undefined`] if unknown).
    pub fn dtype(&self, i: usize) -> DType {
        self.ty(i).map_or(DType::Undefined, |t| t.elem)
    }

    /// Constant value of input `i`.
    pub fn konst(&self, i: usize) -> Option<&Tensor> {
        self.consts.get(i).copied().flatten().map(|t| &**t)
    }

    /// Integer elements of constant input `i`.
    pub fn ints(&self, i: usize) -> Option<Vec<i64>> {
        fold::ints(self.konst(i)?)
    }

    /// Known (maybe symbolic) elements of input `i`.
    pub fn elems(&self, i: usize) -> Option<&[Dim]> {
        self.elems.get(i)?.as_deref()
    }

    /// An INT attribute or its default.
    pub fn int_attr(&self, name: &str, default: i64) -> Result<i64, String> {
        Ok(self.node.attr_int(name)?.unwrap_or(default))
    }

    /// An INTS attribute.
    pub fn ints_attr(&self, name: &str) -> Result<Option<Vec<i64>>, String> {
        Ok(self.node.attr_ints(name)?.map(|v| v.to_vec()))
    }

    /// Integer list given as attribute `name` before opset `since`, as input `slot` from it.
    /// `Ok(None)`: absent; `Err(())` wrapped as `Unknown`: present but not constant.
    pub fn ints_attr_or_input(
        &self,
        name: &str,
        slot: usize,
        since: i64,
    ) -> Result<Given<Vec<i64>>, String> {
        if self.opset < since {
            return Ok(match self.ints_attr(name)? {
                Some(v) => Given::Known(v),
                None => Given::Absent,
            });
        }
        if !self.has(slot) {
            // Some exporters keep the attribute at newer opsets; honour it if present.
            return Ok(match self.ints_attr(name)? {
                Some(v) => Given::Known(v),
                None => Given::Absent,
            });
        }
        Ok(match self.ints(slot) {
            Some(v) => Given::Known(v),
            None => Given::Unknown,
        })
    }
}

/// An optional parameter that may be given but not known at compile time.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Given<T> {
    /// Not given (use the default).
    Absent,
    /// Given, value known.
    Known(T),
    /// Given, value not known.
    Unknown,
}

/// Facts produced for the outputs of a node, by output slot (missing entries: unknown).
#[derive(Default, Debug)]
pub(crate) struct Out {
    /// Type per output slot.
    pub types: Vec<Option<TensorType>>,
    /// Folded constant per output slot.
    pub consts: Vec<Option<Tensor>>,
    /// Symbolic elements per output slot.
    pub elems: Vec<Option<Vec<Dim>>>,
}

impl Out {
    /// Nothing known.
    pub fn unknown() -> Out {
        Out::default()
    }

    /// One output of type `ty`.
    pub fn one(ty: TensorType) -> Out {
        Out {
            types: vec![Some(ty)],
            ..Out::default()
        }
    }

    /// One output with dtype `elem` and shape `shape` (`None`: rank unknown).
    pub fn of(elem: DType, shape: Option<Vec<Dim>>) -> Out {
        Out::one(TensorType { elem, shape })
    }

    /// One constant output (its type follows from the tensor).
    pub fn constant(t: Tensor) -> Out {
        Out {
            types: vec![Some(TensorType::fixed(t.dtype, &t.dims))],
            consts: vec![Some(t)],
            elems: Vec::new(),
        }
    }

    /// Adds a folded constant for output 0 when `t` is `Some` and agrees with the type.
    pub fn with_const(mut self, t: Option<Tensor>) -> Out {
        if let Some(t) = t {
            self.types = vec![Some(TensorType::fixed(t.dtype, &t.dims))];
            self.consts = vec![Some(t)];
        }
        self
    }

    /// Adds symbolic elements for output 0.
    pub fn with_elems(mut self, e: Option<Vec<Dim>>) -> Out {
        self.elems = vec![e];
        self
    }
}

/// Dims from fixed numbers.
pub(crate) fn fixed(dims: &[i64]) -> Vec<Dim> {
    dims.iter().map(|&d| Dim::Fixed(d)).collect()
}

/// A tensor attribute value (`value` of Constant / ConstantOfShape).
pub(crate) fn tensor_attr<'n>(node: &'n Node, name: &str) -> Result<Option<&'n Tensor>, String> {
    match node.attr(name) {
        None => Ok(None),
        Some(AttrValue::Tensor(t)) => Ok(Some(t)),
        Some(other) => Err(format!(
            "attribute '{name}' must be TENSOR, found {}",
            other.type_name()
        )),
    }
}

/// The rule of one op family: `Ok(None)` when the op is not in it.
type Rule = fn(&Ctx, &str) -> Result<Option<Out>, String>;

/// Infers the outputs of `ctx.node`.
pub(crate) fn infer_node(ctx: &Ctx) -> Result<Out, String> {
    let op = ctx.node.op_type.as_str();
    match ctx.node.domain.as_str() {
        "" | "ai.onnx" => {}
        "com.microsoft" => return nn::microsoft(ctx, op),
        _ => return Ok(Out::unknown()),
    }
    if let Some(out) = elementwise::infer(ctx, op)? {
        return Ok(out);
    }
    if let Some(out) = shape::infer(ctx, op)? {
        return Ok(out);
    }
    if let Some(out) = movement::infer(ctx, op)? {
        return Ok(out);
    }
    if let Some(out) = reduce::infer(ctx, op)? {
        return Ok(out);
    }
    if let Some(out) = nn::infer(ctx, op)? {
        return Ok(out);
    }
    let families: [Rule; 10] = [
        pool::infer,
        index::infer,
        norm::infer,
        rnn::infer,
        quant::infer,
        image::infer,
        attention::infer,
        signal::infer,
        generate::infer,
        reduce::infer_det,
    ];
    for rule in families {
        if let Some(out) = rule(ctx, op)? {
            return Ok(out);
        }
    }
    Ok(Out::unknown())
}
pub use reduce::reduced_dims;
