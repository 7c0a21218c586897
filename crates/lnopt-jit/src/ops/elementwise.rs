//! Element-wise unary, binary (broadcasting), Where and Cast runtime functions.

use super::bcast::{broadcast2, BIdx};
use super::Ctx;
use crate::error::{bail, OpResult};
use crate::value::{opaque_refusal, rep, round_to, wrap_int, Data, Rep, Val};
use lnopt_ir::DType;

/// True for the unary ops handled here.
pub(crate) fn is_unary(op: &str) -> bool {
    matches!(
        op,
        "Neg"
            | "Abs"
            | "Relu"
            | "Sqrt"
            | "Exp"
            | "Log"
            | "Erf"
            | "Tanh"
            | "Sigmoid"
            | "Reciprocal"
            | "Sin"
            | "Cos"
            | "Floor"
            | "Ceil"
            | "Not"
            | "Sign"
            | "Softplus"
    )
}

/// True for the broadcasting binary (or variadic Max/Min/Sum) ops handled here.
pub(crate) fn is_binary(op: &str) -> bool {
    matches!(
        op,
        "Add"
            | "Sub"
            | "Mul"
            | "Div"
            | "Pow"
            | "Max"
            | "Min"
            | "Sum"
            | "Mod"
            | "Equal"
            | "Less"
            | "Greater"
            | "LessOrEqual"
            | "GreaterOrEqual"
            | "And"
            | "Or"
            | "Xor"
    )
}

/// The scalar function of a float unary op.
pub(crate) fn float_unary(op: &str) -> Option<fn(f64) -> f64> {
    Some(match op {
        "Neg" => |x| -x,
        "Abs" => f64::abs,
        "Relu" => |x| if x > 0.0 { x } else { 0.0 },
        "Sqrt" => f64::sqrt,
        "Exp" => f64::exp,
        "Log" => f64::ln,
        "Erf" => libm::erf,
        "Tanh" => f64::tanh,
        "Sigmoid" => |x| 1.0 / (1.0 + (-x).exp()),
        "Reciprocal" => |x| 1.0 / x,
        "Sin" => f64::sin,
        "Cos" => f64::cos,
        "Floor" => f64::floor,
        "Ceil" => f64::ceil,
        "Softplus" => |x| (1.0 + x.exp()).ln(),
        "Sign" => |x| {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                x
            }
        },
        _ => return None,
    })
}

/// Applies a unary op.
pub(crate) fn unary(c: &Ctx<'_>, op: &str) -> OpResult<Val> {
    let x = c.input(0)?;
    let dt = x.dtype;
    let data = match (&*x.data, op) {
        (Data::B(v), "Not") => Data::B(v.iter().map(|b| !b).collect()),
        (Data::I(v), "Neg") => Data::I(v.iter().map(|&a| wrap_int(dt, a.wrapping_neg())).collect()),
        (Data::I(v), "Abs") => Data::I(v.iter().map(|&a| wrap_int(dt, a.wrapping_abs())).collect()),
        (Data::I(v), "Relu") => Data::I(v.iter().map(|&a| a.max(0)).collect()),
        (Data::I(v), "Sign") => Data::I(v.iter().map(|&a| a.signum()).collect()),
        (Data::F(v), _) => {
            let Some(f) = float_unary(op) else {
                bail!("{op} is not defined for {dt}")
            };
            Data::F(
                v.iter()
                    .map(|&a| round_to(dt, f(a as f64) as f32))
                    .collect(),
            )
        }
        (Data::D(v), _) => {
            let Some(f) = float_unary(op) else {
                bail!("{op} is not defined for {dt}")
            };
            Data::D(v.iter().map(|&a| f(a)).collect())
        }
        _ => bail!("{op} is not defined for {dt}"),
    };
    Val::new(dt, x.shape.clone(), data)
}

