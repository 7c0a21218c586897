//! Scalar f32 `e^x` shared by the runtime functions (Softmax) and the AVX-512 chain
//! evaluator, with the constants the generated CLIF version (`kernels/vmath.rs`) uses too, so
//! every path computes the same roundings.

/// ln 2 split so that `k · LN2_HI` is exact for the k used here: ln 2's f32 bits
/// (0x3f317218) with the low 12 mantissa bits cleared (0.693115234375).
pub(crate) const LN2_HI: f32 = f32::from_bits(0x3f31_7000);
/// ln 2 minus [`LN2_HI`].
pub(crate) const LN2_LO: f32 = 3.194_618_5e-5;
/// Taylor coefficients of `e^r`, `1/n!` for n = 0..7.
pub(crate) const EXP_TAYLOR: [f32; 8] = [
    1.0,
    1.0,
    0.5,
    1.0 / 6.0,
    1.0 / 24.0,
    1.0 / 120.0,
    1.0 / 720.0,
    1.0 / 5040.0,
];

/// 1.5 · 2^23: adding it to a float of magnitude below 2^22 rounds it to an integer.
pub(crate) const SHIFTER: f32 = 12_582_912.0;

/// `Σ coefs[i] · x^i` by Horner's rule, highest degree first, as `kernels::vmath`'s emits it
/// (`fused`: multiply-adds with one rounding, as the CLIF code with FMA).
#[inline(always)]
pub(crate) fn horner(coefs: &[f32], x: f32, fused: bool) -> f32 {
    let (&top, rest) = coefs.split_last().expect("a polynomial has a coefficient");
    let mut p = top;
    for &c in rest.iter().rev() {
        p = if fused { p.mul_add(x, c) } else { p * x + c };
    }
    p
}

/// `e^y` for -87 ≤ y ≤ 87 (NaN stays NaN): `y = k ln2 + r`, degree-7 Taylor for `e^r`
/// (truncation below 1e-8), `2^k` from exponent bits — the CLIF `exp_pos` in Rust. `fused`
/// uses fused multiply-adds (only where the caller is compiled with FMA: otherwise they are
/// library calls).
#[inline(always)]
pub(crate) fn exp_f32(y: f32, fused: bool) -> f32 {
    let madd = |a: f32, b: f32, c: f32| if fused { a.mul_add(b, c) } else { a * b + c };
    let t = madd(y, std::f32::consts::LOG2_E, SHIFTER);
    let k = t - SHIFTER;
    let r = madd(k, -LN2_HI, y);
    let r = madd(k, -LN2_LO, r);
    let p = horner(&EXP_TAYLOR, r, fused);
    let biased = t
        .to_bits()
        .wrapping_add((127i32 - SHIFTER.to_bits() as i32) as u32);
    p * f32::from_bits(biased << 23)
}
