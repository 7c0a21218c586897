//! `lnopt bench MODEL`: compile time and latency of repeated runs.

use crate::engine::Executor;
use crate::source::SourceArgs;
use crate::Failure;
use clap::Args;
use std::time::{Duration, Instant};

/// Arguments of `lnopt bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Timed runs (after one untimed warm-up run).
    #[arg(long, default_value_t = 20)]
    iters: usize,
    /// After the timed runs, time each step of the JIT's plan over the same number of runs and
    /// print where the time goes, summed by op type (JIT only).
    #[arg(long)]
    profile: bool,
    /// How many of the slowest steps `--profile` lists.
    #[arg(long, default_value_t = 12)]
    top: usize,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Runs `lnopt bench`.
pub fn bench(a: &BenchArgs) -> Result<u8, Failure> {
    if a.iters == 0 {
        return Err(Failure::bad("--iters must be at least 1"));
    }
    if a.profile && !matches!(a.source.engine, crate::Engine::Jit) {
        return Err(Failure::bad("--profile needs --engine jit"));
    }
    let loaded = a.source.load()?;
    let (exec, prepare) = Executor::prepare(
        a.source.engine,
        &loaded.model,
        &loaded.inputs,
        a.source.threads,
    )?;
    let first = Instant::now();
    exec.run(&loaded.inputs)?;
    let first = first.elapsed();
    let mut times = Vec::with_capacity(a.iters);
    for _ in 0..a.iters {
        let t = Instant::now();
        exec.run(&loaded.inputs)?;
        times.push(t.elapsed());
    }
    times.sort();
    let median = times[times.len() / 2];
    println!(
        "engine {:?}  threads {}  compile {:.3} ms  first run {:.3} ms (incl. kernel codegen)",
        a.source.engine,
        a.source
            .threads
            .map(|t| t.to_string())
            .unwrap_or_else(|| "all".into()),
        ms(prepare),
        ms(first)
    );
    println!(
        "latency over {} runs: median {:.4} ms  min {:.4} ms  max {:.4} ms",
        times.len(),
        ms(median),
        ms(times[0]),
        ms(times[times.len() - 1])
    );
    if a.profile {
        match &exec {
            Executor::Jit(c) => print_profile(c, &loaded.inputs, a.iters, a.top)?,
            Executor::Interp(_) => {}
        }
    }
    Ok(0)
}

/// Times every step of `c` over `iters` runs and prints the total per op type, largest first.
fn print_profile(
    c: &lnopt_jit::CompiledModel,
    inputs: &[lnopt::ir::Tensor],
    iters: usize,
    top: usize,
) -> Result<(), Failure> {
    let mut per_step = Vec::new();
    for _ in 0..iters {
        c.run_profiled(inputs, &mut per_step)
            .map_err(Failure::bad)?;
    }
    let steps = c.steps();
    let mut by_op: std::collections::BTreeMap<&str, (Duration, usize)> = Default::default();
    for ((_, op), t) in steps.iter().zip(&per_step) {
        let e = by_op.entry(op.as_str()).or_default();
        e.0 += *t;
        e.1 += 1;
    }
    let total: Duration = per_step.iter().sum();
    let mut rows: Vec<_> = by_op.into_iter().collect();
    rows.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(b.0)));
    println!(
        "profile over {iters} runs (mean per run; steps replayed from the shape cache cost 0):"
    );
    println!(
        "{:<28} {:>6} {:>10} {:>7}",
        "op", "steps", "us/run", "share"
    );
    let per_run = |d: Duration| d.as_secs_f64() * 1e6 / iters as f64;
    for (op, (t, n)) in &rows {
        let share = if total.is_zero() {
            0.0
        } else {
            t.as_secs_f64() / total.as_secs_f64() * 100.0
        };
        println!("{op:<28} {n:>6} {:>10.2} {share:>6.1}%", per_run(*t));
    }
    println!(
        "{:<28} {:>6} {:>10.2}",
        "total (sum of steps)",
        steps.len(),
        per_run(total)
    );
    let mut slowest: Vec<usize> = (0..steps.len().min(per_step.len())).collect();
    slowest.sort_by(|&a, &b| per_step[b].cmp(&per_step[a]).then(a.cmp(&b)));
    println!("slowest steps:");
    for &i in slowest.iter().take(top) {
        let (name, op) = &steps[i];
        println!(
            "  #{i:<4} {op:<20} {:>8.2} us  {name}",
            per_run(per_step[i])
        );
    }
    Ok(())
}
