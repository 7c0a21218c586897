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
    let mut srcs = vec![Src::Splat(0.0); call.prog.len()];
    #[cfg(target_arch = "x86_64")]
    if cpu_has_avx512() {
        // SAFETY: the features were detected; the caller's contract is forwarded.
        unsafe { run_avx512(call, &mut regs, &mut srcs) };
        return;
    }
    // SAFETY: forwarded from the caller.
    unsafe { run_body(call, &mut regs, &mut srcs) }
}

/// [`run_body`] compiled for AVX-512.
///
/// # Safety
/// The CPU must have AVX-512F/VL and FMA; otherwise as [`run`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
unsafe fn run_avx512(call: &ChainCall<'_>, regs: &mut [f32], srcs: &mut [Src]) {
    // SAFETY: forwarded from the caller.
    unsafe { run_body(call, regs, srcs) }
}

/// Where a program value's current block is: the register block of the op that made it, the
/// input itself (read in place, not copied), or one value for every element (a constant, a
/// scalar input, or an op on such values only).
#[derive(Clone, Copy)]
enum Src {
    Reg(usize),
    Mem(*const f32),
    Splat(f32),
}

/// An operand of one block: `n` values, or one value for all.
#[derive(Clone, Copy)]
enum Opnd<'a> {
    V(&'a [f32]),
    S(f32),
}

/// Applies `f` to every element of `x` into `dst`, or returns `f` of the single value.
#[inline(always)]
fn map1(dst: &mut [f32], x: Opnd<'_>, f: impl Fn(f32) -> f32) -> Option<f32> {
    match x {
        Opnd::V(x) => {
            for (d, &v) in dst.iter_mut().zip(x) {
                *d = f(v);
            }
            None
        }
        Opnd::S(v) => Some(f(v)),
    }
}

/// Applies `f` elementwise to `x` and `y` into `dst`, or returns `f` of two single values.
#[inline(always)]
fn map2(dst: &mut [f32], x: Opnd<'_>, y: Opnd<'_>, f: impl Fn(f32, f32) -> f32) -> Option<f32> {
    match (x, y) {
        (Opnd::V(x), Opnd::V(y)) => {
            for ((d, &p), &q) in dst.iter_mut().zip(x).zip(y) {
                *d = f(p, q);
            }
        }
        (Opnd::V(x), Opnd::S(q)) => {
            for (d, &p) in dst.iter_mut().zip(x) {
                *d = f(p, q);
            }
        }
        (Opnd::S(p), Opnd::V(y)) => {
            for (d, &q) in dst.iter_mut().zip(y) {
                *d = f(p, q);
            }
        }
        (Opnd::S(p), Opnd::S(q)) => return Some(f(p, q)),
    }
    None
}

