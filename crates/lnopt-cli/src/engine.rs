//! The executors behind `--engine`: the reference interpreter or the cranelift JIT.

use crate::{Engine, Failure};
use lnopt::ir::{Model, Tensor};
use std::time::{Duration, Instant};

/// A model prepared for one engine.
pub enum Executor<'m> {
    /// Runs with the reference interpreter.
    Interp(&'m Model),
    /// Runs compiled code.
    Jit(Box<lnopt_jit::CompiledModel>),
}

impl<'m> Executor<'m> {
    /// Prepares `model` for `engine`, specialised on the shapes of `inputs`. Returns the
    /// executor and how long preparing took (JIT: planning; kernels compile on first run).
    pub fn prepare(
        engine: Engine,
        model: &'m Model,
        inputs: &[Tensor],
        threads: Option<usize>,
    ) -> Result<(Executor<'m>, Duration), Failure> {
        let start = Instant::now();
        let exec = match engine {
            Engine::Interp => Executor::Interp(model),
            Engine::Jit => {
                let mut opts = lnopt_jit::Options::default();
                if let Some(t) = threads {
                    opts.threads = t.max(1);
                }
                let shapes = lnopt_jit::InputShapes::of(inputs);
                let compiled =
                    lnopt_jit::compile_with(model, &shapes, &opts).map_err(Failure::bad)?;
                Executor::Jit(Box::new(compiled))
            }
        };
        Ok((exec, start.elapsed()))
    }

    /// Runs once.
    pub fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>, Failure> {
        match self {
            Executor::Interp(m) => lnopt::interp::run_model(m, inputs).map_err(Failure::bad),
            Executor::Jit(c) => c.run(inputs).map_err(Failure::bad),
        }
    }
}
