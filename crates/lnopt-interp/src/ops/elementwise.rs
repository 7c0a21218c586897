//! Element-wise ops: unary math, binary arithmetic with broadcasting, comparisons, logic,
//! Where, Clip and the variadic Sum/Min/Max/Mean.

use crate::arr::{Arr, Buf};
use crate::call::Call;
use crate::error::{bail, OpResult};
use crate::index::{broadcast_index, broadcast_shapes};
use lnopt_ir::DType;

/// A float-only unary op.
pub(crate) fn unary_float(c: &Call<'_>, f: impl Fn(f64) -> f64) -> OpResult<Arr> {
    let x = c.input(0)?;
    let v = x.float_values("input")?;
    Ok(Arr::floats(
        x.dtype,
        x.shape.clone(),
        v.iter().map(|&a| f(a)).collect(),
    ))
}

/// A unary op defined on floats and (signed) integers.
pub(crate) fn unary_num(
    c: &Call<'_>,
    f: impl Fn(f64) -> f64,
    g: impl Fn(i64) -> i64,
) -> OpResult<Arr> {
    let x = c.input(0)?;
    Ok(match &x.buf {
        Buf::F(v) => Arr::floats(x.dtype, x.shape.clone(), v.iter().map(|&a| f(a)).collect()),
        Buf::I(v) => {
            if x.dtype == DType::Bool {
                bail!("input must be numeric, got bool");
            }
            Arr::ints(x.dtype, x.shape.clone(), v.iter().map(|&a| g(a)).collect())
        }
        Buf::S(_) => bail!("input must be numeric, got strings"),
    })
}

/// Broadcasts two inputs: output shape and the two source index maps.
fn broadcast2(a: &Arr, b: &Arr) -> OpResult<(Vec<usize>, Vec<usize>, Vec<usize>)> {
    let out = broadcast_shapes(&[&a.shape, &b.shape])?;
    let ia = broadcast_index(&a.shape, &out)?;
    let ib = broadcast_index(&b.shape, &out)?;
    Ok((out, ia, ib))
}

fn same_dtype(a: &Arr, b: &Arr) -> OpResult<()> {
    if a.dtype != b.dtype {
        bail!("operand dtypes differ: {} and {}", a.dtype, b.dtype);
    }
    Ok(())
}

/// A binary arithmetic op on two inputs of the same dtype, with numpy broadcasting.
pub(crate) fn binary(
    c: &Call<'_>,
    f: impl Fn(f64, f64) -> f64,
    g: impl Fn(i64, i64) -> OpResult<i64>,
) -> OpResult<Arr> {
    let (a, b) = (c.input(0)?, c.input(1)?);
    same_dtype(a, b)?;
    let (out, ia, ib) = broadcast2(a, b)?;
    Ok(match (&a.buf, &b.buf) {
        (Buf::F(x), Buf::F(y)) => Arr::floats(
            a.dtype,
            out,
            ia.iter().zip(&ib).map(|(&i, &j)| f(x[i], y[j])).collect(),
        ),
        (Buf::I(x), Buf::I(y)) => {
            let mut v = Vec::with_capacity(ia.len());
            for (&i, &j) in ia.iter().zip(&ib) {
                v.push(g(x[i], y[j])?);
            }
            Arr::ints(a.dtype, out, v)
        }
        _ => bail!("operand kinds differ"),
    })
}

/// Integer division truncating toward zero; an error on division by zero.
pub(crate) fn int_div(a: i64, b: i64) -> OpResult<i64> {
    if b == 0 {
        bail!("integer division by zero");
    }
    Ok(a.wrapping_div(b))
}

/// `Mod`: `fmod = 1` keeps the dividend's sign (C fmod), `fmod = 0` the divisor's (Python).
pub(crate) fn modulo(c: &Call<'_>) -> OpResult<Arr> {
    let fmod = c.int("fmod", 0)? != 0;
    binary(
        c,
        |a, b| {
            let r = a % b;
            if !fmod && r != 0.0 && (r < 0.0) != (b < 0.0) {
                r + b
            } else {
                r
            }
        },
        |a, b| {
            if b == 0 {
                bail!("integer modulo by zero");
            }
            let r = a.wrapping_rem(b);
            Ok(if !fmod && r != 0 && (r < 0) != (b < 0) {
                r + b
            } else {
                r
            })
        },
    )
}

