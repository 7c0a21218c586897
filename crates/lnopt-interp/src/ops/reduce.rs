//! Reductions (ReduceMean/Sum/Max/Min/Prod/SumSquare/L1/L2/LogSum/LogSumExp) and Softmax /
//! LogSoftmax.

use crate::arr::{Arr, Buf};
use crate::call::Call;
use crate::error::{bail, OpResult};
use crate::index::{broadcast_index, norm_axes, norm_axis};
use crate::ops::elementwise::{nan_max, nan_min};
use crate::ops::sort::cmp_elems;

/// The reduce ops whose axes moved from attribute to input: ReduceSum at 13, others at 18.
fn axes_from_input(op: &str, opset: i64) -> bool {
    if op == "ReduceSum" {
        opset >= 13
    } else {
        opset >= 18
    }
}

/// Resolves the axes of a reduce node; `None` means "leave the input unchanged".
fn reduce_axes(c: &Call<'_>, op: &str, rank: usize) -> OpResult<Option<Vec<usize>>> {
    let axes = if axes_from_input(op, c.opset) {
        match c.opt_input(1) {
            Some(a) => a.int_values("axes")?.to_vec(),
            None => Vec::new(),
        }
    } else {
        c.ints("axes")?.unwrap_or_default()
    };
    if axes.is_empty() {
        if c.int("noop_with_empty_axes", 0)? != 0 {
            return Ok(None);
        }
        return Ok(Some((0..rank).collect()));
    }
    Ok(Some(norm_axes(&axes, rank)?))
}

/// The smallest (`max` false) or largest value of an integer or bool dtype: what ReduceMax /
/// ReduceMin give over an empty set.
fn int_extreme(dt: lnopt_ir::DType, max: bool) -> i64 {
    use lnopt_ir::DType as D;
    let (lo, hi) = match dt {
        D::Bool => (0, 1),
        D::I8 => (i8::MIN as i64, i8::MAX as i64),
        D::U8 => (0, u8::MAX as i64),
        D::I16 => (i16::MIN as i64, i16::MAX as i64),
        D::U16 => (0, u16::MAX as i64),
        D::I32 => (i32::MIN as i64, i32::MAX as i64),
        D::U32 => (0, u32::MAX as i64),
        D::U64 => (0, -1),
        _ => (i64::MIN, i64::MAX),
    };
    if max {
        hi
    } else {
        lo
    }
}

/// A reduce op (`ReduceMean`, `ReduceSum`, `ReduceMax`, `ReduceMin`, `ReduceProd`,
/// `ReduceSumSquare`, `ReduceL1`, `ReduceL2`, `ReduceLogSum`, `ReduceLogSumExp`) with
/// `keepdims` (default 1) and `noop_with_empty_axes`. Over an empty set, Max / Min give the
/// dtype's lowest / highest value, LogSum / LogSumExp give -inf.
pub(crate) fn reduce(c: &Call<'_>, op: &str) -> OpResult<Arr> {
    let x = c.input(0)?;
    let Some(axes) = reduce_axes(c, op, x.rank())? else {
        return Ok(x.clone());
    };
    let keep = c.int("keepdims", 1)? != 0;
    let kept: Vec<usize> = x
        .shape
        .iter()
        .enumerate()
        .map(|(i, &d)| if axes.contains(&i) { 1 } else { d })
        .collect();
    let n_out: usize = kept.iter().product();
    let count: usize = axes.iter().map(|&a| x.shape[a]).product();
    // For every input element, the output element it folds into.
    let dest = broadcast_index(&kept, &x.shape)?;
    let out_shape: Vec<usize> = if keep {
        kept.clone()
    } else {
        x.shape
            .iter()
            .enumerate()
            .filter(|(i, _)| !axes.contains(i))
            .map(|(_, &d)| d)
            .collect()
    };
    if x.dtype == lnopt_ir::DType::U64 && matches!(op, "ReduceMax" | "ReduceMin") {
        bail!("{op} on uint64 is not supported");
    }
    if !x.is_float() && matches!(op, "ReduceL2" | "ReduceLogSum" | "ReduceLogSumExp") {
        bail!("{op} on {} is not supported", x.dtype);
    }
    match &x.buf {
        Buf::F(v) => {
            let init = match op {
                "ReduceMax" => f64::NEG_INFINITY,
                "ReduceMin" => f64::INFINITY,
                "ReduceProd" => 1.0,
                _ => 0.0,
            };
            // LogSumExp subtracts each group's maximum first, so large inputs do not overflow.
            let mut shift = vec![0.0; n_out];
            if op == "ReduceLogSumExp" {
                shift = vec![f64::NEG_INFINITY; n_out];
                for (&d, &e) in dest.iter().zip(v) {
                    shift[d] = nan_max(shift[d], e);
                }
                shift
                    .iter_mut()
                    .filter(|s| s.is_infinite())
                    .for_each(|s| *s = 0.0);
            }
            let mut acc = vec![init; n_out];
            for (&d, &e) in dest.iter().zip(v) {
                acc[d] = match op {
                    "ReduceMax" => nan_max(acc[d], e),
                    "ReduceMin" => nan_min(acc[d], e),
                    "ReduceProd" => acc[d] * e,
                    "ReduceSumSquare" | "ReduceL2" => acc[d] + e * e,
                    "ReduceL1" => acc[d] + e.abs(),
                    "ReduceLogSumExp" => acc[d] + (e - shift[d]).exp(),
                    _ => acc[d] + e,
                };
            }
            match op {
                "ReduceMean" => acc.iter_mut().for_each(|a| *a /= count as f64),
                "ReduceL2" => acc.iter_mut().for_each(|a| *a = a.sqrt()),
                "ReduceLogSum" => acc.iter_mut().for_each(|a| *a = a.ln()),
                "ReduceLogSumExp" => acc
                    .iter_mut()
                    .zip(&shift)
                    .for_each(|(a, s)| *a = a.ln() + s),
                _ => {}
            }
            Ok(Arr::floats(x.dtype, out_shape, acc))
        }
        Buf::I(v) => {
            let init = match op {
                "ReduceMax" => int_extreme(x.dtype, false),
                "ReduceMin" => int_extreme(x.dtype, true),
                "ReduceProd" => 1,
                _ => 0,
            };
            let mut acc = vec![init; n_out];
            for (&d, &e) in dest.iter().zip(v) {
                acc[d] = match op {
                    "ReduceMax" => acc[d].max(e),
                    "ReduceMin" => acc[d].min(e),
                    "ReduceProd" => acc[d].wrapping_mul(e),
                    "ReduceSumSquare" => acc[d].wrapping_add(e.wrapping_mul(e)),
                    "ReduceL1" => acc[d].wrapping_add(e.wrapping_abs()),
                    _ => acc[d].wrapping_add(e),
                };
            }
            if op == "ReduceMean" {
                if count == 0 {
                    bail!("ReduceMean over an empty axis");
                }
                acc.iter_mut().for_each(|a| *a /= count as i64);
            }
            Ok(Arr::ints(x.dtype, out_shape, acc))
        }
        Buf::S(_) => bail!("input must be numeric, got strings"),
    }
}

