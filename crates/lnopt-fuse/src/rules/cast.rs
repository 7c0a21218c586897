//! Casts: no-op casts vanish; statistics computed in f32 from an f16/bf16 input become the
//! fused node's `stash_type = 1`.
//!
//! ```text
//! (cast x t)                            => x            when x already has type t
//! (cast (ln (cast x f32) k e) t)        => (ln x k e)   when x: t in {f16, bf16}
//! (cast (rms (cast x f32) k e) t)       => (rms x k e)  when x: t in {f16, bf16}
//! ```
//! A cast to a narrower type inside the statistics matches none of these, so it blocks fusion.

use super::cond::{facts, var, NormEGraph};
use super::Rule;
use egg::{rewrite, Id, Subst};
use lnopt_ir::DType;

/// True when `x` has dtype code `t`.
pub fn same_type(x: Option<DType>, t: Option<i64>) -> bool {
    matches!((x, t), (Some(d), Some(t)) if i64::from(d.onnx_code()) == t && d != DType::Undefined)
}

/// True when `x: t`, `t` is f16/bf16 and the statistics ran in f32 (`f` is the f32 code).
pub fn widened_stats(x: Option<DType>, f: Option<i64>, t: Option<i64>) -> bool {
    same_type(x, t)
        && matches!(x, Some(DType::F16 | DType::BF16))
        && f == Some(i64::from(DType::F32.onnx_code()))
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
    vec![
        rewrite!("cast-noop"; "(cast ?x ?t)" => "?x" if noop),
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
        assert!(!widened_stats(Some(DType::F16), Some(1), Some(1)));
        assert!(same_type(Some(DType::F32), Some(1)));
        assert!(!same_type(None, Some(1)));
    }
}
