//! Signal processing ops: DFT, STFT, the window generators and MelWeightMatrix.

use super::{Ctx, Out};
use crate::dims::normalize_axis;
use crate::fold;
use lnopt_ir::{DType, Dim};

/// Rules for signal ops; `Ok(None)` if `op` is not one of them.
pub(crate) fn infer(ctx: &Ctx, op: &str) -> Result<Option<Out>, String> {
    Ok(Some(match op {
        "DFT" => dft(ctx)?,
        "STFT" => stft(ctx)?,
        "HannWindow" | "HammingWindow" | "BlackmanWindow" => {
            let elem = ctx.dtype_attr("output_datatype")?.unwrap_or(DType::F32);
            Out::of(elem, Some(vec![scalar_dim(ctx, 0, 0)]))
        }
        "MelWeightMatrix" => {
            let elem = ctx.dtype_attr("output_datatype")?.unwrap_or(DType::F32);
            let bins = match scalar(ctx, 1) {
                Some(n) if n >= 0 => Dim::Fixed(n / 2 + 1),
                _ => ctx.fresh(0, 0),
            };
            Out::of(elem, Some(vec![bins, scalar_dim(ctx, 0, 1)]))
        }
        _ => return Ok(None),
    }))
}

/// The integer value of a constant scalar input.
fn scalar(ctx: &Ctx, slot: usize) -> Option<i64> {
    ctx.konst(slot).and_then(fold::scalar_int)
}

/// A size read from scalar input `slot`: its value, or a fresh dim.
fn scalar_dim(ctx: &Ctx, slot: usize, axis: usize) -> Dim {
    match scalar(ctx, slot) {
        Some(v) => Dim::Fixed(v),
        None => match ctx.elems(slot) {
            Some([d]) if *d != Dim::Unknown => d.clone(),
            _ => ctx.fresh(0, axis),
        },
    }
}

fn dft(ctx: &Ctx) -> Result<Out, String> {
    let elem = ctx.dtype(0);
    let Some(x) = ctx.shape(0) else {
        return Ok(Out::of(elem, None));
    };
    let rank = x.len();
    if rank < 3 {
        return Err(format!("input must have rank >= 3, has {rank}"));
    }
    let axis_raw = if ctx.opset >= 20 {
        if ctx.has(2) {
            scalar(ctx, 2)
        } else {
            Some(-2)
        }
    } else {
        Some(ctx.int_attr("axis", 1)?)
    };
    let inverse = ctx.int_attr("inverse", 0)? != 0;
    let onesided = ctx.int_attr("onesided", 0)? != 0;
    let mut dims = x.to_vec();
    // An inverse one-sided transform's sizes are not spelled out here: no fact.
    dims[rank - 1] = if onesided && inverse {
        Dim::Unknown
    } else {
        Dim::Fixed(2)
    };
    let Some(axis_raw) = axis_raw else {
        // A full-length, two-sided transform keeps every signal dim whatever the axis.
        if onesided || ctx.has(1) {
            for d in dims.iter_mut().take(rank - 1).skip(1) {
                *d = Dim::Unknown;
            }
        }
        return Ok(Out::of(elem, Some(dims)));
    };
    let axis = normalize_axis(axis_raw, rank)
        .filter(|&a| a >= 1 && a < rank - 1)
        .ok_or_else(|| format!("axis {axis_raw} is not a signal axis of rank {rank}"))?;
    let n = if ctx.has(1) {
        scalar_dim(ctx, 1, axis)
    } else {
        x[axis].clone()
    };
    dims[axis] = match (onesided, inverse, &n) {
        (false, _, _) => n,
        (true, false, Dim::Fixed(v)) => Dim::Fixed(v / 2 + 1),
        _ => Dim::Unknown,
    };
    Ok(Out::of(elem, Some(dims)))
}

fn stft(ctx: &Ctx) -> Result<Out, String> {
    let elem = ctx.dtype(0);
    let batch = match ctx.shape(0) {
        Some([b, _, _]) => b.clone(),
        Some(s) => return Err(format!("signal must be 3-D, has rank {}", s.len())),
        None => Dim::Unknown,
    };
    let len = ctx.shape(0).and_then(|s| s[1].fixed());
    let frame_len = if ctx.has(3) {
        scalar(ctx, 3)
    } else {
        match ctx.shape(2) {
            Some([d]) => d.fixed(),
            _ => None,
        }
    };
    let step = scalar(ctx, 1);
    let frames = match (len, frame_len, step) {
        (Some(l), Some(f), Some(s)) if s > 0 && l >= f => Dim::Fixed((l - f) / s + 1),
        (Some(l), Some(f), Some(_)) if l < f => {
            return Err(format!("frame length {f} exceeds the signal length {l}"))
        }
        _ => Dim::Unknown,
    };
    let onesided = ctx.int_attr("onesided", 1)? != 0;
    let bins = match frame_len {
        Some(f) if onesided => Dim::Fixed(f / 2 + 1),
        Some(f) => Dim::Fixed(f),
        None => Dim::Unknown,
    };
    Ok(Out::of(
        elem,
        Some(vec![batch, frames, bins, Dim::Fixed(2)]),
    ))
}
