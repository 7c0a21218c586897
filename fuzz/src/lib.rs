//! Shared bodies of the fuzz targets, so that regressions found by `cargo fuzz` can be replayed
//! by ordinary `cargo test` (see `tests/regressions.rs`) on a stable toolchain.
//!
//! Each function takes arbitrary bytes; returning is success (whatever `Result` the library
//! gave), a panic or an abort is a bug.

mod graph_gen;

pub use graph_gen::random_model;

use lnopt_onnx::Limits;

/// Limits used by the pipeline target: the library defaults, so the fuzzer checks that the
/// defaults alone keep allocation bounded (libFuzzer's `-malloc_limit_mb` flags any single
/// allocation above its limit).
pub fn limits() -> Limits {
    Limits::default()
}

/// Target `import`: decode the bytes as a model, and as a tensor file.
pub fn import(data: &[u8]) {
    let limits = limits();
    let _ = lnopt_onnx::decode(data, None, &limits);
    let _ = lnopt_onnx::decode_tensor(data, &limits);
}

/// Target `pipeline`: decode → optimise (standard and ORT targets) → encode → decode again.
///
/// When the library accepts the input and optimises it, its own output must decode again:
/// a refusal there is a bug (the library wrote a model it cannot read) and panics.
pub fn pipeline(data: &[u8]) {
    let limits = limits();
    let Ok(model) = lnopt_onnx::decode(data, None, &limits) else {
        return;
    };
    for target in [lnopt::Target::Standard, lnopt::Target::Ort] {
        let mut m = model.clone();
        let options = lnopt::Options {
            target,
            limits: limits.clone(),
            ..lnopt::Options::default()
        };
        if lnopt::optimize_model(&mut m, &options).is_err() {
            continue;
        }
        let bytes = match lnopt_onnx::encode(&m) {
            Ok(b) => b,
            Err(_) => continue,
        };
        if let Err(e) = lnopt_onnx::decode(&bytes, None, &limits) {
            panic!("optimised model ({target:?}) does not decode again: {e}");
        }
    }
}

/// Target `interp`: build a small random graph from the bytes and run the reference
/// interpreter on tiny inputs. Any `Err` is fine.
pub fn interp(data: &[u8]) {
    let Some((model, inputs)) = random_model(data) else {
        return;
    };
    let _ = lnopt_interp::run_model(&model, &inputs);
}

/// Target `jit`: the random graph of [`interp`] compiled by the JIT (plan, folded steps,
/// generated kernels) for its inputs' shapes and run on one or two threads. The JIT works
/// through raw pointers into its buffers, so this target guards its bounds checks; any `Err`
/// is fine.
pub fn jit(data: &[u8]) {
    let Some((model, inputs)) = random_model(data) else {
        return;
    };
    let threads = 1 + data.first().map_or(0, |b| (b & 1) as usize);
    let options = lnopt_jit::Options {
        threads,
        ..lnopt_jit::Options::default()
    };
    let shapes = lnopt_jit::InputShapes::of(&inputs);
    if let Ok(compiled) = lnopt_jit::compile_with(&model, &shapes, &options) {
        let _ = compiled.run(&inputs);
    }
}
