//! Rule conditions as small named functions over e-class [`Facts`], plus their egg wrappers.

use crate::analysis::{broadcasts_within, reduced_shape, Facts, NormAnalysis};
use crate::lang::NormLang;
use egg::{EGraph, Id, Subst, Var};
use lnopt_ir::DType;

/// The e-graph type the rules work on.
pub type NormEGraph = EGraph<NormLang, NormAnalysis>;

/// A pattern variable from a literal name such as `"?x"`.
pub fn var(name: &str) -> Var {
    name.parse()
        .unwrap_or_else(|_| panic!("rule variable literal '{name}' is malformed"))
}

/// Facts of the class bound to `v`.
pub fn facts<'a>(eg: &'a NormEGraph, s: &Subst, v: Var) -> &'a Facts {
    &eg[s[v]].data
}

/// `exp` is a constant equal to `want` everywhere that broadcasts within `base`'s shape,
/// and `base` is floating point (so `Pow(base, exp)` keeps `base`'s shape and type).
pub fn exponent_is(exp: &Facts, base: &Facts, want: f64) -> bool {
    let shape_ok = match (&exp.shape, &base.shape) {
        (Some(e), Some(b)) => broadcasts_within(e, b),
        // A scalar exponent keeps any base's shape, known or not.
        (Some(e), None) => e.is_empty(),
        _ => false,
    };
    exp.uniform == Some(want) && shape_ok && base.is_float()
}

/// Element types a fused node may take as input (stash_type = 1 computes in f32).
pub fn fusable_dtype(d: Option<DType>) -> bool {
    matches!(d, Some(DType::F32 | DType::F16 | DType::BF16))
}

/// Normalising the last `k` axes of `x` is well defined: `1 <= k <= rank`. An unknown rank
/// is accepted: the targets' patterns hold `(mean x k)`, which only a ReduceMean over the
/// negative axes `-k..-1` gives for a value of unknown rank ([`crate::region::mean_axes`]),
/// and that node fails on every input of rank below `k`.
pub fn axes_ok(x: &Facts, k: &Facts) -> bool {
    match (x.rank(), k.int) {
        (Some(r), Some(k)) => k >= 1 && usize::try_from(k).is_ok_and(|k| k <= r),
        (None, Some(k)) => k >= 1,
        _ => false,
    }
}

/// `eps` is a finite constant with all elements equal whose shape broadcasts within the
/// reduced statistics' shape (so adding it never enlarges the result).
pub fn eps_ok(eps: &Facts, x: &Facts, k: &Facts) -> bool {
    let Some(v) = eps.uniform else {
        return false;
    };
    if x.shape.is_none() {
        // Unknown rank (at least k, see `axes_ok`): only an ε of rank ≤ k whose dims are all
        // 1 provably broadcasts within the statistics.
        return v.is_finite()
            && k.int
                .and_then(|k| usize::try_from(k).ok())
                .is_some_and(|k| {
                    eps.shape.as_ref().is_some_and(|e| {
                        e.len() <= k && e.iter().all(|d| *d == lnopt_ir::Dim::Fixed(1))
                    })
                });
    }
    let Some(red) = reduced_shape(&x.shape, k.int) else {
        return false;
    };
    v.is_finite()
        && eps
            .shape
            .as_ref()
            .is_some_and(|e| broadcasts_within(e, &red))
}

/// All conditions of a fused norm over `x` on its last `k` axes with epsilon `eps`.
///
/// f64 inputs are accepted here so that statistics an f16/bf16 model computes in f64 can
/// meet the stash rules; extraction never emits a fused node over an f64 input
/// ([`crate::extract::emittable_input`]).
pub fn norm_ok(x: &Facts, k: &Facts, eps: &Facts) -> bool {
    (fusable_dtype(x.dtype) || x.dtype == Some(DType::F64)) && axes_ok(x, k) && eps_ok(eps, x, k)
}

/// True when `x`'s class holds a difference with a mean on either side (`x' - mean(·)` or
/// `mean(·) - x'`): an RMS over it is really a (possibly malformed) LayerNorm, so the RMS
/// rule leaves it alone and the site is reported instead of fused as an RMS of a difference.
pub fn is_centred(eg: &NormEGraph, x: Id) -> bool {
    let has_mean =
        |c: Id| eg[c].data.reduced || eg[c].nodes.iter().any(|m| matches!(m, NormLang::Mean(_)));
    eg[x].nodes.iter().any(|n| match n {
        NormLang::Sub([a, b]) => has_mean(*a) || has_mean(*b),
        _ => false,
    })
}

