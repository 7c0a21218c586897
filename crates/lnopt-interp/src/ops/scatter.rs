//! `Scatter`, `ScatterElements` and `ScatterND` with every `reduction` (none, add, mul, max,
//! min). With no reduction, two updates of one element are undefined by the standard and
//! refused.

use crate::arr::{Arr, Buf};
use crate::call::Call;
use crate::error::{bail, OpResult};
use crate::index::{norm_axis, strides};
use crate::ops::elementwise::{nan_max, nan_min};
use crate::ops::gather_nd::norm_index;

/// How an update combines with the element it lands on.
#[derive(Clone, Copy, PartialEq)]
enum Reduction {
    None,
    Add,
    Mul,
    Max,
    Min,
}

fn reduction(c: &Call<'_>) -> OpResult<Reduction> {
    Ok(match c.string("reduction", "none")?.as_str() {
        "none" => Reduction::None,
        "add" => Reduction::Add,
        "mul" => Reduction::Mul,
        "max" => Reduction::Max,
        "min" => Reduction::Min,
        other => bail!("unknown reduction '{other}'"),
    })
}

/// Writes `updates[k]` into a copy of `data` at flat position `dest[k]`, in order.
fn apply(data: &Arr, updates: &Arr, dest: &[usize], red: Reduction) -> OpResult<Arr> {
    if data.dtype != updates.dtype {
        bail!(
            "data and updates dtypes differ: {} and {}",
            data.dtype,
            updates.dtype
        );
    }
    if red == Reduction::None {
        let mut seen = vec![false; data.len()];
        for &d in dest {
            if std::mem::replace(&mut seen[d], true) {
                bail!("two updates of one element without a reduction are undefined");
            }
        }
    }
    Ok(match (&data.buf, &updates.buf) {
        (Buf::F(x), Buf::F(u)) => {
            let mut out = x.clone();
            for (&d, &v) in dest.iter().zip(u) {
                out[d] = match red {
                    Reduction::None => v,
                    Reduction::Add => out[d] + v,
                    Reduction::Mul => out[d] * v,
                    Reduction::Max => nan_max(out[d], v),
                    Reduction::Min => nan_min(out[d], v),
                };
                // Each step rounds to the dtype, as a kernel in that dtype would.
                out[d] = crate::arr::round_float(data.dtype, out[d]);
            }
            Arr::floats(data.dtype, data.shape.clone(), out)
        }
        (Buf::I(x), Buf::I(u)) => {
            let mut out = x.clone();
            let unsigned64 = data.dtype == lnopt_ir::DType::U64;
            for (&d, &v) in dest.iter().zip(u) {
                let cur = out[d];
                out[d] = match red {
                    Reduction::None => v,
                    Reduction::Add => cur.wrapping_add(v),
                    Reduction::Mul => cur.wrapping_mul(v),
                    Reduction::Max if unsigned64 => (cur as u64).max(v as u64) as i64,
                    Reduction::Min if unsigned64 => (cur as u64).min(v as u64) as i64,
                    Reduction::Max => cur.max(v),
                    Reduction::Min => cur.min(v),
                };
                out[d] = crate::arr::wrap_int(data.dtype, out[d]);
            }
            Arr::ints(data.dtype, data.shape.clone(), out)
        }
        _ => bail!("data and updates kinds differ"),
    })
}

/// `ScatterElements` (and the deprecated `Scatter`): `updates` and `indices` share a shape;
/// element `k` goes to its own coordinates with the `axis` coordinate replaced by the index.
pub(crate) fn scatter_elements(c: &Call<'_>, with_reduction: bool) -> OpResult<Arr> {
    let (data, ind, upd) = (c.input(0)?, c.input(1)?, c.input(2)?);
    let r = data.rank();
    let axis = norm_axis(c.int("axis", 0)?, r)?;
    let red = if with_reduction {
        reduction(c)?
    } else {
        Reduction::None
    };
    if ind.shape != upd.shape || ind.rank() != r {
        bail!(
            "indices {:?} and updates {:?} must share a shape of data's rank {r}",
            ind.shape,
            upd.shape
        );
    }
    for a in 0..r {
        if a != axis && ind.shape[a] > data.shape[a] {
            bail!(
                "indices shape {:?} exceeds data shape {:?}",
                ind.shape,
                data.shape
            );
        }
    }
    let iv = ind.int_values("indices")?;
    let st = strides(&data.shape);
    let ist = strides(&ind.shape);
    let mut dest = Vec::with_capacity(iv.len());
    for (k, &i) in iv.iter().enumerate() {
        let mut pos = 0;
        for a in 0..r {
            let coord = if a == axis {
                norm_index(i, data.shape[a])?
            } else {
                (k / ist[a]) % ind.shape[a]
            };
            pos += coord * st[a];
        }
        dest.push(pos);
    }
    apply(data, upd, &dest, red)
}

