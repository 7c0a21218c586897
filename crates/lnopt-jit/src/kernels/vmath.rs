//! Inline cranelift code for transcendental functions in chain kernels, on f32x4 vectors or
//! f32 scalars, so that a chain with `Tanh` (GPT-2's GELU), `Erf` (BERT's GELU) or `Sigmoid`
//! (LLaMA's SiLU) stays vectorised instead of calling a runtime function per lane.

use super::emit::mul_add;
use crate::fmath::{EXP_TAYLOR, LN2_HI, LN2_LO, SHIFTER};
use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{types, Endianness, InstBuilder, MemFlagsData, Value};
use cranelift_frontend::FunctionBuilder;

/// `a` rounded to f32 element by element (the polynomials below are written as exact f64
/// expressions and used in f32).
const fn f32s<const N: usize>(a: [f64; N]) -> [f32; N] {
    let mut out = [0f32; N];
    let mut i = 0;
    while i < N {
        out[i] = a[i] as f32;
        i += 1;
    }
    out
}

/// Odd Taylor coefficients of tanh (x^3 .. x^15), from `2^2n (2^2n - 1) B_2n / (2n)!`.
pub(crate) const TANH_TAYLOR: [f32; 7] = f32s([
    -1.0 / 3.0,
    2.0 / 15.0,
    -17.0 / 315.0,
    62.0 / 2835.0,
    -1382.0 / 155_925.0,
    21844.0 / 6_081_075.0,
    -929_569.0 / 638_512_875.0,
]);

/// Below this |x| tanh uses its Taylor series (truncation after x^15 below 2e-8 relative).
pub(crate) const SMALL: f32 = 0.5;
/// Beyond this |x| tanh rounds to ±1 in f32.
pub(crate) const SATURATE: f32 = 9.0;

/// A constant, splatted when `vec`.
fn c(b: &mut FunctionBuilder<'_>, v: f32, vec: bool) -> Value {
    let s = b.ins().f32const(v);
    if vec {
        b.ins().splat(types::F32X4, s)
    } else {
        s
    }
}

/// `min(a, hi)` for `a ≥ 0` or NaN (NaN kept): one compare and a blend, where cranelift's
/// `fmin` (IEEE semantics for -0 and NaN) costs a 7-instruction sequence on x64.
fn clamp_hi(b: &mut FunctionBuilder<'_>, a: Value, hi: Value, vec: bool) -> Value {
    let gt = b.ins().fcmp(FloatCC::GreaterThan, a, hi);
    if vec {
        let m = b.ins().bitcast(types::F32X4, lanes(), gt);
        b.ins().bitselect(m, hi, a)
    } else {
        b.ins().select(gt, hi, a)
    }
}

fn lanes() -> MemFlagsData {
    MemFlagsData::new().with_endianness(Endianness::Little)
}

/// `Σ coefs[i] · x^i` by Horner's rule, highest degree first (the Rust twin is
/// `fmath::horner`: same order, same roundings).
fn horner(b: &mut FunctionBuilder<'_>, coefs: &[f32], x: Value, vec: bool, fma: bool) -> Value {
    let (&top, rest) = coefs.split_last().expect("a polynomial has a coefficient");
    let mut p = c(b, top, vec);
    for &coef in rest.iter().rev() {
        let cc = c(b, coef, vec);
        p = mul_add(b, fma, p, x, cc);
    }
    p
}

