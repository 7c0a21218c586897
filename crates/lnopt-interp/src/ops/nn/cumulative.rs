//! Running sums and products along one axis: CumSum (opset 11) and CumProd (opset 26), with
//! `exclusive` and `reverse`.

use crate::arr::{Arr, Buf};
use crate::call::Call;
use crate::error::OpResult;
use crate::index::norm_axis;

/// `CumSum` (`prod` false) or `CumProd` (`prod` true).
pub(crate) fn cumulative(c: &Call<'_>, prod: bool) -> OpResult<Arr> {
    let x = c.input(0)?;
    let axis = c.input(1)?.scalar_i64("axis")?;
    let a = norm_axis(axis, x.rank())?;
    let exclusive = c.int("exclusive", 0)? != 0;
    let reverse = c.int("reverse", 0)? != 0;
    let outer: usize = x.shape[..a].iter().product();
    let len = x.shape[a];
    let inner: usize = x.shape[a + 1..].iter().product();
    // Visit order along the axis and the flat index of each step.
    let walk = |o: usize, i: usize| {
        let ks: Vec<usize> = if reverse {
            (0..len).rev().collect()
        } else {
            (0..len).collect()
        };
        ks.into_iter().map(move |k| (o * len + k) * inner + i)
    };
    Ok(match &x.buf {
        Buf::F(v) => {
            let mut y = vec![0.0; v.len()];
            let unit = if prod { 1.0 } else { 0.0 };
            for o in 0..outer {
                for i in 0..inner {
                    let mut acc = unit;
                    for at in walk(o, i) {
                        let next = if prod { acc * v[at] } else { acc + v[at] };
                        y[at] = if exclusive { acc } else { next };
                        // Accumulate in the element dtype, as a kernel in that dtype would.
                        acc = crate::arr::round_float(x.dtype, next);
                    }
                }
            }
            Arr::floats(x.dtype, x.shape.clone(), y)
        }
        Buf::I(v) => {
            let mut y = vec![0i64; v.len()];
            let unit = if prod { 1 } else { 0 };
            for o in 0..outer {
                for i in 0..inner {
                    let mut acc: i64 = unit;
                    for at in walk(o, i) {
                        let next = if prod {
                            acc.wrapping_mul(v[at])
                        } else {
                            acc.wrapping_add(v[at])
                        };
                        y[at] = if exclusive { acc } else { next };
                        acc = crate::arr::wrap_int(x.dtype, next);
                    }
                }
            }
            Arr::ints(x.dtype, x.shape.clone(), y)
        }
        Buf::S(_) => crate::error::bail!("string tensors cannot be accumulated"),
    })
}
