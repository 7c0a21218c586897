//! `GatherND` with `batch_dims`.

use crate::arr::{checked_numel, Arr};
use crate::call::Call;
use crate::error::{bail, OpResult};
use crate::index::strides;

/// Normalises an index into a dim of size `dim` (negative counts from the end).
pub(crate) fn norm_index(i: i64, dim: usize) -> OpResult<usize> {
    let d = dim as i64;
    if i < -d || i >= d {
        bail!("index {i} is out of range for a dim of size {dim}");
    }
    Ok(if i < 0 { i + d } else { i } as usize)
}

/// `GatherND`: the last dim of `indices` (length k) addresses the first k dims of `data` after
/// the `batch_dims` leading dims that data and indices share.
pub(crate) fn gather_nd(c: &Call<'_>) -> OpResult<Arr> {
    let (x, ind) = (c.input(0)?, c.input(1)?);
    let b = usize::try_from(c.int("batch_dims", 0)?).map_err(|_| "batch_dims is negative")?;
    let iv = ind.int_values("indices")?;
    let (r, q) = (x.rank(), ind.rank());
    if q < 1 || r < 1 || b >= q.min(r) {
        bail!("batch_dims {b} needs data rank {r} and indices rank {q} above it");
    }
    if x.shape[..b] != ind.shape[..b] {
        bail!(
            "batch dims of data {:?} and indices {:?} differ",
            x.shape,
            ind.shape
        );
    }
    let k = ind.shape[q - 1];
    if k < 1 || b + k > r {
        bail!("indices last dim {k} does not fit data rank {r} after {b} batch dims");
    }
    let mut shape = ind.shape[..q - 1].to_vec();
    shape.extend(&x.shape[b + k..]);
    let n = checked_numel(&shape)?;
    let st = strides(&x.shape);
    let slice: usize = x.shape[b + k..].iter().product();
    let batch: usize = x.shape[..b].iter().product();
    let per_batch: usize = ind.shape[b..q - 1].iter().product();
    let batch_stride = if b == 0 { 0 } else { st[b - 1] };
    let mut idx = Vec::with_capacity(n);
    for bi in 0..batch {
        for t in 0..per_batch {
            let tuple = &iv[(bi * per_batch + t) * k..(bi * per_batch + t + 1) * k];
            let mut pos = bi * batch_stride;
            for (j, &i) in tuple.iter().enumerate() {
                pos += norm_index(i, x.shape[b + j])? * st[b + j];
            }
            idx.extend(pos..pos + slice);
        }
    }
    Ok(x.gather_flat(shape, &idx))
}
