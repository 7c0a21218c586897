//! JIT LayerNorm / RMSNorm kernels against the machine's memory bandwidth (baselines in the
//! same run), rows × hidden for hidden in {64, 384, 768, 1024, 4096}, from in-cache sizes to
//! 128 MiB, on 1 and 2 threads. Criterion prints GB/s (bytes read + written per iteration).
//!
//! Baselines: `copy` is `copy_from_slice` (glibc memcpy: non-temporal stores at large sizes, so
//! no write-allocate read of the destination), `copyloop` a plain vectorised load/store loop
//! (regular stores, like the kernels'), `triad` `z += 1.5 x` over half the buffer (counted as
//! x and z read, z written). On 2 threads the baselines split the buffer with one persistent
//! helper thread that spins between jobs (no thread start per call; it exists only while the
//! baselines run), the kernels use their own pool. `LNOPT_BENCH_QUICK=1` keeps only the smallest and largest sizes.
//!
//! `ln`/`rms` are what a compiled model runs: on CPUs with AVX-512, calls larger than the
//! caches take the AVX-512 row loop (`wide_norm.rs`). From 32 MiB, `lngen` is LayerNorm
//! through the generated cranelift kernel alone, for comparison (bit-identical results).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lnopt_jit::{NormKernel, NormKey};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn sizes() -> Vec<usize> {
    let all = [256 << 10, 8 << 20, 32 << 20, 128 << 20];
    if std::env::var_os("LNOPT_BENCH_QUICK").is_some() {
        vec![all[0], all[3]]
    } else {
        all.to_vec()
    }
}

/// The job a [`Helper`] runs: the address of a `&(dyn Fn() + Sync)` on the caller's stack.
struct Shared {
    seq: AtomicUsize,
    done: AtomicUsize,
    job: AtomicUsize,
    stop: AtomicBool,
}

/// One persistent helper thread that spins waiting for jobs (a stand-in for a spinning
/// thread pool, so that the 2-thread baselines do not pay a thread start per call).
struct Helper {
    sh: Arc<Shared>,
    th: Option<std::thread::JoinHandle<()>>,
}

