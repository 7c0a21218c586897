//! The AVX-512 row loop that large norm calls take on CPUs that have it (`wide_norm.rs`)
//! must give exactly the generated kernel's results: same partial sums in the same order,
//! same formulas. Compared bit for bit, on calls just large enough for its non-temporal
//! stores and on calls that fit the caches (regular stores), with row
//! lengths that leave every kind of tail, rows that trigger the exact-variance fallback,
//! outputs that start off a cache line, one and two threads, and the Mean / InvStdDev outputs.
//! (On a CPU without AVX-512 both sides run the generated kernel and agree trivially.)

mod common;

use common::{lcg, norm_model, NormCase};
use lnopt_ir::Tensor;
use lnopt_jit::{NormKernel, NormKey, Options};

/// `rows` rows of `h` floats cycling through: plain noise, a large common offset, a first
/// element far from the rest (its shifted variance cancels: the exact second pass), a constant
/// row, and noise around -3.
fn rows_data(rows: usize, h: usize, seed: u64) -> Vec<f32> {
    let mut r = lcg(seed);
    let mut x = Vec::with_capacity(rows * h);
    for i in 0..rows {
        for j in 0..h {
            x.push(match i % 5 {
                0 => 2.0 * r(),
                1 => 1000.0 + r(),
                2 if j == 0 => 5000.0,
                2 => r(),
                3 => 0.25,
                _ => -3.0 + 4.0 * r(),
            });
        }
    }
    x
}

fn first_difference(a: &[f32], b: &[f32]) -> Option<(usize, f32, f32)> {
    a.iter()
        .zip(b)
        .position(|(x, y)| x.to_bits() != y.to_bits())
        .map(|i| (i, a[i], b[i]))
}

#[test]
fn large_calls_are_bit_identical_with_and_without_the_avx512_rows() {
    eprintln!(
        "AVX-512 norm rows on this CPU: {}",
        lnopt_jit::wide_norms_available()
    );
    for (h, small) in [1usize, 3, 4, 15, 16, 17, 64, 67, 1003, 1024, 4099]
        .into_iter()
        .flat_map(|h| [(h, false), (h, true)])
    {
        // Large on each of two threads (non-temporal stores), or in cache (regular stores).
        let rows = if small {
            37
        } else {
            2 * lnopt_jit::norm_large_call_rows(h) + 3
        };
        let x = rows_data(rows, h, h as u64);
        let mut r = lcg(7);
        let g: Vec<f32> = (0..h).map(|_| 1.0 + r()).collect();
        let b: Vec<f32> = (0..h).map(|_| r()).collect();
        for rms in [false, true] {
            for (scale, bias) in [(true, true), (true, false), (false, true), (false, false)] {
                if rms && bias {
                    continue;
                }
                let key = NormKey {
                    rms,
                    hidden: h,
                    eps_bits: 1e-5f32.to_bits(),
                    scale,
                    bias,
                    skip: false,
                    sum_out: false,
                    mean_out: false,
                    inv_out: false,
                };
                let wide = NormKernel::compile(key).unwrap();
                let generated = NormKernel::compile(key).unwrap().with_wide(false);
                for threads in [1, 2] {
                    // Output at a cache-line boundary and 3 floats past one; rows of
                    // whole lines also 15 past one (every row boundary then splits a line
                    // 15 / 1).
                    let offs: &[usize] = if h % 16 == 0 { &[0, 3, 15] } else { &[0, 3] };
                    for &off in offs {
                        let mut y1 = vec![f32::NAN; x.len() + 32];
                        let mut y2 = vec![f32::NAN; x.len() + 32];
                        let s = (16 - (y1.as_ptr() as usize / 4) % 16) % 16 + off;
                        let s2 = (16 - (y2.as_ptr() as usize / 4) % 16) % 16 + off;
                        let (g, b) = (&g[..], &b[..]);
                        wide.run(&x, g, b, &mut y1[s..s + x.len()], threads)
                            .unwrap();
                        generated
                            .run(&x, g, b, &mut y2[s2..s2 + x.len()], threads)
                            .unwrap();
                        let (o1, o2) = (&y1[s..s + x.len()], &y2[s2..s2 + x.len()]);
                        assert!(o1.iter().all(|v| v.is_finite()), "h {h}: non-finite");
                        let outside = y1[..s].iter().chain(&y1[s + x.len()..]);
                        assert!(
                            outside.into_iter().all(|v| v.is_nan()),
                            "h {h} rms {rms} threads {threads} off {off}: written outside y"
                        );
                        if let Some((i, a, c)) = first_difference(o1, o2) {
                            panic!(
                                "h {h} rows {rows} rms {rms} scale {scale} bias {bias} \
                                 threads {threads} off {off}: row {} col {}: {a:e} vs \
                                 generated {c:e}",
                                i / h,
                                i % h
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn plan_outputs_with_mean_and_inv_std_dev_are_bit_identical() {
    let h = 771;
    let rows = lnopt_jit::norm_large_call_rows(h) + 5;
    // LayerNormalization with scale, bias and its Mean / InvStdDev outputs.
    let case = NormCase {
        rms: false,
        rows,
        hidden: h,
        eps: 1e-5,
        scale: true,
        bias: true,
        residual: false,
        stats: true,
        sum_used: false,
    };
    let mut r = lcg(3);
    let params: Vec<f32> = (0..2 * h).map(|_| 1.0 + r()).collect();
    let model = norm_model(&case, &params);
    let inputs = vec![Tensor::from_f32(
        "x",
        vec![rows as i64, h as i64],
        &rows_data(rows, h, 21),
    )];
    let shapes = lnopt_jit::InputShapes::of(&inputs);
    let run = |wide: bool| {
        let opts = Options {
            threads: 1,
            wide_norms: wide,
            ..Options::default()
        };
        let cm = lnopt_jit::compile_with(&model, &shapes, &opts).unwrap();
        assert_eq!(cm.plan_stats().norm_steps, 1);
        cm.run(&inputs).unwrap()
    };
    let (a, b) = (run(true), run(false));
    assert_eq!((a.len(), b.len()), (3, 3));
    for (i, (ta, tb)) in a.iter().zip(&b).enumerate() {
        assert_eq!((&ta.dims, ta.dtype), (&tb.dims, tb.dtype), "output {i}");
        // f32 -> f64 -> f32 is exact (sign of zero included).
        let f32s = |t: &Tensor| -> Vec<f32> {
            t.to_f64_vec().unwrap().iter().map(|&v| v as f32).collect()
        };
        if let Some((j, x, y)) = first_difference(&f32s(ta), &f32s(tb)) {
            panic!("output {i} element {j}: {x:e} vs generated {y:e}");
        }
    }
}
