//! Dispatch of the indexing, data-movement, bitwise, quantization and type ops that live in
//! their own modules: `None` when the op is not one of them.

use crate::arr::{Arr, Buf};
use crate::call::Call;
use crate::error::{OpError, OpResult};
use crate::ops::{
    bitcast, bitwise, gather_nd, image_decode, quant, scatter, select, sort, strings, tfidf,
    unsigned,
};

/// Ops that only move, select or compare elements for equality: exact on any element kind,
/// so they accept strings and u64 values above i64::MAX alike (`unsigned.rs` extends it).
pub(crate) const ELEMENT_MOVERS: &[&str] = &[
    "Identity",
    "Reshape",
    "Flatten",
    "Squeeze",
    "Unsqueeze",
    "Shape",
    "Size",
    "Expand",
    "Concat",
    "Split",
    "Slice",
    "Transpose",
    "Gather",
    "GatherElements",
    "GatherND",
    "Tile",
    "Where",
    "Equal",
    "Compress",
    "ReverseSequence",
    "Unique",
];

/// The other ops whose kernels handle string elements (every op outside these two lists
/// refuses string inputs, so no kernel ever reads a string as a number).
const STRING_OPS: &[&str] = &[
    "Cast",
    "CastLike",
    "StringConcat",
    "StringSplit",
    "StringNormalizer",
    "RegexFullMatch",
    "TfIdfVectorizer",
];

fn one(a: OpResult<Arr>) -> OpResult<Vec<Arr>> {
    a.map(|a| vec![a])
}

/// Runs `op` if this family implements it.
pub(crate) fn misc_dispatch(op: &str, c: &Call<'_>) -> Option<OpResult<Vec<Arr>>> {
    let has_strings = c
        .inputs
        .iter()
        .flatten()
        .any(|a| matches!(a.buf, Buf::S(_)));
    if has_strings && !ELEMENT_MOVERS.contains(&op) && !STRING_OPS.contains(&op) {
        return Some(Err(OpError::Invalid(format!(
            "{op} on string tensors is not implemented"
        ))));
    }
    if let Some(r) = unsigned::u64_dispatch(op, c) {
        return Some(r);
    }
    Some(match op {
        "BitShift" => one(bitwise::bit_shift(c)),
        "BitwiseAnd" | "BitwiseOr" | "BitwiseXor" => one(bitwise::bitwise(c, op)),
        "BitwiseNot" => one(bitwise::bitwise_not(c)),
        "BitCast" => one(bitcast::bit_cast(c)),
        "GatherND" => one(gather_nd::gather_nd(c)),
        "Scatter" => one(scatter::scatter_elements(c, false)),
        "ScatterElements" => one(scatter::scatter_elements(c, true)),
        "ScatterND" => one(scatter::scatter_nd(c)),
        "TensorScatter" => one(scatter::tensor_scatter(c)),
        "OneHot" => one(select::one_hot(c)),
        "Compress" => one(select::compress(c)),
        "NonZero" => one(select::non_zero(c)),
        "ReverseSequence" => one(select::reverse_sequence(c)),
        "TopK" => sort::top_k(c),
        "Unique" => sort::unique(c),
        "QuantizeLinear" => one(quant::quantize(c)),
        "DequantizeLinear" => one(quant::dequantize(c)),
        "DynamicQuantizeLinear" => quant::dynamic_quantize(c),
        "MatMulInteger" => one(quant::matmul_integer(c)),
        "QLinearMatMul" => one(quant::qlinear_matmul(c)),
        "StringConcat" => one(strings::concat(c)),
        "StringSplit" => strings::split(c),
        "StringNormalizer" => one(strings::normalizer(c)),
        "RegexFullMatch" => one(strings::regex_full_match(c)),
        "TfIdfVectorizer" => one(tfidf::tfidf_vectorizer(c)),
        "ImageDecoder" => one(image_decode::image_decoder(c)),
        _ => return None,
    })
}
