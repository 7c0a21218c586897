//! Float classification: `IsNaN` and `IsInf` (with `detect_positive` / `detect_negative`).

use crate::arr::Arr;
use crate::call::Call;
use crate::error::OpResult;
use lnopt_ir::DType;

/// A bool array with `f` applied to every element of the float input.
fn classify(c: &Call<'_>, f: impl Fn(f64) -> bool) -> OpResult<Arr> {
    let x = c.input(0)?;
    let v = x.float_values("input")?;
    Ok(Arr::ints(
        DType::Bool,
        x.shape.clone(),
        v.iter().map(|&a| f(a) as i64).collect(),
    ))
}

/// `IsNaN`.
pub(crate) fn is_nan(c: &Call<'_>) -> OpResult<Arr> {
    classify(c, f64::is_nan)
}

/// `IsInf`: true for +inf when `detect_positive` (default 1), for -inf when
/// `detect_negative` (default 1).
pub(crate) fn is_inf(c: &Call<'_>) -> OpResult<Arr> {
    let pos = c.int("detect_positive", 1)? != 0;
    let neg = c.int("detect_negative", 1)? != 0;
    classify(c, |a| {
        (pos && a == f64::INFINITY) || (neg && a == f64::NEG_INFINITY)
    })
}