fn float_bin(op: &str, fmod: bool) -> Option<fn(f64, f64) -> f64> {
    Some(match op {
        "Add" | "Sum" => |a, b| a + b,
        "Sub" => |a, b| a - b,
        "Mul" => |a, b| a * b,
        "Div" => |a, b| a / b,
        "Pow" => f64::powf,
        "Max" => |a: f64, b: f64| {
            if a.is_nan() || b.is_nan() {
                f64::NAN
            } else {
                a.max(b)
            }
        },
        "Min" => |a: f64, b: f64| {
            if a.is_nan() || b.is_nan() {
                f64::NAN
            } else {
                a.min(b)
            }
        },
        "Mod" if fmod => |a: f64, b: f64| a % b,
        _ => return None,
    })
}

fn int_bin(op: &str, a: i64, b: i64, fmod: bool) -> OpResult<i64> {
    Ok(match op {
        "Add" | "Sum" => a.wrapping_add(b),
        "Sub" => a.wrapping_sub(b),
        "Mul" => a.wrapping_mul(b),
        "Div" => {
            if b == 0 {
                bail!("integer division by zero");
            }
            a.wrapping_div(b)
        }
        "Mod" => {
            if b == 0 {
                bail!("integer modulo by zero");
            }
            // fmod = 1: C's fmod, the sign of the dividend (Rust's %); else the divisor's.
            let r = a.wrapping_rem(b);
            if !fmod && r != 0 && ((r < 0) != (b < 0)) {
                r + b
            } else {
                r
            }
        }
        "Pow" => {
            if b < 0 {
                (a as f64).powf(b as f64) as i64
            } else {
                a.wrapping_pow(u32::try_from(b).unwrap_or(u32::MAX))
            }
        }
        "Max" => a.max(b),
        "Min" => a.min(b),
        _ => bail!("{op} is not defined for integers"),
    })
}

fn cmp(op: &str, o: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    match op {
        "Equal" => o == Equal,
        "Less" => o == Less,
        "Greater" => o == Greater,
        "LessOrEqual" => o != Greater,
        _ => o != Less,
    }
}

/// Applies a broadcasting binary op (folding Max/Min/Sum over all inputs).
pub(crate) fn binary(c: &Ctx<'_>, op: &str) -> OpResult<Val> {
    let mut acc = c.input(0)?.clone();
    let fmod = c.int("fmod", 0)? != 0;
    let n = c.ins.len();
    if n < 2 && !matches!(op, "Max" | "Min" | "Sum") {
        bail!("{op} needs two inputs");
    }
    for i in 1..n {
        acc = bin2(op, &acc, c.input(i)?, fmod)?;
    }
    Ok(acc)
}

/// `f` over two f32 inputs broadcast to `out` (`n` elements), run by run.
fn f32_runs(
    x: &[f32],
    y: &[f32],
    (ash, bsh, out): (&[usize], &[usize], &[usize]),
    n: usize,
    f: impl Fn(f32, f32) -> f32,
) -> OpResult<Vec<f32>> {
    let mut v = crate::pool::zeroed(n);
    let mut bad = false;
    // Elements a run of `len` with `step` reads from `start`.
    let span = |start: usize, step: usize, len: usize| start..start + step * (len - 1) + 1;
    super::bcast::runs2(ash, bsh, out, |o, pa, sa, pb, sb, len| {
        let (Some(dst), Some(xs), Some(ys)) = (
            v.get_mut(o..o + len),
            x.get(span(pa, sa, len)),
            y.get(span(pb, sb, len)),
        ) else {
            bad = true;
            return;
        };
        match (sa, sb) {
            (1, 1) => {
                for ((d, &p), &q) in dst.iter_mut().zip(xs).zip(ys) {
                    *d = f(p, q);
                }
            }
            (1, 0) => {
                let q = ys[0];
                for (d, &p) in dst.iter_mut().zip(xs) {
                    *d = f(p, q);
                }
            }
            (0, 1) => {
                let p = xs[0];
                for (d, &q) in dst.iter_mut().zip(ys) {
                    *d = f(p, q);
                }
            }
            _ => {
                for (i, d) in dst.iter_mut().enumerate() {
                    *d = f(xs[i * sa], ys[i * sb]);
                }
            }
        }
    });
    if bad {
        bail!("internal: broadcast offsets out of range");
    }
    Ok(v)
}