/// `Pow`: the exponent may have another dtype than the base; the result has the base's.
pub(crate) fn pow(c: &Call<'_>) -> OpResult<Arr> {
    let (a, b) = (c.input(0)?, c.input(1)?);
    let (out, ia, ib) = broadcast2(a, b)?;
    match (&a.buf, &b.buf) {
        (Buf::I(x), Buf::I(y)) => {
            let mut v = Vec::with_capacity(ia.len());
            for (&i, &j) in ia.iter().zip(&ib) {
                let e = y[j];
                v.push(if e < 0 {
                    // Integer power with a negative exponent: 1, -1 or 0 as in C's pow + cast.
                    (x[i] as f64).powf(e as f64) as i64
                } else {
                    x[i].wrapping_pow(u32::try_from(e).unwrap_or(u32::MAX))
                });
            }
            Ok(Arr::ints(a.dtype, out, v))
        }
        _ => {
            let (x, y) = (a.to_f64(), b.to_f64());
            let v = ia.iter().zip(&ib).map(|(&i, &j)| x[i].powf(y[j])).collect();
            Ok(Arr::from_f64(a.dtype, out, v))
        }
    }
}

/// A comparison giving bool.
pub(crate) fn compare(
    c: &Call<'_>,
    f: impl Fn(f64, f64) -> bool,
    g: impl Fn(i64, i64) -> bool,
) -> OpResult<Arr> {
    let (a, b) = (c.input(0)?, c.input(1)?);
    same_dtype(a, b)?;
    let (out, ia, ib) = broadcast2(a, b)?;
    let v = match (&a.buf, &b.buf) {
        (Buf::F(x), Buf::F(y)) => ia
            .iter()
            .zip(&ib)
            .map(|(&i, &j)| f(x[i], y[j]) as i64)
            .collect(),
        (Buf::I(x), Buf::I(y)) => ia
            .iter()
            .zip(&ib)
            .map(|(&i, &j)| g(x[i], y[j]) as i64)
            .collect(),
        // Strings only reach Equal (ops::misc gates the rest).
        (Buf::S(x), Buf::S(y)) => ia
            .iter()
            .zip(&ib)
            .map(|(&i, &j)| (x[i] == y[j]) as i64)
            .collect(),
        _ => bail!("operand kinds differ"),
    };
    Ok(Arr::ints(DType::Bool, out, v))
}

/// A logical op on two bool inputs.
pub(crate) fn logic(c: &Call<'_>, f: impl Fn(bool, bool) -> bool) -> OpResult<Arr> {
    let (a, b) = (c.input(0)?, c.input(1)?);
    if a.dtype != DType::Bool || b.dtype != DType::Bool {
        bail!("inputs must be bool, got {} and {}", a.dtype, b.dtype);
    }
    compare(c, |_, _| false, |x, y| f(x != 0, y != 0))
}

/// `Not`.
pub(crate) fn not(c: &Call<'_>) -> OpResult<Arr> {
    let x = c.input(0)?;
    if x.dtype != DType::Bool {
        bail!("input must be bool, got {}", x.dtype);
    }
    let v = x
        .int_values("input")?
        .iter()
        .map(|&b| (b == 0) as i64)
        .collect();
    Ok(Arr::ints(DType::Bool, x.shape.clone(), v))
}

/// `Where(cond, x, y)` with three-way broadcasting.
pub(crate) fn where_op(c: &Call<'_>) -> OpResult<Arr> {
    let (cond, x, y) = (c.input(0)?, c.input(1)?, c.input(2)?);
    if cond.dtype != DType::Bool {
        bail!("condition must be bool, got {}", cond.dtype);
    }
    same_dtype(x, y)?;
    let out = broadcast_shapes(&[&cond.shape, &x.shape, &y.shape])?;
    let ic = broadcast_index(&cond.shape, &out)?;
    let ix = broadcast_index(&x.shape, &out)?;
    let iy = broadcast_index(&y.shape, &out)?;
    let cv = cond.int_values("condition")?;
    let pick: Vec<(bool, usize)> = (0..ic.len())
        .map(|k| {
            if cv[ic[k]] != 0 {
                (true, ix[k])
            } else {
                (false, iy[k])
            }
        })
        .collect();
    Ok(match (&x.buf, &y.buf) {
        (Buf::F(a), Buf::F(b)) => Arr::floats(
            x.dtype,
            out,
            pick.iter()
                .map(|&(t, i)| if t { a[i] } else { b[i] })
                .collect(),
        ),
        (Buf::I(a), Buf::I(b)) => Arr::ints(
            x.dtype,
            out,
            pick.iter()
                .map(|&(t, i)| if t { a[i] } else { b[i] })
                .collect(),
        ),
        (Buf::S(a), Buf::S(b)) => Arr::strings(
            out,
            pick.iter()
                .map(|&(t, i)| if t { a[i].clone() } else { b[i].clone() })
                .collect(),
        ),
        _ => bail!("operand kinds differ"),
    })
}

