//! Spellings of the population variance over the last `k` axes.
//!
//! ```text
//! (mean (mul (sub x (mean x k)) (sub x (mean x k))) k)   => (var x k)   centred square
//! (sub (mean (mul x x) k) (mul (mean x k) (mean x k)))   => (var x k)   E[x²] - E[x]²
//! ```
//! `Pow(d, 2)` reaches the first form through `pow2-to-mul`; the same `k` in both
//! reductions is what makes the axes equal.

use super::cond::float;
use super::Rule;
use egg::rewrite;

/// The variance rules.
pub fn rules() -> Vec<Rule> {
    vec![
        rewrite!("var-centred";
            "(mean (mul (sub ?x (mean ?x ?k)) (sub ?x (mean ?x ?k))) ?k)" => "(var ?x ?k)"
            if float("?x")),
        rewrite!("var-moments";
            "(sub (mean (mul ?x ?x) ?k) (mul (mean ?x ?k) (mean ?x ?k)))" => "(var ?x ?k)"
            if float("?x")),
    ]
}
