//! Norm rows of calls too large for the caches, on CPUs with AVX-512: a Rust row loop compiled
//! for AVX-512 that writes the output with non-temporal stores and prefetches the input ahead
//! (neither instruction exists in cranelift's IR).
//!
//! Why: out of cache the generated 128-bit kernel stays below 0.9 of copy bandwidth at hidden
//! 64 (instruction-bound) and 4096 (write-allocate reads plus 32 KiB of scale and bias that do
//! not fit L1 next to the row). Cranelift has neither wider vectors nor a non-temporal store;
//! `scripts/c_norm_baseline.sh` shows that only the combination of both gets plain C there.
//!
//! The results are bit-identical to the generated kernel's: the statistics use the same
//! partial sums in the same order (the kernel's four f32x4 accumulator sets are the four
//! 128-bit quarters of one 512-bit accumulator, reduced as `(q0 + q1) + (q2 + q3)`, then the
//! leftover f32x4 vectors, the horizontal sum and the scalar tail), the same scalar formulas
//! for the mean, the cancellation guard with its exact second pass, `1 / sqrt(var + eps)`, and
//! the same per-element output formula with FMA. Tests compare the two paths bit for bit.

use crate::kernels::rows::NormArgs;

/// Whether `rows` rows of `args` take this path: allowed by the caller (`args.wide`, which
/// also requires the generated kernels to use FMA), without a folded residual (those stay
/// generated), on a CPU that runs the AVX-512 helpers
/// ([`crate::cpu::cpu_has_avx512`]). Calls as large as the one for which the generated
/// kernel switches to its out-of-cache row loop write with non-temporal stores; smaller ones
/// with regular stores, so the output stays in cache for the next op.
pub(crate) fn suits(args: &NormArgs, rows: usize) -> bool {
    let k = &args.key;
    args.wide && !k.skip && !k.sum_out && k.hidden > 0 && rows > 0 && crate::cpu::cpu_has_avx512()
}

