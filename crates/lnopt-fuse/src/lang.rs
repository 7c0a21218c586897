//! The e-graph language: the ONNX element-wise and reduction ops that decomposed
//! normalisations are spelled with, plus the fused targets.

use egg::{define_language, Id};
use std::fmt;
use std::str::FromStr;

/// Reference to a value of the surrounding IR graph that the e-graph treats as opaque
/// (a graph input, an initializer, or the output of a node outside the region).
/// Printed as `%<index>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValRef(pub u32);

impl fmt::Display for ValRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "%{}", self.0)
    }
}

impl FromStr for ValRef {
    type Err = String;
    fn from_str(s: &str) -> Result<ValRef, String> {
        s.strip_prefix('%')
            .and_then(|n| n.parse().ok())
            .map(ValRef)
            .ok_or_else(|| format!("not a value reference: {s}"))
    }
}

/// A floating-point literal of the language (an attribute such as BatchNormalization's
/// epsilon, which has no IR value). Printed as `#<value>`; compared by its bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scalar(pub u64);

impl Scalar {
    /// The literal holding `v`.
    pub fn new(v: f64) -> Scalar {
        Scalar(v.to_bits())
    }

    /// Its value.
    pub fn value(self) -> f64 {
        f64::from_bits(self.0)
    }
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{:e}", self.value())
    }
}

impl FromStr for Scalar {
    type Err = String;
    fn from_str(s: &str) -> Result<Scalar, String> {
        s.strip_prefix('#')
            .and_then(|n| n.parse::<f64>().ok())
            .map(Scalar::new)
            .ok_or_else(|| format!("not a scalar literal: {s}"))
    }
}

define_language! {
    /// Terms of the normalisation language.
    ///
    /// - `(mean x k)`: `ReduceMean` over the last `k` axes of `x` with `keepdims = 1` (also
    ///   `GlobalAveragePool`, the mean over every axis from 2 on, keeping them);
    /// - `(cast x t)`: `Cast` to the ONNX dtype code `t` (also `CastLike` to a value of type `t`);
    /// - `(neg x)`: `Neg`; `(max a b)`: element-wise `Max` of two operands;
    /// - `(var x k)`: population variance over the last `k` axes (keepdims);
    /// - `(sum x k)`: `ReduceSum` over the last `k` axes of `x` with `keepdims = 1`;
    /// - `(flat m)`: `m`, of shape `[1, C, 1, …, 1]`, viewed as the rank-1 `[C]` (a `Squeeze`
    ///   of every axis but 1, or a keepdims=0 reduction that keeps only axis 1);
    /// - `(chan p x)`: the rank-1 `p` of `x`'s channel count viewed as `[1, C, 1, …, 1]` of
    ///   `x`'s rank (how `BatchNormalization` broadcasts its per-channel inputs over axis 1);
    /// - `(rmin x k)`, `(rmax x k)`: `ReduceMin` / `ReduceMax` over the last `k` axes (keepdims);
    /// - `(eq a b)`, `(and a b)`, `(where c a b)`: `Equal`, `And`, `Where`;
    /// - `#v`: a scalar literal (an attribute value);
    /// - `(ln x k eps)`: `(x - mean) / sqrt(var + eps)` over the last `k` axes, no affine;
    /// - `(rms x k eps)`: `x / sqrt(mean(x²) + eps)` over the last `k` axes, no affine;
    /// - integers are axis counts and dtype codes, `%n` are opaque IR values.
    pub enum NormLang {
        "add" = Add([Id; 2]),
        "sub" = Sub([Id; 2]),
        "mul" = Mul([Id; 2]),
        "div" = Div([Id; 2]),
        "pow" = Pow([Id; 2]),
        "sqrt" = Sqrt(Id),
        "recip" = Recip(Id),
        "neg" = Neg(Id),
        "max" = Max([Id; 2]),
        "mean" = Mean([Id; 2]),
        "cast" = Cast([Id; 2]),
        "var" = Var([Id; 2]),
        "sum" = Sum([Id; 2]),
        "flat" = Flat(Id),
        "chan" = Chan([Id; 2]),
        "rmin" = RMin([Id; 2]),
        "rmax" = RMax([Id; 2]),
        "eq" = Eq([Id; 2]),
        "and" = And([Id; 2]),
        "where" = Where([Id; 3]),
        "ln" = Ln([Id; 3]),
        "rms" = Rms([Id; 3]),
        Int(i64),
        Val(ValRef),
        Num(Scalar),
    }
}

impl NormLang {
    /// True for the fused target nodes (`ln`, `rms`).
    pub fn is_fused(&self) -> bool {
        matches!(self, NormLang::Ln(_) | NormLang::Rms(_))
    }
}
