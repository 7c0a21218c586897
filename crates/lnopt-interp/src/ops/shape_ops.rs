//! Ops that move elements without computing on them: Reshape, Flatten, Squeeze, Unsqueeze,
//! Shape, Size, Expand, Concat, Split, Slice, Transpose, Gather, GatherElements, Tile, Pad.

use crate::arr::{checked_numel, Arr, Buf, MAX_ELEMENTS};
use crate::call::Call;
use crate::error::{bail, OpResult};
use crate::index::{broadcast_index, broadcast_shapes, norm_axes, norm_axis, strides, to_dims};
use lnopt_ir::DType;

/// `Reshape` (shape from input 1; 0 copies the input dim unless `allowzero`, -1 is inferred).
pub(crate) fn reshape(c: &Call<'_>) -> OpResult<Arr> {
    let x = c.input(0)?;
    let spec = match c.ints_from_input_or_attr(1, "shape")? {
        Some(s) => s,
        None => bail!("no target shape"),
    };
    let allowzero = c.int("allowzero", 0)? != 0;
    let mut dims = Vec::with_capacity(spec.len());
    let mut infer = None;
    for (i, &d) in spec.iter().enumerate() {
        match d {
            -1 if infer.is_none() => {
                infer = Some(i);
                dims.push(1);
            }
            -1 => bail!("more than one -1 in shape {spec:?}"),
            0 if !allowzero => match x.shape.get(i) {
                Some(&s) => dims.push(s),
                None => bail!(
                    "shape {spec:?} copies dim {i} the input {:?} lacks",
                    x.shape
                ),
            },
            d if d >= 0 => dims.push(d as usize),
            _ => bail!("invalid dim {d} in shape {spec:?}"),
        }
    }
    if let Some(i) = infer {
        let known = checked_numel(&dims)?;
        if known == 0 || x.len() % known != 0 {
            bail!("cannot infer -1 reshaping {:?} to {spec:?}", x.shape);
        }
        dims[i] = x.len() / known;
    }
    x.reshaped(dims)
}

/// `Flatten`: to 2-D at `axis` (default 1, negative allowed, `axis == rank` allowed).
pub(crate) fn flatten(c: &Call<'_>) -> OpResult<Arr> {
    let x = c.input(0)?;
    let r = x.rank() as i64;
    let axis = c.int("axis", 1)?;
    if axis < -r || axis > r {
        bail!("axis {axis} out of range for rank {r}");
    }
    let a = if axis < 0 { axis + r } else { axis } as usize;
    let outer: usize = x.shape[..a].iter().product();
    let inner: usize = x.shape[a..].iter().product();
    x.reshaped(vec![outer, inner])
}

/// `Squeeze`: axes from the attribute (< 13) or input 1; none removes every 1-dim.
pub(crate) fn squeeze(c: &Call<'_>) -> OpResult<Arr> {
    let x = c.input(0)?;
    let axes = c.ints_from_input_or_attr(1, "axes")?;
    let shape = match axes {
        None => x.shape.iter().copied().filter(|&d| d != 1).collect(),
        Some(axes) => {
            let axes = norm_axes(&axes, x.rank())?;
            for &a in &axes {
                if x.shape[a] != 1 {
                    bail!(
                        "cannot squeeze axis {a} of size {} in {:?}",
                        x.shape[a],
                        x.shape
                    );
                }
            }
            x.shape
                .iter()
                .enumerate()
                .filter(|(i, _)| !axes.contains(i))
                .map(|(_, &d)| d)
                .collect()
        }
    };
    x.reshaped(shape)
}

