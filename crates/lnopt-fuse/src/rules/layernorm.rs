//! The LayerNorm target.
//!
//! ```text
//! (mul (sub x (mean x k)) (recip (sqrt (add (var x k) eps))))  =>  (ln x k eps)
//! ```
//! Conditions ([`super::cond::norm_ok`]): x is f32/f16/bf16 of known rank, `1 <= k <= rank`,
//! eps a finite uniform constant that does not broadcast the statistics. Division by the
//! standard deviation reaches this form through `div-to-mul-recip`; the affine γ/β stay
//! `mul`/`add` around `ln` and are absorbed when the node is emitted.

use super::cond::{facts, norm_ok, var, NormEGraph};
use super::Rule;
use egg::{rewrite, Id, Subst};

/// The LayerNorm rule.
pub fn rules() -> Vec<Rule> {
    let (x, k, e) = (var("?x"), var("?k"), var("?e"));
    let cond = move |eg: &mut NormEGraph, _: Id, s: &Subst| {
        norm_ok(facts(eg, s, x), facts(eg, s, k), facts(eg, s, e))
    };
    vec![rewrite!("layernorm";
        "(mul (sub ?x (mean ?x ?k)) (recip (sqrt (add (var ?x ?k) ?e))))" => "(ln ?x ?k ?e)"
        if cond)]
}
