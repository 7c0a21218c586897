//! Per-channel views and sums: how an inference-mode `BatchNormalization` whose statistics
//! are the moments of its own input (tf2onnx's Keras 2 LayerNormalization over a
//! `[1, rows, H, 1]` view) meets the LayerNorm target.
//!
//! ```text
//! (chan (flat m) x)     => m                     m and x of the same rank
//! (chan (div a n) x)    => (div (chan a x) n)    n a single element (rank ≤ 1)
//! (div (sum x k) n)     => (mean x k)            n = the number of elements summed
//! ```
//! `(flat m)` is `m = [1, C, 1, …, 1]` seen as `[C]`; `(chan p x)` is the rank-1 `p` seen as
//! `[1, C, 1, …, 1]` of `x`'s rank. Both only regroup the same C elements, so viewing a
//! flat `m` per channel at `m`'s own rank gives `m` back; dividing by one element commutes
//! with any regrouping; and a sum over the last `k` axes divided by their element count is
//! their mean (`ReduceMean` is that quotient). The count must be a constant equal to the
//! product of the last `k` dims, all known, and broadcast within the sum's shape.

use super::cond::{facts, var, NormEGraph};
use super::Rule;
use crate::analysis::{broadcasts_within, reduced_shape, Facts};
use egg::{rewrite, Id, Subst};
use lnopt_ir::Dim;

/// `n` is one element (rank ≤ 1, every dim 1) and both operands are floats.
pub fn single_element(n: &Facts, a: &Facts) -> bool {
    n.shape
        .as_ref()
        .is_some_and(|s| s.len() <= 1 && s.iter().all(|d| *d == Dim::Fixed(1)))
        && n.is_float()
        && a.is_float()
}

/// `n` is the constant count of the elements a sum over the last `k` axes of `x` adds up:
/// the product of those dims (all known), and its shape broadcasts within the sum's.
pub fn is_count_of(n: &Facts, x: &Facts, k: &Facts) -> bool {
    let (Some(shape), Some(k), Some(v)) = (&x.shape, k.int, n.uniform) else {
        return false;
    };
    let Ok(ku) = usize::try_from(k) else {
        return false;
    };
    if ku == 0 || ku > shape.len() {
        return false;
    }
    let dims: Option<Vec<i64>> = shape[shape.len() - ku..].iter().map(Dim::fixed).collect();
    let Some(count) = dims.and_then(|d| lnopt_ir::numel(&d)) else {
        return false;
    };
    let Some(red) = reduced_shape(&x.shape, Some(k)) else {
        return false;
    };
    x.is_float()
        && n.is_float()
        && count > 0
        && v == count as f64
        && n.shape.as_ref().is_some_and(|s| broadcasts_within(s, &red))
}

/// The channel rules.
pub fn rules() -> Vec<Rule> {
    let (m, x) = (var("?m"), var("?x"));
    let same_rank = move |eg: &mut NormEGraph, _: Id, s: &Subst| {
        let (fm, fx) = (facts(eg, s, m), facts(eg, s, x));
        fm.rank().is_some_and(|r| r >= 2) && fm.rank() == fx.rank()
    };
    let (a, n) = (var("?a"), var("?n"));
    let one_element = move |eg: &mut NormEGraph, _: Id, s: &Subst| {
        single_element(facts(eg, s, n), facts(eg, s, a))
    };
    let (sx, sk, sn) = (var("?x"), var("?k"), var("?n"));
    let count = move |eg: &mut NormEGraph, _: Id, s: &Subst| {
        is_count_of(facts(eg, s, sn), facts(eg, s, sx), facts(eg, s, sk))
    };
    vec![
        rewrite!("chan-of-flat"; "(chan (flat ?m) ?x)" => "?m" if same_rank),
        rewrite!("chan-through-div"; "(chan (div ?a ?n) ?x)" => "(div (chan ?a ?x) ?n)"
            if one_element),
        rewrite!("mean-from-sum"; "(div (sum ?x ?k) ?n)" => "(mean ?x ?k)" if count),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use lnopt_ir::DType;

    fn t(dims: &[i64], uniform: Option<f64>) -> Facts {
        Facts {
            dtype: Some(DType::F32),
            shape: Some(dims.iter().map(|&d| Dim::Fixed(d)).collect()),
            uniform,
            int: None,
            reduced: false,
        }
    }

    fn int(k: i64) -> Facts {
        Facts {
            int: Some(k),
            ..Facts::default()
        }
    }

    #[test]
    fn count_is_the_product_of_the_summed_dims() {
        let x = t(&[1, 10, 16, 1], None);
        assert!(is_count_of(&t(&[], Some(16.0)), &x, &int(2)));
        assert!(is_count_of(&t(&[1], Some(16.0)), &x, &int(2)));
        assert!(!is_count_of(&t(&[], Some(15.0)), &x, &int(2)));
        assert!(!is_count_of(&t(&[], Some(16.0)), &x, &int(3)));
        assert!(!is_count_of(&t(&[], None), &x, &int(2)));
        assert!(!is_count_of(&t(&[2], Some(16.0)), &x, &int(2)));
        assert!(!is_count_of(&t(&[], Some(16.0)), &x, &int(0)));
        let sym = Facts {
            shape: Some(vec![
                Dim::Fixed(1),
                Dim::Fixed(10),
                Dim::Unknown,
                Dim::Fixed(1),
            ]),
            ..x.clone()
        };
        assert!(!is_count_of(&t(&[], Some(16.0)), &sym, &int(2)));
    }

    #[test]
    fn single_element_divisors_only() {
        let a = t(&[10], None);
        assert!(single_element(&t(&[], Some(3.0)), &a));
        assert!(single_element(&t(&[1], None), &a));
        assert!(!single_element(&t(&[10], None), &a));
        assert!(!single_element(&t(&[1, 1], None), &a));
    }
}
