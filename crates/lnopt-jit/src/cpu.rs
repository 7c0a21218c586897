//! CPU feature checks for the Rust kernels compiled for AVX-512.

/// Whether this CPU runs the AVX-512 Rust helpers (the chain evaluator `wide_chain`, the
/// norm row loop `wide_norm`, Softmax): AVX-512F, AVX-512VL and FMA.
pub(crate) fn cpu_has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}
