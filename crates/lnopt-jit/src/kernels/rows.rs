//! Calling a generated norm kernel on a range of rows, or, for ranges larger than the caches
//! on CPUs with AVX-512, the AVX-512 row loop of [`crate::kernels::wide_norm`] (bit-identical results).
//!
//! (Measured and rejected: writing the generated kernel's large outputs through an L1 scratch
//! block copied out with non-temporal stores. It halved out-of-cache throughput -- 11.6 vs
//! 20.5 GiB/s for LN h768 at 128 MiB. The AVX-512 row loop stores directly.)

use crate::kernels::{NormFn, NormKey};

/// Addresses of a norm kernel's buffers (0 when unused), as integers so that they can cross
/// into worker threads.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NormArgs {
    /// Kernel specialisation (says which buffers exist and the row length).
    pub key: NormKey,
    /// Input rows.
    pub x: usize,
    /// Residual rows (`key.skip`).
    pub skip: usize,
    /// Scale row (`key.scale`).
    pub scale: usize,
    /// Bias row (`key.bias`).
    pub bias: usize,
    /// Output rows.
    pub y: usize,
    /// Residual sum rows (`key.sum_out`).
    pub sum: usize,
    /// Per-row mean (`key.mean_out`).
    pub mean: usize,
    /// Per-row inverse standard deviation (`key.inv_out`).
    pub inv: usize,
    /// Large calls may take the AVX-512 row loop ([`crate::kernels::wide_norm`]).
    pub wide: bool,
}

/// Runs kernel `f` over rows `a..b`, or the AVX-512 row loop when
/// [`crate::kernels::wide_norm::suits`] says so.
///
/// # Safety
/// Every buffer `args.key` enables must hold its full extent for rows `a..b` (`hidden` floats
/// per row for x/skip/y/sum, one per row for mean/inv, `hidden` for scale/bias), output ranges
/// must not be touched by anyone else meanwhile, and `f` must have been compiled for
/// `args.key`.
pub(crate) unsafe fn run_rows(f: NormFn, args: &NormArgs, a: usize, b: usize) {
    let k = args.key;
    let h = k.hidden;
    let at = |base: usize, on: bool, row: usize, stride: usize| -> *mut f32 {
        if on {
            (base + row * stride * 4) as *mut f32
        } else {
            std::ptr::null_mut()
        }
    };
    let call = |r0: usize, rows: usize, y: *mut f32| {
        // SAFETY: the caller guarantees the extents of rows a..b; r0..r0+rows lies inside.
        unsafe {
            f(
                at(args.x, true, r0, h),
                at(args.skip, k.skip, r0, h),
                at(args.scale, k.scale, 0, 0),
                at(args.bias, k.bias, 0, 0),
                y,
                at(args.sum, k.sum_out, r0, h),
                at(args.mean, k.mean_out, r0, 1),
                at(args.inv, k.inv_out, r0, 1),
                rows,
            )
        }
    };
    if crate::kernels::wide_norm::suits(args, b - a) {
        // SAFETY: same contract as this function; `suits` checked the CPU.
        unsafe { crate::kernels::wide_norm::run(args, a, b) }
    } else {
        call(a, b - a, at(args.y, true, a, h));
    }
}
