//! Calling a generated norm kernel on a range of rows, optionally writing the output with
//! non-temporal (streaming) stores.
//!
//! Cranelift has no non-temporal store, so a kernel's regular stores make the CPU read every
//! output cache line before writing it (write-allocate): 3 memory transfers per output byte
//! instead of 2 once the data no longer fits in cache. For large outputs the kernel therefore
//! writes blocks of rows into a small per-thread scratch buffer that stays in L1/L2, and the
//! block is then copied out with streaming stores, which skip the read.

use crate::kernels::{NormFn, NormKey};
use std::cell::RefCell;

/// Outputs at least this large (bytes) are written with streaming stores: beyond about half
/// the last-level cache the output will not be read back from cache anyway.
pub(crate) const STREAM_MIN_BYTES: usize = 16 << 20;

/// Scratch block size in floats (32 KiB).
const BLOCK_FLOATS: usize = 8 << 10;

/// Rows longer than this (floats) are not streamed (the scratch would leave L2).
const STREAM_MAX_HIDDEN: usize = 64 << 10;

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
}

thread_local! {
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// True when an output of `bytes` with rows of `hidden` floats should be streamed.
pub(crate) fn should_stream(bytes: usize, hidden: usize) -> bool {
    cfg!(target_arch = "x86_64") && bytes >= STREAM_MIN_BYTES && hidden <= STREAM_MAX_HIDDEN
}

/// Runs kernel `f` over rows `a..b`.
///
/// # Safety
/// Every buffer `args.key` enables must hold its full extent for rows `a..b` (`hidden` floats
/// per row for x/skip/y/sum, one per row for mean/inv, `hidden` for scale/bias), output ranges
/// must not be touched by anyone else meanwhile, and `f` must have been compiled for
/// `args.key`.
pub(crate) unsafe fn run_rows(f: NormFn, args: &NormArgs, a: usize, b: usize, stream: bool) {
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
    if !stream || h == 0 || h > STREAM_MAX_HIDDEN {
        call(a, b - a, at(args.y, true, a, h));
        return;
    }
    let per = (BLOCK_FLOATS / h).max(1);
    SCRATCH.with(|s| {
        let Ok(mut s) = s.try_borrow_mut() else {
            call(a, b - a, at(args.y, true, a, h));
            return;
        };
        if s.len() < per * h {
            s.resize(per * h, 0.0);
        }
        let mut r = a;
        while r < b {
            let n = per.min(b - r);
            call(r, n, s.as_mut_ptr());
            // SAFETY: the scratch holds n*h floats just written; the destination rows r..r+n
            // lie inside the caller's output range.
            unsafe { stream_copy(s.as_ptr(), at(args.y, true, r, h), n * h) };
            r += n;
        }
    });
    fence();
}

/// Copies `n` floats with non-temporal stores where the target has them.
///
/// # Safety
/// `src` and `dst` must be valid for `n` floats and not overlap.
unsafe fn stream_copy(src: *const f32, dst: *mut f32, n: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_loadu_ps, _mm_stream_ps};
        let mut i = 0;
        // SAFETY: all accesses are below n; _mm_stream_ps gets a 16-byte aligned address
        // (SSE is part of the x86_64 baseline).
        unsafe {
            while i < n && !(dst.add(i) as usize).is_multiple_of(16) {
                *dst.add(i) = *src.add(i);
                i += 1;
            }
            while i + 4 <= n {
                _mm_stream_ps(dst.add(i), _mm_loadu_ps(src.add(i)));
                i += 4;
            }
            while i < n {
                *dst.add(i) = *src.add(i);
                i += 1;
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    // SAFETY: as documented on the function.
    unsafe {
        std::ptr::copy_nonoverlapping(src, dst, n)
    }
}

/// Orders streaming stores before whatever follows (another thread reading the output).
fn fence() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: sfence has no preconditions (SSE is part of the x86_64 baseline).
    unsafe {
        std::arch::x86_64::_mm_sfence()
    }
}
