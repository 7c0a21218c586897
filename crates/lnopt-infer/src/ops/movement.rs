//! Ops that select or combine elements: Gather, GatherElements, Concat, Split, Slice, Pad.

use super::{Ctx, Given, Out};
use crate::dims::{normalize_axes, normalize_axis, unify_dim};
use crate::fold::{self, MAX_FOLD};
use lnopt_ir::{numel, Dim, Tensor, TensorType};

/// Rules for element movement ops; `Ok(None)` if `op` is not one of them.
pub(crate) fn infer(ctx: &Ctx, op: &str) -> Result<Option<Out>, String> {
    Ok(Some(match op {
        "Gather" => gather(ctx)?,
        "GatherElements" => Out::of(ctx.dtype(0), ctx.shape(1).map(|s| s.to_vec())),
        "Concat" => concat(ctx)?,
        "Split" => split(ctx)?,
        "Slice" => slice(ctx)?,
        "Pad" => pad(ctx)?,
        _ => return Ok(None),
    }))
}

/// Flat positions of the cartesian product of per-axis index lists, row-major.
fn product_positions(dims: &[i64], per_axis: &[Vec<i64>]) -> Option<Vec<usize>> {
    let strides = fold::strides(dims)?;
    let total = per_axis
        .iter()
        .try_fold(1usize, |a, v| a.checked_mul(v.len()))?;
    if total > MAX_FOLD {
        return None;
    }
    let mut out = vec![0usize];
    for (axis, idx) in per_axis.iter().enumerate() {
        let mut next = Vec::with_capacity(out.len() * idx.len());
        for base in &out {
            for &i in idx {
                next.push(base + usize::try_from(i).ok()? * strides[axis]);
            }
        }
        out = next;
    }
    Some(out)
}

fn gather(ctx: &Ctx) -> Result<Out, String> {
    let elem = ctx.dtype(0);
    let (Some(data), Some(idx)) = (ctx.shape(0), ctx.shape(1)) else {
        return Ok(Out::of(elem, None));
    };
    let axis_attr = ctx.int_attr("axis", 0)?;
    let axis = normalize_axis(axis_attr, data.len())
        .ok_or_else(|| format!("axis {axis_attr} out of range for rank {}", data.len()))?;
    let mut dims = data[..axis].to_vec();
    dims.extend_from_slice(idx);
    dims.extend_from_slice(&data[axis + 1..]);
    let out = Out::of(elem, Some(dims.clone()));
    let Some(indices) = ctx.ints(1) else {
        return Ok(out);
    };
    let size = data[axis].fixed();
    let mut fixed_idx = Vec::with_capacity(indices.len());
    for &i in &indices {
        match size {
            Some(n) => {
                if i < -n || i >= n {
                    return Err(format!("index {i} out of range for axis of size {n}"));
                }
                fixed_idx.push(if i < 0 { i + n } else { i });
            }
            None => fixed_idx.push(i),
        }
    }
    // Symbolic elements: picking from a 1-D integer vector (Shape(x)[k] and friends).
    let elems = match ctx.elems(0) {
        Some(e) if data.len() == 1 && fixed_idx.iter().all(|&i| i >= 0) => fixed_idx
            .iter()
            .map(|&i| e.get(usize::try_from(i).ok()?).cloned())
            .collect::<Option<Vec<Dim>>>(),
        _ => None,
    };
    let folded = ctx.konst(0).and_then(|t| {
        let mut per_axis: Vec<Vec<i64>> = t.dims.iter().map(|&d| (0..d).collect()).collect();
        *per_axis.get_mut(axis)? = fixed_idx.clone();
        let pos = product_positions(&t.dims, &per_axis)?;
        let d: Vec<i64> = dims.iter().map(Dim::fixed).collect::<Option<_>>()?;
        fold::pick(t, d, &pos)
    });
    Ok(out.with_const(folded).with_elems(elems))
}

