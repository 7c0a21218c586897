//! Algebraic equalities that bring the many spellings of a normalisation together.
//!
//! ```text
//! (add a b)                         = (add b a)
//! (mul a b)                         = (mul b a)
//! (pow a 2)                        => (mul a a)
//! (pow a 0.5)                      => (sqrt a)
//! (pow a -0.5)                     => (recip (sqrt a))
//! (pow a -1)                       => (recip a)
//! (div a b)                        => (mul a (recip b))
//! (mul 1 (recip b))                => (recip b)
//! (mul a 1)                        => a                         (Paddle's scale(x, 1.0))
//! (add (mul x s) (sub b (mul m s))) => (add (mul (sub x m) s) b)        tf2onnx / Keras
//! (mul a (mul g (recip s)))        => (mul (mul a (recip s)) g)
//! (mul (neg a) b)                  => (neg (mul a b))
//! (add a (neg b))                  => (sub a b)
//! (add a (add (neg b) c))          => (add (sub a b) c)
//! (sub (mul x s) (mul m s))        => (mul (sub x m) s)
//! ```
//! The last four bring a mean subtracted through a negated product (Keras 3:
//! `x·inv + (Neg(mean)·inv + β)`, and `x·inv + Neg(mean)·inv` without β) back to the centred
//! form `(x − mean)·inv + β`. Each is an identity of real arithmetic on any operands; the
//! association only moves a negated term, so it cannot reorder unrelated sums.
//! Constants must broadcast within the other operand, so no rule changes a shape.

use super::cond::{both_float, exponent, facts, var};
use super::Rule;
use crate::analysis::broadcasts_within;
use egg::rewrite;

/// The algebra rules.
pub fn rules() -> Vec<Rule> {
    let (c, b) = (var("?c"), var("?b"));
    let one_within = move |eg: &mut super::cond::NormEGraph, _: egg::Id, s: &egg::Subst| {
        let (fc, fb) = (facts(eg, s, c), facts(eg, s, b));
        fc.uniform == Some(1.0)
            && fb.is_float()
            && matches!((&fc.shape, &fb.shape), (Some(x), Some(y)) if broadcasts_within(x, y))
    };
    let (a, one) = (var("?a"), var("?c"));
    let times_one = move |eg: &mut super::cond::NormEGraph, _: egg::Id, s: &egg::Subst| {
        let (fa, fc) = (facts(eg, s, a), facts(eg, s, one));
        fc.uniform == Some(1.0)
            && fa.is_float()
            && fc.is_float()
            && matches!((&fc.shape, &fa.shape), (Some(x), Some(y)) if broadcasts_within(x, y))
    };
    vec![
        rewrite!("mul-one"; "(mul ?a ?c)" => "?a" if times_one),
        rewrite!("add-comm"; "(add ?a ?b)" => "(add ?b ?a)"),
        rewrite!("mul-comm"; "(mul ?a ?b)" => "(mul ?b ?a)"),
        rewrite!("pow2-to-mul"; "(pow ?a ?c)" => "(mul ?a ?a)" if exponent(2.0)),
        rewrite!("pow-half-to-sqrt"; "(pow ?a ?c)" => "(sqrt ?a)" if exponent(0.5)),
        rewrite!("pow-neg-half-to-rsqrt"; "(pow ?a ?c)" => "(recip (sqrt ?a))" if exponent(-0.5)),
        rewrite!("pow-neg-one-to-recip"; "(pow ?a ?c)" => "(recip ?a)" if exponent(-1.0)),
        rewrite!("div-to-mul-recip"; "(div ?a ?b)" => "(mul ?a (recip ?b))" if both_float("?a", "?b")),
        rewrite!("one-times-recip"; "(mul ?c (recip ?b))" => "(recip ?b)" if one_within),
        rewrite!("factor-centred-affine";
            "(add (mul ?x ?s) (sub ?b (mul ?m ?s)))" => "(add (mul (sub ?x ?m) ?s) ?b)"
            if both_float("?x", "?m")),
        rewrite!("mul-recip-reassoc";
            "(mul ?a (mul ?g (recip ?s)))" => "(mul (mul ?a (recip ?s)) ?g)"
            if both_float("?a", "?g")),
        rewrite!("neg-out-of-mul"; "(mul (neg ?a) ?b)" => "(neg (mul ?a ?b))" if both_float("?a", "?b")),
        rewrite!("add-neg-is-sub"; "(add ?a (neg ?b))" => "(sub ?a ?b)" if both_float("?a", "?b")),
        rewrite!("add-neg-assoc";
            "(add ?a (add (neg ?b) ?c))" => "(add (sub ?a ?b) ?c)" if both_float("?a", "?b")),
        rewrite!("factor-common-mul";
            "(sub (mul ?x ?s) (mul ?m ?s))" => "(mul (sub ?x ?m) ?s)" if both_float("?x", "?m")),
    ]
}
