//! u64 values above i64::MAX. Arrays hold u64 elements as their bit pattern in an i64, which
//! is exact for ops that move or compare bits (data movement, Equal, Add/Sub/Mul wrapping,
//! bitwise ops) but misorders and mis-divides large values elsewhere. This module gives exact
//! u64 kernels for the order-based ops and tells the dispatcher which other ops must refuse
//! such values.

use crate::arr::{Arr, Buf};
use crate::call::Call;
use crate::error::{bail, OpResult};
use crate::index::{broadcast_index, broadcast_shapes};
use lnopt_ir::DType;

/// Ops besides `misc::ELEMENT_MOVERS` that are exact on any u64 value (they wrap bits, or
/// have a kernel below).
const EXACT: &[&str] = &[
    "TopK",
    "Cast",
    "CastLike",
    "Add",
    "Sub",
    "Mul",
    "BitShift",
    "BitwiseAnd",
    "BitwiseOr",
    "BitwiseXor",
    "BitwiseNot",
    "BitCast",
    "Scatter",
    "ScatterElements",
    "ScatterND",
    "NonZero",
    "OneHot",
    "Less",
    "Greater",
    "LessOrEqual",
    "GreaterOrEqual",
    "Max",
    "Min",
];

/// True if some input of the call is u64 with an element above i64::MAX.
fn has_high_u64(c: &Call<'_>) -> bool {
    c.inputs
        .iter()
        .flatten()
        .any(|a| a.dtype == DType::U64 && matches!(&a.buf, Buf::I(v) if v.iter().any(|&x| x < 0)))
}

/// The exact u64 kernel of `op`, or a refusal, when an input holds a u64 above i64::MAX;
/// `None` when the generic kernel is exact.
pub(crate) fn u64_dispatch(op: &str, c: &Call<'_>) -> Option<OpResult<Vec<Arr>>> {
    if !has_high_u64(c) {
        return None;
    }
    let cmp = |f: fn(u64, u64) -> bool| Some(compare(c, f).map(|a| vec![a]));
    match op {
        "Less" => cmp(|a, b| a < b),
        "Greater" => cmp(|a, b| a > b),
        "LessOrEqual" => cmp(|a, b| a <= b),
        "GreaterOrEqual" => cmp(|a, b| a >= b),
        "Max" => Some(variadic(c, u64::max).map(|a| vec![a])),
        "Min" => Some(variadic(c, u64::min).map(|a| vec![a])),
        _ if super::misc::ELEMENT_MOVERS.contains(&op) || EXACT.contains(&op) => None,
        _ => Some(Err(format!(
            "{op} on u64 values above 2^63 is not implemented"
        )
        .into())),
    }
}

fn u64s<'a>(a: &'a Arr, what: &str) -> OpResult<&'a [i64]> {
    if a.dtype != DType::U64 {
        bail!("{what} is {}, expected u64", a.dtype);
    }
    a.int_values(what)
}

fn compare(c: &Call<'_>, f: fn(u64, u64) -> bool) -> OpResult<Arr> {
    let (a, b) = (c.input(0)?, c.input(1)?);
    let (x, y) = (u64s(a, "A")?, u64s(b, "B")?);
    let out = broadcast_shapes(&[&a.shape, &b.shape])?;
    let ia = broadcast_index(&a.shape, &out)?;
    let ib = broadcast_index(&b.shape, &out)?;
    let v = ia
        .iter()
        .zip(&ib)
        .map(|(&i, &j)| f(x[i] as u64, y[j] as u64) as i64)
        .collect();
    Ok(Arr::ints(DType::Bool, out, v))
}

fn variadic(c: &Call<'_>, f: fn(u64, u64) -> u64) -> OpResult<Arr> {
    let ins = c.present_inputs();
    let shapes: Vec<&[usize]> = ins.iter().map(|a| a.shape.as_slice()).collect();
    let out = broadcast_shapes(&shapes)?;
    let mut acc: Option<Vec<u64>> = None;
    for a in ins {
        let v = u64s(a, "input")?;
        let idx = broadcast_index(&a.shape, &out)?;
        let cur: Vec<u64> = idx.iter().map(|&i| v[i] as u64).collect();
        acc = Some(match acc {
            None => cur,
            Some(p) => p.iter().zip(&cur).map(|(&x, &y)| f(x, y)).collect(),
        });
    }
    let v = acc.unwrap_or_default().iter().map(|&x| x as i64).collect();
    Ok(Arr::ints(DType::U64, out, v))
}