fn concat(ctx: &Ctx) -> Result<Out, String> {
    let slots: Vec<usize> = (0..ctx.node.inputs().len())
        .filter(|&i| ctx.has(i))
        .collect();
    let elem = slots
        .iter()
        .map(|&s| ctx.dtype(s))
        .find(|d| *d != lnopt_ir::DType::Undefined)
        .unwrap_or(lnopt_ir::DType::Undefined);
    let axis_attr = ctx
        .node
        .attr_int("axis")?
        .ok_or("Concat without attribute 'axis'")?;
    let Some(rank) = slots.iter().find_map(|&s| ctx.shape(s)).map(|s| s.len()) else {
        return Ok(Out::of(elem, None));
    };
    let axis = normalize_axis(axis_attr, rank)
        .ok_or_else(|| format!("axis {axis_attr} out of range for rank {rank}"))?;
    let mut dims: Vec<Dim> = vec![Dim::Unknown; rank];
    let mut axis_sum = Some(0i64);
    let mut axis_nonzero: Vec<Dim> = Vec::new();
    for &s in &slots {
        let Some(shape) = ctx.shape(s) else {
            axis_sum = None;
            axis_nonzero.push(Dim::Unknown);
            continue;
        };
        if shape.len() != rank {
            return Err(format!(
                "input {s} has rank {} but input ranks are {rank}",
                shape.len()
            ));
        }
        for (k, d) in shape.iter().enumerate() {
            if k == axis {
                axis_sum = match (axis_sum, d.fixed()) {
                    (Some(a), Some(b)) => a.checked_add(b),
                    _ => None,
                };
                if d.fixed() != Some(0) {
                    axis_nonzero.push(d.clone());
                }
            } else {
                dims[k] = unify_dim(&dims[k], d)
                    .ok_or_else(|| format!("input {s} dim {k} is {d}, others have {}", dims[k]))?;
            }
        }
    }
    dims[axis] = match (axis_sum, axis_nonzero.as_slice()) {
        (Some(n), _) => Dim::Fixed(n),
        (None, [one]) => one.clone(),
        _ => Dim::Unknown,
    };
    let out = Out::of(elem, Some(dims.clone()));
    let elems = if rank == 1 {
        slots
            .iter()
            .map(|&s| ctx.elems(s).map(|e| e.to_vec()))
            .collect::<Option<Vec<Vec<Dim>>>>()
            .map(|v| v.concat())
    } else {
        None
    };
    let consts: Option<Vec<&Tensor>> = slots.iter().map(|&s| ctx.konst(s)).collect();
    let folded = consts.and_then(|ts| fold_concat(&ts, axis, &dims));
    Ok(out.with_const(folded).with_elems(elems))
}

fn fold_concat(ts: &[&Tensor], axis: usize, dims: &[Dim]) -> Option<Tensor> {
    let out_dims: Vec<i64> = dims.iter().map(Dim::fixed).collect::<Option<_>>()?;
    let outer = numel(out_dims.get(..axis)?)?;
    let mut flat: Option<Tensor> = None;
    let mut chunks: Vec<(usize, usize)> = Vec::new(); // (offset in flat, chunk len)
    for t in ts {
        let chunk = numel(t.dims.get(axis..)?)?;
        let start = flat.as_ref().map_or(Some(0), |f| f.numel())?;
        flat = Some(match flat {
            None => (*t).clone(),
            Some(f) => fold::concat_bytes(&f, t)?,
        });
        chunks.push((start, chunk));
    }
    let mut idx = Vec::new();
    for o in 0..outer {
        for &(start, chunk) in &chunks {
            idx.extend((0..chunk).map(|k| start + o * chunk + k));
        }
        if idx.len() > MAX_FOLD {
            return None;
        }
    }
    fold::pick(&flat?, out_dims, &idx)
}

fn split(ctx: &Ctx) -> Result<Out, String> {
    let elem = ctx.dtype(0);
    let n_out = ctx.node.outputs().len();
    let Some(shape) = ctx.shape(0) else {
        return Ok(Out {
            types: vec![Some(TensorType { elem, shape: None }); n_out],
            ..Out::default()
        });
    };
    let axis_attr = ctx.int_attr("axis", 0)?;
    let axis = normalize_axis(axis_attr, shape.len())
        .ok_or_else(|| format!("axis {axis_attr} out of range for rank {}", shape.len()))?;
    let dim = &shape[axis];
    let sizes: Vec<Dim> = match ctx.ints_attr_or_input("split", 1, 13)? {
        Given::Known(s) => {
            if s.len() != n_out {
                return Err(format!("{} split sizes for {n_out} outputs", s.len()));
            }
            if let (Some(d), Some(sum)) = (
                dim.fixed(),
                s.iter().try_fold(0i64, |a, &b| a.checked_add(b)),
            ) {
                if d != sum || s.iter().any(|&v| v < 0) {
                    return Err(format!("split sizes {s:?} do not add up to {d}"));
                }
            }
            s.iter().map(|&v| Dim::Fixed(v)).collect()
        }
        Given::Unknown => vec![Dim::Unknown; n_out],
        Given::Absent => {
            let n = i64::try_from(n_out).map_err(|_| "too many outputs")?;
            let uneven = ctx.opset >= 18 && ctx.node.attr_int("num_outputs")?.is_some();
            match dim.fixed() {
                _ if n == 1 => vec![dim.clone()],
                Some(d) if n > 0 && d % n == 0 => vec![Dim::Fixed(d / n); n_out],
                Some(d) if n > 0 && uneven => {
                    let part = (d + n - 1) / n;
                    let last = d - part * (n - 1);
                    if last < 0 {
                        return Err(format!("cannot split {d} into {n} parts"));
                    }
                    let mut v = vec![Dim::Fixed(part); n_out - 1];
                    v.push(Dim::Fixed(last));
                    v
                }
                Some(d) => return Err(format!("cannot split {d} evenly into {n} parts")),
                None => vec![Dim::Unknown; n_out],
            }
        }
    };
    let types = sizes
        .into_iter()
        .map(|s| {
            let mut dims = shape.to_vec();
            dims[axis] = s;
            Some(TensorType {
                elem,
                shape: Some(dims),
            })
        })
        .collect();
    Ok(Out {
        types,
        ..Out::default()
    })
}

