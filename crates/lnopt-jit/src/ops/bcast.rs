//! Broadcasting: output shapes and per-element input offsets.

use crate::error::{bail, OpResult};

/// Numpy-style broadcast of two shapes.
pub(crate) fn broadcast2(a: &[usize], b: &[usize]) -> OpResult<Vec<usize>> {
    let r = a.len().max(b.len());
    let mut out = vec![0; r];
    for (i, o) in out.iter_mut().enumerate() {
        let da = if i + a.len() >= r {
            a[i + a.len() - r]
        } else {
            1
        };
        let db = if i + b.len() >= r {
            b[i + b.len() - r]
        } else {
            1
        };
        *o = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            bail!("shapes {a:?} and {b:?} do not broadcast");
        };
    }
    Ok(out)
}

/// Row-major strides of `shape`.
pub(crate) fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// How an input of a broadcasting op is read at each output position.
pub(crate) enum BIdx {
    /// Same shape as the output.
    Same,
    /// A single element.
    Scalar,
    /// Explicit offsets per output element.
    Map(Vec<usize>),
}

impl BIdx {
    /// Index mapping for reading a tensor of `inp` shape at every position of `out`
    /// (`inp` must broadcast to `out`).
    pub(crate) fn new(inp: &[usize], out: &[usize]) -> BIdx {
        let n_in: usize = inp.iter().product();
        let n_out: usize = out.iter().product();
        if inp == out
            || (n_in == n_out
                && inp
                    .iter()
                    .filter(|&&d| d != 1)
                    .eq(out.iter().filter(|&&d| d != 1)))
        {
            return BIdx::Same;
        }
        if n_in == 1 {
            return BIdx::Scalar;
        }
        let r = out.len();
        let is = strides(inp);
        let mut st = vec![0usize; r];
        for k in 0..inp.len() {
            let o = k + r - inp.len();
            if inp[k] != 1 {
                st[o] = is[k];
            }
        }
        let mut offs = Vec::with_capacity(n_out);
        let mut idx = vec![0usize; r];
        let mut off = 0usize;
        for _ in 0..n_out {
            offs.push(off);
            for d in (0..r).rev() {
                idx[d] += 1;
                off += st[d];
                if idx[d] < out[d] {
                    break;
                }
                off -= st[d] * idx[d];
                idx[d] = 0;
            }
        }
        BIdx::Map(offs)
    }

    /// Input offset of output element `i`.
    #[inline]
    pub(crate) fn at(&self, i: usize) -> usize {
        match self {
            BIdx::Same => i,
            BIdx::Scalar => 0,
            BIdx::Map(m) => m[i],
        }
    }
}

/// Normalises a possibly negative axis for `rank`.
pub(crate) fn norm_axis(axis: i64, rank: usize) -> OpResult<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r {
        bail!("axis {axis} out of range for rank {rank}");
    }
    Ok(a as usize)
}

/// Broadcast strides of an input of shape `inp` read at every position of `out` (0 on
/// broadcast axes), aligned to `out`'s rank.
fn bstrides(inp: &[usize], out: &[usize]) -> Vec<usize> {
    let r = out.len();
    let is = strides(inp);
    let mut st = vec![0usize; r];
    for k in 0..inp.len() {
        if let Some(o) = (k + r).checked_sub(inp.len()) {
            if inp[k] != 1 {
                st[o] = is[k];
            }
        }
    }
    st
}

/// Visits a two-input broadcast over `out` as contiguous runs of the output:
/// `f(out_start, a_start, a_step, b_start, b_step, len)` where `a_step`/`b_step` are 0 or the
/// input's innermost stride (1 after merging). Adjacent axes that are contiguous for both
/// inputs are merged first, so a same-shape op is one run and a row broadcast `[.., h] + [h]`
/// is one run per row. `a` and `b` must broadcast to `out`.
pub(crate) fn runs2(
    a: &[usize],
    b: &[usize],
    out: &[usize],
    mut f: impl FnMut(usize, usize, usize, usize, usize, usize),
) {
    let n: usize = out.iter().product();
    if n == 0 {
        return;
    }
    let (sa, sb) = (bstrides(a, out), bstrides(b, out));
    // Merge axes from the innermost outwards: (dims, a strides, b strides), outermost first.
    let mut dims: Vec<(usize, usize, usize)> = Vec::with_capacity(out.len());
    for d in (0..out.len()).rev() {
        let (len, x, y) = (out[d], sa[d], sb[d]);
        if len == 1 {
            continue;
        }
        match dims.last_mut() {
            Some(last) if x == last.1 * last.0 && y == last.2 * last.0 => last.0 *= len,
            _ => dims.push((len, x, y)),
        }
    }
    dims.reverse();
    let Some(&(len, ia, ib)) = dims.last() else {
        f(0, 0, 0, 0, 0, 1);
        return;
    };
    let outer = &dims[..dims.len() - 1];
    let mut idx = vec![0usize; outer.len()];
    let (mut oa, mut ob, mut oo) = (0usize, 0usize, 0usize);
    loop {
        f(oo, oa, ia, ob, ib, len);
        oo += len;
        if oo >= n {
            return;
        }
        for d in (0..outer.len()).rev() {
            let (dl, xa, xb) = outer[d];
            idx[d] += 1;
            oa += xa;
            ob += xb;
            if idx[d] < dl {
                break;
            }
            oa -= xa * dl;
            ob -= xb * dl;
            idx[d] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every output element is visited exactly once and reads the same input offsets as the
    /// element-wise `BIdx` mapping.
    #[test]
    fn runs_match_elementwise_offsets() {
        let cases: &[(&[usize], &[usize])] = &[
            (&[2, 3, 4], &[2, 3, 4]),
            (&[2, 3, 4], &[4]),
            (&[4], &[2, 3, 4]),
            (&[2, 1, 4], &[3, 1]),
            (&[1], &[5, 2]),
            (&[2, 1, 3, 1], &[1, 4, 1, 5]),
            (&[1, 1], &[1]),
            (&[3, 1, 1], &[1, 2, 2]),
        ];
        for &(a, b) in cases {
            let out = broadcast2(a, b).unwrap();
            let n: usize = out.iter().product();
            let (ia, ib) = (BIdx::new(a, &out), BIdx::new(b, &out));
            let mut seen = vec![0u8; n];
            runs2(a, b, &out, |o, pa, sa, pb, sb, len| {
                for i in 0..len {
                    seen[o + i] += 1;
                    assert_eq!(pa + i * sa, ia.at(o + i), "a {a:?} b {b:?} at {}", o + i);
                    assert_eq!(pb + i * sb, ib.at(o + i), "a {a:?} b {b:?} at {}", o + i);
                }
            });
            assert!(seen.iter().all(|&c| c == 1), "a {a:?} b {b:?}: {seen:?}");
        }
    }
}
