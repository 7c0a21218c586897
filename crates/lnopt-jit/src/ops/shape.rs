//! Shape and data-movement runtime functions.

use super::bcast::{broadcast2, norm_axis, strides, BIdx};
use super::Ctx;
use crate::error::{bail, OpResult};
use crate::value::{checked_numel, opaque_refusal, Data, Val};

/// Picks elements of `d` by offset (`None`, an offset before the start: an error).
fn take(d: &Data, idx: &[Option<usize>]) -> OpResult<Data> {
    macro_rules! pick {
        ($v:expr, $w:ident, $out:expr) => {{
            let mut out = $out;
            for i in idx {
                match i.and_then(|i| $v.get(i)) {
                    Some(x) => out.push(*x),
                    None => bail!("internal: offset {i:?} out of range"),
                }
            }
            Data::$w(out.into())
        }};
    }
    Ok(match d {
        // f32 results take recycled buffers (fresh pages cost more than the copy).
        Data::F(v) => pick!(v, F, crate::pool::with_capacity(idx.len())),
        Data::D(v) => pick!(v, D, Vec::with_capacity(idx.len())),
        Data::I(v) => pick!(v, I, Vec::with_capacity(idx.len())),
        Data::B(v) => pick!(v, B, Vec::with_capacity(idx.len())),
        Data::Opaque(v) => bail!("{}", opaque_refusal(v.dtype())),
    })
}

/// Offsets of every element of a strided view (`shape`, `st`, starting at `base`).
fn view_offsets(shape: &[usize], st: &[isize], base: isize) -> Vec<Option<usize>> {
    let n: usize = shape.iter().product();
    let mut out = Vec::with_capacity(n);
    if n == 0 {
        return out;
    }
    let r = shape.len();
    let mut idx = vec![0usize; r];
    let mut off = base;
    for _ in 0..n {
        out.push(usize::try_from(off).ok());
        for d in (0..r).rev() {
            idx[d] += 1;
            off += st[d];
            if idx[d] < shape[d] {
                break;
            }
            off -= st[d] * idx[d] as isize;
            idx[d] = 0;
        }
    }
    out
}

/// Copies a strided view (`shape`, `st`, starting at `base`) of `d` run by run (the innermost
/// merged axis is copied as a slice when contiguous). `None` when an offset of the view falls
/// outside `d` (the caller then takes the element-wise path, which reports or fills).
fn strided(d: &Data, shape: &[usize], st: &[isize], base: isize) -> Option<Data> {
    let n: usize = shape.iter().product();
    let len = d.len() as isize;
    // Smallest and largest offset the view touches.
    let (mut lo, mut hi) = (base, base);
    for (&dim, &s) in shape.iter().zip(st) {
        if dim == 0 {
            return Some(match d {
                Data::F(_) => Data::F(Vec::new().into()),
                Data::D(_) => Data::D(Vec::new()),
                Data::I(_) => Data::I(Vec::new()),
                Data::B(_) => Data::B(Vec::new()),
                Data::Opaque(_) => return None,
            });
        }
        let ext = s.checked_mul(dim as isize - 1)?;
        if ext < 0 {
            lo = lo.checked_add(ext)?;
        } else {
            hi = hi.checked_add(ext)?;
        }
    }
    if lo < 0 || hi >= len {
        return None;
    }
    // Merge axes (innermost first) that are contiguous with the axis inside them.
    let mut dims: Vec<(usize, isize)> = Vec::with_capacity(shape.len());
    for (&dim, &s) in shape.iter().zip(st).rev() {
        if dim == 1 {
            continue;
        }
        match dims.last_mut() {
            Some(last) if s == last.1 * last.0 as isize => last.0 *= dim,
            _ => dims.push((dim, s)),
        }
    }
    dims.reverse();
    let (inner, istep) = dims.last().copied().unwrap_or((1, 1));
    let outer = &dims[..dims.len().saturating_sub(1)];
    macro_rules! copy {
        ($v:expr, $w:ident, $alloc:expr) => {{
            let mut out = $alloc;
            let mut idx = vec![0usize; outer.len()];
            let mut off = base;
            loop {
                // In range: lo..=hi was checked against the data length above.
                let o = off as usize;
                if istep == 1 {
                    out.extend_from_slice(&$v[o..o + inner]);
                } else {
                    out.extend((0..inner).map(|i| $v[(off + i as isize * istep) as usize]));
                }
                if out.len() >= n {
                    break;
                }
                for k in (0..outer.len()).rev() {
                    idx[k] += 1;
                    off += outer[k].1;
                    if idx[k] < outer[k].0 {
                        break;
                    }
                    off -= outer[k].1 * idx[k] as isize;
                    idx[k] = 0;
                }
            }
            Data::$w(out.into())
        }};
    }
    Some(match d {
        Data::F(v) => copy!(v, F, crate::pool::with_capacity(n)),
        Data::D(v) => copy!(v, D, Vec::with_capacity(n)),
        Data::I(v) => copy!(v, I, Vec::with_capacity(n)),
        Data::B(v) => copy!(v, B, Vec::with_capacity(n)),
        Data::Opaque(_) => return None,
    })
}