impl Helper {
    fn new() -> Helper {
        let sh = Arc::new(Shared {
            seq: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            job: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let s2 = sh.clone();
        let th = std::thread::spawn(move || {
            let mut seen = 0;
            let mut idle = 0u32;
            while !s2.stop.load(Ordering::Acquire) {
                let s = s2.seq.load(Ordering::Acquire);
                if s == seen {
                    spin(&mut idle);
                    continue;
                }
                idle = 0;
                seen = s;
                let f = s2.job.load(Ordering::Acquire) as *const &(dyn Fn() + Sync);
                // SAFETY: `run` publishes a pointer to a closure reference that stays alive
                // until it has seen `done == seq`, which is stored only after the call.
                unsafe { (*f)() };
                s2.done.store(s, Ordering::Release);
            }
        });
        Helper { sh, th: Some(th) }
    }

    /// Runs `mine` here and `theirs` on the helper, returning when both are done.
    fn run(&self, mine: impl FnOnce(), theirs: &(dyn Fn() + Sync)) {
        let r: &&(dyn Fn() + Sync) = &theirs;
        self.sh
            .job
            .store(r as *const &(dyn Fn() + Sync) as usize, Ordering::Release);
        let s = self.sh.seq.fetch_add(1, Ordering::AcqRel) + 1;
        mine();
        let mut idle = 0u32;
        while self.sh.done.load(Ordering::Acquire) != s {
            spin(&mut idle);
        }
    }
}

/// One step of a spin-wait; every 1024 steps the thread yields, so that two spinning threads
/// placed on one CPU do not wait a scheduler time slice for each other (measured once: 7.8 ms
/// per 256 KiB copy).
fn spin(idle: &mut u32) {
    *idle = idle.wrapping_add(1);
    if idle.is_multiple_of(1024) {
        std::thread::yield_now();
    } else {
        std::hint::spin_loop();
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        self.sh.stop.store(true, Ordering::Release);
        if let Some(t) = self.th.take() {
            let _ = t.join();
        }
    }
}

/// Applies `f` to `(src, dst)` whole (1 thread) or in two halves, the second on the helper.
fn split(
    helper: Option<&Helper>,
    src: &[f32],
    dst: &mut [f32],
    f: &(dyn Fn(&[f32], &mut [f32]) + Sync),
) {
    let Some(h) = helper else {
        return f(src, dst);
    };
    let mid = src.len() / 2;
    let (s0, s1) = src.split_at(mid);
    let (d0, d1) = dst.split_at_mut(mid);
    let d1p = d1.as_mut_ptr() as usize;
    let n1 = d1.len();
    let theirs = move || {
        // SAFETY: the helper is the only user of the second half of `dst` until `run` returns.
        let d1 = unsafe { std::slice::from_raw_parts_mut(d1p as *mut f32, n1) };
        f(s1, d1)
    };
    h.run(|| f(s0, d0), &theirs);
}

/// The kernels' input: `n` floats.
fn input(n: usize) -> Vec<f32> {
    (0..n).map(|i| (i % 97) as f32 * 0.01).collect()
}

/// Scale and bias for rows of `hidden`; they vary per element, as learned ones do.
fn scale_bias(hidden: usize) -> (Vec<f32>, Vec<f32>) {
    let gam = (0..hidden).map(|i| 1.0 + (i % 7) as f32 * 0.01).collect();
    let bet = (0..hidden).map(|i| (i % 5) as f32 * 0.01).collect();
    (gam, bet)
}

fn copy_loop(s: &[f32], d: &mut [f32]) {
    // `+ 0.0` keeps the compiler from turning the loop into a memcpy call.
    for (o, v) in d.iter_mut().zip(s) {
        *o = v + 0.0;
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("jit_norm");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for &bytes in &sizes() {
        let n = bytes / 4;
        let x = input(n);
        let mut y = vec![0f32; n];
        let mut z = vec![0f32; n / 2];
        for threads in [1usize, 2] {
            // Created for the baselines and dropped before the kernels run (it spins).
            let helper = (threads > 1).then(Helper::new);
            let hp = helper.as_ref();
            g.throughput(Throughput::Bytes(2 * bytes as u64));
            g.bench_with_input(
                BenchmarkId::new(format!("copy/t{threads}"), bytes >> 10),
                &bytes,
                |b, _| b.iter(|| split(hp, &x, &mut y, &|s, d| d.copy_from_slice(s))),
            );
            g.bench_with_input(
                BenchmarkId::new(format!("copyloop/t{threads}"), bytes >> 10),
                &bytes,
                |b, _| b.iter(|| split(hp, &x, &mut y, &copy_loop)),
            );
            g.throughput(Throughput::Bytes(3 * bytes as u64 / 2));
            g.bench_with_input(
                BenchmarkId::new(format!("triad/t{threads}"), bytes >> 10),
                &bytes,
                |b, _| {
                    b.iter(|| {
                        split(hp, &x[..n / 2], &mut z, &|s, d| {
                            d.iter_mut().zip(s).for_each(|(o, v)| *o += v * 1.5)
                        })
                    })
                },
            );
            drop(helper);
            for hidden in [64usize, 384, 768, 1024, 4096] {
                for rms in [false, true] {
                    let key = NormKey::affine(rms, hidden, 1e-5);
                    let (gam, bet) = scale_bias(hidden);
                    let m = n / hidden * hidden;
                    g.throughput(Throughput::Bytes(2 * 4 * m as u64));
                    let name = if rms { "rms" } else { "ln" };
                    let generated_too = !rms && bytes >= 32 << 20;
                    for (wide, name) in [(true, name), (false, "lngen")] {
                        if !wide && !generated_too {
                            continue;
                        }
                        let k = NormKernel::compile(key)
                            .expect("kernel compiles")
                            .with_wide(wide);
                        let id = format!("{name}/h{hidden}/t{threads}");
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
    }
    g.finish();
}

/// Spins for `d`.
fn busy(d: Duration) {
    let t0 = std::time::Instant::now();
    while t0.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// The median and range of `v` (sorted in place).
fn median_range(v: &mut [f64]) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

/// The shortest of `k` timings of `f` (each call returns the time it measured).
fn best_of(k: usize, mut f: impl FnMut() -> Duration) -> Duration {
    (0..k).map(|_| f()).min().expect("k > 0")
}

/// Out-of-cache ratios measured in alternation: each round times a copy, then LN, RMS and
/// generated-only LN (best of 3 calls each), and each kernel's ratio is its GB/s over the
/// copy's in that round. The machine's bandwidth drifts between criterion's separate
/// measurements (this VM's 128 MiB copy moved 29-41 GB/s within one run); a ratio whose two
/// sides were timed milliseconds apart does not. Prints the median and range over
/// `LNOPT_BENCH_ROUNDS` rounds (default 15) for the out-of-cache sizes; skipped with
/// `LNOPT_BENCH_NO_RATIOS=1`. The 2-thread copy's helper is started (and given 2 ms to reach
/// its own CPU) before and stopped after each timed call, so it never spins while a kernel
/// runs.
fn interleaved_ratios(_: &mut Criterion) {
    if std::env::var_os("LNOPT_BENCH_NO_RATIOS").is_some() {
        return;
    }
    let rounds: usize = std::env::var("LNOPT_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15)
        .max(1);
    println!("\nInterleaved ratios to copy (median [min-max] of {rounds} rounds):\n");
    println!("| size MiB | thr | hidden | copy GB/s | LN/copy | RMS/copy | LN gen/copy |");
    println!("|---|---|---|---|---|---|---|");
    for &bytes in sizes().iter().filter(|&&b| b >= 32 << 20) {
        let n = bytes / 4;
        let x = input(n);
        let mut y = vec![0f32; n];
        for threads in [1usize, 2] {
            for hidden in [64usize, 384, 768, 1024, 4096] {
                let (gam, bet) = scale_bias(hidden);
                let m = n / hidden * hidden;
                let kernel = |rms: bool, wide: bool| {
                    NormKernel::compile(NormKey::affine(rms, hidden, 1e-5))
                        .expect("kernel compiles")
                        .with_wide(wide)
                };
                let kernels = [
                    kernel(false, true),
                    kernel(true, true),
                    kernel(false, false),
                ];
                let mut copy_gbs = Vec::new();
                let mut ratios = vec![Vec::new(); kernels.len()];
                for _ in 0..rounds {
                    let copy = best_of(3, || {
                        let helper = (threads > 1).then(Helper::new);
                        if let Some(h) = &helper {
                            // A new thread tends to start on its parent's CPU: keep both busy
                            // until the scheduler has spread them over the two CPUs.
                            h.run(|| busy(Duration::from_millis(2)), &|| {
                                busy(Duration::from_millis(2))
                            });
                        }
                        let t0 = std::time::Instant::now();
                        split(helper.as_ref(), &x, &mut y, &|s, d| d.copy_from_slice(s));
                        t0.elapsed()
                    });
                    let copy_rate = 2.0 * bytes as f64 / copy.as_secs_f64();
                    copy_gbs.push(copy_rate / 1e9);
                    for (k, r) in kernels.iter().zip(&mut ratios) {
                        let t = best_of(3, || {
                            let t0 = std::time::Instant::now();
                            k.run(&x[..m], &gam, &bet, &mut y[..m], threads)
                                .expect("runs");
                            t0.elapsed()
                        });
                        r.push(8.0 * m as f64 / t.as_secs_f64() / copy_rate);
                    }
                }
                let cell = |v: &mut Vec<f64>| {
                    let (med, lo, hi) = median_range(v);
                    format!("{med:.2} [{lo:.2}-{hi:.2}]")
                };
                let copy_med = median_range(&mut copy_gbs).0;
                let [ln, rms, gen] = &mut ratios[..] else {
                    unreachable!("three kernels")
                };
                println!(
                    "| {} | {threads} | {hidden} | {copy_med:.1} | {} | {} | {} |",
                    bytes >> 20,
                    cell(ln),
                    cell(rms),
                    cell(gen)
                );
            }
        }
    }
}

criterion_group!(benches, bench, interleaved_ratios);
criterion_main!(benches);