/// Variadic `Sum`, `Min`, `Max`, `Mean` with broadcasting.
pub(crate) fn variadic(c: &Call<'_>, op: &str) -> OpResult<Arr> {
    let ins = c.present_inputs();
    let Some(first) = ins.first() else {
        bail!("needs at least one input");
    };
    for a in &ins {
        same_dtype(first, a)?;
    }
    let shapes: Vec<&[usize]> = ins.iter().map(|a| a.shape.as_slice()).collect();
    let out = broadcast_shapes(&shapes)?;
    let maps = ins
        .iter()
        .map(|a| broadcast_index(&a.shape, &out))
        .collect::<OpResult<Vec<_>>>()?;
    let n = maps.first().map_or(0, |m| m.len());
    if first.is_float() {
        let vals: Vec<Vec<f64>> = ins.iter().map(|a| a.to_f64()).collect();
        let mut acc: Vec<f64> = (0..n).map(|k| vals[0][maps[0][k]]).collect();
        for (v, m) in vals.iter().zip(&maps).skip(1) {
            for k in 0..n {
                let x = v[m[k]];
                acc[k] = match op {
                    "Min" => nan_min(acc[k], x),
                    "Max" => nan_max(acc[k], x),
                    _ => acc[k] + x,
                };
            }
        }
        if op == "Mean" {
            let cnt = ins.len() as f64;
            acc.iter_mut().for_each(|a| *a /= cnt);
        }
        Ok(Arr::floats(first.dtype, out, acc))
    } else {
        let vals: Vec<&[i64]> = ins
            .iter()
            .map(|a| a.int_values("input"))
            .collect::<OpResult<_>>()?;
        let mut acc: Vec<i64> = (0..n).map(|k| vals[0][maps[0][k]]).collect();
        for (v, m) in vals.iter().zip(&maps).skip(1) {
            for k in 0..n {
                let x = v[m[k]];
                acc[k] = match op {
                    "Min" => acc[k].min(x),
                    "Max" => acc[k].max(x),
                    _ => acc[k].wrapping_add(x),
                };
            }
        }
        if op == "Mean" {
            let cnt = ins.len() as i64;
            acc.iter_mut().for_each(|a| *a /= cnt);
        }
        Ok(Arr::ints(first.dtype, out, acc))
    }
}

/// Minimum that propagates NaN.
pub(crate) fn nan_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

/// Maximum that propagates NaN.
pub(crate) fn nan_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// `Clip`: bounds from attributes before opset 11, from optional inputs after.
pub(crate) fn clip(c: &Call<'_>) -> OpResult<Arr> {
    let x = c.input(0)?;
    let (lo, hi) = if c.opset < 11 {
        (
            c.float("min", f32::MIN)? as f64,
            c.float("max", f32::MAX)? as f64,
        )
    } else {
        let lo = match c.opt_input(1) {
            Some(a) => a.scalar_f64("min")?,
            None => f64::NEG_INFINITY,
        };
        let hi = match c.opt_input(2) {
            Some(a) => a.scalar_f64("max")?,
            None => f64::INFINITY,
        };
        (lo, hi)
    };
    Ok(match &x.buf {
        Buf::F(v) => Arr::floats(
            x.dtype,
            x.shape.clone(),
            v.iter()
                .map(|&a| if a.is_nan() { a } else { a.max(lo).min(hi) })
                .collect(),
        ),
        Buf::I(v) => {
            if c.opset < 11 {
                bail!("Clip before opset 11 is defined on floats only");
            }
            // Integer bounds come from inputs of x's dtype: compare them exactly.
            let bound = |slot: usize, default: i64| -> OpResult<i64> {
                match c.opt_input(slot) {
                    Some(a) => a.scalar_i64("bound"),
                    None => Ok(default),
                }
            };
            let (lo, hi) = (bound(1, i64::MIN)?, bound(2, i64::MAX)?);
            Arr::ints(
                x.dtype,
                x.shape.clone(),
                v.iter().map(|&a| a.max(lo).min(hi)).collect(),
            )
        }
        Buf::S(_) => bail!("input must be numeric, got strings"),
    })
}

/// The error function, via libm.
pub(crate) fn erf(x: f64) -> f64 {
    libm::erf(x)
}

/// Logistic sigmoid.
pub(crate) fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}