/// `Softmax` / `LogSoftmax`. From opset 13 over one axis (default -1); before, the input is
/// seen as 2-D `[prod(shape[:axis]), prod(shape[axis:])]` (default axis 1) and normalised over
/// the second dim.
pub(crate) fn softmax(c: &Call<'_>, log: bool) -> OpResult<Arr> {
    let x = c.input(0)?;
    let v = x.float_values("input")?;
    let r = x.rank();
    let (outer, n, inner) = if c.opset >= 13 {
        let a = norm_axis(c.int("axis", -1)?, r)?;
        (
            x.shape[..a].iter().product::<usize>(),
            x.shape[a],
            x.shape[a + 1..].iter().product::<usize>(),
        )
    } else {
        let axis = c.int("axis", 1)?;
        let ri = r as i64;
        if axis < -ri || axis > ri {
            bail!("axis {axis} out of range for rank {r}");
        }
        let a = if axis < 0 { axis + ri } else { axis } as usize;
        (
            x.shape[..a].iter().product::<usize>(),
            x.shape[a..].iter().product::<usize>(),
            1,
        )
    };
    let mut out = vec![0.0; v.len()];
    for o in 0..outer {
        for i in 0..inner {
            let at = |k: usize| (o * n + k) * inner + i;
            let m = (0..n).map(|k| v[at(k)]).fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = (0..n).map(|k| (v[at(k)] - m).exp()).sum();
            for k in 0..n {
                let e = v[at(k)] - m;
                out[at(k)] = if log { e - sum.ln() } else { e.exp() / sum };
            }
        }
    }
    Ok(Arr::floats(x.dtype, x.shape.clone(), out))
}

/// `ArgMax` / `ArgMin` along `axis` with `keepdims` and `select_last_index`.
pub(crate) fn arg_reduce(c: &Call<'_>, max: bool) -> OpResult<Arr> {
    let x = c.input(0)?;
    if x.float_values("input")
        .is_ok_and(|v| v.iter().any(|f| f.is_nan()))
    {
        bail!("the position of the extreme of values with NaN is not defined");
    }
    let a = norm_axis(c.int("axis", 0)?, x.rank())?;
    let keep = c.int("keepdims", 1)? != 0;
    let last = c.int("select_last_index", 0)? != 0;
    let outer: usize = x.shape[..a].iter().product();
    let n = x.shape[a];
    let inner: usize = x.shape[a + 1..].iter().product();
    if n == 0 {
        bail!("arg reduction over an empty axis");
    }
    let mut out = Vec::with_capacity(outer * inner);
    for o in 0..outer {
        for i in 0..inner {
            let mut best = 0usize;
            for k in 1..n {
                // Compared in the element type (i64 above 2^53 stays exact).
                let ord = cmp_elems(x, (o * n + k) * inner + i, (o * n + best) * inner + i);
                let better = if max { ord.is_gt() } else { ord.is_lt() };
                if better || (last && ord.is_eq()) {
                    best = k;
                }
            }
            out.push(best as i64);
        }
    }
    let mut shape = x.shape.clone();
    if keep {
        shape[a] = 1;
    } else {
        shape.remove(a);
    }
    Ok(Arr::ints(lnopt_ir::DType::I64, shape, out))
}
