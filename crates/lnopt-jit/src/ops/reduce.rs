//! Reductions and softmax.

use super::bcast::{norm_axis, strides};
use super::Ctx;
use crate::error::{bail, OpResult};
use crate::value::{round_to, Data, Val};
use lnopt_ir::DType;

/// `ReduceMean`/`Sum`/`Max`/`Min`/`Prod`/`SumSquare`/`L2`, axes from the attribute (old opsets)
/// or the second input.
pub(crate) fn reduce(c: &Ctx<'_>, op: &str) -> OpResult<Val> {
    let x = c.input(0)?;
    if !matches!(&*x.data, Data::F(_) | Data::D(_)) {
        // Integer sums and products must wrap exactly, which an f64 accumulator does not do
        // beyond 2^53: the interpreter's integer reduction takes them.
        bail!("{op} of {} is left to the interpreter", x.dtype);
    }
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
    let xs = x.as_f64()?;
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
    let data = match &*x.data {
        Data::F(_) => Data::F(acc.into_iter().map(|a| round_to(dt, a as f32)).collect()),
        Data::D(_) => Data::D(acc),
        _ => bail!("{op} of {dt}"),
    };
    Val::new(dt, shape, data)
}

/// Softmax / LogSoftmax of contiguous f32 rows of `len` (> 0): exponentials once per element
/// in f32, the row sum in f64; rows split across up to `threads` threads when large.
fn softmax_rows_f32(xs: &[f32], len: usize, log: bool, threads: usize) -> Vec<f32> {
    let mut out = crate::pool::take(xs.len());
    let rows = xs.len() / len;
    let dst = crate::par::SendPtr(out.as_mut_ptr() as usize);
    crate::par::par_for(rows, xs.len(), threads, |a, b| {
        let src = &xs[a * len..b * len];
        // SAFETY: workers write the disjoint row ranges a..b of `out`, which outlives the
        // parallel loop.
        let o =
            unsafe { std::slice::from_raw_parts_mut((dst.0 as *mut f32).add(a * len), src.len()) };
        if log {
            log_softmax_rows(src, o, len);
        } else {
            softmax_rows(Some(src), o, len);
        }
    });
    out
}

/// Lanes of the independent partial maxima and sums of a row (one 512-bit vector of f32
/// maxima, two of f64 sums): the loops vectorise and do not wait on one running value.
const LANES: usize = 16;

/// Independent vectors of running maxima in [`row_max`]: one would wait on its own result
/// every step.
const MAX_VECS: usize = 4;

/// The largest element of `row`, or NaN or -inf where a NaN decides it: each step keeps the
/// running value unless the element is greater (one vector max instruction), so a NaN may or
/// may not survive. Callers only use it as the shift of a row whose result is then NaN anyway
/// (the NaN element's exponential makes the sum NaN).
#[inline(always)]
fn row_max(row: &[f32]) -> f32 {
    const W: usize = MAX_VECS * LANES;
    let mut acc = [f32::NEG_INFINITY; W];
    let mut blocks = row.chunks_exact(W);
    for b in &mut blocks {
        for (a, &v) in acc.iter_mut().zip(b) {
            *a = if v > *a { v } else { *a };
        }
    }
    let tail = blocks.remainder().iter().copied();
    acc.into_iter()
        .chain(tail)
        .fold(f32::NEG_INFINITY, |a, v| if v > a { v } else { a })
}

/// `e^x` for `x <= 0` (the shifted softmax inputs) without a libm call, so that loops over it
/// vectorise: `x = n·ln2 + r` with |r| <= ln2/2, `e^r` by its Taylor polynomial of degree 7
/// (truncation < 6e-9 relative) and `2^n` built in the exponent bits; below -87.3 (where
/// `e^x` leaves the normal range) the result is 0. About 2 ulp; NaN stays NaN.
#[inline(always)]
fn exp_nonpositive(x: f32, fma: bool) -> f32 {
    if x < -87.3 {
        0.0
    } else {
        crate::fmath::exp_f32(x, fma)
    }
}

/// Elements whose exponentials are summed in f32 before the partial sums move to f64: a row
/// block's f32 rounding stays within a few ulp (8 additions per lane), and the f64 partials
/// keep long rows as exact as a whole-row f64 sum.
const SUM_BLOCK: usize = 8 * LANES;