/// `Unsqueeze`: axes (relative to the output rank) from the attribute (< 13) or input 1.
pub(crate) fn unsqueeze(c: &Call<'_>) -> OpResult<Arr> {
    let x = c.input(0)?;
    let Some(axes) = c.ints_from_input_or_attr(1, "axes")? else {
        bail!("axes are missing");
    };
    let out_rank = x.rank() + axes.len();
    let axes = norm_axes(&axes, out_rank)?;
    let mut shape = Vec::with_capacity(out_rank);
    let mut src = x.shape.iter();
    for i in 0..out_rank {
        if axes.contains(&i) {
            shape.push(1);
        } else if let Some(&d) = src.next() {
            shape.push(d);
        }
    }
    x.reshaped(shape)
}

/// `Shape` with the optional `start` / `end` attributes (clamped).
pub(crate) fn shape(c: &Call<'_>) -> OpResult<Arr> {
    let x = c.input(0)?;
    let r = x.rank() as i64;
    let clamp = |v: i64| {
        let v = if v < 0 { v + r } else { v };
        v.clamp(0, r) as usize
    };
    let start = clamp(c.int("start", 0)?);
    let end = clamp(c.int("end", r)?);
    let dims: Vec<i64> = x
        .shape
        .get(start..end.max(start))
        .unwrap_or(&[])
        .iter()
        .map(|&d| d as i64)
        .collect();
    Ok(Arr::i64_vec(dims))
}

/// `Size`: element count as an i64 scalar.
pub(crate) fn size(c: &Call<'_>) -> OpResult<Arr> {
    let x = c.input(0)?;
    Ok(Arr::ints(DType::I64, vec![], vec![x.len() as i64]))
}

/// `Expand`: bidirectional broadcast of the input with the given shape.
pub(crate) fn expand(c: &Call<'_>) -> OpResult<Arr> {
    let x = c.input(0)?;
    let target = to_dims(c.input(1)?.int_values("shape")?, "shape")?;
    let out = broadcast_shapes(&[&x.shape, &target])?;
    let idx = broadcast_index(&x.shape, &out)?;
    Ok(x.gather_flat(out, &idx))
}

/// Concatenates `parts` (same dtype, same rank, equal dims except `axis`).
pub(crate) fn concat_arrays(parts: &[&Arr], axis: usize) -> OpResult<Arr> {
    let Some(first) = parts.first() else {
        bail!("needs at least one input");
    };
    let mut shape = first.shape.clone();
    shape[axis] = 0;
    for p in parts {
        if p.dtype != first.dtype || p.rank() != first.rank() {
            bail!(
                "inputs differ in dtype or rank: {:?} {} vs {:?} {}",
                first.shape,
                first.dtype,
                p.shape,
                p.dtype
            );
        }
        for (i, (&a, &b)) in first.shape.iter().zip(&p.shape).enumerate() {
            if i != axis && a != b {
                bail!(
                    "shapes {:?} and {:?} differ outside axis {axis}",
                    first.shape,
                    p.shape
                );
            }
        }
        shape[axis] += p.shape[axis];
    }
    let n = checked_numel(&shape)?;
    let outer: usize = shape[..axis].iter().product();
    let mut out_f = Vec::new();
    let mut out_i = Vec::new();
    let mut out_s = Vec::new();
    for o in 0..outer {
        for p in parts {
            let chunk: usize = p.shape[axis..].iter().product();
            match &p.buf {
                Buf::F(v) => out_f.extend_from_slice(&v[o * chunk..(o + 1) * chunk]),
                Buf::I(v) => out_i.extend_from_slice(&v[o * chunk..(o + 1) * chunk]),
                Buf::S(v) => out_s.extend_from_slice(&v[o * chunk..(o + 1) * chunk]),
            }
        }
    }
    let buf = match first.buf {
        Buf::F(_) => Buf::F(out_f),
        Buf::I(_) => Buf::I(out_i),
        Buf::S(_) => Buf::S(out_s),
    };
    let a = Arr {
        dtype: first.dtype,
        shape,
        buf,
    };
    if a.len() != n {
        bail!("internal size mismatch in Concat");
    }
    Ok(a)
}

