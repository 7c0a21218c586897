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
