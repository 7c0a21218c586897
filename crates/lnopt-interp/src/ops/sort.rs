//! Ops that order elements: `TopK` (ties by lower index) and `Unique` (all four outputs,
//! sorted or in order of first occurrence, flattened or along an axis). Floats order as numpy
//! does: NaN above everything, NaNs equal to each other, -0 equal to 0.

use crate::arr::{Arr, Buf};
use crate::call::Call;
use crate::error::{bail, OpResult};
use crate::index::norm_axis;
use lnopt_ir::DType;
use std::cmp::Ordering;

/// Compares elements `i` and `j` of `a`.
pub(crate) fn cmp_elems(a: &Arr, i: usize, j: usize) -> Ordering {
    match &a.buf {
        Buf::F(v) => {
            let (x, y) = (v[i], v[j]);
            match (x.is_nan(), y.is_nan()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                _ => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
            }
        }
        Buf::I(v) if a.dtype == DType::U64 => (v[i] as u64).cmp(&(v[j] as u64)),
        Buf::I(v) => v[i].cmp(&v[j]),
        // Byte order of UTF-8 is code point order, numpy's order of strings.
        Buf::S(v) => v[i].cmp(&v[j]),
    }
}

/// `TopK`: the `k` largest (or smallest) elements along `axis` (default -1), in order
/// (equal values: the lower index first), and their indices.
pub(crate) fn top_k(c: &Call<'_>) -> OpResult<Vec<Arr>> {
    let x = c.input(0)?;
    let k = if c.opset < 10 {
        match c.opt_int("k")? {
            Some(k) => k,
            None => bail!("attribute 'k' is missing"),
        }
    } else {
        c.input(1)?.scalar_i64("K")?
    };
    let axis = norm_axis(c.int("axis", -1)?, x.rank())?;
    let largest = c.int("largest", 1)? != 0;
    let n = x.shape[axis];
    let k = match usize::try_from(k) {
        Ok(k) if k <= n => k,
        _ => bail!("k = {k} is outside 0..={n} (axis {axis} of {:?})", x.shape),
    };
    let outer: usize = x.shape[..axis].iter().product();
    let inner: usize = x.shape[axis + 1..].iter().product();
    let mut src = Vec::with_capacity(outer * k * inner);
    let mut pos = Vec::with_capacity(outer * k * inner);
    let mut order: Vec<usize> = Vec::with_capacity(n);
    let mut picked = vec![(0usize, 0usize); outer * k * inner];
    for o in 0..outer {
        for i in 0..inner {
            let at = |t: usize| (o * n + t) * inner + i;
            order.clear();
            order.extend(0..n);
            // Stable sort: equal values keep the lower index first.
            order.sort_by(|&p, &q| {
                let ord = cmp_elems(x, at(p), at(q));
                if largest {
                    ord.reverse()
                } else {
                    ord
                }
            });
            for (t, &p) in order.iter().take(k).enumerate() {
                picked[(o * k + t) * inner + i] = (at(p), p);
            }
        }
    }
    for &(s, p) in &picked {
        src.push(s);
        pos.push(p as i64);
    }
    let mut shape = x.shape.clone();
    shape[axis] = k;
    let values = x.gather_flat(shape.clone(), &src);
    Ok(vec![values, Arr::ints(DType::I64, shape, pos)])
}

/// `Unique`: outputs Y, indices (first occurrence), inverse_indices and counts.
pub(crate) fn unique(c: &Call<'_>) -> OpResult<Vec<Arr>> {
    let x = c.input(0)?;
    let sorted = c.int("sorted", 1)? != 0;
    let (x, axis) = match c.opt_int("axis")? {
        Some(a) => (x.clone(), norm_axis(a, x.rank())?),
        None => (x.reshaped(vec![x.len()])?, 0),
    };
    let n = x.shape[axis];
    let outer: usize = x.shape[..axis].iter().product();
    let inner: usize = x.shape[axis + 1..].iter().product();
    // Flat positions of slice `s`, in the lexicographic order numpy compares slices in.
    let elems =
        |s: usize| (0..outer * inner).map(move |e| ((e / inner) * n + s) * inner + e % inner);
    let cmp = |p: usize, q: usize| {
        elems(p)
            .zip(elems(q))
            .map(|(i, j)| cmp_elems(&x, i, j))
            .find(|o| *o != Ordering::Equal)
            .unwrap_or(Ordering::Equal)
    };
    // Slices in sorted order (stable: first occurrences first among equals).
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&p, &q| cmp(p, q));
    // Groups of equal slices: (first occurrence, count), and each slice's group.
    let mut groups: Vec<(usize, i64)> = Vec::new();
    let mut group_of = vec![0usize; n];
    for (t, &s) in order.iter().enumerate() {
        if t == 0 || cmp(order[t - 1], s) != Ordering::Equal {
            groups.push((s, 0));
        }
        let g = groups.len() - 1;
        groups[g].1 += 1;
        group_of[s] = g;
    }
    // Output order of the groups.
    let mut rank: Vec<usize> = (0..groups.len()).collect();
    if !sorted {
        rank.sort_by_key(|&g| groups[g].0);
    }
    let mut place = vec![0usize; groups.len()];
    for (out_pos, &g) in rank.iter().enumerate() {
        place[g] = out_pos;
    }
    let u = groups.len();
    let mut idx = Vec::with_capacity(outer * u * inner);
    for o in 0..outer {
        for &g in &rank {
            let base = (o * n + groups[g].0) * inner;
            idx.extend(base..base + inner);
        }
    }
    let mut shape = x.shape.clone();
    shape[axis] = u;
    let y = x.gather_flat(shape, &idx);
    let first: Vec<i64> = rank.iter().map(|&g| groups[g].0 as i64).collect();
    let inverse: Vec<i64> = (0..n).map(|s| place[group_of[s]] as i64).collect();
    let counts: Vec<i64> = rank.iter().map(|&g| groups[g].1).collect();
    Ok(vec![
        y,
        Arr::i64_vec(first),
        Arr::i64_vec(inverse),
        Arr::i64_vec(counts),
    ])
}
