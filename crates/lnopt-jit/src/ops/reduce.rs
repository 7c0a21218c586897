//! Reductions and softmax.

use super::bcast::{norm_axis, strides};
use super::Ctx;
use crate::error::{bail, OpResult};
use crate::value::{round_to, Data, Val};

/// `ReduceMean`/`Sum`/`Max`/`Min`/`Prod`/`SumSquare`/`L2`, axes from the attribute (old opsets)
/// or the second input.
pub(crate) fn reduce(c: &Ctx<'_>, op: &str) -> OpResult<Val> {
    let x = c.input(0)?;
    let r = x.rank();
    let axes_in_input = op == "ReduceSum" && c.opset() >= 13 || c.opset() >= 18;
    let axes = if axes_in_input {
        c.opt(1).map(|a| a.as_i64()).transpose()?
    } else {
        c.ints("axes")?
    };
    let keep = c.int("keepdims", 1)? != 0;
    let noop = c.int("noop_with_empty_axes", 0)? != 0;
    let mut red = vec![false; r];
    match axes {
        Some(a) if !a.is_empty() => {
            for v in a {
                red[norm_axis(v, r)?] = true;
            }
        }
        _ if noop => return Ok(x.clone()),
        _ => red.iter_mut().for_each(|v| *v = true),
    }
    let mut oshape_keep: Vec<usize> = x.shape.clone();
    for d in 0..r {
        if red[d] {
            oshape_keep[d] = 1;
        }
    }
    let ost = strides(&oshape_keep);
    let on: usize = oshape_keep.iter().product();
    let cnt = x.numel().checked_div(on).unwrap_or(0);
    let init = match op {
        "ReduceMax" => f64::NEG_INFINITY,
        "ReduceMin" => f64::INFINITY,
        "ReduceProd" => 1.0,
        _ => 0.0,
    };
    let mut acc = vec![init; on];
    let xs = x.as_f64();
    let ist = strides(&x.shape);
    for (k, &v) in xs.iter().enumerate() {
        let mut o = 0;
        for d in 0..r {
            if !red[d] {
                o += (k / ist[d]) % x.shape[d] * ost[d];
            }
        }
        let a = &mut acc[o];
        *a = match op {
            "ReduceMax" => {
                if v.is_nan() || v > *a {
                    v
                } else {
                    *a
                }
            }
            "ReduceMin" => {
                if v.is_nan() || v < *a {
                    v
                } else {
                    *a
                }
            }
            "ReduceProd" => *a * v,
            "ReduceSumSquare" | "ReduceL2" => *a + v * v,
            _ => *a + v,
        };
    }
    for a in acc.iter_mut() {
        match op {
            "ReduceMean" => *a /= cnt as f64,
            "ReduceL2" => *a = a.sqrt(),
            _ => {}
        }
    }
    let shape = if keep {
        oshape_keep
    } else {
        x.shape
            .iter()
            .zip(&red)
            .filter(|(_, &r)| !r)
            .map(|(&s, _)| s)
            .collect()
    };
    let dt = x.dtype;
    let data = match &x.data {
        Data::F(_) => Data::F(acc.into_iter().map(|a| round_to(dt, a as f32)).collect()),
        Data::D(_) => Data::D(acc),
        Data::I(_) => Data::I(acc.into_iter().map(|a| a as i64).collect()),
        Data::B(_) => bail!("{op} of bool"),
    };
    Val::new(dt, shape, data)
}

/// `Softmax` / `LogSoftmax` (opset < 13: over the flattened trailing axes).
pub(crate) fn softmax(c: &Ctx<'_>, log: bool) -> OpResult<Val> {
    let x = c.input(0)?;
    let r = x.rank();
    let old = c.opset() < 13;
    let axis = norm_axis(c.int("axis", if old { 1 } else { -1 })?, r)?;
    let (outer, len, inner) = if old {
        (
            x.shape[..axis].iter().product::<usize>(),
            x.shape[axis..].iter().product::<usize>(),
            1,
        )
    } else {
        (
            x.shape[..axis].iter().product::<usize>(),
            x.shape[axis],
            x.shape[axis + 1..].iter().product::<usize>(),
        )
    };
    let dt = x.dtype;
    let mut v = x.as_f64();
    for o in 0..outer {
        for i in 0..inner {
            let at = |j: usize| (o * len + j) * inner + i;
            let m = (0..len).map(|j| v[at(j)]).fold(f64::NEG_INFINITY, f64::max);
            let s: f64 = (0..len).map(|j| (v[at(j)] - m).exp()).sum();
            for j in 0..len {
                let e = v[at(j)] - m;
                v[at(j)] = if log { e - s.ln() } else { e.exp() / s };
            }
        }
    }
    let data = match &x.data {
        Data::F(_) => Data::F(v.into_iter().map(|a| round_to(dt, a as f32)).collect()),
        Data::D(_) => Data::D(v),
        _ => bail!("softmax of {dt}"),
    };
    Val::new(dt, x.shape.clone(), data)
}