/// The block-by-block evaluation: each op runs over a block of up to [`BLOCK`] elements of
/// one row, reading its operands where they are (inputs in place, constants as one value)
/// and writing its own register block, or the output for the program's last op. Every
/// element gets the same operations as one at a time would, so the results do not depend on
/// the blocking. `regs` holds one block per program value, `srcs` one entry per value.
///
/// # Safety
/// As [`run`].
#[inline(always)]
unsafe fn run_body(call: &ChainCall<'_>, regs: &mut [f32], srcs: &mut [Src]) {
    let &ChainCall {
        prog,
        modes,
        bases,
        out,
        rows,
        h,
    } = call;
    let Some(last) = prog.len().checked_sub(1) else {
        return;
    };
    for r in 0..rows {
        let mut j0 = 0;
        while j0 < h {
            let n = BLOCK.min(h - j0);
            for (i, op) in prog.iter().enumerate() {
                let (done, rest) = regs.split_at_mut(i * BLOCK);
                // The last op writes the output block directly.
                let dst: &mut [f32] = if i == last {
                    // SAFETY: out holds rows·h elements and overlaps no input (caller); this
                    // block is r·h + j0 .. + n.
                    unsafe { std::slice::from_raw_parts_mut(out.add(r * h + j0), n) }
                } else {
                    &mut rest[..n]
                };
                let view = |src: Src| match src {
                    Src::Reg(k) => Opnd::V(&done[k * BLOCK..k * BLOCK + n]),
                    // SAFETY: the input block holds n elements (set below from the
                    // caller's contract).
                    Src::Mem(p) => Opnd::V(unsafe { std::slice::from_raw_parts(p, n) }),
                    Src::Splat(v) => Opnd::S(v),
                };
                let opnd = |k: usize| view(srcs[k]);
                let single = match *op {
                    COp::In(k) => {
                        let base = bases.get(k).copied().unwrap_or(std::ptr::null());
                        // SAFETY: Full inputs hold rows·h elements, Row inputs h, Scalar
                        // one (the caller's contract); j0 + n ≤ h.
                        let src = match modes.get(k) {
                            Some(Mode::Full) => Src::Mem(unsafe { base.add(r * h + j0) }),
                            Some(Mode::Row) => Src::Mem(unsafe { base.add(j0) }),
                            Some(Mode::Scalar) => Src::Splat(unsafe { *base }),
                            None => Src::Splat(0.0),
                        };
                        if i == last {
                            match view(src) {
                                Opnd::V(v) => dst.copy_from_slice(v),
                                Opnd::S(v) => dst.fill(v),
                            }
                        }
                        srcs[i] = src;
                        continue;
                    }
                    COp::Const(bits) => Some(f32::from_bits(bits)),
                    COp::Un(u, a) => {
                        let x = opnd(a);
                        match u {
                            Un::Neg => map1(dst, x, |v| -v),
                            Un::Abs => map1(dst, x, |v| v.abs()),
                            Un::Sqrt => map1(dst, x, |v| v.sqrt()),
                            Un::Recip => map1(dst, x, |v| 1.0 / v),
                            Un::Relu => map1(dst, x, |v| fmax(v, 0.0)),
                            Un::Erf => map1(dst, x, erf_f32),
                            Un::Tanh => map1(dst, x, tanh_f32),
                            Un::Sigmoid => map1(dst, x, sigmoid_f32),
                            Un::Exp => map1(dst, x, |v| v.exp()),
                        }
                    }
                    COp::Bin(o, a, b) => {
                        let (x, y) = (opnd(a), opnd(b));
                        match o {
                            Bin::Add => map2(dst, x, y, |p, q| p + q),
                            Bin::Sub => map2(dst, x, y, |p, q| p - q),
                            Bin::Mul => map2(dst, x, y, |p, q| p * q),
                            Bin::Div => map2(dst, x, y, |p, q| p / q),
                            Bin::Max => map2(dst, x, y, fmax),
                            Bin::Min => map2(dst, x, y, fmin),
                        }
                    }
                };
                srcs[i] = match single {
                    Some(v) => {
                        if i == last {
                            dst.fill(v);
                        }
                        Src::Splat(v)
                    }
                    None => Src::Reg(i),
                };
            }
            j0 += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One element of `prog` evaluated on its own, with the same scalar functions: the
    /// definition the block evaluator must meet bit for bit.
    fn element(prog: &[COp], ins: &[f32]) -> f32 {
        let mut v: Vec<f32> = Vec::with_capacity(prog.len());
        for op in prog {
            let x = match *op {
                COp::In(k) => ins[k],
                COp::Const(bits) => f32::from_bits(bits),
                COp::Un(u, a) => {
                    let a = v[a];
                    match u {
                        Un::Neg => -a,
                        Un::Abs => a.abs(),
                        Un::Sqrt => a.sqrt(),
                        Un::Recip => 1.0 / a,
                        Un::Relu => fmax(a, 0.0),
                        Un::Erf => erf_f32(a),
                        Un::Tanh => tanh_f32(a),
                        Un::Sigmoid => sigmoid_f32(a),
                        Un::Exp => a.exp(),
                    }
                }
                COp::Bin(o, a, b) => {
                    let (p, q) = (v[a], v[b]);
                    match o {
                        Bin::Add => p + q,
                        Bin::Sub => p - q,
                        Bin::Mul => p * q,
                        Bin::Div => p / q,
                        Bin::Max => fmax(p, q),
                        Bin::Min => fmin(p, q),
                    }
                }
            };
            v.push(x);
        }
        *v.last().unwrap()
    }

    /// Random programs over Full, Row and Scalar inputs and constants (ops on constants only
    /// included, and programs ending in an input or a constant), rows longer and shorter than a
    /// block: every output element equals the element-at-a-time evaluation, bit for bit.
    #[test]
    fn blocks_equal_elements_bit_for_bit() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |m: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as usize) % m
        };
        let uns = [
            Un::Neg,
            Un::Abs,
            Un::Sqrt,
            Un::Recip,
            Un::Relu,
            Un::Erf,
            Un::Tanh,
            Un::Sigmoid,
            Un::Exp,
        ];
        let bins = [Bin::Add, Bin::Sub, Bin::Mul, Bin::Div, Bin::Max, Bin::Min];
        let modes = [Mode::Full, Mode::Row, Mode::Scalar];
        for case in 0..300 {
            let (rows, h) = [(3, 300), (2, 7), (5, 128), (1, 1), (4, 129)][case % 5];
            let n_in = 1 + next(3);
            let in_modes: Vec<Mode> = (0..n_in).map(|_| modes[next(3)]).collect();
            let mut prog = vec![COp::In(0)];
            for _ in 0..next(9) {
                let len = prog.len();
                prog.push(match next(5) {
                    0 => COp::In(next(n_in)),
                    1 => COp::Const((next(2000) as f32 * 0.01 - 10.0).to_bits()),
                    2 => COp::Un(uns[next(uns.len())], next(len)),
                    _ => COp::Bin(bins[next(bins.len())], next(len), next(len)),
                });
            }
            let data: Vec<Vec<f32>> = in_modes
                .iter()
                .map(|m| {
                    let len = match m {
                        Mode::Full => rows * h,
                        Mode::Row => h,
                        Mode::Scalar => 1,
                    };
                    (0..len).map(|_| next(4000) as f32 * 0.003 - 6.0).collect()
                })
                .collect();
            let bases: Vec<*const f32> = data.iter().map(|d| d.as_ptr()).collect();
            let mut out = vec![f32::NAN; rows * h];
            let call = ChainCall {
                prog: &prog,
                modes: &in_modes,
                bases: &bases,
                out: out.as_mut_ptr(),
                rows,
                h,
            };
            // SAFETY: every input holds what its mode says, `out` rows·h, no overlap.
            unsafe { run(&call) };
            for r in 0..rows {
                for j in 0..h {
                    let ins: Vec<f32> = in_modes
                        .iter()
                        .zip(&data)
                        .map(|(m, d)| match m {
                            Mode::Full => d[r * h + j],
                            Mode::Row => d[j],
                            Mode::Scalar => d[0],
                        })
                        .collect();
                    let want = element(&prog, &ins);
                    let got = out[r * h + j];
                    assert!(
                        got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                        "case {case} {prog:?} {in_modes:?} [{r},{j}]: {got} vs {want}"
                    );
                }
            }
        }
    }
}
