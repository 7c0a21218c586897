//! GFLOP/s of lnopt's products on the shapes of real models (BERT-base, GPT-2, ViT-B/16, a
//! LLaMA-style decoder, the Whisper-base encoder, one attention head), one thread, against
//! the core's measured FMA peak and the `matrixmultiply` crate in the same run.
//!
//! `cargo bench -p lnopt-gemm` prints a markdown table. Columns: `packed` is the product with
//! B packed beforehand (a weight, packed at compile time), `+pack` includes packing B (a
//! runtime operand), `mm` is `matrixmultiply::sgemm` on the same operands. `LNOPT_BENCH_QUICK=1`
//! keeps three shapes. ONNX Runtime's MatMul on the same shapes: `scripts/bench_gemm.py`.

use lnopt_gemm::{gemm, Isa, MatMut, MatRef, PackedB, Start};
use std::hint::black_box;
use std::time::Instant;

/// (label, m, k, n)
const SHAPES: &[(&str, usize, usize, usize)] = &[
    ("bert qkv/out", 128, 768, 768),
    ("bert mlp up", 128, 768, 3072),
    ("bert mlp down", 128, 3072, 768),
    ("gpt2 c_attn", 128, 768, 2304),
    ("vit qkv/out", 197, 768, 768),
    ("vit mlp up", 197, 768, 3072),
    ("vit mlp down", 197, 3072, 768),
    ("llama q/k/v/o", 128, 1024, 1024),
    ("llama gate/up", 128, 1024, 2816),
    ("llama down", 128, 2816, 1024),
    ("whisper qkv/out", 1500, 512, 512),
    ("whisper mlp up", 1500, 512, 2048),
    ("whisper mlp down", 1500, 2048, 512),
    ("head q·kᵀ", 128, 64, 128),
    ("head ·v", 128, 128, 64),
    ("vit head q·kᵀ", 197, 64, 197),
    ("vit head ·v", 197, 197, 64),
];

/// Median seconds per call of `f`, sampled for about `budget` seconds.
fn median_secs(budget: f64, mut f: impl FnMut()) -> f64 {
    f();
    let t0 = Instant::now();
    f();
    let once = t0.elapsed().as_secs_f64().max(1e-7);
    let reps = ((budget / 15.0) / once).ceil().max(1.0) as usize;
    let mut samples: Vec<f64> = (0..15)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..reps {
                f();
            }
            t.elapsed().as_secs_f64() / reps as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// The core's FMA throughput in GFLOP/s: independent accumulators, no memory traffic.
fn fma_peak(isa: Isa) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        #[target_feature(enable = "avx512f")]
        fn zmm(iters: usize) -> f32 {
            let mut acc = [_mm512_set1_ps(1.0); 16];
            let x = _mm512_set1_ps(0.999_999);
            let y = _mm512_set1_ps(1e-7);
            for _ in 0..iters {
                for a in acc.iter_mut() {
                    *a = _mm512_fmadd_ps(*a, x, y);
                }
            }
            acc.iter().map(|&a| _mm512_reduce_add_ps(a)).sum()
        }
        #[target_feature(enable = "avx2,fma")]
        fn ymm(iters: usize) -> f32 {
            let mut acc = [_mm256_set1_ps(1.0); 12];
            let x = _mm256_set1_ps(0.999_999);
            let y = _mm256_set1_ps(1e-7);
            for _ in 0..iters {
                for a in acc.iter_mut() {
                    *a = _mm256_fmadd_ps(*a, x, y);
                }
            }
            let mut s = [0f32; 8];
            for a in acc {
                let mut v = [0f32; 8];
                // SAFETY: v has 8 floats.
                unsafe { _mm256_storeu_ps(v.as_mut_ptr(), a) };
                s.iter_mut().zip(v).for_each(|(s, v)| *s += v);
            }
            s.iter().sum()
        }
        let iters = 2_000_000;
        match isa {
            // SAFETY: the family is available (checked by the caller).
            Isa::Avx512 => {
                let t = median_secs(0.3, || {
                    black_box(unsafe { zmm(black_box(iters)) });
                });
                return (iters * 16 * 16 * 2) as f64 / t / 1e9;
            }
            Isa::Avx2Fma => {
                // SAFETY: as above.
                let t = median_secs(0.3, || {
                    black_box(unsafe { ymm(black_box(iters)) });
                });
                return (iters * 12 * 8 * 2) as f64 / t / 1e9;
            }
            Isa::Portable => {}
        }
    }
    let _ = isa;
    f64::NAN
}

fn main() {
    let quick = std::env::var_os("LNOPT_BENCH_QUICK").is_some();
    let isa = Isa::detect();
    let peak = fma_peak(isa);
    println!("kernel family {isa:?}; FMA peak of one core, same run: {peak:.1} GFLOP/s\n");
    println!(
        "| shape | m×k×n | packed GFLOP/s | % of peak | +pack GFLOP/s | mm GFLOP/s | packed / mm |"
    );
    println!("|---|---|---|---|---|---|---|");
    let shapes: Vec<_> = if quick {
        SHAPES
            .iter()
            .filter(|s| {
                ["bert mlp up", "whisper qkv/out", "head q·kᵀ", "vit head ·v"].contains(&s.0)
            })
            .collect()
    } else {
        SHAPES.iter().collect()
    };
    for &&(label, m, k, n) in &shapes {
        let a: Vec<f32> = (0..m * k).map(|i| (i % 17) as f32 * 0.01).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 13) as f32 * 0.01).collect();
        let mut c = vec![0f32; m * n];
        let flops = 2.0 * (m * k * n) as f64;
        let packed = PackedB::pack(isa, (k, n), &b, (n, 1)).expect("pack");
        let aref = MatRef {
            ptr: a.as_ptr(),
            rs: k as isize,
            cs: 1,
        };
        let cptr = c.as_mut_ptr();
        let cmut = MatMut {
            ptr: cptr,
            rs: n as isize,
            cs: 1,
        };
        // SAFETY (all three closures): a, b, c hold m×k, k×n, m×n row-major floats.
        let t_packed = median_secs(0.4, || unsafe {
            gemm(m, aref, &packed, cmut, Start::Zero, 0..usize::MAX)
        });
        let t_repack = median_secs(0.4, || {
            let p = PackedB::pack(isa, (k, n), &b, (n, 1)).expect("pack");
            unsafe { gemm(m, aref, &p, cmut, Start::Zero, 0..usize::MAX) }
        });
        let t_mm = median_secs(0.4, || unsafe {
            matrixmultiply::sgemm(
                m,
                k,
                n,
                1.0,
                a.as_ptr(),
                k as isize,
                1,
                b.as_ptr(),
                n as isize,
                1,
                0.0,
                cptr,
                n as isize,
                1,
            )
        });
        let g = |t: f64| flops / t / 1e9;
        println!(
            "| {label} | {m}×{k}×{n} | {:.1} | {:.0} % | {:.1} | {:.1} | {:.2} |",
            g(t_packed),
            100.0 * g(t_packed) / peak,
            g(t_repack),
            g(t_mm),
            t_mm / t_packed
        );
        black_box(&c);
    }
}