/// `Concat` along `axis`.
pub(crate) fn concat(c: &Call<'_>) -> OpResult<Arr> {
    let parts = c.present_inputs();
    let Some(first) = parts.first() else {
        bail!("needs at least one input");
    };
    let Some(axis) = c.opt_int("axis")? else {
        bail!("attribute 'axis' is missing");
    };
    let axis = norm_axis(axis, first.rank())?;
    concat_arrays(&parts, axis)
}

/// Stacks equal-shaped arrays along a new axis 0 (Loop scan outputs).
pub(crate) fn stack(parts: &[std::rc::Rc<Arr>]) -> OpResult<Arr> {
    let Some(first) = parts.first() else {
        return Ok(Arr::floats(DType::F32, vec![0], vec![]));
    };
    let expanded: Vec<Arr> = parts
        .iter()
        .map(|p| {
            if p.shape != first.shape {
                bail!(
                    "scan outputs change shape: {:?} then {:?}",
                    first.shape,
                    p.shape
                );
            }
            let mut s = vec![1];
            s.extend(&p.shape);
            p.reshaped(s)
        })
        .collect::<OpResult<_>>()?;
    let refs: Vec<&Arr> = expanded.iter().collect();
    concat_arrays(&refs, 0)
}

/// Takes `len` slices of size `step` along `axis` starting at `start`: a sub-array.
fn narrow(x: &Arr, axis: usize, start: usize, len: usize) -> Arr {
    let outer: usize = x.shape[..axis].iter().product();
    let inner: usize = x.shape[axis + 1..].iter().product();
    let dim = x.shape[axis];
    let mut idx = Vec::with_capacity(outer * len * inner);
    for o in 0..outer {
        let base = o * dim * inner + start * inner;
        idx.extend(base..base + len * inner);
    }
    let mut shape = x.shape.clone();
    shape[axis] = len;
    x.gather_flat(shape, &idx)
}

/// `Split`: sizes from the `split` attribute (< 13) or input 1, else `num_outputs` / the
/// number of outputs (equal parts, the last one smaller when uneven).
pub(crate) fn split(c: &Call<'_>) -> OpResult<Vec<Arr>> {
    let x = c.input(0)?;
    let axis = norm_axis(c.int("axis", 0)?, x.rank())?;
    let dim = x.shape[axis];
    let sizes: Vec<usize> = match c.ints_from_input_or_attr(1, "split")? {
        // Sizes, not a shape: each must be non-negative (their sum is checked below).
        Some(s) => s
            .iter()
            .map(|&d| usize::try_from(d).map_err(|_| format!("split has a negative size: {s:?}")))
            .collect::<Result<_, _>>()?,
        None => {
            let n = c.opt_int("num_outputs")?.unwrap_or(c.n_outputs as i64);
            if n <= 0 {
                bail!("cannot split into {n} parts");
            }
            let n = n as usize;
            let chunk = dim.div_ceil(n);
            (0..n)
                .map(|i| chunk.min(dim.saturating_sub(i * chunk)))
                .collect()
        }
    };
    if sizes.iter().try_fold(0usize, |a, &s| a.checked_add(s)) != Some(dim) {
        bail!(
            "split sizes {sizes:?} do not add up to dim {dim} of {:?}",
            x.shape
        );
    }
    let mut start = 0;
    let mut out = Vec::with_capacity(sizes.len());
    for s in sizes {
        out.push(narrow(x, axis, start, s));
        start += s;
    }
    Ok(out)
}

