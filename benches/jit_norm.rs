//! JIT LayerNorm / RMSNorm kernels against the machine's memory bandwidth (copy and triad in
//! the same run), rows × hidden for hidden in {64, 384, 768, 1024, 4096}, from in-cache sizes to
//! 128 MiB, on 1 and 2 threads. Criterion prints GB/s (bytes read + written per iteration).
//! `LNOPT_BENCH_QUICK=1` keeps only the smallest and largest sizes.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lnopt_jit::{NormKernel, NormKey};
use std::time::Duration;

fn sizes() -> Vec<usize> {
    let all = [256 << 10, 8 << 20, 128 << 20];
    if std::env::var_os("LNOPT_BENCH_QUICK").is_some() {
        vec![all[0], all[2]]
    } else {
        all.to_vec()
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("jit_norm");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for &bytes in &sizes() {
        let n = bytes / 4;
        let x: Vec<f32> = (0..n).map(|i| (i % 97) as f32 * 0.01).collect();
        let mut y = vec![0f32; n];
        let mut z = vec![0f32; n];
        for threads in [1usize, 2] {
            g.throughput(Throughput::Bytes(2 * bytes as u64));
            g.bench_with_input(
                BenchmarkId::new(format!("copy/t{threads}"), bytes >> 10),
                &bytes,
                |b, _| b.iter(|| par_chunks(&x, &mut y, threads, |s, d| d.copy_from_slice(s))),
            );
            g.throughput(Throughput::Bytes(3 * bytes as u64 / 2));
            g.bench_with_input(
                BenchmarkId::new(format!("triad/t{threads}"), bytes >> 10),
                &bytes,
                |b, _| {
                    let half = n / 2;
                    b.iter(|| {
                        let (a, c2) = x.split_at(half);
                        par_chunks(a, &mut z[..half], threads, |s, d| {
                            d.iter_mut().zip(s).for_each(|(o, v)| *o += v * 1.5)
                        });
                        std::hint::black_box(&c2);
                    })
                },
            );
            for hidden in [64usize, 384, 768, 1024, 4096] {
                for rms in [false, true] {
                    let key = NormKey {
                        rms,
                        hidden,
                        eps_bits: 1e-5f32.to_bits(),
                        scale: true,
                        bias: !rms,
                        skip: false,
                        sum_out: false,
                        mean_out: false,
                        inv_out: false,
                    };
                    let k = NormKernel::compile(key).expect("kernel compiles");
                    let gam = vec![1.0f32; hidden];
                    let bet = vec![0.0f32; hidden];
                    let m = n / hidden * hidden;
                    g.throughput(Throughput::Bytes(2 * 4 * m as u64));
                    let id = format!("{}/h{hidden}/t{threads}", if rms { "rms" } else { "ln" });
                    g.bench_with_input(BenchmarkId::new(id, bytes >> 10), &bytes, |b, _| {
                        b.iter(|| {
                            k.run(&x[..m], &gam, &bet, &mut y[..m], threads)
                                .expect("runs")
                        })
                    });
                }
            }
        }
    }
    g.finish();
}

fn par_chunks(src: &[f32], dst: &mut [f32], threads: usize, f: impl Fn(&[f32], &mut [f32]) + Sync) {
    if threads <= 1 {
        return f(src, dst);
    }
    let per = src.len().div_ceil(threads);
    std::thread::scope(|s| {
        for (a, d) in src.chunks(per).zip(dst.chunks_mut(per)) {
            let f = &f;
            s.spawn(move || f(a, d));
        }
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