/// Slice parameters as (possibly symbolic) element lists.
fn slice_param(ctx: &Ctx, name: &str, slot: usize) -> Result<Option<Vec<Dim>>, String> {
    if ctx.opset < 10 {
        return Ok(ctx.ints_attr(name)?.map(|v| super::fixed(&v)));
    }
    if !ctx.has(slot) {
        return Ok(None);
    }
    Ok(ctx.elems(slot).map(|e| e.to_vec()))
}

/// The indices a Slice keeps along an axis of fixed size `n`.
fn slice_indices(n: i64, start: i64, end: i64, step: i64) -> Vec<i64> {
    let norm = |v: i64| if v < 0 { v.saturating_add(n) } else { v };
    let (s, e) = (norm(start), norm(end));
    let mut out = Vec::new();
    if step > 0 {
        let (s, e) = (s.clamp(0, n), e.clamp(0, n));
        let mut i = s;
        while i < e && out.len() <= MAX_FOLD * 64 {
            out.push(i);
            i += step;
        }
    } else {
        let (s, e) = (s.clamp(0, n - 1), e.clamp(-1, n - 1));
        let mut i = s;
        while i > e && out.len() <= MAX_FOLD * 64 {
            out.push(i);
            i += step;
        }
    }
    out
}

/// Length of a slice of a fixed axis, without listing indices.
fn slice_len(n: i64, start: i64, end: i64, step: i64) -> i64 {
    let norm = |v: i64| if v < 0 { v.saturating_add(n) } else { v };
    let (s, e) = (norm(start), norm(end));
    let (s, e) = if step > 0 {
        (s.clamp(0, n), e.clamp(0, n))
    } else {
        (s.clamp(0, n - 1), e.clamp(-1, n - 1))
    };
    let span = i128::from(e) - i128::from(s);
    let st = i128::from(step);
    let len = (span + st - st.signum()) / st;
    i64::try_from(len.max(0)).unwrap_or(0)
}

