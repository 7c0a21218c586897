//! The JIT's f32 products, over `lnopt-gemm`: the right operand packed into column panels
//! (once at compile time for a weight, per product for a runtime operand) and the panels
//! split across threads when the product is large enough to pay for it.

pub(crate) use lnopt_gemm::{MatMut, MatRef, PackedB, Start};
use std::ops::Range;

/// Below this many multiply-adds a product stays on the calling thread.
const PAR_MIN_MACS: usize = 1 << 21;

/// Packs the k×n operand `b` (non-negative strides) for this CPU's kernels.
///
/// # Safety
/// Every element of the k×n matrix `b` must be valid to read.
pub(crate) unsafe fn pack(k: usize, n: usize, b: MatRef) -> PackedB {
    let (rs, cs) = (b.rs as usize, b.cs as usize);
    // The caller's k×n matrix lies inside a buffer, so its reach cannot overflow.
    let len = lnopt_gemm::reach(k, n, rs, cs).unwrap_or(0);
    // SAFETY: the caller guarantees the `len` elements from b.ptr are readable.
    let slice = unsafe { std::slice::from_raw_parts(b.ptr, len) };
    let isa = lnopt_gemm::Isa::detect();
    // A recycled buffer of exactly the length `pack_into` needs (0 on overflow: then
    // `pack_into` reports it).
    let want = PackedB::storage_len(isa, (k, n)).unwrap_or(0);
    PackedB::pack_into(isa, (k, n), slice, (rs, cs), crate::pool::take(want))
        // The detected family is available and the slice covers the strides by construction.
        .unwrap_or_else(|e| unreachable!("packing a checked operand: {e}"))
}

/// Returns the storage of an operand packed per run to the buffer pool.
pub(crate) fn recycle(p: PackedB) {
    crate::pool::give(p.into_buffer());
}

/// `dst = start + a·b` for an m×k `a` and a packed `b`, split across up to `threads` threads
/// (by column panels, or by rows for products with many rows).
///
/// # Safety
/// Every element of the m×k `a` and the m×n `dst` must be valid (dst writable) and `dst`
/// must not overlap `a`; a bias holds n values.
pub(crate) unsafe fn product(
    m: usize,
    dst: MatMut,
    start: Start<'_>,
    a: MatRef,
    b: &PackedB,
    threads: usize,
) {
    let n = b.n();
    // The part rows × panels of the product, after its start values.
    let part = |rows: Range<usize>, panels: Range<usize>, a: MatRef, dst: MatMut| {
        let at = |p: *const f32, rs: isize| p.wrapping_offset(rows.start as isize * rs);
        let a = MatRef {
            ptr: at(a.ptr, a.rs),
            ..a
        };
        let dst = MatMut {
            ptr: at(dst.ptr, dst.rs).cast_mut(),
            ..dst
        };
        // SAFETY: rows `rows` of a and dst lie inside them (caller); concurrent parts write
        // disjoint rows or panels of dst; a bias holds n values (caller).
        unsafe { lnopt_gemm::gemm(rows.len(), a, b, dst, start, panels) }
    };
    let macs = m.saturating_mul(n).saturating_mul(b.k());
    let panels = b.panels();
    if threads <= 1 || macs < PAR_MIN_MACS || panels < 2 {
        part(0..m, 0..panels, a, dst);
        return;
    }
    if split_rows(m, n) {
        // Row blocks of whole micro-tiles (12 rows on AVX-512, a multiple of every family's).
        let tiles = m.div_ceil(12);
        crate::par::par_for(tiles, usize::MAX, threads, |t0, t1| {
            // Whole matrices, not their pointer fields, cross into the workers (MatRef and
            // MatMut are Sync; raw pointers are not).
            let (a, dst) = (a, dst);
            part(t0 * 12..(t1 * 12).min(m), 0..panels, a, dst)
        });
        return;
    }
    crate::par::par_for(panels, usize::MAX, threads, |p0, p1| {
        let (a, dst) = (a, dst);
        part(0..m, p0..p1, a, dst)
    });
}

/// Whether a product of `m` rows by `n` columns splits its rows across threads rather than
/// B's column panels. Split by panels, every thread streams all of A through its caches (and,
/// on AVX2, packs it: m·k copies each); split by rows, each reads only its own rows but every
/// thread streams all of B. Rows win with many rows (at least two 192-row blocks) and no more
/// columns than rows (Whisper-base's 1500×512 by 512×512: 2-thread products 385 → 341 ms per
/// run, measured when every family still packed A). Either way each element is computed by the
/// same kernel in the same order, so the results are bit-identical.
fn split_rows(m: usize, n: usize) -> bool {
    m >= 384 && n <= m
}

/// [`product`] with a strided, unpacked `b` (packed here).
///
/// # Safety
/// As [`product`], and every element of the k×n `b` must be valid to read.
pub(crate) unsafe fn sgemm_threads(
    (m, n, k): (usize, usize, usize),
    dst: MatMut,
    accumulate: bool,
    a: MatRef,
    b: MatRef,
    threads: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: forwarded from the caller.
    unsafe {
        let packed = pack(k, n, b);
        let start = if accumulate { Start::Keep } else { Start::Zero };
        product(m, dst, start, a, &packed, threads);
        recycle(packed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Products split across two threads by rows (many rows) and by panels (few rows) give
    /// exactly the one-thread results, which match a plain f64 product closely.
    #[test]
    fn split_products_are_bit_identical() {
        for (m, k, n) in [(400usize, 300usize, 256usize), (64, 300, 512)] {
            assert_eq!(split_rows(m, n), m == 400);
            let a: Vec<f32> = (0..m * k)
                .map(|i| ((i * 7) % 13) as f32 * 0.25 - 1.5)
                .collect();
            let b: Vec<f32> = (0..k * n)
                .map(|i| ((i * 5) % 11) as f32 * 0.125 - 0.6)
                .collect();
            let run = |threads: usize| {
                let mut c = vec![f32::NAN; m * n];
                let dst = MatMut {
                    ptr: c.as_mut_ptr(),
                    rs: n as isize,
                    cs: 1,
                };
                let rhs = MatRef {
                    ptr: b.as_ptr(),
                    rs: n as isize,
                    cs: 1,
                };
                let lhs = MatRef {
                    ptr: a.as_ptr(),
                    rs: k as isize,
                    cs: 1,
                };
                // SAFETY: the matrices are the full buffers with their own strides.
                unsafe { sgemm_threads((m, n, k), dst, false, lhs, rhs, threads) };
                c
            };
            let (one, two) = (run(1), run(2));
            assert!(one
                .iter()
                .zip(&two)
                .all(|(x, y)| x.to_bits() == y.to_bits()));
            for (i, j) in [(0, 0), (m - 1, n - 1), (m / 2, 7)] {
                let want: f64 = (0..k)
                    .map(|p| a[i * k + p] as f64 * b[p * n + j] as f64)
                    .sum();
                assert!((one[i * n + j] as f64 - want).abs() < 1e-3, "({i}, {j})");
            }
        }
    }
}
