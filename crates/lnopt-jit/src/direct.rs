//! Direct use of a generated normalisation kernel on f32 slices (benchmarks, embedding).

use crate::error::JitError;
use crate::kernels::{KernelCache, NormFn, NormKey};
use crate::rows::{run_rows, NormArgs};

/// One compiled LN/RMS kernel (no residual, no statistics outputs), callable on slices.
pub struct NormKernel {
    _cache: KernelCache,
    key: NormKey,
    f: NormFn,
}

impl NormKernel {
    /// Compiles the kernel for `key` (`skip`, `sum_out`, `mean_out`, `inv_out` must be false).
    pub fn compile(key: NormKey) -> Result<NormKernel, JitError> {
        if key.skip || key.sum_out || key.mean_out || key.inv_out || key.hidden == 0 {
            return Err(JitError::Inputs(
                "NormKernel supports plain kernels with hidden > 0".into(),
            ));
        }
        let cache = KernelCache::new()?;
        let f = cache.norm(&key)?;
        Ok(NormKernel {
            _cache: cache,
            key,
            f,
        })
    }

    /// Normalises the rows of `x` into `y` on up to `threads` threads.
    pub fn run(
        &self,
        x: &[f32],
        scale: &[f32],
        bias: &[f32],
        y: &mut [f32],
        threads: usize,
    ) -> Result<(), JitError> {
        let h = self.key.hidden;
        let bad = |w: &str| Err(JitError::Inputs(format!("NormKernel: {w}")));
        if !x.len().is_multiple_of(h) || y.len() != x.len() {
            return bad("x and y must hold the same whole number of rows");
        }
        if (self.key.scale && scale.len() != h) || (self.key.bias && bias.len() != h) {
            return bad("scale/bias must hold one row");
        }
        let rows = x.len() / h;
        let args = NormArgs {
            key: self.key,
            x: x.as_ptr() as usize,
            skip: 0,
            scale: scale.as_ptr() as usize,
            bias: bias.as_ptr() as usize,
            y: y.as_mut_ptr() as usize,
            sum: 0,
            mean: 0,
            inv: 0,
        };
        let f = self.f;
        crate::par::par_for(rows, x.len(), threads, |a, b| {
            // SAFETY: x and y hold rows*h floats (checked above), scale/bias h when the key
            // uses them (skip/sum/mean/inv are off, checked in `compile`); each worker covers
            // the disjoint rows a..b.
            unsafe { run_rows(f, &args, a, b) }
        });
        Ok(())
    }
}