/// Same-dtype f32 Add/Sub/Mul/Div/Max/Min computed in f32 run by run (bit-identical to the
/// f64 path: one correctly rounded f64 op rounded to f32 equals the f32 op); `None` when the
/// op or dtypes do not qualify.
fn bin_f32(op: &str, a: &Val, b: &Val, out: &[usize], n: usize) -> Option<OpResult<Val>> {
    let (Data::F(x), Data::F(y)) = (&*a.data, &*b.data) else {
        return None;
    };
    if a.dtype != DType::F32 || b.dtype != DType::F32 {
        return None;
    }
    let sh = (a.shape.as_slice(), b.shape.as_slice(), out);
    let v = match op {
        "Add" | "Sum" => f32_runs(x, y, sh, n, |p, q| p + q),
        "Sub" => f32_runs(x, y, sh, n, |p, q| p - q),
        "Mul" => f32_runs(x, y, sh, n, |p, q| p * q),
        "Div" => f32_runs(x, y, sh, n, |p, q| p / q),
        "Max" => f32_runs(x, y, sh, n, |p, q| {
            if p.is_nan() || q.is_nan() {
                f32::NAN
            } else {
                p.max(q)
            }
        }),
        "Min" => f32_runs(x, y, sh, n, |p, q| {
            if p.is_nan() || q.is_nan() {
                f32::NAN
            } else {
                p.min(q)
            }
        }),
        _ => return None,
    };
    Some(v.and_then(|v| Val::new(DType::F32, out.to_vec(), Data::F(v.into()))))
}