/// Normalises rows `a..b` of `args`; only for calls [`suits`] accepts.
///
/// # Safety
/// As [`crate::kernels::rows::run_rows`]: every buffer `args.key` enables holds its extent for rows
/// `a..b`, and the output ranges are not touched by anyone else meanwhile. The CPU must have
/// AVX-512F and FMA ([`suits`] checks).
pub(crate) unsafe fn run(args: &NormArgs, a: usize, b: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: forwarded from the caller; the CPU features were checked by `suits`.
    unsafe {
        avx512::rows(args, a, b)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (args, a, b);
        unreachable!("wide_norm::suits is false off x86_64")
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use crate::kernels::rows::NormArgs;
    use std::arch::x86_64::*;

    /// How far ahead of the position being read the input is prefetched, in floats, by the
    /// output pass and by long rows' statistics pass (64 KiB: the next rows' statistics then
    /// read from cache). The output-pass prefetch alone, measured at
    /// 128 MiB, 1 thread, LN GB/s without -> with: h64 37 -> 38-40, h1024 39 -> 48-51, h4096
    /// 30 -> 35-38 (distances of 8-128 KiB were within noise of each other, 1-4 KiB less).
    const PREFETCH_AHEAD: usize = 16 << 10;

    /// The mask of the `n` lowest of 16 lanes (`n <= 16`).
    fn low_lanes(n: usize) -> __mmask16 {
        ((1u32 << n) - 1) as __mmask16
    }

    /// Rows of at least this many 16-float blocks (hidden 1024 and up) are long: their
    /// statistics pass prefetches ahead too and reads with aligned loads when the row starts
    /// inside a line (see `pass`). Short rows are instruction-bound and keep the plain loop.
    const LONG_ROW_BLOCKS: usize = 64;

    /// LayerNorm rows of up to this many floats (and whole 16-float blocks) take their
    /// statistics four rows at a time (`mean_inv4`): such rows are instruction-bound, and
    /// four rows share one reduction and one set of vector formulas. Measured with the probe,
    /// 1 thread, 3 alternating rounds with x and y on and 16 bytes off a line, LN GB/s one
    /// row -> four rows at a time: h64 at 32 MiB 45-48 -> 58-66 (copy 48-57), at 128 MiB
    /// 40-46 -> 44-54 (copy 34-39); h16 18-21 -> 30-38. With hidden 256-768 batched too,
    /// those fell at 128 MiB (52-56 -> 32-42 GB/s, also with each row's blocks read in row
    /// order), so longer rows stay one at a time.
    const BATCHED_ROW_MAX: usize = 64;

    /// Pass kinds (what one pass accumulates per element, as the generated kernel's bodies).
    /// LayerNorm statistics: `d = x - c; (s + d, fma(d, d, q))`.
    const SUM_AND_SQUARES: u8 = 0;
    /// One sum of squares `fma(d, d, q)` with `d = x - c` (the exact variance pass).
    const SQUARES_ABOUT: u8 = 1;
    /// RMS statistics: `fma(x, x, q)`.
    const SQUARES: u8 = 2;

    /// One pass of kind `K` over a row with the generated kernel's accumulation order;
    /// returns `[sum, sum of squares]` (`[sum of squares, 0]` for the one-accumulator kinds).
    #[target_feature(enable = "avx512f,fma")]
    unsafe fn pass<const K: u8>(row: *const f32, h: usize, c: f32) -> [f32; 2] {
        // SAFETY (whole body): `row` holds `h` floats (caller); loads are unaligned.
        unsafe {
            let (c16, c4) = (_mm512_set1_ps(c), _mm_set1_ps(c));
            let (mut s16, mut q16) = (_mm512_setzero_ps(), _mm512_setzero_ps());
            // One element (lane) step of kind K, with the ops of the width at hand.
            macro_rules! step {
                ($v:expr, $c:expr, $s:ident, $q:ident, $sub:expr, $add:expr, $fma:expr) => {{
                    let v = $v;
                    if K == SQUARES {
                        $q = $fma(v, v, $q);
                    } else {
                        let d = $sub(v, $c);
                        if K == SUM_AND_SQUARES {
                            $s = $add($s, d);
                        }
                        $q = $fma(d, d, $q);
                    }
                }};
            }
            let n16 = h / 16;
            // A long row that starts `k` floats past a cache line: each 16-float block is
            // built from two aligned line loads (`vpermt2ps`) instead of a load that splits
            // two lines. The blocks, and so the sums, are the same. Measured with x and y 16
            // bytes off a line, 128 MiB, LN GB/s, 4 alternating pairs: h4096 24-28 -> 28-30,
            // h1024 no change, h64 29 -> 27 (short rows are instruction-bound: split loads
            // kept there).
            let k = (row as usize % 64) / 4;
            let ops = (_mm512_sub_ps, _mm512_add_ps, _mm512_fmadd_ps);
            // A long row's statistics take about half the row's time; without prefetches
            // of their own, memory sits idle meanwhile (the output pass prefetches only while
            // it runs). Prefetching here as well, to the same distance, measured with the
            // probe at 128 MiB, 1 thread, 3 alternating rounds with x and y on and 16 bytes
            // off a line, LN / copy in the same process: h4096 0.80-0.91 -> 0.95-1.11,
            // h1024 1.03-1.32 -> 1.25-1.43. (An earlier 2-round comparison: prefetching in
            // the statistics pass only, none in the output pass, gave LN h4096 34-42 GB/s,
            // prefetching in both 38-47.)
            let long = n16 >= LONG_ROW_BLOCKS;
            let prefetch = |p: *const f32| {
                if long {
                    // A prefetch never faults; the address may lie past the input's end.
                    _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(PREFETCH_AHEAD) as *const i8);
                }
            };
            if k == 0 || !long {
                for j in 0..n16 {
                    prefetch(row.wrapping_add(16 * j));
                    let v = _mm512_loadu_ps(row.add(16 * j));
                    step!(v, c16, s16, q16, ops.0, ops.1, ops.2);
                }
            } else {
                let line = row.wrapping_sub(k);
                let first = !low_lanes(k);
                let idx = _mm512_add_epi32(
                    _mm512_set1_epi32(k as i32),
                    _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                );
                // Lanes k..16 of the first line are the row's first floats; masked-off lanes
                // are not read.
                let mut lo = _mm512_maskz_load_ps(first, line);
                for j in 0..n16 {
                    let next = line.wrapping_add(16 * (j + 1));
                    prefetch(next);
                    let hi = if j + 1 < n16 {
                        _mm512_load_ps(next)
                    } else {
                        // Only its first k lanes belong to the block (and to the row).
                        _mm512_maskz_load_ps(!first, next)
                    };
                    let v = _mm512_permutex2var_ps(lo, idx, hi);
                    step!(v, c16, s16, q16, ops.0, ops.1, ops.2);
                    lo = hi;
                }
            }
            let mut pos = n16 * 16;
            if K == SUM_AND_SQUARES && pos + 4 > h {
                // No f32x4 leftovers: both reductions at once. Measured with the probe at
                // 128 MiB, 1 thread, 3 alternating rounds, LN h64 GB/s with x and y on / 16
                // bytes off a line: 44-45 / 39-40 -> 47-49 / 41-43 (copy 35-41).
                let [mut s, mut q] = quarters_hsum2(s16, q16);
                while pos < h {
                    let (sub, add) = (|a: f32, b: f32| a - b, |a: f32, b: f32| a + b);
                    step!(*row.add(pos), c, s, q, sub, add, f32::mul_add);
                    pos += 1;
                }
                return [s, q];
            }
            let (mut s4, mut q4) = (quarters(s16), quarters(q16));
            while pos + 4 <= h {
                let v = _mm_loadu_ps(row.add(pos));
                step!(v, c4, s4, q4, _mm_sub_ps, _mm_add_ps, _mm_fmadd_ps);
                pos += 4;
            }
            let (mut s, mut q) = (hsum(s4), hsum(q4));
            while pos < h {
                let (sub, add) = (|a: f32, b: f32| a - b, |a: f32, b: f32| a + b);
                step!(*row.add(pos), c, s, q, sub, add, f32::mul_add);
                pos += 1;
            }
            if K == SUM_AND_SQUARES {
                [s, q]
            } else {
                [q, 0.0]
            }
        }
    }

    /// The generated kernel's four f32x4 accumulator sets, combined as
    /// `(set0 + set1) + (set2 + set3)`.
    #[target_feature(enable = "avx512f")]
    fn quarters(v: __m512) -> __m128 {
        let q0 = _mm512_extractf32x4_ps::<0>(v);
        let q1 = _mm512_extractf32x4_ps::<1>(v);
        let q2 = _mm512_extractf32x4_ps::<2>(v);
        let q3 = _mm512_extractf32x4_ps::<3>(v);
        _mm_add_ps(_mm_add_ps(q0, q1), _mm_add_ps(q2, q3))
    }

    /// `[a.0 + a.1, a.2 + a.3, b.0 + b.1, b.2 + b.3]`, by 128-bit quarters.
    #[target_feature(enable = "avx512f")]
    fn quarter_pairs(a: __m512, b: __m512) -> __m512 {
        _mm512_add_ps(
            _mm512_shuffle_f32x4::<0b10_00_10_00>(a, b),
            _mm512_shuffle_f32x4::<0b11_01_11_01>(a, b),
        )
    }

    /// In every quarter, lane 0 becomes `(l0 + l1) + (l2 + l3)` of that quarter (as `hsum`).
    #[target_feature(enable = "avx512f")]
    fn hsum_quarters(v: __m512) -> __m512 {
        // Lane 0 = l0 + l1, lane 2 = l2 + l3, then lane 0 = their sum.
        let halves = _mm512_add_ps(v, _mm512_movehdup_ps(v));
        _mm512_add_ps(halves, _mm512_permute_ps::<0b10>(halves))
    }

    /// `hsum(quarters(a))` and `hsum(quarters(b))`, computed side by side in one register
    /// (the same additions of the same operands, addition commuting exactly; fewer
    /// instructions than two separate reductions, which matters for short rows).
    #[target_feature(enable = "avx512f")]
    fn quarters_hsum2(a: __m512, b: __m512) -> [f32; 2] {
        let pairs = quarter_pairs(a, b);
        // Quarter 0: (a.0 + a.1) + (a.2 + a.3); quarter 1: the same of b.
        let total = hsum_quarters(quarter_pairs(pairs, pairs));
        [
            _mm512_cvtss_f32(total),
            _mm_cvtss_f32(_mm512_extractf32x4_ps::<1>(total)),
        ]
    }

    /// Horizontal sum `(l0 + l1) + (l2 + l3)`.
    #[target_feature(enable = "avx512f")]
    fn hsum(v: __m128) -> f32 {
        let l1 = _mm_movehdup_ps(v); // [l1, l1, l3, l3]
        let pair = _mm_add_ss(v, l1); // l0 + l1
        let hi = _mm_movehl_ps(v, v); // [l2, l3, ..]
        let hi1 = _mm_movehdup_ps(hi); // [l3, ..]
        let pair2 = _mm_add_ss(hi, hi1); // l2 + l3
        _mm_cvtss_f32(_mm_add_ss(pair, pair2))
    }

    /// The row's mean (LayerNorm; 0 for RMS) and 1/sd, as `row_mean_inv` in the generated
    /// kernel. `shift` is the row's first element (LayerNorm).
    #[target_feature(enable = "avx512f,fma")]
    unsafe fn mean_inv<const RMS: bool>(
        row: *const f32,
        h: usize,
        shift: f32,
        (eps, inv_h): (f32, f32),
    ) -> (f32, f32) {
        // SAFETY: `row` holds `h` floats (caller).
        let (mean, var) = unsafe {
            if RMS {
                let [ss, _] = pass::<SQUARES>(row, h, 0.0);
                (0.0, ss * inv_h)
            } else {
                let [s, q] = pass::<SUM_AND_SQUARES>(row, h, shift);
                let md = s * inv_h;
                let mean = shift + md;
                let e2 = q * inv_h;
                let var1 = e2 - md * md;
                // Cancellation guard: recompute exactly when ~10 bits were lost.
                let var = if var1 < e2 * (1.0 / 1024.0) {
                    pass::<SQUARES_ABOUT>(row, h, mean)[0] * inv_h
                } else {
                    var1
                };
                (mean, var)
            }
        };
        (mean, 1.0 / (var + eps).sqrt())
    }

    /// [`mean_inv`] of the four consecutive LayerNorm rows of `h` floats at `x` (`h % 16 ==
    /// 0`), as lanes 0..4 of (means, 1/sds). The four rows' blocks are accumulated in order
    /// side by side, reduced by `reduce4`, and the scalar formulas run as 4-lane vector ops
    /// (which round exactly like scalar ones): the same results. When a row's shifted
    /// variance lost ~10 bits, the four rows go through [`mean_inv`] instead.
    #[target_feature(enable = "avx512f,fma")]
    unsafe fn mean_inv4(x: *const f32, h: usize, (eps, inv_h): (f32, f32)) -> (__m128, __m128) {
        // SAFETY (whole body): the four rows hold `h` floats each (caller).
        unsafe {
            let rows = [x, x.add(h), x.add(2 * h), x.add(3 * h)];
            let shifts = _mm_setr_ps(*rows[0], *rows[1], *rows[2], *rows[3]);
            let c = [
                _mm512_set1_ps(*rows[0]),
                _mm512_set1_ps(*rows[1]),
                _mm512_set1_ps(*rows[2]),
                _mm512_set1_ps(*rows[3]),
            ];
            let [mut s0, mut s1, mut s2, mut s3] = [_mm512_setzero_ps(); 4];
            let [mut q0, mut q1, mut q2, mut q3] = [_mm512_setzero_ps(); 4];
            let mut j = 0;
            while j < h {
                let d0 = _mm512_sub_ps(_mm512_loadu_ps(rows[0].add(j)), c[0]);
                let d1 = _mm512_sub_ps(_mm512_loadu_ps(rows[1].add(j)), c[1]);
                let d2 = _mm512_sub_ps(_mm512_loadu_ps(rows[2].add(j)), c[2]);
                let d3 = _mm512_sub_ps(_mm512_loadu_ps(rows[3].add(j)), c[3]);
                s0 = _mm512_add_ps(s0, d0);
                s1 = _mm512_add_ps(s1, d1);
                s2 = _mm512_add_ps(s2, d2);
                s3 = _mm512_add_ps(s3, d3);
                q0 = _mm512_fmadd_ps(d0, d0, q0);
                q1 = _mm512_fmadd_ps(d1, d1, q1);
                q2 = _mm512_fmadd_ps(d2, d2, q2);
                q3 = _mm512_fmadd_ps(d3, d3, q3);
                j += 16;
            }
            let inv_hv = _mm_set1_ps(inv_h);
            let md = _mm_mul_ps(reduce4([s0, s1, s2, s3]), inv_hv);
            let mean = _mm_add_ps(shifts, md);
            let e2 = _mm_mul_ps(reduce4([q0, q1, q2, q3]), inv_hv);
            let var = _mm_sub_ps(e2, _mm_mul_ps(md, md));
            // (An SSE compare: the AVX-512 mask form needs AVX-512VL.)
            let lost = _mm_cmplt_ps(var, _mm_mul_ps(e2, _mm_set1_ps(1.0 / 1024.0)));
            if _mm_movemask_ps(lost) != 0 {
                let one = |i: usize| {
                    let shift = *rows[i];
                    mean_inv::<false>(rows[i], h, shift, (eps, inv_h))
                };
                let (a, b, c, d) = (one(0), one(1), one(2), one(3));
                return (
                    _mm_setr_ps(a.0, b.0, c.0, d.0),
                    _mm_setr_ps(a.1, b.1, c.1, d.1),
                );
            }
            let inv = _mm_div_ps(
                _mm_set1_ps(1.0),
                _mm_sqrt_ps(_mm_add_ps(var, _mm_set1_ps(eps))),
            );
            (mean, inv)
        }
    }

    /// `hsum(quarters(v[i]))` for four accumulators at once, as lanes 0..4: the same
    /// additions of the same operands as four separate reductions.
    #[target_feature(enable = "avx512f")]
    fn reduce4(v: [__m512; 4]) -> __m128 {
        // Quarter i: (v[i].0 + v[i].1) + (v[i].2 + v[i].3).
        let sets = quarter_pairs(quarter_pairs(v[0], v[1]), quarter_pairs(v[2], v[3]));
        let lanes = _mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
        _mm512_castps512_ps128(_mm512_permutexvar_ps(lanes, hsum_quarters(sets)))
    }

    /// The generated kernel's per-element output formula on 16 lanes; `g` and `b` produce
    /// the scale and bias vectors (called only when the key has them).
    #[inline(always)]
    fn formula<const RMS: bool, const G: bool, const B: bool>(
        x: __m512,
        g: impl FnOnce() -> __m512,
        b: impl FnOnce() -> __m512,
        mean: __m512,
        inv: __m512,
    ) -> __m512 {
        // SAFETY: only called from functions compiled with AVX-512F and FMA (`rows_t`'s
        // callees), whose callers checked the CPU.
        unsafe {
            let v = if RMS { x } else { _mm512_sub_ps(x, mean) };
            let o = _mm512_mul_ps(v, inv);
            match (G, B) {
                (true, true) => _mm512_fmadd_ps(o, g(), b()),
                (true, false) => _mm512_mul_ps(o, g()),
                (false, true) => _mm512_add_ps(o, b()),
                (false, false) => o,
            }
        }
    }

    /// Writes lanes `m` of `y[0..16]` with a regular masked store: the output of `x`, with
    /// scale and bias read from `g`, `b` by masked loads (masked-off lanes are not touched).
    ///
    /// # Safety
    /// The lanes `m` selects are valid in `x`, `y` and, when used, `g` and `b`; the CPU has
    /// AVX-512F and FMA (callers are compiled for them).
    #[inline(always)]
    unsafe fn masked_part<const RMS: bool, const G: bool, const B: bool>(
        m: __mmask16,
        (x, y): (*const f32, *mut f32),
        (g, b): (*const f32, *const f32),
        (mean, inv): (__m512, __m512),
    ) {
        // SAFETY: as the caller promises.
        unsafe {
            let o = formula::<RMS, G, B>(
                _mm512_maskz_loadu_ps(m, x),
                || _mm512_maskz_loadu_ps(m, g),
                || _mm512_maskz_loadu_ps(m, b),
                mean,
                inv,
            );
            _mm512_mask_storeu_ps(y, m, o);
        }
    }

    /// Writes the whole lines of row `yr[0..h]` from float `i` on (`yr + i` starts a line)
    /// with non-temporal stores, prefetching the input ahead; returns where they end.
    ///
    /// # Safety
    /// As `RowWriter::row`.
    #[inline(always)]
    unsafe fn whole_lines<const RMS: bool, const G: bool, const B: bool>(
        (xr, yr): (*const f32, *mut f32),
        h: usize,
        mut i: usize,
        (g, b): (*const f32, *const f32),
        (mean, inv): (__m512, __m512),
    ) -> usize {
        // SAFETY: the loads and stores stay within the row (caller).
        unsafe {
            while i + 16 <= h {
                // A prefetch never faults; the address may lie past the input's end.
                _mm_prefetch::<_MM_HINT_T0>(xr.wrapping_add(i + PREFETCH_AHEAD) as *const i8);
                let o = formula::<RMS, G, B>(
                    _mm512_loadu_ps(xr.add(i)),
                    || _mm512_loadu_ps(g.add(i)),
                    || _mm512_loadu_ps(b.add(i)),
                    mean,
                    inv,
                );
                _mm512_stream_ps(yr.add(i), o);
                i += 16;
            }
        }
        i
    }

    /// Writes the output of a range of rows in order as whole 64-byte lines with
    /// non-temporal stores. A row that starts or ends inside a line leaves that line open in
    /// a register (`stage`) until the next row completes it, so no line is ever written
    /// partly by regular and partly by non-temporal stores (measured: mixing them ran LN
    /// h64 at 13 GB/s instead of 31). Only the range's own first and last partial lines,
    /// which may share bytes with another thread's rows, use regular (masked) stores.
    struct LineWriter {
        /// The open line's address (64-byte aligned) and how many of its floats are staged.
        open: Option<(*mut f32, usize)>,
        /// The open line's staged floats (lanes `0..filled`).
        stage: __m512,
    }

    /// Writes the output rows of a range, in address order, each row starting where the
    /// previous ended.
    trait RowWriter {
        /// Writes row `yr[0..h]`, the output of `xr[0..h]` with the row's mean and 1/sd
        /// (splats) and scale and bias `g`, `b` (as `rows_t` passes them: `h` floats each).
        ///
        /// # Safety
        /// `xr`/`yr` hold `h` floats, `g`/`b` `h` when used; the CPU has AVX-512F and FMA.
        unsafe fn row<const RMS: bool, const G: bool, const B: bool>(
            &mut self,
            xr: *const f32,
            yr: *mut f32,
            h: usize,
            stats: (__m512, __m512),
            gb: (*const f32, *const f32),
        );

        /// Writes whatever the range's last row left unwritten.
        ///
        /// # Safety
        /// As `row`, for the rows written so far.
        unsafe fn finish<const RMS: bool, const G: bool, const B: bool>(self);
    }

    impl RowWriter for LineWriter {
        #[target_feature(enable = "avx512f,fma")]
        unsafe fn row<const RMS: bool, const G: bool, const B: bool>(
            &mut self,
            xr: *const f32,
            yr: *mut f32,
            h: usize,
            (mean, inv): (__m512, __m512),
            (g, b): (*const f32, *const f32),
        ) {
            // SAFETY (whole body): xr/yr hold `h` floats, g/b `h` when used (caller); masked
            // and expanding loads touch only their selected elements.
            unsafe {
                let mut i = 0;
                if let Some((line, filled)) = self.open {
                    // Complete the open line with this row's first floats.
                    let take = (16 - filled).min(h);
                    let m = low_lanes(take) << filled;
                    // Lane `filled + j` loads element `j`: a masked load from `filled`
                    // floats before the row (those lanes are masked off and not read).
                    let back = |p: *const f32| p.wrapping_sub(filled);
                    let o = formula::<RMS, G, B>(
                        _mm512_maskz_loadu_ps(m, back(xr)),
                        || _mm512_maskz_loadu_ps(m, back(g)),
                        || _mm512_maskz_loadu_ps(m, back(b)),
                        mean,
                        inv,
                    );
                    self.stage = _mm512_mask_mov_ps(self.stage, m, o);
                    i = take;
                    if filled + take == 16 {
                        _mm512_stream_ps(line, self.stage);
                        self.open = None;
                    } else {
                        self.open = Some((line, filled + take));
                    }
                } else {
                    // First row of the range: floats before the first line boundary share
                    // their line with whatever precedes the range.
                    let head = (((64 - (yr as usize % 64)) % 64) / 4).min(h);
                    if head > 0 {
                        masked_part::<RMS, G, B>(low_lanes(head), (xr, yr), (g, b), (mean, inv));
                        i = head;
                    }
                }
                // Whole lines (yr + i is 64-byte aligned here unless the row is done).
                i = whole_lines::<RMS, G, B>((xr, yr), h, i, (g, b), (mean, inv));
                // The rest opens a new line.
                if i < h {
                    let m = low_lanes(h - i);
                    self.stage = formula::<RMS, G, B>(
                        _mm512_maskz_loadu_ps(m, xr.add(i)),
                        || _mm512_maskz_loadu_ps(m, g.add(i)),
                        || _mm512_maskz_loadu_ps(m, b.add(i)),
                        mean,
                        inv,
                    );
                    self.open = Some((yr.add(i), h - i));
                }
            }
        }

        /// Writes what is left of the open line with a regular masked store (it may share
        /// its line with whatever follows the range).
        #[target_feature(enable = "avx512f,fma")]
        unsafe fn finish<const RMS: bool, const G: bool, const B: bool>(self) {
            if let Some((line, filled)) = self.open {
                // SAFETY: `line[0..filled]` are the last floats of the range (caller of `row`).
                unsafe { _mm512_mask_storeu_ps(line, low_lanes(filled), self.stage) };
            }
        }
    }

    /// The writer for calls that fit the caches: regular stores, so the output is still in
    /// cache when the next op reads it; a row's last partial vector uses a masked store.
    struct CachedWriter;

    impl RowWriter for CachedWriter {
        #[target_feature(enable = "avx512f,fma")]
        unsafe fn row<const RMS: bool, const G: bool, const B: bool>(
            &mut self,
            xr: *const f32,
            yr: *mut f32,
            h: usize,
            stats: (__m512, __m512),
            (g, b): (*const f32, *const f32),
        ) {
            // SAFETY (whole body): xr/yr hold `h` floats, g/b `h` when used (caller); the
            // masked tail touches only its selected elements.
            unsafe {
                let mut i = 0;
                while i + 16 <= h {
                    let o = formula::<RMS, G, B>(
                        _mm512_loadu_ps(xr.add(i)),
                        || _mm512_loadu_ps(g.add(i)),
                        || _mm512_loadu_ps(b.add(i)),
                        stats.0,
                        stats.1,
                    );
                    _mm512_storeu_ps(yr.add(i), o);
                    i += 16;
                }
                if i < h {
                    let at = |p: *const f32| p.wrapping_add(i);
                    masked_part::<RMS, G, B>(
                        low_lanes(h - i),
                        (xr.add(i), yr.add(i)),
                        (at(g), at(b)),
                        stats,
                    );
                }
            }
        }

        #[target_feature(enable = "avx512f,fma")]
        unsafe fn finish<const RMS: bool, const G: bool, const B: bool>(self) {}
    }

    /// The writer for rows of whole lines (`h % 16 == 0`) whose output starts `k > 0` floats
    /// into a cache line: every row boundary then falls at lane `k` of a line. Such a line
    /// is computed in one step once the second row's statistics are known: its x are
    /// contiguous, its scale and bias are the fixed vectors `[g[h-k..h], g[0..16-k]]`, and
    /// its mean and 1/sd lanes are a blend of the two rows'. Compared with [`LineWriter`]
    /// this saves one masked evaluation per row, which short rows feel. Only the range's
    /// first and last partial lines use masked (regular) stores. Every element gets the
    /// same formula and operands as with [`LineWriter`].
    struct WrapWriter {
        /// Floats of the previous row in a boundary line (lanes `0..k`).
        k: usize,
        /// Scale and bias of a boundary line (zero when unused).
        gb_wrap: (__m512, __m512),
        /// Scale and bias of a row's last `k` floats (for `finish`).
        gb_tail: (*const f32, *const f32),
        /// The previous row's last `k` floats, not yet written: x, y (a line start) and
        /// that row's mean and 1/sd splats.
        pending: Option<(*const f32, *mut f32, (__m512, __m512))>,
    }

    impl WrapWriter {
        /// A writer for rows of `h` floats (a multiple of 16) whose output starts `k`
        /// (1..16) floats into a line, with scale and bias `g`, `b` (`h` floats each when
        /// enabled).
        ///
        /// # Safety
        /// `g`/`b` hold `h` floats when `G`/`B`; the CPU has AVX-512F.
        #[target_feature(enable = "avx512f")]
        unsafe fn new<const G: bool, const B: bool>(
            h: usize,
            k: usize,
            (g, b): (*const f32, *const f32),
        ) -> WrapWriter {
            let wrap = |on: bool, p: *const f32| {
                if !on {
                    return _mm512_setzero_ps();
                }
                // SAFETY: `p` holds `h >= 16 > k` floats (caller).
                let v = unsafe { std::slice::from_raw_parts(p, h) };
                let mut lanes = [0f32; 16];
                lanes[..k].copy_from_slice(&v[h - k..]);
                lanes[k..].copy_from_slice(&v[..16 - k]);
                // SAFETY: `lanes` holds 16 floats.
                unsafe { _mm512_loadu_ps(lanes.as_ptr()) }
            };
            WrapWriter {
                k,
                gb_wrap: (wrap(G, g), wrap(B, b)),
                gb_tail: (g.wrapping_add(h - k), b.wrapping_add(h - k)),
                pending: None,
            }
        }
    }

    impl RowWriter for WrapWriter {
        #[target_feature(enable = "avx512f,fma")]
        unsafe fn row<const RMS: bool, const G: bool, const B: bool>(
            &mut self,
            xr: *const f32,
            yr: *mut f32,
            h: usize,
            (mean, inv): (__m512, __m512),
            (g, b): (*const f32, *const f32),
        ) {
            let head = 16 - self.k;
            // SAFETY (whole body): xr/yr hold `h` floats, g/b `h` when used (caller); the
            // pending x floats directly precede `xr` in the same input.
            unsafe {
                if let Some((xt, yt, (pm, pi))) = self.pending {
                    // Lanes 0..k: the previous row's tail; lanes k..16: this row's head.
                    let prev = low_lanes(self.k);
                    let (gw, bw) = self.gb_wrap;
                    let o = formula::<RMS, G, B>(
                        _mm512_loadu_ps(xt),
                        || gw,
                        || bw,
                        _mm512_mask_blend_ps(prev, mean, pm),
                        _mm512_mask_blend_ps(prev, inv, pi),
                    );
                    _mm512_stream_ps(yt, o);
                } else {
                    // First row of the range: its head shares a line with whatever precedes
                    // the range.
                    masked_part::<RMS, G, B>(low_lanes(head), (xr, yr), (g, b), (mean, inv));
                }
                let i = whole_lines::<RMS, G, B>((xr, yr), h, head, (g, b), (mean, inv));
                // i == h - k: the tail waits for the next row.
                self.pending = Some((xr.add(i), yr.add(i), (mean, inv)));
            }
        }

        /// Writes the last row's tail with a regular masked store (it may share its line
        /// with whatever follows the range).
        #[target_feature(enable = "avx512f,fma")]
        unsafe fn finish<const RMS: bool, const G: bool, const B: bool>(self) {
            if let Some((xt, yt, (pm, pi))) = self.pending {
                let m = low_lanes(self.k);
                let (gt, bt) = self.gb_tail;
                // SAFETY: xt/yt hold the last row's last k floats, gt/bt the last k of scale
                // and bias when used (caller of `new` and `row`).
                unsafe { masked_part::<RMS, G, B>(m, (xt, yt), (gt, bt), (pm, pi)) };
            }
        }
    }

    /// Rows `a..b` of `args` (plain keys: no residual).
    ///
    /// # Safety
    /// As `wide_norm::run`.
    #[target_feature(enable = "avx512f,fma")]
    pub(super) unsafe fn rows(args: &NormArgs, a: usize, b: usize) {
        let k = &args.key;
        // SAFETY: forwarded.
        unsafe {
            match (k.rms, k.scale, k.bias) {
                (false, true, true) => rows_t::<false, true, true>(args, a, b),
                (false, true, false) => rows_t::<false, true, false>(args, a, b),
                (false, false, true) => rows_t::<false, false, true>(args, a, b),
                (false, false, false) => rows_t::<false, false, false>(args, a, b),
                (true, true, true) => rows_t::<true, true, true>(args, a, b),
                (true, true, false) => rows_t::<true, true, false>(args, a, b),
                (true, false, true) => rows_t::<true, false, true>(args, a, b),
                (true, false, false) => rows_t::<true, false, false>(args, a, b),
            }
        }
        // Non-temporal stores are weakly ordered: make them visible before the caller
        // (possibly another thread) reads the output.
        _mm_sfence();
    }

    /// [`rows`] specialised on RMS and on which of scale and bias exist.
    #[target_feature(enable = "avx512f,fma")]
    unsafe fn rows_t<const RMS: bool, const G: bool, const B: bool>(
        args: &NormArgs,
        a: usize,
        b: usize,
    ) {
        let k = &args.key;
        let h = k.hidden;
        // With rows of whole lines every output row starts at the same offset within a cache
        // line; scale and bias copied to that offset keep their loads within one line each
        // (measured, LN h4096 at 128 MiB with the output 16 bytes off a line: 23-27 GB/s
        // with split loads). Calls that fit the caches read them in place: the copy was
        // measured for the streaming path only, and it would allocate on every call.
        let phase = (args.y + 4 * a * h) % 64;
        let cached = b - a < crate::kernels::big_rows(h);
        let (mut g_copy, mut b_copy) = (Vec::new(), Vec::new());
        let params = |base: usize, on: bool, copy: &mut Vec<f32>| -> *const f32 {
            if cached || !on || !h.is_multiple_of(16) || base % 64 == phase {
                return base as *const f32;
            }
            // SAFETY: scale/bias hold `h` floats when enabled (caller).
            let src = unsafe { std::slice::from_raw_parts(base as *const f32, h) };
            *copy = vec![0f32; h + 16];
            let skip = (phase + 64 - copy.as_ptr() as usize % 64) % 64 / 4;
            copy[skip..skip + h].copy_from_slice(src);
            copy[skip..].as_ptr()
        };
        let gb = (
            params(args.scale, G, &mut g_copy),
            params(args.bias, B, &mut b_copy),
        );
        let line_phase = phase / 4;
        // SAFETY: forwarded; scale/bias (or their copies) hold `h` floats when enabled.
        unsafe {
            // Measured with the probe at 128 MiB, 1 thread, x and y 16 bytes off a line,
            // 4 alternating rounds, h64 GB/s, LineWriter -> WrapWriter: LN 40-42 -> 43-45,
            // RMS 56-58 -> 47-53 (hidden 1024 and 4096: within noise for both). RMS, whose
            // rows carry less state, keeps the line writer.
            if cached {
                rows_with::<RMS, G, B, _>(args, a, b, gb, CachedWriter);
            } else if !RMS && h.is_multiple_of(16) && line_phase != 0 {
                let out = WrapWriter::new::<G, B>(h, line_phase, gb);
                rows_with::<RMS, G, B, _>(args, a, b, gb, out);
            } else {
                let out = LineWriter {
                    open: None,
                    stage: _mm512_setzero_ps(),
                };
                rows_with::<RMS, G, B, _>(args, a, b, gb, out);
            }
        }
    }

    /// Rows `a..b` of `args` through the writer `out`, with scale and bias `gb`.
    ///
    /// # Safety
    /// As `wide_norm::run`; `gb` hold `h` floats each when enabled.
    #[target_feature(enable = "avx512f,fma")]
    unsafe fn rows_with<const RMS: bool, const G: bool, const B: bool, W: RowWriter>(
        args: &NormArgs,
        a: usize,
        b: usize,
        gb: (*const f32, *const f32),
        mut out: W,
    ) {
        let k = &args.key;
        let h = k.hidden;
        let eps = f32::from_bits(k.eps_bits);
        let inv_h = 1.0 / h.max(1) as f32;
        let x = args.x as *const f32;
        // SAFETY (whole body): rows a..b of x and y hold `h` floats each, mean/inv one per
        // row when enabled (caller).
        unsafe {
            let y = args.y as *mut f32;
            // Writes row r's output (and its statistics when asked for).
            let mut emit = |r: usize, mean: f32, inv: f32| {
                let splat = (_mm512_set1_ps(mean), _mm512_set1_ps(inv));
                out.row::<RMS, G, B>(x.add(r * h), y.add(r * h), h, splat, gb);
                if k.mean_out {
                    *(args.mean as *mut f32).add(r) = mean;
                }
                if k.inv_out {
                    *(args.inv as *mut f32).add(r) = inv;
                }
            };
            let mut r = a;
            // LayerNorm rows of 1-4 whole 16-float blocks take their statistics four rows at
            // a time (`mean_inv4`).
            if !RMS && h.is_multiple_of(16) && h <= BATCHED_ROW_MAX {
                while r + 4 <= b {
                    let (mean, inv) = mean_inv4(x.add(r * h), h, (eps, inv_h));
                    let (mut m, mut v) = ([0f32; 4], [0f32; 4]);
                    _mm_storeu_ps(m.as_mut_ptr(), mean);
                    _mm_storeu_ps(v.as_mut_ptr(), inv);
                    emit(r, m[0], v[0]);
                    emit(r + 1, m[1], v[1]);
                    emit(r + 2, m[2], v[2]);
                    emit(r + 3, m[3], v[3]);
                    r += 4;
                }
            }
            // The row's first element (LayerNorm's shift) is read one row ahead, so that its
            // cache miss does not hold back the statistics (as in the generated kernel).
            let mut first = if RMS || r >= b { 0.0 } else { *x.add(r * h) };
            while r < b {
                let shift = first;
                if !RMS && r + 1 < b {
                    first = *x.add((r + 1) * h);
                }
                let (mean, inv) = mean_inv::<RMS>(x.add(r * h), h, shift, (eps, inv_h));
                emit(r, mean, inv);
                r += 1;
            }
            out.finish::<RMS, G, B>();
        }
    }
}