/// The elements of a strided view of `d`: run-wise copy when in range, else element-wise.
fn view(d: &Data, shape: &[usize], st: &[isize], base: isize) -> OpResult<Data> {
    match strided(d, shape, st, base) {
        Some(v) => Ok(v),
        None => take(d, &view_offsets(shape, st, base)),
    }
}

fn to_dims(v: &[i64], what: &str) -> OpResult<Vec<usize>> {
    v.iter()
        .map(|&d| {
            usize::try_from(d)
                .map_err(|_| crate::error::OpError(format!("{what}: negative dim {d}")))
        })
        .collect()
}

/// `Shape` (with `start`/`end`).
pub(crate) fn shape_op(c: &Ctx<'_>) -> OpResult<Val> {
    let x = c.input(0)?;
    let r = x.rank() as i64;
    let clamp = |v: i64| if v < 0 { (v + r).max(0) } else { v.min(r) } as usize;
    let s = clamp(c.int("start", 0)?);
    let e = clamp(c.int("end", r)?);
    let dims: Vec<i64> = x
        .shape
        .get(s..e.max(s))
        .unwrap_or(&[])
        .iter()
        .map(|&d| d as i64)
        .collect();
    Val::ints(vec![dims.len()], dims)
}

fn reshaped(x: &Val, shape: Vec<usize>) -> OpResult<Val> {
    if checked_numel(&shape)? != x.numel() {
        bail!("cannot reshape {:?} to {:?}", x.shape, shape);
    }
    Ok(Val {
        dtype: x.dtype,
        shape,
        data: x.data.clone(),
    })
}

/// `Reshape` (0 copies a dim unless `allowzero`, one -1 is inferred).
pub(crate) fn reshape(c: &Ctx<'_>) -> OpResult<Val> {
    let x = c.input(0)?;
    let spec = match c.opt(1) {
        Some(s) => s.as_i64()?,
        None => c.ints("shape")?.unwrap_or_default(),
    };
    let allowzero = c.int("allowzero", 0)? != 0;
    let mut out = Vec::with_capacity(spec.len());
    let mut infer = None;
    for (i, &d) in spec.iter().enumerate() {
        match d {
            0 if !allowzero => match x.shape.get(i) {
                Some(&v) => out.push(v),
                None => bail!("shape {spec:?}: 0 at {i} past the input rank"),
            },
            -1 => {
                if infer.is_some() {
                    bail!("shape {spec:?} has two -1");
                }
                infer = Some(i);
                out.push(1);
            }
            d if d < 0 => bail!("shape {spec:?} has a negative dim"),
            d => out.push(d as usize),
        }
    }
    if let Some(i) = infer {
        let known = checked_numel(&out)?;
        if known == 0 || x.numel() % known != 0 {
            bail!("cannot reshape {:?} to {spec:?}", x.shape);
        }
        out[i] = x.numel() / known;
    }
    reshaped(x, out)
}

/// `Flatten`.
pub(crate) fn flatten(c: &Ctx<'_>) -> OpResult<Val> {
    let x = c.input(0)?;
    let r = x.rank() as i64;
    let a = c.int("axis", 1)?;
    let a = if a < 0 { a + r } else { a };
    if a < 0 || a > r {
        bail!("axis {a} out of range for rank {r}");
    }
    let a = a as usize;
    let outer = x.shape[..a].iter().product();
    let inner = x.shape[a..].iter().product();
    reshaped(x, vec![outer, inner])
}