/// One broadcasting binary op.
pub(crate) fn bin2(op: &str, a: &Val, b: &Val, fmod: bool) -> OpResult<Val> {
    let out = broadcast2(&a.shape, &b.shape)?;
    let n = crate::value::checked_numel(&out)?;
    if let Some(v) = bin_f32(op, a, b, &out, n) {
        return v;
    }
    let ia = BIdx::new(&a.shape, &out);
    let ib = BIdx::new(&b.shape, &out);
    let dt = a.dtype;
    let is_cmp = matches!(
        op,
        "Equal" | "Less" | "Greater" | "LessOrEqual" | "GreaterOrEqual"
    );
    if matches!(op, "And" | "Or" | "Xor") {
        if a.dtype != DType::Bool || b.dtype != DType::Bool {
            bail!("{op} needs bool inputs, got {} and {}", a.dtype, b.dtype);
        }
        let (Data::B(x), Data::B(y)) = (&*a.data, &*b.data) else {
            bail!("{op} needs bool inputs, got {} and {}", a.dtype, b.dtype)
        };
        let f = |p: bool, q: bool| match op {
            "And" => p && q,
            "Or" => p || q,
            _ => p != q,
        };
        let v = (0..n).map(|i| f(x[ia.at(i)], y[ib.at(i)])).collect();
        return Val::new(DType::Bool, out, Data::B(v));
    }
    if op == "Pow" && rep(a.dtype)? != rep(b.dtype)? {
        let e = b.as_f64()?;
        let data = match &*a.data {
            Data::F(x) => Data::F(
                (0..n)
                    .map(|i| round_to(dt, (x[ia.at(i)] as f64).powf(e[ib.at(i)]) as f32))
                    .collect(),
            ),
            Data::D(x) => Data::D((0..n).map(|i| x[ia.at(i)].powf(e[ib.at(i)])).collect()),
            Data::I(x) => Data::I(
                (0..n)
                    .map(|i| wrap_int(dt, (x[ia.at(i)] as f64).powf(e[ib.at(i)]) as i64))
                    .collect(),
            ),
            Data::B(_) => bail!("Pow of bool"),
            Data::Opaque(v) => bail!("{}", opaque_refusal(v.dtype())),
        };
        return Val::new(dt, out, data);
    }
    if a.dtype != b.dtype {
        bail!("{op}: input dtypes differ ({} and {})", a.dtype, b.dtype);
    }
    if is_cmp {
        let v: Vec<bool> = match (&*a.data, &*b.data) {
            (Data::F(x), Data::F(y)) => (0..n)
                .map(|i| {
                    x[ia.at(i)]
                        .partial_cmp(&y[ib.at(i)])
                        .is_some_and(|o| cmp(op, o))
                })
                .collect(),
            (Data::D(x), Data::D(y)) => (0..n)
                .map(|i| {
                    x[ia.at(i)]
                        .partial_cmp(&y[ib.at(i)])
                        .is_some_and(|o| cmp(op, o))
                })
                .collect(),
            (Data::I(x), Data::I(y)) => (0..n)
                .map(|i| cmp(op, x[ia.at(i)].cmp(&y[ib.at(i)])))
                .collect(),
            (Data::B(x), Data::B(y)) => (0..n)
                .map(|i| cmp(op, x[ia.at(i)].cmp(&y[ib.at(i)])))
                .collect(),
            _ => bail!("{op}: input dtypes differ"),
        };
        return Val::new(DType::Bool, out, Data::B(v));
    }
    let data = match (&*a.data, &*b.data) {
        (Data::F(x), Data::F(y)) => {
            let Some(f) = float_bin(op, fmod) else {
                bail!("{op} is not defined for {dt}")
            };
            Data::F(
                (0..n)
                    .map(|i| round_to(dt, f(x[ia.at(i)] as f64, y[ib.at(i)] as f64) as f32))
                    .collect(),
            )
        }
        (Data::D(x), Data::D(y)) => {
            let Some(f) = float_bin(op, fmod) else {
                bail!("{op} is not defined for {dt}")
            };
            Data::D((0..n).map(|i| f(x[ia.at(i)], y[ib.at(i)])).collect())
        }
        (Data::I(x), Data::I(y)) => {
            let mut v = Vec::with_capacity(n);
            for i in 0..n {
                v.push(wrap_int(dt, int_bin(op, x[ia.at(i)], y[ib.at(i)], fmod)?));
            }
            Data::I(v)
        }
        _ => bail!("{op} is not defined for {dt}"),
    };
    Val::new(dt, out, data)
}

/// `Where(cond, x, y)`.
pub(crate) fn where_op(c: &Ctx<'_>) -> OpResult<Val> {
    let (cv, x, y) = (c.input(0)?, c.input(1)?, c.input(2)?);
    let Data::B(cd) = &*cv.data else {
        bail!("condition must be bool, got {}", cv.dtype)
    };
    if x.dtype != y.dtype {
        bail!("Where: x is {} but y is {}", x.dtype, y.dtype);
    }
    let out = broadcast2(&broadcast2(&cv.shape, &x.shape)?, &y.shape)?;
    crate::value::checked_numel(&out)?;
    let n: usize = out.iter().product();
    // Each operand is read at the output's index (same shape), at 0 (one element), or
    // through the general broadcast index.
    let (ic, ix, iy) = (
        Pick::new(&cv.shape, &out),
        Pick::new(&x.shape, &out),
        Pick::new(&y.shape, &out),
    );
    macro_rules! sel {
        ($a:expr, $b:expr, $w:ident) => {
            Data::$w(
                (0..n)
                    .map(|i| {
                        if cd[ic.at(i)] {
                            $a[ix.at(i)]
                        } else {
                            $b[iy.at(i)]
                        }
                    })
                    .collect(),
            )
        };
    }
    let data = match (&*x.data, &*y.data) {
        (Data::F(a), Data::F(b)) => sel!(a, b, F),
        (Data::D(a), Data::D(b)) => sel!(a, b, D),
        (Data::I(a), Data::I(b)) => sel!(a, b, I),
        (Data::B(a), Data::B(b)) => sel!(a, b, B),
        _ => bail!("Where: x is {} but y is {}", x.dtype, y.dtype),
    };
    Val::new(x.dtype, out, data)
}

