//! The AVX2/FMA micro-kernel: 6 rows × 16 columns, 12 accumulators in ymm registers.

use super::{store, Dest};
use std::arch::x86_64::*;

/// Rows per tile.
pub(crate) const MR: usize = 6;
/// Columns per tile.
pub(crate) const NR: usize = 16;

/// `tile (+)= A·B` over `kc` steps, written into C through `d`.
///
/// # Safety
/// The CPU has AVX2 and FMA; `a` holds `kc·MR` floats and `b` `kc·NR` floats; `d` is valid.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn tile(kc: usize, a: *const f32, b: *const f32, d: &Dest) {
    let mut lo = [_mm256_setzero_ps(); MR];
    let mut hi = [_mm256_setzero_ps(); MR];
    let (mut ap, mut bp) = (a, b);
    for _ in 0..kc {
        // SAFETY: step s reads a[s·MR .. s·MR+MR] and b[s·NR .. s·NR+NR] (caller's sizes).
        unsafe {
            let b0 = _mm256_loadu_ps(bp);
            let b1 = _mm256_loadu_ps(bp.add(8));
            for r in 0..MR {
                let av = _mm256_broadcast_ss(&*ap.add(r));
                lo[r] = _mm256_fmadd_ps(av, b0, lo[r]);
                hi[r] = _mm256_fmadd_ps(av, b1, hi[r]);
            }
            ap = ap.add(MR);
            bp = bp.add(NR);
        }
    }
    if d.rows == MR && d.cols == NR && d.cs == 1 {
        // A whole tile in contiguous rows: straight from the registers (the same additions
        // as `store`, so the same results), skipping the staging copy that short-depth
        // products (k = 64 in attention) felt.
        // The bias of the tile's columns, loaded once (stores to C could alias it, so the
        // compiler would reload it per row).
        // SAFETY: a bias holds the tile's NR columns' values (caller).
        let bias = d
            .starts_from_bias()
            .then(|| unsafe { (_mm256_loadu_ps(d.bias), _mm256_loadu_ps(d.bias.add(8))) });
        for r in 0..MR {
            // SAFETY: row r of the tile holds NR contiguous elements of C (caller).
            unsafe {
                let row = d.c.offset(r as isize * d.rs);
                let (mut l, mut h) = (lo[r], hi[r]);
                if d.add {
                    l = _mm256_add_ps(_mm256_loadu_ps(row), l);
                    h = _mm256_add_ps(_mm256_loadu_ps(row.add(8)), h);
                } else if let Some((bl, bh)) = bias {
                    l = _mm256_add_ps(bl, l);
                    h = _mm256_add_ps(bh, h);
                }
                _mm256_storeu_ps(row, l);
                _mm256_storeu_ps(row.add(8), h);
            }
        }
        return;
    }
    let mut out = [0f32; MR * NR];
    for r in 0..MR {
        // SAFETY: row r of `out` has NR = 16 floats.
        unsafe {
            _mm256_storeu_ps(out.as_mut_ptr().add(r * NR), lo[r]);
            _mm256_storeu_ps(out.as_mut_ptr().add(r * NR + 8), hi[r]);
        }
    }
    // SAFETY: forwarded from the caller.
    unsafe { store(&out, NR, d) };
}
