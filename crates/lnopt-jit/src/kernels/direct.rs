//! Direct use of a generated normalisation kernel on f32 slices (benchmarks, embedding).

use crate::error::JitError;
use crate::kernels::rows::{run_rows, NormArgs};
use crate::kernels::{KernelCache, NormFn, NormKey};

/// One compiled LN/RMS kernel (no residual, no statistics outputs), callable on slices.
pub struct NormKernel {
    cache: KernelCache,
    key: NormKey,
    f: NormFn,
    wide: bool,
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
            cache,
            key,
            f,
            wide: true,
        })
    }

    /// Whether calls over more data than the caches hold may take the AVX-512 row loop
    /// (default on; off runs the generated kernel at every size). Results are bit-identical.
    pub fn with_wide(mut self, on: bool) -> NormKernel {
        self.wide = on;
        self
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
            wide: self.wide && self.cache.uses_fma(),
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

/// Quick timing probes (not part of the test suite): run with
/// `cargo test --release -p lnopt-jit --lib probe -- --ignored --nocapture`.
/// Env: `PROBE_NOWIDE` (generated kernel only), `PROBE_XOFF` (byte offset of x past a page
/// boundary), `PROBE_H` (hidden list), `PROBE_KIB` (sizes), `PROBE_OFF` (byte offset added to y,
/// scale and bias so that buffers do not share offsets mod 4096), `PROBE_T` (threads).
#[cfg(test)]
mod probe {
    use super::*;
    use std::time::Instant;

    fn env_list(name: &str, dflt: &[usize]) -> Vec<usize> {
        std::env::var(name)
            .ok()
            .map(|s| s.split(',').filter_map(|v| v.trim().parse().ok()).collect())
            .unwrap_or_else(|| dflt.to_vec())
    }

    fn best(mut f: impl FnMut(), bytes: usize) -> f64 {
        f();
        let mut t = f64::INFINITY;
        let t0 = Instant::now();
        let mut n = 0;
        let gap = env_list("PROBE_GAP_US", &[0])[0];
        while n < 5 || (t0.elapsed().as_secs_f64() < 0.4 && n < 2000) {
            if gap > 0 {
                std::thread::sleep(std::time::Duration::from_micros(gap as u64));
            }
            let a = Instant::now();
            f();
            t = t.min(a.elapsed().as_secs_f64());
            n += 1;
        }
        bytes as f64 / t / 1e9
    }

    /// A buffer of `n` floats starting `off` bytes (multiple of 4) past a page boundary + 64.
    fn buf(n: usize, off: usize) -> (Vec<f32>, usize) {
        let v = vec![0.5f32; n + 1024 + off / 4];
        let a = v.as_ptr() as usize;
        let start = (4096 - (a % 4096)) % 4096 + off;
        (v, start / 4)
    }

    #[test]
    #[ignore]
    fn probe_norm() {
        let hs = env_list("PROBE_H", &[64, 384, 768, 1024, 4096]);
        let sizes = env_list("PROBE_KIB", &[256, 131072]);
        let off = env_list("PROBE_OFF", &[0])[0];
        let threads = env_list("PROBE_T", &[1])[0];
        for &kib in &sizes {
            let n = kib * 256;
            let (xv, xs) = buf(n, env_list("PROBE_XOFF", &[0])[0]);
            let (mut yv, ys) = buf(n, off);
            let x = &xv[xs..xs + n];
            let c = best(|| yv[ys..ys + n].copy_from_slice(x), 8 * n);
            let c2 = best(
                || {
                    for (o, v) in yv[ys..ys + n].iter_mut().zip(x) {
                        *o = v + 0.0;
                    }
                },
                8 * n,
            );
            let rd = best(
                || {
                    let mut acc = [0f32; 16];
                    for c in x.chunks_exact(16) {
                        for i in 0..16 {
                            acc[i] += c[i];
                        }
                    }
                    std::hint::black_box(acc);
                },
                4 * n,
            );
            let wr = best(
                || {
                    for (i, o) in yv[ys..ys + n].iter_mut().enumerate() {
                        *o = i as f32;
                    }
                },
                4 * n,
            );
            println!("{kib} KiB copy {c:.1} loop-copy {c2:.1} read {rd:.1} write {wr:.1} GB/s");
            for &h in &hs {
                let (gv, gs) = buf(h, 2 * off);
                let (bv, bs) = buf(h, 3 * off);
                let m = n / h * h;
                let mut line = format!("  h{h} t{threads} off{off}:");
                for rms in [false, true] {
                    let k = NormKernel::compile(NormKey {
                        rms,
                        hidden: h,
                        eps_bits: 1e-5f32.to_bits(),
                        scale: std::env::var_os("PROBE_NOSB").is_none(),
                        bias: !rms && std::env::var_os("PROBE_NOSB").is_none(),
                        skip: false,
                        sum_out: false,
                        mean_out: false,
                        inv_out: false,
                    })
                    .unwrap()
                    .with_wide(std::env::var_os("PROBE_NOWIDE").is_none());
                    let g = &gv[gs..gs + h];
                    let b = &bv[bs..bs + h];
                    let r = best(
                        || k.run(&x[..m], g, b, &mut yv[ys..ys + m], threads).unwrap(),
                        8 * m,
                    );
                    line += &format!(" {} {r:.1}", if rms { "rms" } else { "ln" });
                }
                println!("{line}");
            }
        }
    }
}

/// Timing probe of a generated GELU chain (BERT's: bias Add of a row, Div by √2, Erf, Add 1,
/// Mul, Mul 0.5) alone, without the step wrapper: ns per element at `PROBE_ROWS` × 128.
#[cfg(test)]
mod probe_chain {
    use crate::kernels::{Bin, COp, ChainKey, KernelCache, Mode, Un};
    use std::time::Instant;

    #[test]
    #[ignore]
    fn probe_chain() {
        let rows: usize = std::env::var("PROBE_ROWS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(17);
        let h = 128;
        let prog = vec![
            COp::In(0),
            COp::In(1),
            COp::Bin(Bin::Add, 0, 1),
            COp::Const(std::f32::consts::SQRT_2.to_bits()),
            COp::Bin(Bin::Div, 2, 3),
            COp::Un(Un::Erf, 4),
            COp::Const(1f32.to_bits()),
            COp::Bin(Bin::Add, 5, 6),
            COp::Bin(Bin::Mul, 2, 7),
            COp::Const(0.5f32.to_bits()),
            COp::Bin(Bin::Mul, 8, 9),
        ];
        let cache = KernelCache::new().unwrap();
        let f = cache
            .chain(&ChainKey {
                prog,
                modes: vec![Mode::Full, Mode::Row],
            })
            .unwrap();
        let n = rows * h;
        let x: Vec<f32> = (0..n).map(|i| ((i % 61) as f32 - 30.0) * 0.1).collect();
        let bias: Vec<f32> = (0..h).map(|i| (i as f32) * 0.001).collect();
        let mut out = crate::pool::zeroed(n);
        let ins = [x.as_ptr(), bias.as_ptr()];
        let mut best = f64::INFINITY;
        for _ in 0..20000 {
            let t = Instant::now();
            // SAFETY: x and out hold rows*h floats, bias h; the kernel was built for these modes.
            unsafe { f(ins.as_ptr(), out.as_mut_ptr(), rows, h) };
            best = best.min(t.elapsed().as_secs_f64());
        }
        let want = |v: f32| 0.5 * v as f64 * (1.0 + libm::erf(v as f64 / std::f64::consts::SQRT_2));
        let err = (0..n)
            .map(|i| (out[i] as f64 - want(x[i] + bias[i % h])).abs())
            .fold(0f64, f64::max);
        println!(
            "gelu chain {rows}x{h}: {:.2} us, {:.3} ns/element (max abs err {err:.2e})",
            best * 1e6,
            best * 1e9 / n as f64
        );
    }
}