fn axes_arg(c: &Ctx<'_>, input: usize) -> OpResult<Option<Vec<i64>>> {
    if c.opset() >= 13 || c.attr("axes").is_none() {
        match c.opt(input) {
            Some(a) => Ok(Some(a.as_i64()?)),
            None => c.ints("axes"),
        }
    } else {
        c.ints("axes")
    }
}

/// `Squeeze`.
pub(crate) fn squeeze(c: &Ctx<'_>) -> OpResult<Val> {
    let x = c.input(0)?;
    let axes = axes_arg(c, 1)?;
    let mut drop = vec![false; x.rank()];
    match axes {
        Some(ax) => {
            for a in ax {
                let a = norm_axis(a, x.rank())?;
                if x.shape[a] != 1 {
                    bail!("cannot squeeze axis {a} of size {}", x.shape[a]);
                }
                drop[a] = true;
            }
        }
        None => x
            .shape
            .iter()
            .enumerate()
            .for_each(|(i, &d)| drop[i] = d == 1),
    }
    let shape = x
        .shape
        .iter()
        .zip(&drop)
        .filter(|(_, &d)| !d)
        .map(|(&s, _)| s)
        .collect();
    reshaped(x, shape)
}

/// `Unsqueeze`.
pub(crate) fn unsqueeze(c: &Ctx<'_>) -> OpResult<Val> {
    let x = c.input(0)?;
    let Some(axes) = axes_arg(c, 1)? else {
        bail!("Unsqueeze needs axes")
    };
    let r = x.rank() + axes.len();
    let mut ins = vec![false; r];
    for a in axes {
        let a = norm_axis(a, r)?;
        if ins[a] {
            bail!("axis {a} repeated");
        }
        ins[a] = true;
    }
    let mut it = x.shape.iter();
    let shape = ins
        .iter()
        .map(|&i| {
            if i {
                1
            } else {
                it.next().copied().unwrap_or(1)
            }
        })
        .collect();
    reshaped(x, shape)
}

/// The permutation of a `Transpose` node for an input of rank `r` (checked: every axis once).
pub(crate) fn transpose_perm(c: &Ctx<'_>, r: usize) -> OpResult<Vec<usize>> {
    Ok(match c.ints("perm")? {
        Some(p) => {
            let mut seen = vec![false; r];
            let mut out = Vec::with_capacity(r);
            for a in p {
                let a = norm_axis(a, r)?;
                if seen[a] {
                    bail!("perm repeats axis {a}");
                }
                seen[a] = true;
                out.push(a);
            }
            if out.len() != r {
                bail!("perm has {} entries for rank {r}", out.len());
            }
            out
        }
        None => (0..r).rev().collect(),
    })
}

/// `Transpose`.
pub(crate) fn transpose(c: &Ctx<'_>) -> OpResult<Val> {
    let x = c.input(0)?;
    let perm = transpose_perm(c, x.rank())?;
    let st = strides(&x.shape);
    let shape: Vec<usize> = perm.iter().map(|&p| x.shape[p]).collect();
    let vst: Vec<isize> = perm.iter().map(|&p| st[p] as isize).collect();
    let data = view(&x.data, &shape, &vst, 0)?;
    Val::new(x.dtype, shape, data)
}

