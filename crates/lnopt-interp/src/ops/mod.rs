//! Op kernels and the dispatch from op type to kernel.

pub(crate) mod bitcast;
pub(crate) mod bitwise;
pub(crate) mod cast;
pub(crate) mod create;
pub(crate) mod elementwise;
pub(crate) mod gather_nd;
pub(crate) mod image_decode;
pub(crate) mod linalg;
pub(crate) mod misc;
pub(crate) mod nn;
pub(crate) mod norm;
pub(crate) mod quant;
pub(crate) mod reduce;
pub(crate) mod scatter;
pub(crate) mod select;
pub(crate) mod shape_ops;
pub(crate) mod sort;
pub(crate) mod strings;
pub(crate) mod tfidf;
pub(crate) mod unsigned;

use crate::arr::Arr;
use crate::call::Call;
use crate::error::{OpError, OpResult};
use elementwise as ew;
use norm::NormKind;

fn one(a: OpResult<Arr>) -> OpResult<Vec<Arr>> {
    a.map(|a| vec![a])
}

/// Refuses an op that does not exist at the imported opset.
fn needs_opset(c: &Call<'_>, min: i64) -> OpResult<()> {
    if c.opset < min {
        crate::error::bail!(
            "{} needs ai.onnx opset >= {min}, the graph imports {}",
            c.node.op_type,
            c.opset
        );
    }
    Ok(())
}

