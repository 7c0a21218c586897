//! Reductions: Reduce* (axes as attribute or input depending on opset), ArgMax/ArgMin.

use super::{Ctx, Given, Out};
use crate::dims::{normalize_axes, normalize_axis};
use lnopt_ir::{DType, Dim};

/// Opset from which each reduction takes its axes as an input instead of an attribute.
fn axes_input_since(op: &str) -> Option<i64> {
    Some(match op {
        "ReduceSum" => 13,
        "ReduceMean" | "ReduceMax" | "ReduceMin" | "ReduceProd" | "ReduceL1" | "ReduceL2"
        | "ReduceLogSum" | "ReduceLogSumExp" | "ReduceSumSquare" => 18,
        _ => return None,
    })
}

/// Output dims of a reduction over `axes` (already normalised) of `shape`.
pub fn reduced_dims(shape: &[Dim], axes: &[usize], keepdims: bool) -> Vec<Dim> {
    shape
        .iter()
        .enumerate()
        .filter_map(|(i, d)| match (axes.contains(&i), keepdims) {
            (false, _) => Some(d.clone()),
            (true, true) => Some(Dim::Fixed(1)),
            (true, false) => None,
        })
        .collect()
}

/// Rules for reductions; `Ok(None)` if `op` is not one of them.
pub(crate) fn infer(ctx: &Ctx, op: &str) -> Result<Option<Out>, String> {
    if op == "ArgMax" || op == "ArgMin" {
        let Some(shape) = ctx.shape(0) else {
            return Ok(Some(Out::of(DType::I64, None)));
        };
        let axis = ctx.int_attr("axis", 0)?;
        let a = normalize_axis(axis, shape.len())
            .ok_or_else(|| format!("axis {axis} out of range for rank {}", shape.len()))?;
        let keep = ctx.int_attr("keepdims", 1)? != 0;
        return Ok(Some(Out::of(
            DType::I64,
            Some(reduced_dims(shape, &[a], keep)),
        )));
    }
    let Some(since) = axes_input_since(op) else {
        return Ok(None);
    };
    let elem = ctx.dtype(0);
    let keep = ctx.int_attr("keepdims", 1)? != 0;
    let noop = ctx.opset >= since && ctx.int_attr("noop_with_empty_axes", 0)? != 0;
    let axes = ctx.ints_attr_or_input("axes", 1, since)?;
    let Some(shape) = ctx.shape(0) else {
        return Ok(Some(Out::of(elem, None)));
    };
    let whole_vector = shape.len() == 1
        && match &axes {
            Given::Known(a) => a.is_empty() && !noop || a.as_slice() == [0] || a.as_slice() == [-1],
            Given::Absent => !noop,
            Given::Unknown => false,
        };
    let dims = match axes {
        Given::Unknown => {
            if !keep {
                return Ok(Some(Out::of(elem, None)));
            }
            // Which axes are reduced is unknown: only size-1 dims stay certain.
            shape
                .iter()
                .map(|d| {
                    if *d == Dim::Fixed(1) {
                        d.clone()
                    } else {
                        Dim::Unknown
                    }
                })
                .collect()
        }
        Given::Known(a) if !a.is_empty() => {
            let n = normalize_axes(&a, shape.len())
                .ok_or_else(|| format!("bad axes {a:?} for rank {}", shape.len()))?;
            reduced_dims(shape, &n, keep)
        }
        _ if noop => shape.to_vec(),
        _ => {
            let all: Vec<usize> = (0..shape.len()).collect();
            reduced_dims(shape, &all, keep)
        }
    };
    let out = Out::of(elem, Some(dims));
    if whole_vector && matches!(op, "ReduceProd" | "ReduceSum") && elem.is_int() {
        // The product / sum of a 1-D integer vector whose elements are all known (element
        // counts computed from Shape, as tf2onnx writes them), when it fits in i64.
        let vals: Option<Vec<i64>> = ctx
            .elems(0)
            .and_then(|e| e.iter().map(Dim::fixed).collect());
        let total = vals.and_then(|v| {
            v.into_iter()
                .try_fold(if op == "ReduceProd" { 1i64 } else { 0 }, |acc, x| {
                    if op == "ReduceProd" {
                        acc.checked_mul(x)
                    } else {
                        acc.checked_add(x)
                    }
                })
        });
        if let Some(t) = total {
            return Ok(Some(out.with_elems(Some(vec![Dim::Fixed(t)]))));
        }
    }
    Ok(Some(out))
}

/// Det: the determinants of the trailing square matrices, `[*, M, M] -> [*]`.
pub(crate) fn infer_det(ctx: &Ctx, op: &str) -> Result<Option<Out>, String> {
    if op != "Det" {
        return Ok(None);
    }
    let elem = ctx.dtype(0);
    let Some(x) = ctx.shape(0) else {
        return Ok(Some(Out::of(elem, None)));
    };
    if x.len() < 2 {
        return Err(format!("input must have rank >= 2, has {}", x.len()));
    }
    if let (Some(a), Some(b)) = (x[x.len() - 2].fixed(), x[x.len() - 1].fixed()) {
        if a != b {
            return Err(format!("matrices must be square, are {a} x {b}"));
        }
    }
    Ok(Some(Out::of(elem, Some(x[..x.len() - 2].to_vec()))))
}