/// Softmax over rows of `len` of `out`, in place, or of `src` into `out` (copied row by row,
/// so each row is still in L1 when it is normalised): the row's max; the exponentials, summed
/// in the same pass ([`SUM_BLOCK`]s of f32 lanes carried into f64 partials); then the scale by
/// the reciprocal of the sum.
#[inline(always)]
fn softmax_rows_body(src: Option<&[f32]>, out: &mut [f32], len: usize, fma: bool) {
    for (r, o) in out.chunks_exact_mut(len).enumerate() {
        if let Some(src) = src {
            o.copy_from_slice(&src[r * len..(r + 1) * len]);
        }
        let m = row_max(o);
        let mut wide = [0f64; LANES];
        let mut tail = 0f64;
        for block in o.chunks_mut(SUM_BLOCK) {
            let mut lanes = [0f32; LANES];
            let mut vecs = block.chunks_exact_mut(LANES);
            for v in &mut vecs {
                for (a, d) in lanes.iter_mut().zip(v.iter_mut()) {
                    *d = exp_nonpositive(*d - m, fma);
                    *a += *d;
                }
            }
            for d in vecs.into_remainder() {
                *d = exp_nonpositive(*d - m, fma);
                tail += *d as f64;
            }
            for (w, &a) in wide.iter_mut().zip(&lanes) {
                *w += a as f64;
            }
        }
        let mut w = LANES;
        while w > 1 {
            w /= 2;
            for i in 0..w {
                wide[i] += wide[i + w];
            }
        }
        let inv = (1.0 / (wide[0] + tail)) as f32;
        o.iter_mut().for_each(|d| *d *= inv);
    }
}

/// LogSoftmax over rows of `len`: `x - max - ln Σ e^(x - max)`, the sum in f64 of f64
/// exponentials.
fn log_softmax_rows(xs: &[f32], out: &mut [f32], len: usize) {
    for (row, o) in xs.chunks_exact(len).zip(out.chunks_exact_mut(len)) {
        let m = row_max(row);
        let mut s = 0f64;
        for (d, &v) in o.iter_mut().zip(row) {
            let e = v - m;
            *d = e;
            s += (e as f64).exp();
        }
        let ls = s.ln() as f32;
        o.iter_mut().for_each(|d| *d -= ls);
    }
}

/// [`softmax_rows_body`] compiled for AVX-512 (F, VL) + FMA.
///
/// # Safety
/// The CPU must support AVX-512F, AVX-512VL and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
unsafe fn softmax_rows_avx512(src: Option<&[f32]>, out: &mut [f32], len: usize) {
    softmax_rows_body(src, out, len, true)
}

/// [`softmax_rows_body`] compiled for AVX2 + FMA.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn softmax_rows_avx2(src: Option<&[f32]>, out: &mut [f32], len: usize) {
    softmax_rows_body(src, out, len, true)
}

/// Softmax of each row of `len` elements of `src` into `out` (same length, a multiple of
/// `len`), or of `out` in place when `src` is `None`.
pub(crate) fn softmax_rows(src: Option<&[f32]>, out: &mut [f32], len: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        if crate::cpu::cpu_has_avx512() {
            // SAFETY: the features were just detected.
            unsafe { softmax_rows_avx512(src, out, len) };
            return;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: both features were just detected.
            unsafe { softmax_rows_avx2(src, out, len) };
            return;
        }
    }
    softmax_rows_body(src, out, len, false)
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
    if let (Data::F(xs), DType::F32, 1) = (&*x.data, dt, inner) {
        if len > 0 {
            let out = softmax_rows_f32(xs, len, log, c.threads);
            return Val::new(dt, x.shape.clone(), Data::F(out.into()));
        }
    }
    let mut v = x.as_f64()?;
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
    let data = match &*x.data {
        Data::F(_) => Data::F(v.into_iter().map(|a| round_to(dt, a as f32)).collect()),
        Data::D(_) => Data::D(v),
        _ => bail!("softmax of {dt}"),
    };
    Val::new(dt, x.shape.clone(), data)
}

#[cfg(test)]
mod tests {
    use super::{exp_nonpositive, softmax_rows_f32};

    /// The polynomial exponential against f64 `exp` on a dense sweep of [-90, 0]: within
    /// 3 ulp where the result is normal, 0 below the normal range, NaN for NaN.
    #[test]
    fn exp_nonpositive_within_three_ulp() {
        for fma in [false, true] {
            let mut x = -90.0f32;
            while x <= 0.0 {
                let got = exp_nonpositive(x, fma) as f64;
                let want = (x as f64).exp();
                if want < f32::MIN_POSITIVE as f64 * 2.0 {
                    assert!(
                        got <= f32::MIN_POSITIVE as f64 * 2.0,
                        "{x}: {got} vs {want}"
                    );
                } else {
                    let ulp = (want as f32).next_up() as f64 - want as f32 as f64;
                    assert!((got - want).abs() <= 3.0 * ulp, "{x}: {got} vs {want}");
                }
                x += 1.0e-4;
            }
            assert!(exp_nonpositive(f32::NAN, fma).is_nan());
            assert_eq!(exp_nonpositive(f32::NEG_INFINITY, fma), 0.0);
            assert_eq!(exp_nonpositive(0.0, fma), 1.0);
        }
    }