/// Runs an `ai.onnx` op (If and Loop are handled by the executor).
pub(crate) fn dispatch(op: &str, c: &Call<'_>) -> OpResult<Vec<Arr>> {
    if let Some(r) = nn::dispatch(op, c) {
        return r;
    }
    // Indexing, data-movement, bitwise, quantization and type ops (ops/misc.rs).
    if let Some(r) = misc::misc_dispatch(op, c) {
        return r;
    }
    let gelu_tanh = |x: f64| {
        0.5 * x * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x)).tanh())
    };
    match op {
        // Unary math.
        "Abs" => one(ew::unary_num(c, f64::abs, i64::wrapping_abs)),
        "Neg" => one(ew::unary_num(c, |x| -x, i64::wrapping_neg)),
        "Relu" => one(ew::unary_num(
            c,
            |x| if x > 0.0 { x } else { 0.0 },
            |x| x.max(0),
        )),
        "Sign" => one(ew::unary_num(
            c,
            |x| {
                if x > 0.0 {
                    1.0
                } else if x < 0.0 {
                    -1.0
                } else {
                    x
                }
            },
            i64::signum,
        )),
        "Sqrt" => one(ew::unary_float(c, f64::sqrt)),
        "Exp" => one(ew::unary_float(c, f64::exp)),
        "Log" => one(ew::unary_float(c, f64::ln)),
        "Sin" => one(ew::unary_float(c, f64::sin)),
        "Cos" => one(ew::unary_float(c, f64::cos)),
        "Tan" => one(ew::unary_float(c, f64::tan)),
        "Tanh" => one(ew::unary_float(c, f64::tanh)),
        "Erf" => one(ew::unary_float(c, ew::erf)),
        "Sigmoid" => one(ew::unary_float(c, ew::sigmoid)),
        "Reciprocal" => one(ew::unary_float(c, |x| 1.0 / x)),
        "Floor" => one(ew::unary_float(c, f64::floor)),
        "Ceil" => one(ew::unary_float(c, f64::ceil)),
        "Round" => one(ew::unary_float(c, f64::round_ties_even)),
        "Softplus" => one(ew::unary_float(c, |x| x.exp().ln_1p())),
        "LeakyRelu" => {
            let a = c.float("alpha", 0.01)? as f64;
            one(ew::unary_float(c, |x| if x >= 0.0 { x } else { a * x }))
        }
        "Gelu" => match c.string("approximate", "none")?.as_str() {
            "tanh" => one(ew::unary_float(c, gelu_tanh)),
            _ => one(ew::unary_float(c, |x| {
                0.5 * x * (1.0 + ew::erf(x / std::f64::consts::SQRT_2))
            })),
        },
        // Binary arithmetic.
        "Add" => one(ew::binary(c, |a, b| a + b, |a, b| Ok(a.wrapping_add(b)))),
        "Sub" => one(ew::binary(c, |a, b| a - b, |a, b| Ok(a.wrapping_sub(b)))),
        "Mul" => one(ew::binary(c, |a, b| a * b, |a, b| Ok(a.wrapping_mul(b)))),
        "Div" => one(ew::binary(c, |a, b| a / b, ew::int_div)),
        "Mod" => one(ew::modulo(c)),
        "Pow" => one(ew::pow(c)),
        // Comparisons and logic.
        "Equal" => one(ew::compare(c, |a, b| a == b, |a, b| a == b)),
        "Less" => one(ew::compare(c, |a, b| a < b, |a, b| a < b)),
        "LessOrEqual" => one(ew::compare(c, |a, b| a <= b, |a, b| a <= b)),
        "Greater" => one(ew::compare(c, |a, b| a > b, |a, b| a > b)),
        "GreaterOrEqual" => one(ew::compare(c, |a, b| a >= b, |a, b| a >= b)),
        "And" => one(ew::logic(c, |a, b| a && b)),
        "Or" => one(ew::logic(c, |a, b| a || b)),
        "Xor" => one(ew::logic(c, |a, b| a != b)),
        "Not" => one(ew::not(c)),
        "Where" => one(ew::where_op(c)),
        "Sum" | "Min" | "Max" | "Mean" => one(ew::variadic(c, op)),
        "Clip" => one(ew::clip(c)),
        "Cast" => one(cast::cast(c, false)),
        "CastLike" => one(cast::cast(c, true)),
        // Creation and pass-through.
        "Constant" => one(create::constant(c)),
        "ConstantOfShape" => one(create::constant_of_shape(c)),
        "Range" => one(create::range(c)),
        "Identity" => Ok(vec![c.input(0)?.clone()]),
        "Dropout" => create::dropout(c),
        // Shapes and data movement.
        "Reshape" => one(shape_ops::reshape(c)),
        "Flatten" => one(shape_ops::flatten(c)),
        "Squeeze" => one(shape_ops::squeeze(c)),
        "Unsqueeze" => one(shape_ops::unsqueeze(c)),
        "Shape" => one(shape_ops::shape(c)),
        "Size" => one(shape_ops::size(c)),
        "Expand" => one(shape_ops::expand(c)),
        "Concat" => one(shape_ops::concat(c)),
        "Split" => shape_ops::split(c),
        "Slice" => one(shape_ops::slice(c)),
        "Transpose" => one(shape_ops::transpose(c)),
        "Gather" => one(shape_ops::gather(c)),
        "GatherElements" => one(shape_ops::gather_elements(c)),
        "Tile" => one(shape_ops::tile(c)),
        "Pad" => one(shape_ops::pad(c)),
        // Reductions.
        "ReduceMean" | "ReduceSum" | "ReduceMax" | "ReduceMin" | "ReduceProd"
        | "ReduceSumSquare" => one(reduce::reduce(c, op)),
        "Softmax" => one(reduce::softmax(c, false)),
        "LogSoftmax" => one(reduce::softmax(c, true)),
        "ArgMax" => one(reduce::arg_reduce(c, true)),
        "ArgMin" => one(reduce::arg_reduce(c, false)),
        // Linear algebra.
        "MatMul" => one(linalg::matmul(c)),
        "Gemm" => one(linalg::gemm(c)),
        // Normalisations.
        // Standard from opset 17; below that ORT registers its own LayerNormalization with the
        // same semantics in the default domain (what `--target ort` emits). Whether a model
        // that uses it is valid standard ONNX is checked by the tests, not here.
        "LayerNormalization" => norm::normalize(c, NormKind::Layer, false),
        "RMSNormalization" => {
            needs_opset(c, 23)?;
            norm::normalize(c, NormKind::Rms, false)
        }
        // ORT registers its RMS norm in the default domain at any opset.
        "SimplifiedLayerNormalization" => norm::normalize(c, NormKind::Rms, true),
        _ => Err(OpError::Unsupported),
    }
}

/// Runs an op of ORT's `com.microsoft` domain.
pub(crate) fn dispatch_ms(op: &str, c: &Call<'_>) -> OpResult<Vec<Arr>> {
    match op {
        "LayerNormalization" => norm::normalize(c, NormKind::Layer, false),
        "SimplifiedLayerNormalization" => norm::normalize(c, NormKind::Rms, true),
        _ => Err(OpError::Unsupported),
    }
}
