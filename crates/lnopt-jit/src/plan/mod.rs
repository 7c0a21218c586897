//! Planning: turns a [`Model`](lnopt_ir::Model) into the list of [`Step`](crate::steps::Step)s
//! that runs it. `flatten` inlines functions and numbers the value slots, `build` groups the
//! nodes into norm, chain, MatMul and attention steps (with `commute`, `matmul` and `attention`
//! doing the matching over the `uses` view of who reads and produces each slot).

pub(crate) mod attention;
pub(crate) mod build;
pub(crate) mod commute;
pub(crate) mod flatten;
pub(crate) mod matmul;
pub(crate) mod uses;

/// Compile options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Worker threads for kernels and matrix products (default: all cores).
    pub threads: usize,
    /// Run normalisations with generated kernels.
    pub norm_kernels: bool,
    /// Fold a residual `Add` feeding a normalisation into its kernel.
    pub fold_residual: bool,
    /// Fuse chains of element-wise ops into generated loops.
    pub fuse_chains: bool,
    /// Fold Transposes around a MatMul and a constant bias Add after it into the product.
    pub fold_matmul: bool,
    /// Run attention blocks (`Softmax(Q·Kᵀ [scale] [+ mask])·V`) as one step over blocks of
    /// query rows, without the score tensors (bit-identical results).
    pub fold_attention: bool,
    /// On CPUs with AVX-512, run chains with Erf/Tanh/Sigmoid through the AVX-512 Rust
    /// evaluator instead of a generated 128-bit kernel.
    pub wide_chains: bool,
    /// On CPUs with AVX-512, run normalisations over more data than the caches hold
    /// through the AVX-512 row loop with non-temporal stores (bit-identical results).
    pub wide_norms: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            norm_kernels: true,
            fold_residual: true,
            fuse_chains: true,
            fold_matmul: true,
            fold_attention: true,
            wide_chains: true,
            wide_norms: true,
        }
    }
}