/// `ScatterND`: the last dim of `indices` (length k) addresses the first k dims of data;
/// each index tuple receives a slice of `updates`.
pub(crate) fn scatter_nd(c: &Call<'_>) -> OpResult<Arr> {
    let (data, ind, upd) = (c.input(0)?, c.input(1)?, c.input(2)?);
    let red = reduction(c)?;
    let (r, q) = (data.rank(), ind.rank());
    if q < 1 {
        bail!("indices must have rank >= 1");
    }
    let k = ind.shape[q - 1];
    if k > r {
        bail!("indices last dim {k} exceeds data rank {r}");
    }
    let mut want = ind.shape[..q - 1].to_vec();
    want.extend(&data.shape[k..]);
    if upd.shape != want {
        bail!("updates shape {:?} must be {want:?}", upd.shape);
    }
    let iv = ind.int_values("indices")?;
    let st = strides(&data.shape);
    let slice: usize = data.shape[k..].iter().product();
    let tuples: usize = ind.shape[..q - 1].iter().product();
    let mut dest = Vec::with_capacity(tuples * slice);
    for t in 0..tuples {
        let mut pos = 0;
        for j in 0..k {
            pos += norm_index(iv[t * k + j], data.shape[j])? * st[j];
        }
        dest.extend(pos..pos + slice);
    }
    apply(data, upd, &dest, red)
}

/// `TensorScatter(past_cache, update, write_indices)`: for every batch entry `b` (axis 0),
/// writes the `update` steps along `axis` (default -2, not 0) into the cache from position
/// `write_indices[b]` (default 0); `mode` linear (the steps must fit) or circular (positions
/// wrap around the cache length).
pub(crate) fn tensor_scatter(c: &Call<'_>) -> OpResult<Arr> {
    let (cache, upd) = (c.input(0)?, c.input(1)?);
    let r = cache.rank();
    let axis = norm_axis(c.int("axis", -2)?, r)?;
    if axis == 0 {
        bail!("axis must not be the batch axis 0");
    }
    let circular = match c.string("mode", "linear")?.as_str() {
        "linear" => false,
        "circular" => true,
        other => bail!("unknown mode '{other}'"),
    };
    if upd.rank() != r
        || (0..r).any(|d| {
            if d == axis {
                upd.shape[d] > cache.shape[d]
            } else {
                upd.shape[d] != cache.shape[d]
            }
        })
    {
        bail!(
            "update {:?} does not fit cache {:?} along axis {axis}",
            upd.shape,
            cache.shape
        );
    }
    let batch = cache.shape[0];
    let starts = match c.opt_input(2) {
        Some(w) => w.int_values("write_indices")?.to_vec(),
        None => vec![0; batch],
    };
    if starts.len() != batch {
        bail!(
            "write_indices has {} entries for batch {batch}",
            starts.len()
        );
    }
    let max_len = cache.shape[axis];
    // Cache position of step `s` of batch entry `b`.
    let position = |b: usize, s: usize| -> OpResult<usize> {
        let start = starts[b];
        let t = start.checked_add(s as i64).ok_or("write index overflows")?;
        let t = if circular && max_len > 0 {
            t.rem_euclid(max_len as i64)
        } else {
            t
        };
        if start < 0 || t >= max_len as i64 {
            bail!("write index {start} + {s} is outside the cache length {max_len}");
        }
        Ok(t as usize)
    };
    let (cst, ust) = (strides(&cache.shape), strides(&upd.shape));
    let mut dest = Vec::with_capacity(upd.len());
    for p in 0..upd.len() {
        let mut pos = 0;
        for d in 0..r {
            let coord = (p / ust[d]) % upd.shape[d];
            let coord = if d == axis {
                position(p / ust[0], coord)?
            } else {
                coord
            };
            pos += coord * cst[d];
        }
        dest.push(pos);
    }
    apply(cache, upd, &dest, Reduction::None)
}
