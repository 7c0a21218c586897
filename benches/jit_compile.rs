//! JIT compile time of a BERT-base-shaped graph (`synth::bert_like_ffn(12, 768, 3072)`: the
//! encoder's 85 M weights, each initializer converted by the JIT; fused with
//! `lnopt::optimize_model` outside the timed section): building the execution plan
//! (`lnopt_jit::compile_with`), plan + first run (which generates every cranelift kernel the
//! shapes need), and a steady-state run for comparison, on input `[1, 128, 768]`.
//! Also the cost of generating one LayerNorm kernel on its own (fresh JIT module included).

use criterion::{criterion_group, criterion_main, Criterion};
use lnopt_ir::Tensor;
use lnopt_jit::{InputShapes, NormKernel, NormKey, Options};
use lnopt_suite::synth::bert_like_ffn;
use std::time::{Duration, Instant};

const SEQ: i64 = 128;
const HIDDEN: usize = 768;

fn input() -> Tensor {
    let n = SEQ as usize * HIDDEN;
    let v: Vec<f32> = (0..n)
        .map(|i| ((i * 7919) % 1000) as f32 * 1e-3 - 0.5)
        .collect();
    Tensor::from_f32("input", vec![1, SEQ, HIDDEN as i64], &v)
}

fn bench(c: &mut Criterion) {
    let mut model = bert_like_ffn(12, HIDDEN, 4 * HIDDEN);
    let outcome = lnopt::optimize_model(&mut model, &lnopt::Options::default()).expect("fuses");
    eprintln!("jit_compile: {}", outcome.summary());
    let x = input();
    let shapes = InputShapes::of(std::slice::from_ref(&x));
    let opts = Options::default();
    // One untimed pass to report what gets compiled.
    {
        let t = Instant::now();
        let cm = lnopt_jit::compile_with(&model, &shapes, &opts).expect("compiles");
        let plan = t.elapsed();
        let t = Instant::now();
        cm.run(std::slice::from_ref(&x)).expect("runs");
        let first = t.elapsed();
        let t = Instant::now();
        cm.run(std::slice::from_ref(&x)).expect("runs");
        let second = t.elapsed();
        eprintln!(
            "jit_compile: plan {:.2} ms, first run {:.2} ms, second run {:.2} ms; {:?}; {:?}",
            plan.as_secs_f64() * 1e3,
            first.as_secs_f64() * 1e3,
            second.as_secs_f64() * 1e3,
            cm.plan_stats(),
            cm.kernel_stats()
        );
    }
    let mut g = c.benchmark_group("jit_compile_bert_base");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    g.bench_function("plan", |b| {
        b.iter(|| lnopt_jit::compile_with(&model, &shapes, &opts).expect("compiles"))
    });
    g.bench_function("plan+first_run", |b| {
        b.iter(|| {
            let cm = lnopt_jit::compile_with(&model, &shapes, &opts).expect("compiles");
            cm.run(std::slice::from_ref(&x)).expect("runs")
        })
    });
    let cm = lnopt_jit::compile_with(&model, &shapes, &opts).expect("compiles");
    cm.run(std::slice::from_ref(&x)).expect("runs");
    g.bench_function("steady_run", |b| {
        b.iter(|| cm.run(std::slice::from_ref(&x)).expect("runs"))
    });
    g.bench_function("one_ln_kernel", |b| {
        b.iter(|| {
            NormKernel::compile(NormKey {
                rms: false,
                hidden: HIDDEN,
                eps_bits: 1e-12f32.to_bits(),
                scale: true,
                bias: true,
                skip: false,
                sum_out: false,
                mean_out: false,
                inv_out: false,
            })
            .expect("compiles")
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
