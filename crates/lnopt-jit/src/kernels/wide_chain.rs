//! Element-wise chains with a transcendental op (Erf, Tanh, Sigmoid: the GELU and SiLU
//! activations) on CPUs with AVX-512: the chain's program is evaluated block by block by Rust
//! code compiled for AVX-512 — the "registered Rust functions for transcendental ones" of the
//! JIT's design — because cranelift's 128-bit vectors leave these chains compute-bound at
//! ~1.7 ns per element. Same formulas and constants as the inline CLIF versions (`vmath.rs`),
//! so the same error bounds hold (tests run both paths).

use super::vmath::{
    AS_A, AS_P, ERF_POLY, ERF_SATURATE, ERF_SMALL, SATURATE, SIGMOID_CLAMP, SMALL, TANH_TAYLOR,
};
use super::{Bin, COp, Mode, Un};
use crate::cpu::cpu_has_avx512;
use crate::fmath::{exp_f32, horner};

/// Elements evaluated per block (each program value holds one block: L1-resident).
const BLOCK: usize = 128;

/// Whether this CPU runs the wide path and `prog` profits from it (it has Erf/Tanh/Sigmoid
/// and nothing the wide path lacks).
pub(crate) fn suits(prog: &[COp]) -> bool {
    let transcendental = prog
        .iter()
        .any(|op| matches!(op, COp::Un(Un::Erf | Un::Tanh | Un::Sigmoid, _)));
    let supported = prog.iter().all(|op| !matches!(op, COp::Un(Un::Exp, _)));
    transcendental && supported && cpu_has_avx512()
}

#[inline(always)]
fn fma(a: f32, b: f32, c: f32) -> f32 {
    a.mul_add(b, c)
}

/// `a < lim ? small : large` (NaN `a` takes `large`, as the CLIF `pick`).
#[inline(always)]
fn pick(a: f32, lim: f32, small: f32, large: f32) -> f32 {
    if a < lim {
        small
    } else {
        large
    }
}

/// `min(a, hi)` keeping NaN (as the CLIF `clamp_hi`).
#[inline(always)]
fn clamp_hi(a: f32, hi: f32) -> f32 {
    if a > hi {
        hi
    } else {
        a
    }
}

/// `r` (≥ 0 or NaN) with the sign bit of `x`.
#[inline(always)]
fn with_sign(r: f32, x: f32) -> f32 {
    f32::from_bits(r.to_bits() | (x.to_bits() & 0x8000_0000))
}

#[inline(always)]
fn erf_f32(x: f32) -> f32 {
    let a = clamp_hi(x.abs(), ERF_SATURATE);
    let a2 = a * a;
    let p = horner(&ERF_POLY, a2, true);
    let small = a * p;
    let t = 1.0 / fma(AS_P, a, 1.0);
    let q = horner(&AS_A, t, true);
    let large = 1.0 - q * t * exp_f32(-a2, true);
    with_sign(pick(a, ERF_SMALL, small, large), x)
}

#[inline(always)]
fn tanh_f32(x: f32) -> f32 {
    let a = clamp_hi(x.abs(), SATURATE);
    let a2 = a * a;
    let p = horner(&TANH_TAYLOR, a2, true);
    let small = fma(a2 * a, p, a);
    let large = 1.0 - 2.0 / (exp_f32(a + a, true) + 1.0);
    with_sign(pick(a, SMALL, small, large), x)
}

#[inline(always)]
fn sigmoid_f32(x: f32) -> f32 {
    let a = clamp_hi(x.abs(), SIGMOID_CLAMP);
    let q = 1.0 / (1.0 + exp_f32(a, true));
    pick(x, 0.0, q, 1.0 - q)
}

/// IEEE maximum/minimum as cranelift's `fmax`/`fmin`: NaN if either is NaN.
#[inline(always)]
fn fmax(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() {
        f32::NAN
    } else if a > b || (a == b && b.is_sign_negative()) {
        a
    } else {
        b
    }
}

#[inline(always)]
fn fmin(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() {
        f32::NAN
    } else if a < b || (a == b && b.is_sign_positive()) {
        a
    } else {
        b
    }
}

/// One chain evaluation: `prog` over `rows` rows of `h` elements, reading input `k` through
/// `bases[k]` per `modes[k]` (Full: `rows·h` elements, Row: `h` elements reused per row,
/// Scalar: one) and writing `out` (`rows·h` elements) — the contract of a generated chain
/// kernel.
pub(crate) struct ChainCall<'a> {
    /// The chain's program.
    pub prog: &'a [COp],
    /// How each input is read.
    pub modes: &'a [Mode],
    /// Where each input starts.
    pub bases: &'a [*const f32],
    /// Where the output starts.
    pub out: *mut f32,
    /// Rows.
    pub rows: usize,
    /// Elements per row.
    pub h: usize,
}