/// `e^y` for `-87 ≤ y ≤ 87` (NaN propagates): `y = k ln 2 + r`, `|r| ≤ ln 2 / 2`, degree-7 Taylor
/// polynomial for `e^r` (truncation below 1e-8), times `2^k` built from exponent bits.
fn exp_pos(b: &mut FunctionBuilder<'_>, y: Value, vec: bool, fma: bool) -> Value {
    let (ity, fty) = if vec {
        (types::I32X4, types::F32X4)
    } else {
        (types::I32, types::F32)
    };
    // k = round(y / ln 2) by the 1.5 * 2^23 shifter: adding it leaves k in the low mantissa
    // bits (|k| < 2^22), subtracting it back gives k as a float (both exact).
    let log2e = c(b, std::f32::consts::LOG2_E, vec);
    let shifter = c(b, SHIFTER, vec);
    let t = mul_add(b, fma, y, log2e, shifter);
    let k = b.ins().fsub(t, shifter);
    let tbits = if vec {
        b.ins().bitcast(ity, lanes(), t)
    } else {
        b.ins().bitcast(ity, MemFlagsData::new(), t)
    };
    let hi = c(b, -LN2_HI, vec);
    let lo = c(b, -LN2_LO, vec);
    let r = mul_add(b, fma, k, hi, y);
    let r = mul_add(b, fma, k, lo, r);
    let p = horner(b, &EXP_TAYLOR, r, vec, fma);
    // Immediate forms do not take vector operands: splat the bias, shift by a scalar.
    // Biased exponent k + 127 = low bits of t - bits(shifter) + 127; the shift drops the rest.
    let bias = b.ins().iconst(types::I32, 127 - SHIFTER.to_bits() as i64);
    let bias = if vec { b.ins().splat(ity, bias) } else { bias };
    let biased = b.ins().iadd(tbits, bias);
    let sh = b.ins().iconst(types::I32, 23);
    let bits = b.ins().ishl(biased, sh);
    let two_k = if vec {
        b.ins().bitcast(fty, lanes(), bits)
    } else {
        b.ins().bitcast(fty, MemFlagsData::new(), bits)
    };
    b.ins().fmul(p, two_k)
}

/// `tanh(x)`: Taylor series below |x| = 0.5, `1 - 2 / (e^{2|x|} + 1)` above (|x| clamped to
/// 9, where f32 tanh is ±1), sign copied from x; NaN propagates. Within a few ulp of the
/// correctly rounded result.
pub(crate) fn tanh(b: &mut FunctionBuilder<'_>, x: Value, vec: bool, fma: bool) -> Value {
    let a = b.ins().fabs(x);
    let sat = c(b, SATURATE, vec);
    let a = clamp_hi(b, a, sat, vec);
    // Small: a + a^3 · P(a^2).
    let a2 = b.ins().fmul(a, a);
    let p = horner(b, &TANH_TAYLOR, a2, vec, fma);
    let a3 = b.ins().fmul(a2, a);
    let small = mul_add(b, fma, a3, p, a);
    // Large: 1 - 2 / (e^{2a} + 1).
    let two_a = b.ins().fadd(a, a);
    let e = exp_pos(b, two_a, vec, fma);
    let one = c(b, 1.0, vec);
    let two = c(b, 2.0, vec);
    let e1 = b.ins().fadd(e, one);
    let q = b.ins().fdiv(two, e1);
    let large = b.ins().fsub(one, q);
    let lim = c(b, SMALL, vec);
    let r = pick(b, a, lim, small, large, vec);
    with_sign(b, r, x, vec)
}

/// Below this |x| erf uses `x · P(x²)`.
pub(crate) const ERF_SMALL: f32 = 1.0;
/// `erf(x) / x ≈ P(x²)` on `0 ≤ x ≤ 1`, degree 6 in `x²`: a least-squares fit of the relative
/// error on 2000 Chebyshev nodes in `x²` (numpy `lstsq`, done for this file); max relative
/// error 1.3e-9 in f64, below f32 rounding. (Was the Taylor series to x^21, 11 terms.)
pub(crate) const ERF_POLY: [f32; 7] = f32s([
    1.128_379_165_689_322_3,
    -0.376_126_255_673_994_7,
    0.112_835_822_479_943_92,
    -0.026_853_691_099_764_46,
    0.005_188_098_889_484_849,
    -0.000_800_818_932_384_900_2,
    7.847_259_129_115_103e-5,
]);
/// Beyond this |x| erf is ±1 in f32.
pub(crate) const ERF_SATURATE: f32 = 4.0;
/// Abramowitz & Stegun 7.1.26: `erfc(x) ≈ t·P(t)·e^{-x²}`, `t = 1/(1 + p·x)`, absolute
/// error below 1.5e-7 (used at x ≥ 1, where erf ≥ 0.84: about 2 f32 ulp).
pub(crate) const AS_P: f32 = 0.327_591_1;
/// The coefficients of P in [`AS_P`]'s approximation.
pub(crate) const AS_A: [f32; 5] = [
    0.254_829_6,
    -0.284_496_74,
    1.421_413_7,
    -1.453_152,
    1.061_405_4,
];

