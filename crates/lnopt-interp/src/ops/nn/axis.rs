//! Slicing one index out of an axis and stacking arrays along a new axis (for Scan).

use crate::arr::Arr;
use crate::error::{bail, OpResult};

/// The sub-array at index `i` of `axis`, with that axis removed.
pub(crate) fn slice_at(x: &Arr, axis: usize, i: usize) -> Arr {
    let outer: usize = x.shape[..axis].iter().product();
    let inner: usize = x.shape[axis + 1..].iter().product();
    let dim = x.shape[axis];
    let idx: Vec<usize> = (0..outer)
        .flat_map(|o| (0..inner).map(move |k| (o * dim + i) * inner + k))
        .collect();
    let mut shape = x.shape.clone();
    shape.remove(axis);
    x.gather_flat(shape, &idx)
}

/// Stacks equally shaped `parts` along a new `axis` (`0..=rank`).
pub(crate) fn stack_at(parts: &[Arr], axis: usize) -> OpResult<Arr> {
    let Some(first) = parts.first() else {
        bail!("nothing to stack");
    };
    if parts
        .iter()
        .any(|p| p.shape != first.shape || p.dtype != first.dtype)
    {
        bail!("stacked values change shape or dtype");
    }
    if axis > first.rank() {
        bail!("axis {axis} is out of range for rank {}", first.rank() + 1);
    }
    let outer: usize = first.shape[..axis].iter().product();
    let inner: usize = first.shape[axis..].iter().product();
    let n = parts.len();
    let joined: Vec<f64> = parts.iter().flat_map(|p| p.to_f64()).collect();
    let mut shape = first.shape.clone();
    shape.insert(axis, n);
    let idx: Vec<usize> = (0..outer)
        .flat_map(|o| {
            (0..n).flat_map(move |p| (0..inner).map(move |k| p * outer * inner + o * inner + k))
        })
        .collect();
    let ints: Vec<i64>;
    Ok(if first.is_float() {
        Arr::floats(first.dtype, shape, idx.iter().map(|&i| joined[i]).collect())
    } else {
        ints = parts
            .iter()
            .flat_map(|p| {
                p.int_values("scan output")
                    .map(|v| v.to_vec())
                    .unwrap_or_default()
            })
            .collect();
        Arr::ints(first.dtype, shape, idx.iter().map(|&i| ints[i]).collect())
    })
}
