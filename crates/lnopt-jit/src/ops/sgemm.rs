//! One f32 matrix-product entry point over two well-kept crates, picked by shape: `gemm`
//! (AVX2/FMA kernels, the lowest overhead on small and odd row counts) and `matrixmultiply`
//! (AVX-512 kernels where the CPU has them, 16-row panels). Measured on this project's machine
//! (single thread, `gemm`/`matrixmultiply` time): 17×64×64 0.66, 16×64×64 1.09,
//! 64×768×768 1.67, 128×768×3072 1.6+; with fewer than 64 columns `gemm` wins everywhere
//! (e.g. 64×192×16: 0.66). The boundary below follows that grid.

/// Whether `matrixmultiply` takes an m×k by k×n product.
fn wide_enough(m: usize, n: usize) -> bool {
    n >= 64 && ((m >= 16 && m.is_multiple_of(16)) || m >= 64)
}

/// A strided f32 matrix: base pointer, row stride and column stride, in elements.
#[derive(Clone, Copy)]
pub(crate) struct Mat<P> {
    /// First element.
    pub ptr: P,
    /// Row stride.
    pub rs: isize,
    /// Column stride.
    pub cs: isize,
}

/// `dst = (accumulate ? dst : 0) + a·b` for an m×k `a`, a k×n `b` and an m×n `dst`, on the
/// calling thread.
///
/// # Safety
/// Every element the three strided matrices address must lie in live buffers; `dst` must not
/// overlap `a` or `b`.
pub(crate) unsafe fn sgemm(
    (m, n, k): (usize, usize, usize),
    dst: Mat<*mut f32>,
    accumulate: bool,
    a: Mat<*const f32>,
    b: Mat<*const f32>,
) {
    if m == 0 || n == 0 {
        return;
    }
    if wide_enough(m, n) {
        let beta = if accumulate { 1.0 } else { 0.0 };
        // SAFETY: forwarded from the caller.
        unsafe {
            matrixmultiply::sgemm(
                m, k, n, 1.0, a.ptr, a.rs, a.cs, b.ptr, b.rs, b.cs, beta, dst.ptr, dst.rs, dst.cs,
            )
        };
        return;
    }
    // SAFETY: forwarded from the caller.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.ptr,
            dst.cs,
            dst.rs,
            accumulate,
            a.ptr,
            a.cs,
            a.rs,
            b.ptr,
            b.cs,
            b.rs,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    };
}

/// Below this many multiply-adds a product stays on the calling thread.
const PAR_MIN_MACS: usize = 1 << 21;

/// [`sgemm`] with the rows split across `threads` (in 16-row panels) when the product is large
/// enough to pay for handing work to the pool.
///
/// # Safety
/// As [`sgemm`].
pub(crate) unsafe fn sgemm_threads(
    (m, n, k): (usize, usize, usize),
    dst: Mat<*mut f32>,
    accumulate: bool,
    a: Mat<*const f32>,
    b: Mat<*const f32>,
    threads: usize,
) {
    let macs = m.saturating_mul(n).saturating_mul(k);
    if threads <= 1 || macs < PAR_MIN_MACS || m < 32 {
        // SAFETY: forwarded from the caller.
        unsafe { sgemm((m, n, k), dst, accumulate, a, b) };
        return;
    }
    let (d, x) = (
        crate::par::SendPtr(dst.ptr as usize),
        crate::par::SendPtr(a.ptr as usize),
    );
    let bp = crate::par::SendPtr(b.ptr as usize);
    let panels = m.div_ceil(16);
    crate::par::par_for(panels, usize::MAX, threads, |p0, p1| {
        let (r0, r1) = (p0 * 16, (p1 * 16).min(m));
        // SAFETY: rows r0..r1 of dst and a are inside the caller's matrices; workers take
        // disjoint row ranges of dst.
        unsafe {
            sgemm(
                (r1 - r0, n, k),
                Mat {
                    ptr: (d.0 as *mut f32).offset(r0 as isize * dst.rs),
                    ..dst
                },
                accumulate,
                Mat {
                    ptr: (x.0 as *const f32).offset(r0 as isize * a.rs),
                    ..a
                },
                Mat {
                    ptr: bp.0 as *const f32,
                    ..b
                },
            )
        }
    });
}

#[cfg(test)]
mod tests {
    use super::{sgemm, Mat};

    /// Both back ends (shapes on either side of the boundary, transposed operands,
    /// accumulation) against a plain f64 triple loop.
    #[test]
    fn both_backends_match_a_reference_product() {
        for &(m, k, n) in &[
            (17, 9, 64),
            (16, 9, 64),
            (64, 5, 70),
            (3, 4, 5),
            (65, 33, 128),
        ] {
            let a: Vec<f32> = (0..m * k).map(|i| ((i * 7) % 11) as f32 - 5.0).collect();
            let b: Vec<f32> = (0..k * n)
                .map(|i| ((i * 5) % 13) as f32 * 0.5 - 3.0)
                .collect();
            for accumulate in [false, true] {
                // dst is written transposed (column-major) to exercise strides.
                let mut dst = vec![1.0f32; m * n];
                // SAFETY: a is m×k row-major, b is k×n row-major, dst m×n column-major.
                unsafe {
                    sgemm(
                        (m, n, k),
                        Mat {
                            ptr: dst.as_mut_ptr(),
                            rs: 1,
                            cs: m as isize,
                        },
                        accumulate,
                        Mat {
                            ptr: a.as_ptr(),
                            rs: k as isize,
                            cs: 1,
                        },
                        Mat {
                            ptr: b.as_ptr(),
                            rs: n as isize,
                            cs: 1,
                        },
                    )
                };
                for i in 0..m {
                    for j in 0..n {
                        let want: f64 = (0..k)
                            .map(|p| a[i * k + p] as f64 * b[p * n + j] as f64)
                            .sum::<f64>()
                            + if accumulate { 1.0 } else { 0.0 };
                        let got = dst[j * m + i] as f64;
                        assert!(
                            (got - want).abs() <= 1e-4 * want.abs().max(1.0),
                            "{m}x{k}x{n} [{i},{j}]: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }
}
