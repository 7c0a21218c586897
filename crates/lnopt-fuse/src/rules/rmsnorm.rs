//! The RMSNorm target.
//!
//! ```text
//! (mul x (recip (sqrt (add (mean (mul x x) k) eps))))  =>  (rms x k eps)
//! ```
//! Same conditions as LayerNorm ([`super::cond::norm_ok`]), and x must not be a centred value
//! `x' - mean(x')` (that is a LayerNorm, [`super::cond::is_centred`]).

use super::cond::{facts, is_centred, norm_ok, var, NormEGraph};
use super::Rule;
use egg::{rewrite, Id, Subst};

/// The RMSNorm rule.
pub fn rules() -> Vec<Rule> {
    let (x, k, e) = (var("?x"), var("?k"), var("?e"));
    let cond = move |eg: &mut NormEGraph, _: Id, s: &Subst| {
        norm_ok(facts(eg, s, x), facts(eg, s, k), facts(eg, s, e)) && !is_centred(eg, s[x])
    };
    vec![rewrite!("rmsnorm";
        "(mul ?x (recip (sqrt (add (mean (mul ?x ?x) ?k) ?e))))" => "(rms ?x ?k ?e)"
        if cond)]
}