/// `Slice`: starts/ends/axes/steps from attributes (< 10) or inputs, clamped per the spec.
pub(crate) fn slice(c: &Call<'_>) -> OpResult<Arr> {
    let x = c.input(0)?;
    let (starts, ends, axes, steps) = if c.opset < 10 {
        (c.ints("starts")?, c.ints("ends")?, c.ints("axes")?, None)
    } else {
        let get = |i| -> OpResult<Option<Vec<i64>>> {
            Ok(match c.opt_input(i) {
                Some(a) => Some(a.int_values("slice parameter")?.to_vec()),
                None => None,
            })
        };
        (get(1)?, get(2)?, get(3)?, get(4)?)
    };
    let (Some(starts), Some(ends)) = (starts, ends) else {
        bail!("starts and ends are required");
    };
    let r = x.rank();
    let axes = match axes {
        Some(a) => norm_axes(&a, r)?,
        None if starts.len() > r => {
            bail!(
                "{} starts without axes, but the input has rank {r}",
                starts.len()
            )
        }
        None => (0..starts.len()).collect(),
    };
    let steps = steps.unwrap_or_else(|| vec![1; starts.len()]);
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        bail!("starts, ends, axes and steps have different lengths");
    }
    // Per axis: first index, step, count.
    let mut plan: Vec<(i64, i64, usize)> = x.shape.iter().map(|&d| (0, 1, d)).collect();
    for k in 0..starts.len() {
        let a = axes[k];
        let dim = x.shape[a] as i64;
        let step = steps[k];
        if step == 0 {
            bail!("step 0 on axis {a}");
        }
        let norm = |v: i64| if v < 0 { v.saturating_add(dim) } else { v };
        let (s, e) = (norm(starts[k]), norm(ends[k]));
        let (s, e) = if step > 0 {
            (s.clamp(0, dim), e.clamp(0, dim))
        } else {
            (s.clamp(-1, dim - 1), e.clamp(-1, dim - 1))
        };
        // i128: `step` may be near i64::MAX.
        let (s128, e128, st128) = (s as i128, e as i128, step as i128);
        let count = if step > 0 && e128 > s128 {
            (e128 - s128 + st128 - 1) / st128
        } else if step < 0 && s128 > e128 {
            (s128 - e128 - st128 - 1) / -st128
        } else {
            0
        };
        plan[a] = (s, step, count as usize);
    }
    let out_shape: Vec<usize> = plan.iter().map(|p| p.2).collect();
    let n = checked_numel(&out_shape)?;
    let st = strides(&x.shape);
    let mut idx = Vec::with_capacity(n);
    let mut counter = vec![0usize; r];
    for _ in 0..n {
        let mut pos = 0i64;
        for ax in 0..r {
            pos += (plan[ax].0 + plan[ax].1 * counter[ax] as i64) * st[ax] as i64;
        }
        idx.push(pos as usize);
        for ax in (0..r).rev() {
            counter[ax] += 1;
            if counter[ax] < out_shape[ax] {
                break;
            }
            counter[ax] = 0;
        }
    }
    Ok(x.gather_flat(out_shape, &idx))
}

/// Source flat indices of a transpose of `shape` by `perm`.
pub(crate) fn transpose_index(shape: &[usize], perm: &[usize]) -> (Vec<usize>, Vec<usize>) {
    let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    let st = strides(shape);
    let pst: Vec<usize> = perm.iter().map(|&p| st[p]).collect();
    let n: usize = out_shape.iter().product();
    let mut idx = Vec::with_capacity(n);
    let mut counter = vec![0usize; perm.len()];
    let mut pos = 0usize;
    for _ in 0..n {
        idx.push(pos);
        for ax in (0..perm.len()).rev() {
            counter[ax] += 1;
            pos += pst[ax];
            if counter[ax] < out_shape[ax] {
                break;
            }
            pos -= pst[ax] * counter[ax];
            counter[ax] = 0;
        }
    }
    (out_shape, idx)
}

/// `Transpose` (default: reverse the axes).
pub(crate) fn transpose(c: &Call<'_>) -> OpResult<Arr> {
    let x = c.input(0)?;
    let r = x.rank();
    let perm = match c.ints("perm")? {
        Some(p) => p,
        None => (0..r as i64).rev().collect(),
    };
    let perm = norm_axes(&perm, r)?;
    if perm.len() != r {
        bail!("perm {perm:?} is not a permutation of {r} axes");
    }
    let (shape, idx) = transpose_index(&x.shape, &perm);
    Ok(x.gather_flat(shape, &idx))
}

