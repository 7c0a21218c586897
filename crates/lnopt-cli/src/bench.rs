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
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Runs `lnopt bench`.
pub fn bench(a: &BenchArgs) -> Result<u8, Failure> {
    if a.iters == 0 {
        return Err(Failure::bad("--iters must be at least 1"));
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
        "latency over {} runs: median {:.3} ms  min {:.3} ms  max {:.3} ms",
        times.len(),
        ms(median),
        ms(times[0]),
        ms(times[times.len() - 1])
    );
    Ok(0)
}
