//! The AVX-512F micro-kernel: 12 rows × 32 columns, 24 accumulators in zmm registers.

use super::{store, Dest};
use std::arch::x86_64::*;

/// Rows per tile.
pub(crate) const MR: usize = 12;
/// Columns per tile.
pub(crate) const NR: usize = 32;

/// Writes the accumulators of a tile into C through `d`.
///
/// # Safety
/// The CPU has AVX-512F; `d` is valid.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn write(lo: &[__m512; MR], hi: &[__m512; MR], d: &Dest) {
    if d.rows == MR && d.cols == NR && d.cs == 1 {
        // A whole tile in contiguous rows: straight from the registers (the same additions
        // as `store`, so the same results), skipping the staging copy that short-depth
        // products (k = 64 in attention) felt.
        // The bias of the tile's columns, loaded once (stores to C could alias it, so the
        // compiler would reload it per row).
        // SAFETY: a bias holds the tile's NR columns' values (caller).
        let bias = d
            .starts_from_bias()
            .then(|| unsafe { (_mm512_loadu_ps(d.bias), _mm512_loadu_ps(d.bias.add(16))) });
        for r in 0..MR {
            // SAFETY: row r of the tile holds NR contiguous elements of C (caller).
            unsafe {
                let row = d.c.offset(r as isize * d.rs);
                let (mut l, mut h) = (lo[r], hi[r]);
                if d.add {
                    l = _mm512_add_ps(_mm512_loadu_ps(row), l);
                    h = _mm512_add_ps(_mm512_loadu_ps(row.add(16)), h);
                } else if let Some((bl, bh)) = bias {
                    l = _mm512_add_ps(bl, l);
                    h = _mm512_add_ps(bh, h);
                }
                _mm512_storeu_ps(row, l);
                _mm512_storeu_ps(row.add(16), h);
            }
        }
        return;
    }
    let mut out = [0f32; MR * NR];
    for r in 0..MR {
        // SAFETY: row r of `out` has NR = 32 floats.
        unsafe {
            _mm512_storeu_ps(out.as_mut_ptr().add(r * NR), lo[r]);
            _mm512_storeu_ps(out.as_mut_ptr().add(r * NR + 16), hi[r]);
        }
    }
    // SAFETY: forwarded from the caller.
    unsafe { store(&out, NR, d) };
}

/// `tile (+)= A·B` over `kc` steps, written into C through `d`, reading A where it lies:
/// element (r, s) at `a + r·rs + s·cs` for rows `0..rows` (rows past `rows` repeat the last
/// and are not written). A packed micro-panel is the case `rs = 1, cs = MR`.
///
/// # Safety
/// The CPU has AVX-512F; rows `0..rows` (1 ≤ rows ≤ MR) and steps `0..kc` of A are valid to
/// read, `b` holds `kc·NR` floats; `d` is valid.
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn tile_strided(
    kc: usize,
    a: *const f32,
    (rs, cs): (isize, isize),
    rows: usize,
    b: *const f32,
    d: &Dest,
) {
    let mut lo = [_mm512_setzero_ps(); MR];
    let mut hi = [_mm512_setzero_ps(); MR];
    let row: [*const f32; MR] =
        std::array::from_fn(|r| a.wrapping_offset(r.min(rows - 1) as isize * rs));
    let mut bp = b;
    for s in 0..kc {
        let off = s as isize * cs;
        // SAFETY: step s reads A's (r, s) for valid rows and b[s·NR .. s·NR+NR] (caller).
        unsafe {
            let b0 = _mm512_loadu_ps(bp);
            let b1 = _mm512_loadu_ps(bp.add(16));
            for r in 0..MR {
                let av = _mm512_set1_ps(*row[r].offset(off));
                lo[r] = _mm512_fmadd_ps(av, b0, lo[r]);
                hi[r] = _mm512_fmadd_ps(av, b1, hi[r]);
            }
            bp = bp.add(NR);
        }
    }
    // SAFETY: forwarded from the caller.
    unsafe { write(&lo, &hi, d) }
}