/// `erf(x)`: Taylor series below |x| = 1, Abramowitz & Stegun 7.1.26 above (|x| clamped to
/// 4), sign copied from x; NaN propagates.
pub(crate) fn erf(b: &mut FunctionBuilder<'_>, x: Value, vec: bool, fma: bool) -> Value {
    let a = b.ins().fabs(x);
    let sat = c(b, ERF_SATURATE, vec);
    let a = clamp_hi(b, a, sat, vec);
    let a2 = b.ins().fmul(a, a);
    // Small: a · P(a²), P of degree 6 (see ERF_POLY), Horner in a².
    let p = horner(b, &ERF_POLY, a2, vec, fma);
    let small = b.ins().fmul(a, p);
    // Large: 1 - t·P(t)·e^{-a²}.
    let one = c(b, 1.0, vec);
    let pp = c(b, AS_P, vec);
    let den = mul_add(b, fma, pp, a, one);
    let t = b.ins().fdiv(one, den);
    let q = horner(b, &AS_A, t, vec, fma);
    let q = b.ins().fmul(q, t);
    // e^{-a²} (-16 ≤ -a² ≤ 0: 2^k stays normal), multiplied instead of dividing by e^{a²}.
    let na2 = b.ins().fneg(a2);
    let e = exp_pos(b, na2, vec, fma);
    let tail = b.ins().fmul(q, e);
    let large = b.ins().fsub(one, tail);
    let lim = c(b, ERF_SMALL, vec);
    let r = pick(b, a, lim, small, large, vec);
    with_sign(b, r, x, vec)
}

/// `a < lim ? small : large`, lane-wise.
fn pick(
    b: &mut FunctionBuilder<'_>,
    a: Value,
    lim: Value,
    small: Value,
    large: Value,
    vec: bool,
) -> Value {
    let m = b.ins().fcmp(FloatCC::LessThan, a, lim);
    if vec {
        let m = b.ins().bitcast(types::F32X4, lanes(), m);
        b.ins().bitselect(m, small, large)
    } else {
        b.ins().select(m, small, large)
    }
}

/// `r` (≥ 0) with the sign of `x`.
fn with_sign(b: &mut FunctionBuilder<'_>, r: Value, x: Value, vec: bool) -> Value {
    if vec {
        // No vector fcopysign on x64: r ≥ 0, so OR in x's sign bit.
        let m = c(b, -0.0, true);
        let sign = b.ins().band(x, m);
        b.ins().bor(r, sign)
    } else {
        b.ins().fcopysign(r, x)
    }
}

/// |x| beyond which sigmoid's `e^{|x|}` would overflow f32; below -87 the result (< 2e-38,
/// subnormal) is held at `1 / (1 + e^87)`.
pub(crate) const SIGMOID_CLAMP: f32 = 87.0;

/// `sigmoid(x) = 1 / (1 + e^{-x})` as `q = 1 / (1 + e^{|x|})`: `q` for x < 0 and `1 - q`
/// otherwise, so both tails keep their relative precision; NaN propagates.
pub(crate) fn sigmoid(b: &mut FunctionBuilder<'_>, x: Value, vec: bool, fma: bool) -> Value {
    let a = b.ins().fabs(x);
    let cl = c(b, SIGMOID_CLAMP, vec);
    let a = clamp_hi(b, a, cl, vec);
    let e = exp_pos(b, a, vec, fma);
    let one = c(b, 1.0, vec);
    let den = b.ins().fadd(one, e);
    let q = b.ins().fdiv(one, den);
    let p = b.ins().fsub(one, q);
    let zero = c(b, 0.0, vec);
    pick(b, x, zero, q, p, vec)
}
