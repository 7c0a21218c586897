//! Casts: no-op casts vanish; statistics computed in f32 from an f16/bf16 input become the
//! fused node's `stash_type = 1`.
//!
//! ```text
//! (cast x t)                            => x            when x already has type t
//! (cast (ln (cast x f32) k e) t)        => (ln x k e)   when x: t in {f16, bf16}
//! (cast (rms (cast x f32) k e) t)       => (rms x k e)  when x: t in {f16, bf16}
//! (cast (sub x (mean x k)) w)           => (sub (cast x w) (mean (cast x w) k))
//!                                          when w is a wider float than x
//! (cast (cast x w) t)                   => x  when x: t and w is a wider float than t
//! ```
//! The last one is exact: a widening float cast is exact, so narrowing the widened value gives
//! it back (the fp16 converter keeps some ops in f32 between such casts).
//! The stash rules also accept statistics in f64 around an f16/bf16 input (TorchScript's
//! `.half()` LayerNorm export): they become `stash_type = 1`, whose f32 statistics are far
//! below the output's f16 resolution. The centering rule moves a widening cast before the
//! mean (the fused kernel then computes the mean in the wide type): equal up to rounding,
//! and never less accurate than the original, which rounded the mean to the narrow type.
//! A cast to a narrower type inside the statistics matches none of these, so it blocks fusion.

use super::cond::{facts, var, NormEGraph};
use super::Rule;
use egg::{rewrite, Id, Subst};
use lnopt_ir::DType;

/// True when `x` has dtype code `t`.
pub fn same_type(x: Option<DType>, t: Option<i64>) -> bool {
    matches!((x, t), (Some(d), Some(t)) if i64::from(d.onnx_code()) == t && d != DType::Undefined)
}

/// True when `x: t`, `t` is f16/bf16 and the statistics ran in f32 or f64 (`f` is its code).
pub fn widened_stats(x: Option<DType>, f: Option<i64>, t: Option<i64>) -> bool {
    same_type(x, t)
        && matches!(x, Some(DType::F16 | DType::BF16))
        && (f == Some(i64::from(DType::F32.onnx_code()))
            || f == Some(i64::from(DType::F64.onnx_code())))
}

/// Bits of precision of a float dtype (for ordering widening casts).
fn float_rank(d: DType) -> Option<u8> {
    match d {
        DType::BF16 => Some(1),
        DType::F16 => Some(2),
        DType::F32 => Some(3),
        DType::F64 => Some(4),
        _ => None,
    }
}

/// True when `w` (a dtype code) is a float type strictly wider than `x` (bf16 → f32/f64,
/// f16 → f32/f64, f32 → f64; bf16 ↔ f16 are not ordered).
pub fn widening(x: Option<DType>, w: Option<i64>) -> bool {
    let (Some(x), Some(w)) = (x, w) else {
        return false;
    };
    let Ok(code) = i32::try_from(w) else {
        return false;
    };
    let w = DType::from_onnx(code);
    match (float_rank(x), float_rank(w)) {
        (Some(a), Some(b)) => b > a && b >= 3,
        _ => false,
    }
}

fn stash_cond() -> impl Fn(&mut NormEGraph, Id, &Subst) -> bool {
    let (x, f, t) = (var("?x"), var("?f"), var("?t"));
    move |eg, _, s| {
        widened_stats(
            facts(eg, s, x).dtype,
            facts(eg, s, f).int,
            facts(eg, s, t).int,
        )
    }
}

/// The cast rules.
pub fn rules() -> Vec<Rule> {
    let (x, t) = (var("?x"), var("?t"));
    let noop = move |eg: &mut NormEGraph, _: Id, s: &Subst| {
        same_type(facts(eg, s, x).dtype, facts(eg, s, t).int)
    };
    let w = var("?w");
    let widen = move |eg: &mut NormEGraph, _: Id, s: &Subst| {
        widening(facts(eg, s, x).dtype, facts(eg, s, w).int)
    };
    let (x2, w3, t3) = (var("?x"), var("?w"), var("?t"));
    let round_trip = move |eg: &mut NormEGraph, _: Id, s: &Subst| {
        let dx = facts(eg, s, x2).dtype;
        same_type(dx, facts(eg, s, t3).int) && widening(dx, facts(eg, s, w3).int)
    };
    vec![
        rewrite!("cast-noop"; "(cast ?x ?t)" => "?x" if noop),
        rewrite!("widen-narrow-round-trip"; "(cast (cast ?x ?w) ?t)" => "?x" if round_trip),
        rewrite!("cast-widen-centering";
            "(cast (sub ?x (mean ?x ?k)) ?w)" => "(sub (cast ?x ?w) (mean (cast ?x ?w) ?k))"
            if widen),
        rewrite!("cast-ln-stash";
            "(cast (ln (cast ?x ?f) ?k ?e) ?t)" => "(ln ?x ?k ?e)" if stash_cond()),
        rewrite!("cast-rms-stash";
            "(cast (rms (cast ?x ?f) ?k ?e) ?t)" => "(rms ?x ?k ?e)" if stash_cond()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stash_only_from_half_types_to_f32() {
        assert!(widened_stats(Some(DType::F16), Some(1), Some(10)));
        assert!(!widened_stats(Some(DType::F32), Some(1), Some(1)));
        assert!(!widened_stats(Some(DType::F16), Some(10), Some(10)));
        assert!(widened_stats(Some(DType::F16), Some(11), Some(10)));
        assert!(widening(Some(DType::F16), Some(11)));
        assert!(widening(Some(DType::F32), Some(11)));
        assert!(!widening(Some(DType::F32), Some(10)));
        assert!(!widening(Some(DType::F16), Some(16)));
        assert!(!widening(Some(DType::I64), Some(11)));
        assert!(!widened_stats(Some(DType::F16), Some(1), Some(1)));
        // bf16 -> f16 is not a widening (the round trip through it is not exact).
        assert!(!widening(Some(DType::BF16), Some(10)));
        assert!(same_type(Some(DType::F32), Some(1)));
        assert!(!same_type(None, Some(1)));
    }
}