/// `Concat`.
pub(crate) fn concat(c: &Ctx<'_>) -> OpResult<Val> {
    let first = c.input(0)?;
    let r = first.rank();
    let axis = norm_axis(c.int("axis", 0)?, r)?;
    let parts: Vec<&Val> = (0..c.ins.len())
        .map(|i| c.input(i))
        .collect::<OpResult<_>>()?;
    let mut shape = first.shape.clone();
    shape[axis] = 0;
    for p in &parts {
        if p.rank() != r || p.dtype != first.dtype {
            bail!(
                "input shapes/dtypes differ: {:?} {} vs {:?} {}",
                p.shape,
                p.dtype,
                first.shape,
                first.dtype
            );
        }
        for d in 0..r {
            if d != axis && p.shape[d] != first.shape[d] {
                bail!(
                    "input shapes differ off the axis: {:?} vs {:?}",
                    p.shape,
                    first.shape
                );
            }
        }
        shape[axis] += p.shape[axis];
    }
    let outer: usize = shape[..axis].iter().product();
    let n = checked_numel(&shape)?;
    macro_rules! cat {
        ($w:ident, $out:expr) => {{
            let mut out = $out;
            for o in 0..outer {
                for p in &parts {
                    let Data::$w(v) = &*p.data else {
                        bail!("mixed dtypes")
                    };
                    let blk: usize = p.shape[axis..].iter().product();
                    out.extend_from_slice(&v[o * blk..(o + 1) * blk]);
                }
            }
            Data::$w(out.into())
        }};
    }
    let data = match &*first.data {
        // f32 results take recycled buffers: a fresh 512 KiB Vec per run cost LLaMA's
        // rotate-half Concats 1.3 ms each in page faults, 100 µs in copying.
        Data::F(_) => cat!(F, crate::pool::with_capacity(n)),
        Data::D(_) => cat!(D, Vec::with_capacity(n)),
        Data::I(_) => cat!(I, Vec::with_capacity(n)),
        Data::B(_) => cat!(B, Vec::with_capacity(n)),
        Data::Opaque(v) => bail!("{}", opaque_refusal(v.dtype())),
    };
    Val::new(first.dtype, shape, data)
}

/// `Slice` (opset ≥ 10 inputs, older attributes).
pub(crate) fn slice(c: &Ctx<'_>) -> OpResult<Val> {
    let x = c.input(0)?;
    let r = x.rank();
    let (starts, ends, axes, steps) = if c.opset() >= 10 {
        (
            c.input(1)?.as_i64()?,
            c.input(2)?.as_i64()?,
            c.opt(3).map(|v| v.as_i64()).transpose()?,
            c.opt(4).map(|v| v.as_i64()).transpose()?,
        )
    } else {
        (
            c.ints("starts")?.unwrap_or_default(),
            c.ints("ends")?.unwrap_or_default(),
            c.ints("axes")?,
            None,
        )
    };
    let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = steps.unwrap_or_else(|| vec![1; starts.len()]);
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        bail!("starts/ends/axes/steps lengths differ");
    }
    let st = strides(&x.shape);
    let mut shape = x.shape.clone();
    let mut vst: Vec<isize> = st.iter().map(|&s| s as isize).collect();
    let mut base: isize = 0;
    for k in 0..starts.len() {
        let a = norm_axis(axes[k], r)?;
        let dim = x.shape[a] as i64;
        let step = steps[k];
        if step == 0 {
            bail!("slice step 0");
        }
        let fix = |v: i64, lo: i64, hi: i64| {
            let v = if v < 0 { v.saturating_add(dim) } else { v };
            v.clamp(lo, hi)
        };
        let (s, e) = if step > 0 {
            (fix(starts[k], 0, dim), fix(ends[k], 0, dim))
        } else {
            (fix(starts[k], 0, dim - 1), fix(ends[k], -1, dim - 1))
        };
        let len = if step > 0 {
            if e > s {
                (e - s + step - 1) / step
            } else {
                0
            }
        } else if s > e {
            (s - e + (-step) - 1) / (-step)
        } else {
            0
        };
        shape[a] = len as usize;
        base += s as isize * st[a] as isize;
        vst[a] = st[a] as isize * step as isize;
    }
    let data = view(&x.data, &shape, &vst, base)?;
    Val::new(x.dtype, shape, data)
}

/// `Split`.
pub(crate) fn split(c: &Ctx<'_>) -> OpResult<Vec<Val>> {
    let x = c.input(0)?;
    let axis = norm_axis(c.int("axis", 0)?, x.rank())?;
    let nout = c.node.outputs.len().max(1);
    let dim = x.shape[axis];
    let sizes: Vec<usize> = match c.opt(1).map(|v| v.as_i64()).transpose()? {
        Some(s) => to_dims(&s, "split")?,
        None => match c.ints("split")? {
            Some(s) if c.opset() < 13 => to_dims(&s, "split")?,
            _ => {
                let k = dim.div_ceil(nout);
                (0..nout)
                    .map(|i| k.min(dim.saturating_sub(i * k)))
                    .collect()
            }
        },
    };
    if sizes.iter().sum::<usize>() != dim {
        bail!("split sizes {sizes:?} do not add up to {dim}");
    }
    let mut outs = Vec::new();
    let mut start = 0;
    let st = strides(&x.shape);
    for s in sizes {
        let mut shape = x.shape.clone();
        shape[axis] = s;
        let vst: Vec<isize> = st.iter().map(|&v| v as isize).collect();
        let data = view(&x.data, &shape, &vst, (start * st[axis]) as isize)?;
        outs.push(Val::new(x.dtype, shape, data)?);
        start += s;
    }
    Ok(outs)
}