/// Normalises an index into a dim of size `dim` (negative counts from the end).
fn norm_index(i: i64, dim: usize) -> OpResult<usize> {
    let d = dim as i64;
    if i < -d || i >= d {
        bail!("index {i} is out of range for a dim of size {dim}");
    }
    Ok(if i < 0 { i + d } else { i } as usize)
}

/// `Gather` along `axis`: output is `data[:axis] + indices.shape + data[axis+1:]`.
pub(crate) fn gather(c: &Call<'_>) -> OpResult<Arr> {
    let (x, ind) = (c.input(0)?, c.input(1)?);
    let axis = norm_axis(c.int("axis", 0)?, x.rank())?;
    let iv = ind.int_values("indices")?;
    let dim = x.shape[axis];
    let outer: usize = x.shape[..axis].iter().product();
    let inner: usize = x.shape[axis + 1..].iter().product();
    let mut shape = x.shape[..axis].to_vec();
    shape.extend(&ind.shape);
    shape.extend(&x.shape[axis + 1..]);
    let n = checked_numel(&shape)?;
    let norm: Vec<usize> = iv
        .iter()
        .map(|&i| norm_index(i, dim))
        .collect::<OpResult<_>>()?;
    let mut idx = Vec::with_capacity(n);
    for o in 0..outer {
        for &i in &norm {
            let base = (o * dim + i) * inner;
            idx.extend(base..base + inner);
        }
    }
    Ok(x.gather_flat(shape, &idx))
}

/// `GatherElements`: output has the indices' shape.
pub(crate) fn gather_elements(c: &Call<'_>) -> OpResult<Arr> {
    let (x, ind) = (c.input(0)?, c.input(1)?);
    let r = x.rank();
    let axis = norm_axis(c.int("axis", 0)?, r)?;
    if ind.rank() != r {
        bail!("indices rank {} differs from data rank {r}", ind.rank());
    }
    let iv = ind.int_values("indices")?;
    let st = strides(&x.shape);
    let mut idx = Vec::with_capacity(iv.len());
    let mut counter = vec![0usize; r];
    for &i in iv {
        let mut pos = 0;
        for ax in 0..r {
            let coord = if ax == axis {
                norm_index(i, x.shape[ax])?
            } else {
                if counter[ax] >= x.shape[ax] {
                    bail!(
                        "indices shape {:?} exceeds data shape {:?}",
                        ind.shape,
                        x.shape
                    );
                }
                counter[ax]
            };
            pos += coord * st[ax];
        }
        idx.push(pos);
        for ax in (0..r).rev() {
            counter[ax] += 1;
            if counter[ax] < ind.shape[ax] {
                break;
            }
            counter[ax] = 0;
        }
    }
    Ok(x.gather_flat(ind.shape.clone(), &idx))
}

/// `Tile` by the `repeats` input.
pub(crate) fn tile(c: &Call<'_>) -> OpResult<Arr> {
    let x = c.input(0)?;
    let reps = to_dims(c.input(1)?.int_values("repeats")?, "repeats")?;
    if reps.len() != x.rank() {
        bail!("repeats {reps:?} do not match rank {}", x.rank());
    }
    let out: Vec<usize> = x.shape.iter().zip(&reps).map(|(&d, &r)| d * r).collect();
    let n = checked_numel(&out)?;
    let st = strides(&x.shape);
    let mut idx = Vec::with_capacity(n);
    let mut counter = vec![0usize; out.len()];
    for _ in 0..n {
        let pos: usize = (0..out.len())
            .map(|a| (counter[a] % x.shape[a]) * st[a])
            .sum();
        idx.push(pos);
        for ax in (0..out.len()).rev() {
            counter[ax] += 1;
            if counter[ax] < out[ax] {
                break;
            }
            counter[ax] = 0;
        }
    }
    Ok(x.gather_flat(out, &idx))
}

