//! The portable micro-kernel: 4 rows × 16 columns in plain Rust (the compiler vectorises the
//! column loop for the baseline target). Products are computed with separate multiply and add,
//! as the baseline x86-64 target has no FMA.

use super::{store, Dest};

/// Rows per tile.
pub(crate) const MR: usize = 4;
/// Columns per tile.
pub(crate) const NR: usize = 16;

/// `tile (+)= A·B` over `kc` steps, written into C through `d`.
///
/// # Safety
/// `a` holds `kc·MR` floats and `b` `kc·NR` floats; `d` is valid.
pub(crate) unsafe fn tile(kc: usize, a: *const f32, b: *const f32, d: &Dest) {
    // SAFETY: the caller guarantees the sizes.
    let (a, b) = unsafe {
        (
            std::slice::from_raw_parts(a, kc * MR),
            std::slice::from_raw_parts(b, kc * NR),
        )
    };
    let mut acc = [0f32; MR * NR];
    for (av, bv) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
        for (row, &x) in acc.chunks_exact_mut(NR).zip(av) {
            for (o, &y) in row.iter_mut().zip(bv) {
                *o += x * y;
            }
        }
    }
    // SAFETY: forwarded from the caller.
    unsafe { store(&acc, NR, d) };
}
