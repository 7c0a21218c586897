//! Element-wise activations and math functions that take attributes or a second operand:
//! Elu, Selu, Celu, HardSigmoid, HardSwish, ThresholdedRelu, Softsign, Mish, Shrink, Swish,
//! PRelu, the inverse and hyperbolic trigonometric functions, and Hardmax.

use crate::arr::{Arr, Buf};
use crate::call::Call;
use crate::error::{bail, OpResult};
use crate::index::{broadcast_index, broadcast_shapes, norm_axis};
use crate::ops::elementwise::unary_float;

/// Runs one of this module's unary ops (named in the nn dispatch).
pub(crate) fn unary(op: &str, c: &Call<'_>) -> OpResult<Arr> {
    let attr = |name: &str, default: f32| c.float(name, default).map(|v| v as f64);
    let run = |f: &dyn Fn(f64) -> f64| unary_float(c, f);
    match op {
        "Elu" => {
            let a = attr("alpha", 1.0)?;
            run(&|x| if x < 0.0 { a * x.exp_m1() } else { x })
        }
        "Selu" => {
            let a = attr("alpha", 1.673_263_2)?;
            let g = attr("gamma", 1.050_701)?;
            run(&|x| if x <= 0.0 { g * a * x.exp_m1() } else { g * x })
        }
        "Celu" => {
            let a = attr("alpha", 1.0)?;
            run(&|x| x.max(0.0) + (a * (x / a).exp_m1()).min(0.0))
        }
        "HardSigmoid" => {
            let a = attr("alpha", 0.2)?;
            let b = attr("beta", 0.5)?;
            run(&|x| (a * x + b).clamp(0.0, 1.0))
        }
        "HardSwish" => run(&|x| x * (x / 6.0 + 0.5).clamp(0.0, 1.0)),
        "ThresholdedRelu" => {
            let a = attr("alpha", 1.0)?;
            run(&|x| if x > a { x } else { 0.0 })
        }
        "Softsign" => run(&|x| x / (1.0 + x.abs())),
        "Mish" => run(&|x| x * x.exp().ln_1p().tanh()),
        "Shrink" => {
            let b = attr("bias", 0.0)?;
            let l = attr("lambd", 0.5)?;
            shrink(c, b, l)
        }
        "Swish" => {
            let a = attr("alpha", 1.0)?;
            run(&|x| x / (1.0 + (-a * x).exp()))
        }
        "Acos" => run(&f64::acos),
        "Asin" => run(&f64::asin),
        "Atan" => run(&f64::atan),
        "Acosh" => run(&f64::acosh),
        "Asinh" => run(&f64::asinh),
        "Atanh" => run(&f64::atanh),
        "Sinh" => run(&f64::sinh),
        "Cosh" => run(&f64::cosh),
        _ => Err(crate::error::OpError::Unsupported),
    }
}

/// `Shrink`, defined on floats and integers (the result keeps X's dtype).
fn shrink(c: &Call<'_>, bias: f64, lambd: f64) -> OpResult<Arr> {
    let x = c.input(0)?;
    let f = |v: f64| {
        if v < -lambd {
            v + bias
        } else if v > lambd {
            v - bias
        } else {
            0.0
        }
    };
    Ok(Arr::from_f64(
        x.dtype,
        x.shape.clone(),
        x.to_f64().into_iter().map(f).collect(),
    ))
}

/// `PRelu`: `x < 0 ? slope * x : x`, slope broadcast to X (unidirectionally).
pub(crate) fn prelu(c: &Call<'_>) -> OpResult<Arr> {
    let (x, s) = (c.input(0)?, c.input(1)?);
    if x.dtype != s.dtype {
        bail!("X is {} but slope is {}", x.dtype, s.dtype);
    }
    let shape = broadcast_shapes(&[&x.shape, &s.shape])?;
    if shape != x.shape {
        bail!("slope {:?} does not broadcast to X {:?}", s.shape, x.shape);
    }
    let si = broadcast_index(&s.shape, &x.shape)?;
    let (xv, sv) = (x.to_f64(), s.to_f64());
    let y = xv
        .iter()
        .zip(&si)
        .map(|(&v, &i)| if v < 0.0 { sv[i] * v } else { v })
        .collect();
    Ok(Arr::from_f64(x.dtype, x.shape.clone(), y))
}

/// `Hardmax`: 1 at the first maximum along `axis` (opset 13; before, over the flattened
/// trailing dims from `axis`, default 1), 0 elsewhere.
pub(crate) fn hardmax(c: &Call<'_>) -> OpResult<Arr> {
    let x = c.input(0)?;
    let Buf::F(v) = &x.buf else {
        bail!("input must be a float tensor, got {}", x.dtype);
    };
    let r = x.rank();
    let (outer, n, inner) = if c.opset >= 13 {
        let a = norm_axis(c.int("axis", -1)?, r)?;
        (
            x.shape[..a].iter().product::<usize>(),
            x.shape[a],
            x.shape[a + 1..].iter().product::<usize>(),
        )
    } else {
        let a = norm_axis(c.int("axis", 1)?, r + 1).map_err(|_| "axis out of range")?;
        (
            x.shape[..a].iter().product::<usize>(),
            x.shape[a..].iter().product::<usize>(),
            1,
        )
    };
    let mut y = vec![0.0; v.len()];
    for o in 0..outer {
        for i in 0..inner {
            let at = |k: usize| (o * n + k) * inner + i;
            let mut best = 0;
            for k in 1..n {
                if v[at(k)] > v[at(best)] {
                    best = k;
                }
            }
            if n > 0 {
                y[at(best)] = 1.0;
            }
        }
    }
    Ok(Arr::floats(x.dtype, x.shape.clone(), y))
}

/// `SwiGLU`: `a * sigmoid(alpha * a) * b` for A and B of one shape and dtype (the sigmoid
/// is a tensor of A's dtype before the products, as in the reference).
pub(crate) fn swiglu(c: &Call<'_>) -> OpResult<Arr> {
    let (a, b) = (c.input(0)?, c.input(1)?);
    if a.shape != b.shape || a.dtype != b.dtype {
        bail!(
            "A {:?} ({}) and B {:?} ({}) must have one shape and dtype",
            a.shape,
            a.dtype,
            b.shape,
            b.dtype
        );
    }
    let (av, bv) = (a.float_values("A")?, b.float_values("B")?);
    let alpha = c.float("alpha", 1.0)? as f64;
    let t = a.dtype;
    let y = av
        .iter()
        .zip(bv)
        .map(|(&x, &g)| {
            let s = crate::arr::round_float(t, 1.0 / (1.0 + (-alpha * x).exp()));
            crate::arr::round_float(t, x * s) * g
        })
        .collect();
    Ok(Arr::floats(t, a.shape.clone(), y))
}

/// `IsNaN`, or `IsInf` with `detect_negative` / `detect_positive`: a bool tensor.
pub(crate) fn float_class(c: &Call<'_>, inf: bool) -> OpResult<Arr> {
    let x = c.input(0)?;
    let v = x.float_values("X")?;
    let (neg, pos) = (
        c.int("detect_negative", 1)? != 0,
        c.int("detect_positive", 1)? != 0,
    );
    let y = v
        .iter()
        .map(|&e| {
            let hit = if inf {
                (e == f64::INFINITY && pos) || (e == f64::NEG_INFINITY && neg)
            } else {
                e.is_nan()
            };
            hit as i64
        })
        .collect();
    Ok(Arr::ints(lnopt_ir::DType::Bool, x.shape.clone(), y))
}
