//! Ops that select or place elements by a mask, a count or a position: `OneHot`, `Compress`,
//! `NonZero`, `EyeLike`, `ReverseSequence`.

use crate::arr::{checked_numel, Arr, MAX_ELEMENTS};
use crate::call::Call;
use crate::error::{bail, OpResult};
use crate::index::{norm_axis, strides};
use lnopt_ir::DType;

/// `OneHot(indices, depth, values)`: a new axis of size `depth` at `axis` (default -1, in the
/// output's rank) holding `values[1]` where the index (negative ones counted from the end)
/// matches and `values[0]` elsewhere; out of range indices match nothing.
pub(crate) fn one_hot(c: &Call<'_>) -> OpResult<Arr> {
    let (ind, depth, values) = (c.input(0)?, c.input(1)?, c.input(2)?);
    let d = depth.scalar_f64("depth")?;
    if !(d.is_finite() && d >= 1.0 && d <= MAX_ELEMENTS as f64) {
        bail!("depth {d} is not a positive size");
    }
    // A float depth is cast to int64 (truncated).
    let d = d.trunc() as usize;
    if values.len() != 2 {
        bail!(
            "values must have two elements, has shape {:?}",
            values.shape
        );
    }
    let r = ind.rank();
    let axis = c.int("axis", -1)?;
    let axis = norm_axis(axis, r + 1)?;
    let mut shape = ind.shape.clone();
    shape.insert(axis, d);
    let n = checked_numel(&shape)?;
    let outer: usize = ind.shape[..axis].iter().product();
    let inner: usize = ind.shape[axis..].iter().product();
    let iv = ind.to_f64();
    // Per output element: the index of the source in `values` (0 off, 1 on).
    let mut pick = vec![0usize; n];
    for o in 0..outer {
        for i in 0..inner {
            let raw = iv[o * inner + i];
            if !raw.is_finite() {
                bail!("index {raw} is not finite");
            }
            let mut k = raw.trunc() as i64;
            if k < 0 {
                k += d as i64;
            }
            if (0..d as i64).contains(&k) {
                pick[(o * d + k as usize) * inner + i] = 1;
            }
        }
    }
    Ok(values.gather_flat(shape, &pick))
}

/// `Compress(input, condition)`: the slices along `axis` (or the elements of the flattened
/// input when there is no axis) whose condition is true; a condition shorter than the axis
/// drops the rest.
pub(crate) fn compress(c: &Call<'_>) -> OpResult<Arr> {
    let (x, cond) = (c.input(0)?, c.input(1)?);
    if cond.rank() != 1 {
        bail!("condition must be 1-D, has shape {:?}", cond.shape);
    }
    let cv = cond.int_values("condition")?;
    let (x, axis) = match c.opt_int("axis")? {
        Some(a) => (x.clone(), norm_axis(a, x.rank())?),
        None => (x.reshaped(vec![x.len()])?, 0),
    };
    let dim = x.shape[axis];
    if cv.len() > dim && cv[dim..].iter().any(|&b| b != 0) {
        bail!(
            "condition of length {} selects beyond dim {dim} of axis {axis}",
            cv.len()
        );
    }
    let keep: Vec<usize> = (0..dim.min(cv.len())).filter(|&i| cv[i] != 0).collect();
    let outer: usize = x.shape[..axis].iter().product();
    let inner: usize = x.shape[axis + 1..].iter().product();
    let mut idx = Vec::with_capacity(outer * keep.len() * inner);
    for o in 0..outer {
        for &k in &keep {
            let base = (o * dim + k) * inner;
            idx.extend(base..base + inner);
        }
    }
    let mut shape = x.shape.clone();
    shape[axis] = keep.len();
    Ok(x.gather_flat(shape, &idx))
}

/// `NonZero`: the coordinates of the non-zero elements, shape `[rank, count]`, in row-major
/// order.
pub(crate) fn non_zero(c: &Call<'_>) -> OpResult<Arr> {
    let x = c.input(0)?;
    let v = x.to_f64();
    let r = x.rank();
    let st = strides(&x.shape);
    let hits: Vec<usize> = (0..v.len()).filter(|&i| v[i] != 0.0).collect();
    // A scalar counts as a 1-D array of one element (as numpy's nonzero does).
    let rows = r.max(1);
    let mut out = vec![0i64; rows * hits.len()];
    for (j, &h) in hits.iter().enumerate() {
        for a in 0..r {
            out[a * hits.len() + j] = ((h / st[a]) % x.shape[a]) as i64;
        }
    }
    Ok(Arr::ints(DType::I64, vec![rows, hits.len()], out))
}

/// `ReverseSequence(input, sequence_lens)`: for each batch entry `b` (along `batch_axis`),
/// reverses the first `sequence_lens[b]` steps along `time_axis`.
pub(crate) fn reverse_sequence(c: &Call<'_>) -> OpResult<Arr> {
    let (x, lens) = (c.input(0)?, c.input(1)?);
    let r = x.rank();
    if r < 2 {
        bail!("input must have rank >= 2, has shape {:?}", x.shape);
    }
    let ba = norm_axis(c.int("batch_axis", 1)?, r)?;
    let ta = norm_axis(c.int("time_axis", 0)?, r)?;
    if ba == ta {
        bail!("batch_axis and time_axis are both {ba}");
    }
    let lv = lens.int_values("sequence_lens")?;
    if lv.len() != x.shape[ba] {
        bail!(
            "sequence_lens has {} entries, the batch axis {}",
            lv.len(),
            x.shape[ba]
        );
    }
    let steps = x.shape[ta] as i64;
    if let Some(&l) = lv.iter().find(|&&l| l < 0 || l > steps) {
        bail!("sequence length {l} is outside 0..={steps}");
    }
    let st = strides(&x.shape);
    let idx: Vec<usize> = (0..x.len())
        .map(|p| {
            let b = (p / st[ba]) % x.shape[ba];
            let t = (p / st[ta]) % x.shape[ta];
            let l = lv[b] as usize;
            if t < l {
                p - t * st[ta] + (l - 1 - t) * st[ta]
            } else {
                p
            }
        })
        .collect();
    Ok(x.gather_flat(x.shape.clone(), &idx))
}