fn slice(ctx: &Ctx) -> Result<Out, String> {
    let elem = ctx.dtype(0);
    let Some(shape) = ctx.shape(0) else {
        return Ok(Out::of(elem, None));
    };
    let rank = shape.len();
    let starts = slice_param(ctx, "starts", 1)?;
    let ends = slice_param(ctx, "ends", 2)?;
    let axes_given =
        ctx.opset < 10 && ctx.node.attr("axes").is_some() || ctx.opset >= 10 && ctx.has(3);
    let axes = slice_param(ctx, "axes", 3)?;
    let steps_given = ctx.opset >= 10 && ctx.has(4);
    let steps = slice_param(ctx, "steps", 4)?;
    let unknown_dims = |axes: Option<Vec<usize>>| {
        let dims: Vec<Dim> = shape
            .iter()
            .enumerate()
            .map(|(i, d)| match &axes {
                Some(a) if !a.contains(&i) => d.clone(),
                _ => Dim::Unknown,
            })
            .collect();
        Out::of(elem, Some(dims))
    };
    let fixed_list =
        |v: &Option<Vec<Dim>>| -> Option<Vec<i64>> { v.as_ref()?.iter().map(Dim::fixed).collect() };
    let axes: Option<Vec<i64>> = if axes_given {
        fixed_list(&axes)
    } else {
        starts.as_ref().map(|s| (0..s.len() as i64).collect())
    };
    let Some(axes_raw) = axes else {
        return Ok(unknown_dims(None));
    };
    let axes_n = normalize_axes(&axes_raw, rank)
        .ok_or_else(|| format!("bad axes {axes_raw:?} for rank {rank}"))?;
    let axes_u: Vec<usize> = axes_raw
        .iter()
        .map(|&a| normalize_axis(a, rank))
        .collect::<Option<_>>()
        .ok_or("bad axes")?;
    let steps: Vec<i64> = if steps_given {
        match fixed_list(&steps) {
            Some(s) => s,
            None => return Ok(unknown_dims(Some(axes_n))),
        }
    } else {
        vec![1; axes_u.len()]
    };
    let (Some(starts), Some(ends)) = (starts, ends) else {
        return Ok(unknown_dims(Some(axes_n)));
    };
    if starts.len() != axes_u.len() || ends.len() != axes_u.len() || steps.len() != axes_u.len() {
        return Err("starts, ends, axes and steps differ in length".into());
    }
    if steps.contains(&0) {
        return Err("Slice step 0".into());
    }
    let mut dims = shape.to_vec();
    let mut per_axis: Vec<Option<Vec<i64>>> = vec![None; rank];
    for (k, &a) in axes_u.iter().enumerate() {
        let (s, e, st) = (&starts[k], &ends[k], steps[k]);
        dims[a] = match (&shape[a], s.fixed(), e.fixed()) {
            (Dim::Fixed(n), Some(s), Some(e)) => {
                if *n <= MAX_FOLD as i64 {
                    per_axis[a] = Some(slice_indices(*n, s, e, st));
                }
                Dim::Fixed(slice_len(*n, s, e, st))
            }
            // x[0:] with a huge end keeps the whole axis.
            (d, Some(0), Some(e)) if st == 1 && e >= i64::from(i32::MAX) => d.clone(),
            // x[0:n] where n is the axis' own symbolic size.
            (Dim::Symbol(n), Some(0), None) if st == 1 && *e == Dim::Symbol(n.clone()) => {
                Dim::Symbol(n.clone())
            }
            _ => Dim::Unknown,
        };
    }
    let out = Out::of(elem, Some(dims.clone()));
    let lists = || -> Option<Vec<Vec<i64>>> {
        shape
            .iter()
            .enumerate()
            .map(|(i, d)| match &per_axis[i] {
                Some(v) => Some(v.clone()),
                None => Some((0..d.fixed()?).collect()),
            })
            .collect()
    };
    let elems = match ctx.elems(0) {
        Some(e) if rank == 1 => lists().and_then(|l| {
            l.first()?
                .iter()
                .map(|&i| e.get(usize::try_from(i).ok()?).cloned())
                .collect::<Option<Vec<Dim>>>()
        }),
        _ => None,
    };
    let folded = ctx.konst(0).and_then(|t| {
        let pos = product_positions(&t.dims, &lists()?)?;
        let d: Vec<i64> = dims.iter().map(Dim::fixed).collect::<Option<_>>()?;
        fold::pick(t, d, &pos)
    });
    Ok(out.with_const(folded).with_elems(elems))
}

fn pad(ctx: &Ctx) -> Result<Out, String> {
    let elem = ctx.dtype(0);
    let Some(shape) = ctx.shape(0) else {
        return Ok(Out::of(elem, None));
    };
    let rank = shape.len();
    let unknown = Out::of(elem, Some(vec![Dim::Unknown; rank]));
    let pads = if ctx.opset < 11 {
        ctx.ints_attr("pads")?
    } else {
        ctx.ints(1)
    };
    let Some(pads) = pads else {
        return Ok(unknown);
    };
    let axes: Vec<usize> = if ctx.opset >= 18 && ctx.has(3) {
        let Some(a) = ctx.ints(3) else {
            return Ok(unknown);
        };
        normalize_axes(&a, rank).ok_or_else(|| format!("bad axes {a:?} for rank {rank}"))?;
        a.iter()
            .map(|&x| normalize_axis(x, rank))
            .collect::<Option<_>>()
            .ok_or("bad axes")?
    } else {
        (0..rank).collect()
    };
    if pads.len() != 2 * axes.len() {
        return Err(format!("{} pads for {} axes", pads.len(), axes.len()));
    }
    let mut dims = shape.to_vec();
    for (k, &a) in axes.iter().enumerate() {
        let (b, e) = (pads[k], pads[k + axes.len()]);
        dims[a] = match &shape[a] {
            d if b == 0 && e == 0 => d.clone(),
            Dim::Fixed(n) => {
                let v = n
                    .checked_add(b)
                    .and_then(|x| x.checked_add(e))
                    .ok_or("pad overflow")?;
                if v < 0 {
                    return Err(format!("pads {b},{e} crop axis {a} of size {n} below zero"));
                }
                Dim::Fixed(v)
            }
            _ => Dim::Unknown,
        };
    }
    Ok(Out::of(elem, Some(dims)))
}