    /// Rows split across threads give exactly the one-thread results (large enough to split).
    #[test]
    fn threads_split_rows_without_changing_results() {
        let len = 1000;
        let xs: Vec<f32> = (0..300 * len)
            .map(|i| ((i * 37) % 101) as f32 * 0.1 - 5.0)
            .collect();
        for log in [false, true] {
            let one = softmax_rows_f32(&xs, len, log, 1);
            let two = softmax_rows_f32(&xs, len, log, 2);
            assert!(one
                .iter()
                .zip(&two)
                .all(|(a, b)| a.to_bits() == b.to_bits()));
            let row_sum: f64 = one[..len].iter().map(|&v| v as f64).sum();
            if !log {
                assert!((row_sum - 1.0).abs() < 1e-5, "{row_sum}");
            }
        }
    }

    /// A NaN anywhere in a row makes the whole row NaN (its exponential is in the sum),
    /// wherever the NaN sits relative to the row's maximum; other rows are untouched.
    #[test]
    fn a_nan_poisons_only_its_row() {
        let len = 100;
        for at in [0, 1, 15, 16, 63, 64, 99] {
            for log in [false, true] {
                let mut xs: Vec<f32> = (0..3 * len).map(|i| (i % 7) as f32).collect();
                xs[len + at] = f32::NAN;
                let got = softmax_rows_f32(&xs, len, log, 1);
                assert!(
                    got[len..2 * len].iter().all(|v| v.is_nan()),
                    "at {at} log {log}"
                );
                assert!(got[..len]
                    .iter()
                    .chain(&got[2 * len..])
                    .all(|v| v.is_finite()));
            }
        }
    }

    /// Against an f64 softmax / log-softmax of the same rows (large offsets, -inf entries,
    /// single-element rows): within 4e-7 relative plus the rounding of `x - max` to f32.
    #[test]
    fn f32_rows_match_f64_reference() {
        let mut s = 12345u64;
        let mut rnd = || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 40.0
        };
        for len in [1usize, 3, 8, 17, 64, 1500, 4099] {
            let mut xs: Vec<f32> = (0..len * 5).map(|_| rnd()).collect();
            if len == 4099 {
                // Near-equal scores: the sum of ~4099 terms near 1 is where an f32 running
                // sum would drift.
                xs.iter_mut().for_each(|x| *x *= 1e-4);
            }
            xs[0] += 1000.0;
            if len > 1 {
                xs[len + 1] = f32::NEG_INFINITY;
            }
            for log in [false, true] {
                let got = softmax_rows_f32(&xs, len, log, 2);
                for (r, row) in xs.chunks_exact(len).enumerate() {
                    let m = row
                        .iter()
                        .map(|&v| v as f64)
                        .fold(f64::NEG_INFINITY, f64::max);
                    let sum: f64 = row.iter().map(|&v| (v as f64 - m).exp()).sum();
                    for (j, &v) in row.iter().enumerate() {
                        let e = v as f64 - m;
                        let want = if log { e - sum.ln() } else { e.exp() / sum };
                        let g = got[r * len + j] as f64;
                        let ok = if want.is_infinite() {
                            g == want
                        } else if log {
                            // Difference of two f32-rounded terms, and ln(sum) carries
                            // the other elements' rounded x - max (weight 1 - 1/sum).
                            let spread = row
                                .iter()
                                .map(|&u| (u as f64 - m).abs())
                                .filter(|d| d.is_finite())
                                .fold(0.0, f64::max);
                            let tol = e.abs() + sum.ln().abs() + spread * (1.0 - 1.0 / sum);
                            (g - want).abs() <= 1.2e-7 * tol + 1e-12
                        } else {
                            // x - max is rounded to f32 first: e^(x-max) inherits
                            // |x - max| · 2^-24 relative error.
                            let rel = 4e-7 + e.abs() * 6e-8;
                            (g - want).abs() <= rel * want.abs().max(1e-30)
                        };
                        assert!(ok, "len {len} log {log} row {r} col {j}: {g} vs {want}");
                    }
                }
            }
        }
    }
}