/// How an operand of a broadcasting op is indexed from the output's flat index.
enum Pick {
    /// The operand has the output's shape.
    Same,
    /// The operand has one element.
    One,
    /// Anything else.
    Broadcast(BIdx),
}

impl Pick {
    fn new(shape: &[usize], out: &[usize]) -> Pick {
        if shape == out {
            Pick::Same
        } else if shape.iter().product::<usize>() == 1 {
            Pick::One
        } else {
            Pick::Broadcast(BIdx::new(shape, out))
        }
    }

    #[inline]
    fn at(&self, i: usize) -> usize {
        match self {
            Pick::Same => i,
            Pick::One => 0,
            Pick::Broadcast(b) => b.at(i),
        }
    }
}

/// `IsNaN` and `IsInf` (with `detect_negative` / `detect_positive`) on float tensors.
pub(crate) fn float_class(c: &Ctx<'_>, op: &str) -> OpResult<Val> {
    let x = c.input(0)?;
    let (neg, pos) = if op == "IsInf" {
        (
            c.int("detect_negative", 1)? != 0,
            c.int("detect_positive", 1)? != 0,
        )
    } else {
        (false, false)
    };
    let nan = op == "IsNaN";
    let test = |v: f64| -> bool {
        if nan {
            v.is_nan()
        } else {
            (pos && v == f64::INFINITY) || (neg && v == f64::NEG_INFINITY)
        }
    };
    let out: Vec<bool> = match &*x.data {
        Data::F(v) => v.iter().map(|&a| test(a as f64)).collect(),
        Data::D(v) => v.iter().map(|&a| test(a)).collect(),
        _ => bail!("{op} of {}", x.dtype),
    };
    Val::new(DType::Bool, x.shape.clone(), Data::B(out))
}

/// `Cast(x, to)`.
pub(crate) fn cast_op(c: &Ctx<'_>) -> OpResult<Val> {
    let to = DType::from_onnx(c.int("to", 0)? as i32);
    cast(c.input(0)?, to)
}

/// Converts `x` to dtype `to` (float → int truncates; int → bool is `!= 0`).
pub(crate) fn cast(x: &Val, to: DType) -> OpResult<Val> {
    if to == x.dtype {
        // Values are already held in their own type's precision: share them.
        return Ok(x.clone());
    }
    let data = match (rep(to)?, &*x.data) {
        (Rep::F, Data::F(v)) => Data::F(v.iter().map(|&a| round_to(to, a)).collect()),
        (Rep::F, _) => Data::F(
            x.as_f64()?
                .into_iter()
                .map(|a| round_to(to, a as f32))
                .collect(),
        ),
        (Rep::D, _) => Data::D(x.as_f64()?),
        (Rep::I, Data::I(v)) => Data::I(v.iter().map(|&a| wrap_int(to, a)).collect()),
        (Rep::I, Data::B(v)) => Data::I(v.iter().map(|&a| a as i64).collect()),
        (Rep::I, _) => Data::I(
            x.as_f64()?
                .into_iter()
                .map(|a| wrap_int(to, if a.is_nan() { 0 } else { a as i64 }))
                .collect(),
        ),
        (Rep::B, Data::B(v)) => Data::B(v.clone()),
        (Rep::B, _) => Data::B(x.as_f64()?.into_iter().map(|a| a != 0.0).collect()),
    };
    Val::new(to, x.shape.clone(), data)
}
