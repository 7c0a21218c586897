//! Guards that only act on rounding: Flax's `use_fast_variance=False` LayerNorm (as
//! jax2onnx writes it) sets the centred value of a constant, finite row to exactly 0, and
//! accumulates the mean of its f32 squares in f64.
//!
//! ```text
//! (eq a b)  = (eq b a)          (and a b) = (and b a)
//! (where (and (eq (rmin x k) (rmax x k)) (eq (sub m m) 0)) 0 (sub x m))  => (sub x m)
//!     with m = (mean x k)
//! (cast (mean (cast (mul d d) w) k) t)  => (mean (mul d d) k)    d: t = f32, w = f64
//! ```
//! The guard: when the row's minimum equals its maximum, every element of the row is the
//! same value c; when also `m − m = 0`, the mean is finite, so it is c and `x − m` is 0,
//! which is what the guard selects. In every other case it selects `x − m` itself. So the
//! `Where` is `x − m` on every input (a constant row of ±∞ fails the finiteness test and
//! takes the centred branch, NaN on both sides); only the rounding of a constant row's mean
//! could make the two differ.
//!
//! The accumulation: the summands are the same f32 squares either way; the f64 sum rounded
//! to f32 and a fused node's f32 (`stash_type = 1`) sum differ only in the rounding of the
//! summation (see docs/numerics.md). Squares computed in f64, means of other values and
//! every narrower type match nothing here.

use super::cond::{facts, var, NormEGraph};
use super::Rule;
use crate::analysis::broadcasts_within;
use egg::{rewrite, Id, Subst};
use lnopt_ir::DType;

/// `z` is a constant 0 that broadcasts within `x`'s shape, and `x` is a float.
fn zero_within(z: &crate::Facts, x: &crate::Facts) -> bool {
    z.uniform == Some(0.0)
        && x.is_float()
        && matches!((&z.shape, &x.shape), (Some(a), Some(b)) if broadcasts_within(a, b))
}

/// The guard rules.
pub fn rules() -> Vec<Rule> {
    let (x, z, z2) = (var("?x"), var("?z"), var("?z2"));
    let guard = move |eg: &mut NormEGraph, _: Id, s: &Subst| {
        let fx = facts(eg, s, x);
        zero_within(facts(eg, s, z), fx) && zero_within(facts(eg, s, z2), fx)
    };
    let (d, w, t) = (var("?d"), var("?w"), var("?t"));
    let f64_sum = move |eg: &mut NormEGraph, _: Id, s: &Subst| {
        facts(eg, s, d).dtype == Some(DType::F32)
            && facts(eg, s, t).int == Some(i64::from(DType::F32.onnx_code()))
            && facts(eg, s, w).int == Some(i64::from(DType::F64.onnx_code()))
    };
    vec![
        rewrite!("eq-comm"; "(eq ?a ?b)" => "(eq ?b ?a)"),
        rewrite!("and-comm"; "(and ?a ?b)" => "(and ?b ?a)"),
        rewrite!("constant-row-guard";
            "(where (and (eq (rmin ?x ?k) (rmax ?x ?k)) (eq (sub (mean ?x ?k) (mean ?x ?k)) ?z2))
                    ?z (sub ?x (mean ?x ?k)))"
            => "(sub ?x (mean ?x ?k))" if guard),
        rewrite!("f64-sum-of-f32-squares";
            "(cast (mean (cast (mul ?d ?d) ?w) ?k) ?t)" => "(mean (mul ?d ?d) ?k)" if f64_sum),
    ]
}
