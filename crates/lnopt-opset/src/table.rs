//! What each schema change of an ai.onnx op means for an upgrade across it.
//!
//! The versions at which an op changed come from [`crate::versions`] (generated from the ONNX
//! schema history). This module classifies each change, by hand, after reading the
//! signature and doc differences (see `tools/schema_diff.py`):
//!
//! - [`Change::Same`]: type-only or additive (new dtypes, a new optional attribute or input
//!   whose default keeps the old behaviour, negative axes allowed where they were invalid,
//!   doc rewording). The node is kept as it is.
//! - [`Change::Convert`]: the old form must be rewritten (see [`Conversion`]).
//! - [`Change::Check`]: same meaning, except for one attribute value or input form that
//!   must be checked on the node (see [`Check`]).
//! - [`Change::Block`]: not converted; the upgrade is refused for that node.
//!
//! Changes at opset 8 and below are not reviewed and always block.

use crate::versions::{DEPRECATED, SINCE_VERSIONS};

/// How one schema change affects an existing node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Type-only or additive: the node keeps its meaning unchanged.
    Same,
    /// The node must be rewritten.
    Convert(Conversion),
    /// The node keeps its meaning unless a condition on it fails.
    Check(Check),
    /// Not convertible (or not reviewed): blocks the upgrade, with the reason.
    Block(&'static str),
}

/// Rewrites of a node across one schema change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conversion {
    /// Reduce ops: the `axes` attribute becomes the optional int64 input 1.
    ReduceAxesToInput,
    /// Squeeze/Unsqueeze at 13: the `axes` attribute becomes input 1.
    SqueezeAxesToInput,
    /// Split at 13: the `split` attribute becomes input 1.
    SplitToInput,
    /// Split at 18: an equal split needs `num_outputs`.
    SplitNumOutputs,
    /// Softmax/LogSoftmax/Hardmax at 13: coerce-to-2-D semantics become single-axis.
    SoftmaxAxis,
    /// Pad at 11: `pads`/`value` attributes become inputs.
    PadToInputs,
    /// Clip at 11: `min`/`max` attributes become inputs.
    ClipToInputs,
    /// Slice at 10: `starts`/`ends`/`axes` attributes become inputs.
    SliceToInputs,
    /// Dropout at 12: the `ratio` attribute becomes input 1.
    DropoutRatioToInput,
    /// TopK at 10: the `k` attribute becomes input 1.
    TopKToInput,
    /// BatchNormalization at 9: the `spatial` attribute is removed (only 1 is convertible).
    BatchNormSpatial,
    /// Resize at 13: `roi`/`scales` become optional; the `tf_half_pixel_for_nn` mode is gone.
    Resize13,
    /// RoiAlign at 16: the default of `coordinate_transformation_mode` changed.
    RoiAlignMode,
}

/// Conditions under which a change is harmless.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// Erf at 13 dropped integer input types.
    FloatInput,
    /// BatchNormalization at 14: only the inference form (one output) keeps its meaning.
    SingleOutput,
    /// ConvTranspose at 11: `auto_pad` SAME_UPPER/SAME_LOWER padding split was swapped.
    NoSameAutoPad,
}

/// The versions at which `op` changed, or `None` for an op ai.onnx does not define.
pub fn since_versions(op: &str) -> Option<&'static [i64]> {
    SINCE_VERSIONS
        .binary_search_by(|(name, _)| (*name).cmp(op))
        .ok()
        .and_then(|i| SINCE_VERSIONS.get(i))
        .map(|(_, v)| *v)
}

/// The opset at which `op` became deprecated, if it did.
pub fn deprecated_since(op: &str) -> Option<i64> {
    DEPRECATED.iter().find(|(n, _)| *n == op).map(|(_, v)| *v)
}

/// The changes of `op` to apply, in order, when a model moves from opset `from` to `to`, or
/// the reason the op cannot move at all.
pub fn steps(op: &str, from: i64, to: i64) -> Result<Vec<(i64, Change)>, String> {
    let Some(versions) = since_versions(op) else {
        return Err(format!("'{op}' is not an ai.onnx operator lnopt knows"));
    };
    match versions.first() {
        Some(&first) if first <= from => {}
        Some(&first) => {
            return Err(format!(
                "'{op}' is only defined from opset {first}, but the model declares {from}"
            ))
        }
        None => return Err(format!("'{op}' has no schema versions")),
    }
    if let Some(d) = deprecated_since(op) {
        if d > from && d <= to {
            return Err(format!("'{op}' is deprecated at opset {d}"));
        }
    }
    Ok(versions
        .iter()
        .filter(|&&v| v > from && v <= to)
        .map(|&v| (v, classify(op, v)))
        .collect())
}

/// Ops whose opset-11 version only added negative axes/indices or reworded the doc.
const SAME_AT_11: &[&str] = &[
    "ArgMax",
    "ArgMin",
    "Compress",
    "Concat",
    "Conv",
    "CumSum",
    "DepthToSpace",
    "Equal",
    "Flatten",
    "Gather",
    "Gemm",
    "Hardmax",
    "If",
    "LogSoftmax",
    "Loop",
    "LpPool",
    "MaxPool",
    "MaxUnpool",
    "NonMaxSuppression",
    "ReduceL1",
    "ReduceL2",
    "ReduceLogSum",
    "ReduceLogSumExp",
    "ReduceMax",
    "ReduceMean",
    "ReduceMin",
    "ReduceProd",
    "ReduceSum",
    "ReduceSumSquare",
    "Scan",
    "Slice",
    "Softmax",
    "Split",
    "Squeeze",
    "TopK",
    "Unsqueeze",
    "Constant",
];