/// `Gather`.
pub(crate) fn gather(c: &Ctx<'_>) -> OpResult<Val> {
    let (x, iv) = (c.input(0)?, c.input(1)?);
    let axis = norm_axis(c.int("axis", 0)?, x.rank())?;
    let ind = iv.as_i64()?;
    let dim = x.shape[axis];
    let outer: usize = x.shape[..axis].iter().product();
    let inner: usize = x.shape[axis + 1..].iter().product();
    let mut shape = x.shape[..axis].to_vec();
    shape.extend(&iv.shape);
    shape.extend(&x.shape[axis + 1..]);
    let n = checked_numel(&shape)?;
    // Source offset of each gathered block of `inner` elements, checked first.
    let mut starts = Vec::with_capacity(outer * ind.len());
    for o in 0..outer {
        for &i in &ind {
            let j = if i < 0 { i + dim as i64 } else { i };
            if j < 0 || j >= dim as i64 {
                bail!("index {i} out of range for axis of size {dim}");
            }
            starts.push((o * dim + j as usize) * inner);
        }
    }
    macro_rules! blocks {
        ($v:expr, $w:ident, $alloc:expr) => {{
            let mut out = $alloc;
            for &b in &starts {
                match $v.get(b..b + inner) {
                    Some(src) => out.extend_from_slice(src),
                    None => bail!("internal: block {b} out of range"),
                }
            }
            Data::$w(out.into())
        }};
    }
    let data = match &*x.data {
        Data::F(v) => blocks!(v, F, crate::pool::with_capacity(n)),
        Data::D(v) => blocks!(v, D, Vec::with_capacity(n)),
        Data::I(v) => blocks!(v, I, Vec::with_capacity(n)),
        Data::B(v) => blocks!(v, B, Vec::with_capacity(n)),
        Data::Opaque(v) => bail!("{}", opaque_refusal(v.dtype())),
    };
    Val::new(x.dtype, shape, data)
}

/// `Expand`.
pub(crate) fn expand(c: &Ctx<'_>) -> OpResult<Val> {
    let x = c.input(0)?;
    let target = to_dims(&c.input(1)?.as_i64()?, "Expand shape")?;
    let out = broadcast2(&x.shape, &target)?;
    checked_numel(&out)?;
    let b = BIdx::new(&x.shape, &out);
    let n: usize = out.iter().product();
    let idx: Vec<Option<usize>> = (0..n).map(|i| Some(b.at(i))).collect();
    Val::new(x.dtype, out, take(&x.data, &idx)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The run-wise copy equals the element-wise offsets for transposes, steps and reversals;
    /// out-of-range views are refused.
    #[test]
    fn strided_copy_matches_offsets() {
        let d = Data::F((0..120).map(|i| i as f32).collect());
        let cases: &[(&[usize], &[isize], isize)] = &[
            (&[2, 3, 4, 5], &[60, 20, 5, 1], 0),
            (&[2, 4, 3, 5], &[60, 5, 20, 1], 0),
            (&[5, 4, 3, 2], &[1, 5, 20, 60], 0),
            (&[2, 3, 2, 5], &[60, 20, 5, 1], 10),
            (&[2, 3, 2, 2], &[60, 20, 10, -2], 9),
            (&[1, 3, 1, 5], &[60, 20, 5, 1], 20),
            (&[2, 0, 4], &[60, 20, 1], 0),
        ];
        for &(shape, st, base) in cases {
            let want = take(&d, &view_offsets(shape, st, base)).unwrap();
            let got = strided(&d, shape, st, base).unwrap();
            assert_eq!(got, want, "shape {shape:?} strides {st:?} base {base}");
        }
        assert!(strided(&d, &[2, 61], &[61, 1], 0).is_none());
        assert!(strided(&d, &[3], &[-1], 1).is_none());
    }
}
