//! The JIT's f32 products, over `lnopt-gemm`: the right operand packed into column panels
//! (once at compile time for a weight, per product for a runtime operand) and the panels
//! split across threads when the product is large enough to pay for it.

pub(crate) use lnopt_gemm::{MatMut, MatRef, PackedB};

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
    // Panels, padding and the line-alignment slack: what `pack_into` will resize to.
    let want = n.div_ceil(isa.nr()) * isa.nr() * k + 16;
    PackedB::pack_into(isa, (k, n), slice, (rs, cs), crate::pool::take(want))
        // The detected family is available and the slice covers the strides by construction.
        .unwrap_or_else(|e| unreachable!("packing a checked operand: {e}"))
}

/// Returns the storage of an operand packed per run to the buffer pool.
pub(crate) fn recycle(p: PackedB) {
    crate::pool::give(p.into_buffer());
}

/// `dst = (accumulate ? dst : 0) + a·b` for an m×k `a` and a packed `b`, the column panels
/// split across up to `threads` threads.
///
/// # Safety
/// Every element of the m×k `a` and the m×n `dst` must be valid (dst writable) and `dst`
/// must not overlap `a`.
pub(crate) unsafe fn product(
    m: usize,
    dst: MatMut,
    accumulate: bool,
    a: MatRef,
    b: &PackedB,
    threads: usize,
) {
    let macs = m.saturating_mul(b.n()).saturating_mul(b.k());
    let panels = b.panels();
    if threads <= 1 || macs < PAR_MIN_MACS || panels < 2 {
        // SAFETY: forwarded from the caller.
        unsafe { lnopt_gemm::gemm(m, a, b, dst, accumulate, 0..panels) };
        return;
    }
    crate::par::par_for(panels, usize::MAX, threads, |p0, p1| {
        // SAFETY: forwarded from the caller; workers write disjoint column panels of dst.
        unsafe { lnopt_gemm::gemm(m, a, b, dst, accumulate, p0..p1) }
    });
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
        product(m, dst, accumulate, a, &packed, threads);
        recycle(packed);
    }
}
