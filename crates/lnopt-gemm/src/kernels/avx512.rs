//! The AVX-512F micro-kernel: 12 rows × 32 columns, 24 accumulators in zmm registers.

use super::{store, Dest};
use std::arch::x86_64::*;

/// Rows per tile.
pub(crate) const MR: usize = 12;
/// Columns per tile.
pub(crate) const NR: usize = 32;

/// `tile (+)= A·B` over `kc` steps, written into C through `d`.
///
/// # Safety
/// The CPU has AVX-512F; `a` holds `kc·MR` floats and `b` `kc·NR` floats; `d` is valid.
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn tile(kc: usize, a: *const f32, b: *const f32, d: &Dest) {
    let mut lo = [_mm512_setzero_ps(); MR];
    let mut hi = [_mm512_setzero_ps(); MR];
    let (mut ap, mut bp) = (a, b);
    for _ in 0..kc {
        // SAFETY: step s reads a[s·MR .. s·MR+MR] and b[s·NR .. s·NR+NR] (caller's sizes).
        unsafe {
            let b0 = _mm512_loadu_ps(bp);
            let b1 = _mm512_loadu_ps(bp.add(16));
            for r in 0..MR {
                let av = _mm512_set1_ps(*ap.add(r));
                lo[r] = _mm512_fmadd_ps(av, b0, lo[r]);
                hi[r] = _mm512_fmadd_ps(av, b1, hi[r]);
            }
            ap = ap.add(MR);
            bp = bp.add(NR);
        }
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