/// Runs `call`, compiled for AVX-512 when the CPU has it.
///
/// # Safety
/// The pointers must address as many live f32s as [`ChainCall`] describes; `out` must not
/// overlap an input.
pub(crate) unsafe fn run(call: &ChainCall<'_>) {
    let mut regs = vec![0f32; call.prog.len() * BLOCK];
    #[cfg(target_arch = "x86_64")]
    if cpu_has_avx512() {
        // SAFETY: the features were detected; the caller's contract is forwarded.
        unsafe { run_avx512(call, &mut regs) };
        return;
    }
    // SAFETY: forwarded from the caller.
    unsafe { run_body(call, &mut regs) }
}

/// [`run_body`] compiled for AVX-512.
///
/// # Safety
/// The CPU must have AVX-512F/VL and FMA; otherwise as [`run`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
unsafe fn run_avx512(call: &ChainCall<'_>, regs: &mut [f32]) {
    // SAFETY: forwarded from the caller.
    unsafe { run_body(call, regs) }
}

/// The block-by-block evaluation; `regs` holds one block per program value.
///
/// # Safety
/// As [`run`].
#[inline(always)]
unsafe fn run_body(call: &ChainCall<'_>, regs: &mut [f32]) {
    let &ChainCall {
        prog,
        modes,
        bases,
        out,
        rows,
        h,
    } = call;
    for r in 0..rows {
        let mut j0 = 0;
        while j0 < h {
            let n = BLOCK.min(h - j0);
            for (i, op) in prog.iter().enumerate() {
                let (done, rest) = regs.split_at_mut(i * BLOCK);
                let dst = &mut rest[..n];
                let reg = |k: usize| &done[k * BLOCK..k * BLOCK + n];
                match *op {
                    COp::In(k) => {
                        let base = bases.get(k).copied().unwrap_or(std::ptr::null());
                        match modes.get(k) {
                            // SAFETY: Full inputs hold rows·h elements, Row inputs h, Scalar
                            // one (the caller's contract); j0 + n ≤ h.
                            Some(Mode::Full) => dst.copy_from_slice(unsafe {
                                std::slice::from_raw_parts(base.add(r * h + j0), n)
                            }),
                            Some(Mode::Row) => dst.copy_from_slice(unsafe {
                                std::slice::from_raw_parts(base.add(j0), n)
                            }),
                            Some(Mode::Scalar) => dst.fill(unsafe { *base }),
                            None => dst.fill(0.0),
                        }
                    }
                    COp::Const(bits) => dst.fill(f32::from_bits(bits)),
                    COp::Un(u, a) => {
                        let x = reg(a);
                        macro_rules! map {
                            ($f:expr) => {
                                for (d, &v) in dst.iter_mut().zip(x) {
                                    *d = $f(v);
                                }
                            };
                        }
                        match u {
                            Un::Neg => map!(|v: f32| -v),
                            Un::Abs => map!(|v: f32| v.abs()),
                            Un::Sqrt => map!(|v: f32| v.sqrt()),
                            Un::Recip => map!(|v: f32| 1.0 / v),
                            Un::Relu => map!(|v: f32| fmax(v, 0.0)),
                            Un::Erf => map!(erf_f32),
                            Un::Tanh => map!(tanh_f32),
                            Un::Sigmoid => map!(sigmoid_f32),
                            Un::Exp => map!(|v: f32| v.exp()),
                        }
                    }
                    COp::Bin(o, a, b) => {
                        let (x, y) = (reg(a), reg(b));
                        macro_rules! zip {
                            ($f:expr) => {
                                for ((d, &p), &q) in dst.iter_mut().zip(x).zip(y) {
                                    *d = $f(p, q);
                                }
                            };
                        }
                        match o {
                            Bin::Add => zip!(|p: f32, q: f32| p + q),
                            Bin::Sub => zip!(|p: f32, q: f32| p - q),
                            Bin::Mul => zip!(|p: f32, q: f32| p * q),
                            Bin::Div => zip!(|p: f32, q: f32| p / q),
                            Bin::Max => zip!(fmax),
                            Bin::Min => zip!(fmin),
                        }
                    }
                }
            }
            if let Some(last) = prog.len().checked_sub(1) {
                let res = &regs[last * BLOCK..last * BLOCK + n];
                // SAFETY: out holds rows·h elements; this block is r·h + j0 .. + n.
                unsafe { std::ptr::copy_nonoverlapping(res.as_ptr(), out.add(r * h + j0), n) };
            }
            j0 += n;
        }
    }
}
