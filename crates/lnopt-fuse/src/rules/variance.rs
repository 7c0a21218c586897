//! Spellings of the population variance over the last `k` axes.
//!
//! ```text
//! (mean (mul (sub x (mean x k)) (sub x (mean x k))) k)   => (var x k)   centred square
//! (sub (mean (mul x x) k) (mul (mean x k) (mean x k)))   => (var x k)   E[x²] - E[x]²
//! (max (var x k) c)  => (var x k)    when c ≤ 0 everywhere        Flax's clamped fast variance
//! (max c (var x k))  => (var x k)
//! (max (cast (var x k) w) c) => (cast (var x k) w)   w a wider float, c ≤ 0 (and mirrored)
//! ```
//! `Pow(d, 2)` reaches the first form through `pow2-to-mul`; the same `k` in both
//! reductions is what makes the axes equal.
//!
//! The clamp rules are sound because `var` denotes the population variance
//! `E[(x − E[x])²]`, a mean of squares, which is never negative; `max(v, c)` with `c ≤ 0` is
//! then `v` exactly, and the clamp constant must broadcast within the variance's shape so it
//! cannot enlarge it. The clamp only ever acted on rounding: the decomposed `E[x²] − E[x]²`
//! can round below zero on rows whose mean is large against their spread. A fused
//! `LayerNormalization` computes the variance that the clamp protects — lnopt's interpreter
//! sums centred squares (never negative), and its JIT's one-pass formula falls back to the
//! centred pass when it has lost precision — so it never needs the clamp. A widening cast
//! of a variance is exact, so it is never negative either. A clamp at a
//! positive value changes small variances and matches no rule.

use super::cast::widening;
use super::cond::{clamp_below_variance, clamp_cannot_bind, facts, float, var, NormEGraph};
use super::Rule;
use egg::{rewrite, Id, Subst};

/// `?w` widens `?x`'s float type and `?c` is a clamp the variance cannot fall below.
fn widened_clamp() -> impl Fn(&mut NormEGraph, Id, &Subst) -> bool {
    let (x, k, c, w) = (var("?x"), var("?k"), var("?c"), var("?w"));
    move |eg, _, s| {
        widening(facts(eg, s, x).dtype, facts(eg, s, w).int)
            && clamp_below_variance(facts(eg, s, x), facts(eg, s, k), facts(eg, s, c))
    }
}

/// The variance rules.
pub fn rules() -> Vec<Rule> {
    vec![
        rewrite!("var-centred";
            "(mean (mul (sub ?x (mean ?x ?k)) (sub ?x (mean ?x ?k))) ?k)" => "(var ?x ?k)"
            if float("?x")),
        rewrite!("var-moments";
            "(sub (mean (mul ?x ?x) ?k) (mul (mean ?x ?k) (mean ?x ?k)))" => "(var ?x ?k)"
            if float("?x")),
        rewrite!("var-clamp-right"; "(max (var ?x ?k) ?c)" => "(var ?x ?k)"
            if clamp_cannot_bind("?x", "?k", "?c")),
        rewrite!("var-clamp-left"; "(max ?c (var ?x ?k))" => "(var ?x ?k)"
            if clamp_cannot_bind("?x", "?k", "?c")),
        rewrite!("var-clamp-widened-right";
            "(max (cast (var ?x ?k) ?w) ?c)" => "(cast (var ?x ?k) ?w)" if widened_clamp()),
        rewrite!("var-clamp-widened-left";
            "(max ?c (cast (var ?x ?k) ?w))" => "(cast (var ?x ?k) ?w)" if widened_clamp()),
    ]
}