/// `max(Var[x over the last k axes], c)` is the variance itself: `c` is a constant at most 0
/// everywhere (so it never exceeds a variance, which is a mean of squares) whose shape
/// broadcasts within the variance's (so it cannot enlarge the result), and both are floats.
pub fn clamp_below_variance(x: &Facts, k: &Facts, c: &Facts) -> bool {
    let Some(v) = c.uniform else {
        return false;
    };
    let Some(red) = reduced_shape(&x.shape, k.int) else {
        return false;
    };
    v <= 0.0
        && x.is_float()
        && c.is_float()
        && c.shape.as_ref().is_some_and(|s| broadcasts_within(s, &red))
}

/// egg condition: [`clamp_below_variance`] of `?x`, `?k`, `?c`.
pub fn clamp_cannot_bind(
    x: &str,
    k: &str,
    c: &str,
) -> impl Fn(&mut NormEGraph, Id, &Subst) -> bool {
    let (x, k, c) = (var(x), var(k), var(c));
    move |eg, _, s| clamp_below_variance(facts(eg, s, x), facts(eg, s, k), facts(eg, s, c))
}

/// egg condition: `?c` is the constant `want` broadcasting within `?a`.
pub fn exponent(want: f64) -> impl Fn(&mut NormEGraph, Id, &Subst) -> bool {
    let (a, c) = (var("?a"), var("?c"));
    move |eg, _, s| exponent_is(facts(eg, s, c), facts(eg, s, a), want)
}

/// egg condition: `?a` and `?b` are floating point.
pub fn both_float(a: &str, b: &str) -> impl Fn(&mut NormEGraph, Id, &Subst) -> bool {
    let (a, b) = (var(a), var(b));
    move |eg, _, s| facts(eg, s, a).is_float() && facts(eg, s, b).is_float()
}

/// egg condition: `?x` is floating point.
pub fn float(x: &str) -> impl Fn(&mut NormEGraph, Id, &Subst) -> bool {
    let x = var(x);
    move |eg, _, s| facts(eg, s, x).is_float()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lnopt_ir::Dim;

    fn t(dtype: DType, dims: &[i64], uniform: Option<f64>) -> Facts {
        Facts {
            dtype: Some(dtype),
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
    fn exponent_checks_value_shape_and_type() {
        let x = t(DType::F32, &[2, 8], None);
        assert!(exponent_is(&t(DType::F32, &[], Some(2.0)), &x, 2.0));
        assert!(!exponent_is(&t(DType::F32, &[], Some(3.0)), &x, 2.0));
        assert!(!exponent_is(&t(DType::F32, &[], None), &x, 2.0));
        assert!(!exponent_is(&t(DType::F32, &[1, 1, 1], Some(2.0)), &x, 2.0));
        assert!(!exponent_is(
            &t(DType::F32, &[], Some(2.0)),
            &t(DType::I64, &[2, 8], None),
            2.0
        ));
    }

    #[test]
    fn eps_must_be_constant_and_not_broadcast_the_result() {
        let x = t(DType::F32, &[2, 3, 8], None);
        assert!(eps_ok(&t(DType::F32, &[], Some(1e-5)), &x, &int(1)));
        assert!(eps_ok(&t(DType::F32, &[1, 1, 1], Some(1e-5)), &x, &int(1)));
        assert!(!eps_ok(
            &t(DType::F32, &[1, 1, 1, 1], Some(1e-5)),
            &x,
            &int(1)
        ));
        assert!(!eps_ok(&t(DType::F32, &[8], Some(1e-5)), &x, &int(1)));
        assert!(!eps_ok(&t(DType::F32, &[], None), &x, &int(1)));
        assert!(!eps_ok(&t(DType::F32, &[], Some(f64::NAN)), &x, &int(1)));
    }

    #[test]
    fn variance_clamp_only_at_or_below_zero() {
        let x = t(DType::F32, &[2, 3, 8], None);
        assert!(clamp_below_variance(
            &x,
            &int(1),
            &t(DType::F32, &[], Some(0.0))
        ));
        assert!(clamp_below_variance(
            &x,
            &int(1),
            &t(DType::F32, &[1, 1, 1], Some(-1.0))
        ));
        assert!(!clamp_below_variance(
            &x,
            &int(1),
            &t(DType::F32, &[], Some(1e-6))
        ));
        assert!(!clamp_below_variance(
            &x,
            &int(1),
            &t(DType::F32, &[], None)
        ));
        assert!(!clamp_below_variance(
            &x,
            &int(1),
            &t(DType::F32, &[8], Some(0.0))
        ));
        assert!(!clamp_below_variance(
            &x,
            &int(1),
            &t(DType::F32, &[], Some(f64::NAN))
        ));
    }

    #[test]
    fn axes_and_dtype() {
        let x = t(DType::F32, &[2, 3, 8], None);
        assert!(axes_ok(&x, &int(3)));
        assert!(!axes_ok(&x, &int(4)));
        assert!(!axes_ok(&x, &int(0)));
        assert!(!fusable_dtype(Some(DType::F64)));
        assert!(fusable_dtype(Some(DType::BF16)));
    }
}