/// `Pad`: modes constant / reflect / edge / wrap; pads (and value) from attributes before
/// opset 11, from inputs after (with the optional `axes` input of opset 18).
pub(crate) fn pad(c: &Call<'_>) -> OpResult<Arr> {
    let x = c.input(0)?;
    let r = x.rank();
    let mode = c.string("mode", "constant")?;
    let (pads, value) = if c.opset < 11 {
        let Some(p) = c.ints("pads")? else {
            bail!("attribute 'pads' is missing");
        };
        (p, c.float("value", 0.0)? as f64)
    } else {
        let p = c.input(1)?.int_values("pads")?.to_vec();
        let v = match c.opt_input(2) {
            Some(a) if a.len() > 0 => a.scalar_f64("constant_value")?,
            _ => 0.0,
        };
        (p, v)
    };
    let axes = match c.opt_input(3) {
        Some(a) => norm_axes(a.int_values("axes")?, r)?,
        None => (0..r).collect(),
    };
    if pads.len() != 2 * axes.len() {
        bail!(
            "pads {pads:?} must have 2 entries per padded axis ({} axes)",
            axes.len()
        );
    }
    if pads.iter().any(|p| p.unsigned_abs() > MAX_ELEMENTS as u64) {
        bail!("pads {pads:?} are too large");
    }
    let mut before = vec![0i64; r];
    let mut after = vec![0i64; r];
    for (k, &a) in axes.iter().enumerate() {
        before[a] = pads[k];
        after[a] = pads[k + axes.len()];
    }
    let mut out = Vec::with_capacity(r);
    for a in 0..r {
        let d = x.shape[a] as i64 + before[a] + after[a];
        if d < 0 {
            bail!("padding makes axis {a} negative");
        }
        if mode != "constant" && x.shape[a] == 0 && d > 0 {
            bail!("cannot {mode}-pad an empty axis {a}");
        }
        out.push(d as usize);
    }
    let n = checked_numel(&out)?;
    let st = strides(&x.shape);
    // Source flat index per output element, None for the constant fill.
    let mut src: Vec<Option<usize>> = Vec::with_capacity(n);
    let mut counter = vec![0usize; r];
    for _ in 0..n {
        let mut pos = Some(0usize);
        for a in 0..r {
            let dim = x.shape[a] as i64;
            let i = counter[a] as i64 - before[a];
            let j = if (0..dim).contains(&i) {
                Some(i)
            } else {
                match mode.as_str() {
                    "constant" => None,
                    "edge" => Some(i.clamp(0, dim - 1)),
                    "wrap" => Some(i.rem_euclid(dim)),
                    "reflect" => {
                        if dim == 1 {
                            Some(0)
                        } else {
                            let period = 2 * (dim - 1);
                            let m = i.rem_euclid(period);
                            Some(if m < dim { m } else { period - m })
                        }
                    }
                    other => bail!("unknown pad mode '{other}'"),
                }
            };
            pos = match (pos, j) {
                (Some(p), Some(j)) => Some(p + j as usize * st[a]),
                _ => None,
            };
        }
        src.push(pos);
        for ax in (0..r).rev() {
            counter[ax] += 1;
            if counter[ax] < out[ax] {
                break;
            }
            counter[ax] = 0;
        }
    }
    Ok(match &x.buf {
        Buf::F(v) => Arr::floats(
            x.dtype,
            out,
            src.iter().map(|s| s.map_or(value, |i| v[i])).collect(),
        ),
        Buf::I(v) => Arr::ints(
            x.dtype,
            out,
            src.iter()
                .map(|s| s.map_or(value as i64, |i| v[i]))
                .collect(),
        ),
        Buf::S(_) => bail!("padding strings is not implemented"),
    })
}