/// Ops whose opset-9 or -10 version only added dtypes or an attribute with an
/// old-behaviour default.
const SAME_AT_9_10: &[(&str, i64)] = &[
    ("Cast", 9),
    ("Constant", 9),
    ("Flatten", 9),
    ("Gemm", 9),
    ("Greater", 9),
    ("Less", 9),
    ("MatMul", 9),
    ("PRelu", 9),
    ("AveragePool", 10),
    ("MaxPool", 10),
    ("Dropout", 10),
];

/// The meaning of the change of `op` at opset `v` (a version where its schema changed).
pub fn classify(op: &str, v: i64) -> Change {
    use Change::*;
    use Conversion::*;
    let reduce = matches!(
        op,
        "ReduceL1"
            | "ReduceL2"
            | "ReduceLogSum"
            | "ReduceLogSumExp"
            | "ReduceMax"
            | "ReduceMean"
            | "ReduceMin"
            | "ReduceProd"
            | "ReduceSumSquare"
    );
    match (op, v) {
        _ if reduce && v == 18 => Convert(ReduceAxesToInput),
        ("ReduceSum", 13) => Convert(ReduceAxesToInput),
        ("Squeeze" | "Unsqueeze", 13) => Convert(SqueezeAxesToInput),
        ("Split", 13) => Convert(SplitToInput),
        ("Split", 18) => Convert(SplitNumOutputs),
        ("Softmax" | "LogSoftmax" | "Hardmax", 13) => Convert(SoftmaxAxis),
        ("Pad", 11) => Convert(PadToInputs),
        ("Clip", 11) => Convert(ClipToInputs),
        ("Slice", 10) => Convert(SliceToInputs),
        ("Dropout", 12) => Convert(DropoutRatioToInput),
        ("TopK", 10) => Convert(TopKToInput),
        ("TopK", 11) => Same, // largest/sorted default to the old behaviour; negative axis
        ("BatchNormalization", 9) => Convert(BatchNormSpatial),
        ("BatchNormalization", 14) => Check(self::Check::SingleOutput),
        ("BatchNormalization", 15) => Same, // scale/bias and mean/var types split apart
        ("Resize", 11) => Block("Resize-10 → 11 changed the coordinate mapping; not converted"),
        ("Resize", 13) => Convert(Resize13),
        ("RoiAlign", 16) => Convert(RoiAlignMode),
        ("Erf", 13) => Check(self::Check::FloatInput),
        ("ConvTranspose", 11) => Check(self::Check::NoSameAutoPad),
        ("OneHot", 11) => Block("OneHot-11 gives negative indices a meaning (all off before)"),
        ("AveragePool", 11) => Block("AveragePool-11 output-shape change not reviewed"),
        ("Resize", 18 | 19) => Same, // antialias/axes/keep_aspect_ratio_policy; a new mode
        ("GroupNormalization", 21) => {
            Block("GroupNormalization-21 takes per-channel scale/bias (per-group before)")
        }
        ("GridSample", 20) => Block("GridSample-20 renamed its mode values; not converted"),
        ("DFT", 20) => Block("DFT-20 moved axis to an input; not converted"),
        ("QuantizeLinear" | "DequantizeLinear", 19 | 21 | 23) => {
            Block("quantization op changes after 13 (saturate, blocks, precision) not reviewed")
        }
        ("Scan", 9) => Block("Scan-8 → 9 changed its inputs; not converted"),
        ("Upsample", _) | ("Scatter", _) => Block("deprecated op"),
        (_, 11) if SAME_AT_11.contains(&op) => Same,
        (_, 9 | 10) if SAME_AT_9_10.contains(&(op, v)) => Same,
        (_, 0..=11) => Block("schema change at opset ≤ 11 not reviewed by lnopt"),
        // Every change from 12 to 23 not listed above was reviewed as type-only or additive:
        // new dtypes (bfloat16, int types, float8, int4, float4), optional attributes with
        // old-behaviour defaults (select_last_index, layout, allowzero, saturate for float8,
        // reduction, start/end, dilations, ceil_mode, block_size, batch_dims, antialias),
        // optional inputs (Pad axes) and new enum values (Pad wrap, Resize
        // half_pixel_symmetric).
        _ => Same,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_for_binary_search() {
        assert!(SINCE_VERSIONS.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn reduce_mean_18_converts_and_unknown_blocks() {
        let s = steps("ReduceMean", 13, 18).unwrap();
        assert_eq!(
            s,
            vec![(18, Change::Convert(Conversion::ReduceAxesToInput))]
        );
        assert!(steps("NoSuchOp", 13, 18).is_err());
        assert!(steps("LayerNormalization", 13, 18).is_err());
        assert!(steps("Scatter", 9, 13).is_err());
    }
}
