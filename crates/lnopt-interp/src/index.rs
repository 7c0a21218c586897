//! Index arithmetic: normalising axes, strides, numpy broadcasting as flat index maps.

use crate::arr::checked_numel;
use crate::error::{bail, OpResult};

/// Normalises a possibly negative `axis` for an array of rank `rank` (`-rank <= axis < rank`).
pub(crate) fn norm_axis(axis: i64, rank: usize) -> OpResult<usize> {
    let r = rank as i64;
    if axis < -r || axis >= r {
        bail!("axis {axis} is out of range for rank {rank}");
    }
    Ok(if axis < 0 { axis + r } else { axis } as usize)
}

/// Normalises a list of axes, refusing duplicates.
pub(crate) fn norm_axes(axes: &[i64], rank: usize) -> OpResult<Vec<usize>> {
    let mut out = Vec::with_capacity(axes.len());
    for &a in axes {
        let a = norm_axis(a, rank)?;
        if out.contains(&a) {
            bail!("axis {a} is repeated in {axes:?}");
        }
        out.push(a);
    }
    Ok(out)
}

/// Row-major strides of `shape`.
pub(crate) fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1usize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// The numpy broadcast of several shapes.
pub(crate) fn broadcast_shapes(shapes: &[&[usize]]) -> OpResult<Vec<usize>> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![1usize; rank];
    for s in shapes {
        let off = rank - s.len();
        for (i, &d) in s.iter().enumerate() {
            let o = &mut out[off + i];
            if *o == 1 {
                *o = d;
            } else if d != 1 && d != *o {
                bail!("shapes {shapes:?} do not broadcast");
            }
        }
    }
    checked_numel(&out)?;
    Ok(out)
}

/// For every element of `out` (row-major), the flat index of the element of an array of shape
/// `src` that numpy broadcasting reads. `src` must broadcast to `out`.
pub(crate) fn broadcast_index(src: &[usize], out: &[usize]) -> OpResult<Vec<usize>> {
    if src.len() > out.len() {
        bail!("shape {src:?} cannot broadcast to {out:?}");
    }
    let off = out.len() - src.len();
    let src_strides = strides(src);
    // Stride in the source for every output axis; 0 where the source is broadcast.
    let mut st = vec![0usize; out.len()];
    for (i, &d) in src.iter().enumerate() {
        if d == out[off + i] {
            st[off + i] = src_strides[i];
        } else if d != 1 {
            bail!("shape {src:?} cannot broadcast to {out:?}");
        }
    }
    let n = checked_numel(out)?;
    if src == out {
        return Ok((0..n).collect());
    }
    let mut idx = Vec::with_capacity(n);
    let mut counter = vec![0usize; out.len()];
    let mut pos = 0usize;
    for _ in 0..n {
        idx.push(pos);
        // Odometer increment from the last axis.
        for ax in (0..out.len()).rev() {
            counter[ax] += 1;
            pos += st[ax];
            if counter[ax] < out[ax] {
                break;
            }
            pos -= st[ax] * counter[ax];
            counter[ax] = 0;
        }
    }
    Ok(idx)
}

/// Converts an i64 dims list (from a shape tensor) to usize, refusing negatives.
pub(crate) fn to_dims(v: &[i64], what: &str) -> OpResult<Vec<usize>> {
    let mut out = Vec::with_capacity(v.len());
    for &d in v {
        match usize::try_from(d) {
            Ok(d) => out.push(d),
            Err(_) => bail!("{what} has a negative dim: {v:?}"),
        }
    }
    checked_numel(&out)?;
    Ok(out)
}
