//! # lnopt-jit: lnopt's IR compiled to native code
//!
//! [`compile`] turns a [`Model`] into a [`CompiledModel`]: an execution plan of steps over
//! numbered buffers. Normalisations (LayerNormalization, RMSNormalization, ORT's
//! SimplifiedLayerNormalization) run as cranelift kernels specialised on the row length,
//! epsilon and which of scale / bias / Mean / InvStdDev exist, with a residual `Add` in front
//! folded into the kernel (ORT's SkipLayerNormalization, fused in code). Chains of element-wise
//! float ops run as one generated loop with broadcasting over the trailing axis. The ops that are
//! hot in real models (MatMul/Gemm via the `gemm` crate, Conv, Softmax, reductions, element-wise
//! math, shape ops …) run as Rust runtime functions; every other op, and every node whose
//! runtime function refuses its dtypes or attributes, runs through the interpreter's
//! implementation (`lnopt_interp::PreparedNode`), If and Loop included, so the JIT runs every
//! model the interpreter runs.
//! Kernels are compiled when a specialisation is first needed and cached, so a new input shape
//! re-specialises only what changed. Rows are split across `threads` worker threads.
//!
//! f16/bf16 tensors are widened to f32 at the model boundary and rounded back after every op.

mod cpu;
mod error;
mod fallback;
mod fbuf;
mod fmath;
mod kernels;
mod node;
mod ops;
mod par;
mod plan;
mod pool;
mod steps;
mod value;

pub use error::JitError;
pub use kernels::direct::NormKernel;
pub use kernels::{KernelCache, KernelStats, NormKey};
pub use plan::Options;
pub use pool::release as release_pooled_buffers;

/// Rows of `hidden` floats from which one norm call (or one thread's share of it) counts as
/// larger than the caches: the generated kernel switches to its per-row two-pass loop, and on
/// CPUs with AVX-512 the call runs through the AVX-512 row loop instead
/// (see [`Options::wide_norms`]).
pub fn norm_large_call_rows(hidden: usize) -> usize {
    kernels::big_rows(hidden)
}

/// Whether this CPU has what the AVX-512 norm row loop needs (AVX-512F, AVX-512VL, FMA).
pub fn wide_norms_available() -> bool {
    cpu::cpu_has_avx512()
}

use lnopt_ir::{Model, Tensor};
use std::sync::Arc;
use steps::Step;
use value::Val;

/// Shapes of the model's runtime inputs (graph inputs that are not initializers), in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InputShapes(pub Vec<Vec<usize>>);

impl InputShapes {
    /// The shapes of these tensors (negative dims become 0).
    pub fn of(tensors: &[Tensor]) -> InputShapes {
        InputShapes(
            tensors
                .iter()
                .map(|t| t.dims.iter().map(|&d| d.max(0) as usize).collect())
                .collect(),
        )
    }
}

/// What the plan contains, for reports and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlanStats {
    /// Steps in the plan.
    pub steps: usize,
    /// Normalisation kernel steps.
    pub norm_steps: usize,
    /// Of those, steps with a residual Add folded in.
    pub residual_folded: usize,
    /// Fused element-wise chain steps.
    pub chain_steps: usize,
    /// Nodes inside those chains.
    pub chained_nodes: usize,
    /// MatMul steps with a Transpose or bias Add folded in.
    pub matmul_folds: usize,
    /// Attention block steps.
    pub attention_steps: usize,
}

/// A model ready to run.
pub struct CompiledModel {
    steps: Vec<Step>,
    /// Steps whose outputs depend only on constants and input *shapes* (Shape, Size and
    /// everything computed from them and constants): run once per input-shape specialisation.
    shape_only: Vec<bool>,
    /// Outputs of the `shape_only` steps, recorded by the first successful run with the
    /// compiled input shapes and replayed by later runs with those shapes.
    shape_cache: std::sync::OnceLock<Vec<(usize, Arc<Val>)>>,
    free_after: Vec<Vec<usize>>,
    nslots: usize,
    consts: Vec<(usize, Arc<Val>)>,
    inputs: Vec<(usize, String)>,
    outputs: Vec<(usize, String)>,
    shapes: InputShapes,
    cache: KernelCache,
    threads: usize,
}

/// Largest result (elements) a node over constants may have to be evaluated once at compile
/// time instead of on every run.
const FOLD_MAX_ELEMS: usize = 1 << 16;

/// Evaluates, once, the `Constant` nodes and the small nodes whose inputs are all constants
/// (an `Identity` of a shared weight, a shape constant reshaped …), so that the plan sees
/// their results as constants. A node whose evaluation fails is left in the plan, where it
/// reports its error when run. Returns the constant (if any) of every slot.
fn fold_constants(flat: &mut plan::flatten::Flat) -> Result<Vec<Option<Arc<Val>>>, JitError> {
    let mut const_of: Vec<Option<Arc<Val>>> = vec![None; flat.nslots];
    for (s, v) in &flat.consts {
        if let Some(c) = const_of.get_mut(*s) {
            *c = Some(v.clone());
        }
    }
    let mut nodes = Vec::with_capacity(flat.nodes.len());
    for n in std::mem::take(&mut flat.nodes) {
        let is_constant = n.op == "Constant" && n.domain.is_empty();
        let foldable = is_constant
            || (!n.has_subgraphs()
                && !n.inputs.is_empty()
                && n.inputs.iter().all(|i| match i {
                    Some(s) => const_of
                        .get(*s)
                        .is_some_and(|c| c.as_ref().is_some_and(|v| v.numel() <= FOLD_MAX_ELEMS)),
                    None => true,
                }));
        if foldable {
            let result = {
                let ins: Vec<Option<&Val>> = n
                    .inputs
                    .iter()
                    .map(|i| i.and_then(|s| const_of.get(s)?.as_deref()))
                    .collect();
                steps::run_node(&n, &ins, &[], 1)
            };
            match result {
                Ok(vals)
                    if vals.len() >= n.outputs.iter().flatten().count()
                        && vals
                            .iter()
                            .all(|v| v.numel() <= FOLD_MAX_ELEMS || is_constant) =>
                {
                    for (o, v) in n.outputs.iter().zip(vals) {
                        if let Some(s) = o {
                            let v = Arc::new(v);
                            flat.consts.push((*s, v.clone()));
                            if let Some(c) = const_of.get_mut(*s) {
                                *c = Some(v);
                            }
                        }
                    }
                    continue;
                }
                Err(e) if is_constant => {
                    return Err(JitError::Op {
                        node: n.name.clone(),
                        op: n.op.clone(),
                        what: e.0,
                    })
                }
                _ => {}
            }
        }
        nodes.push(n);
    }
    flat.nodes = nodes;
    Ok(const_of)
}

/// Compiles `model` for inputs of the given shapes with default [`Options`].
pub fn compile(model: &Model, shapes: &InputShapes) -> Result<CompiledModel, JitError> {
    compile_with(model, shapes, &Options::default())
}

/// Compiles `model` with explicit options.
pub fn compile_with(
    model: &Model,
    shapes: &InputShapes,
    opts: &Options,
) -> Result<CompiledModel, JitError> {
    let mut flat = plan::flatten::flatten(model)?;
    if shapes.0.len() != flat.inputs.len() {
        return Err(JitError::Inputs(format!(
            "{} input shapes given, the model has {} inputs",
            shapes.0.len(),
            flat.inputs.len()
        )));
    }
    let const_of = fold_constants(&mut flat)?;
    let outs: Vec<usize> = flat.outputs.iter().map(|o| o.0).collect();
    let nodes = std::mem::take(&mut flat.nodes);
    let steps = plan::build::build_steps(nodes, flat.nslots, &const_of, &outs, opts);
    let reads: Vec<Vec<usize>> = steps.iter().map(|s| s.reads()).collect();
    let mut keep = outs.clone();
    keep.extend(flat.consts.iter().map(|c| c.0));
    let free_after = plan::flatten::last_uses(flat.nslots, &reads, &keep);
    let shape_only = plan::flatten::shape_only_steps(&steps, flat.nslots, &flat.consts);
    let cm = CompiledModel {
        steps,
        shape_only,
        shape_cache: std::sync::OnceLock::new(),
        free_after,
        nslots: flat.nslots,
        consts: flat.consts,
        inputs: flat.inputs,
        outputs: flat.outputs,
        shapes: shapes.clone(),
        cache: KernelCache::new()?,
        threads: opts.threads.max(1),
    };
    Ok(cm)
}

impl CompiledModel {
    /// Runs the model on positional inputs; outputs in graph output order.
    pub fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>, JitError> {
        self.run_timed(inputs, None)
    }

    /// Runs the model like [`CompiledModel::run`] and adds each step's wall time to
    /// `times[i]` (resized to [`CompiledModel::steps`] entries); steps replayed from the
    /// shape cache add nothing.
    pub fn run_profiled(
        &self,
        inputs: &[Tensor],
        times: &mut Vec<std::time::Duration>,
    ) -> Result<Vec<Tensor>, JitError> {
        times.resize(self.steps.len(), std::time::Duration::ZERO);
        self.run_timed(inputs, Some(times))
    }

    /// The plan's steps as (node name, op type), in execution order; fused element-wise
    /// chains report the op type `ElementwiseChain`.
    pub fn steps(&self) -> Vec<(String, String)> {
        self.steps
            .iter()
            .map(|s| {
                let (n, o) = s.name();
                (n.to_string(), o.to_string())
            })
            .collect()
    }

    fn run_timed(
        &self,
        inputs: &[Tensor],
        mut times: Option<&mut Vec<std::time::Duration>>,
    ) -> Result<Vec<Tensor>, JitError> {
        if inputs.len() != self.inputs.len() {
            let names: Vec<&str> = self.inputs.iter().map(|i| i.1.as_str()).collect();
            return Err(JitError::Inputs(format!(
                "{} inputs given, the model has {} ({})",
                inputs.len(),
                names.len(),
                names.join(", ")
            )));
        }
        let mut slots: Vec<Option<Arc<Val>>> = vec![None; self.nslots];
        for (s, v) in &self.consts {
            slots[*s] = Some(v.clone());
        }
        for ((s, name), t) in self.inputs.iter().zip(inputs) {
            let v = Val::from_tensor(t)
                .map_err(|e| JitError::Inputs(format!("input '{name}': {}", e.0)))?;
            slots[*s] = Some(Arc::new(v));
        }
        // Shape computations are replayed only for the shapes the model was compiled for.
        let same_shapes = InputShapes::of(inputs) == self.shapes;
        let cached = self.shape_cache.get().filter(|_| same_shapes);
        if let Some(c) = cached {
            for (s, v) in c {
                if let Some(slot) = slots.get_mut(*s) {
                    *slot = Some(v.clone());
                }
            }
        }
        let mut record = Vec::new();
        for (i, st) in self.steps.iter().enumerate() {
            let shape_only = self.shape_only.get(i).copied().unwrap_or(false);
            if !(shape_only && cached.is_some()) {
                let start = times.as_ref().map(|_| std::time::Instant::now());
                st.run(&mut slots, &self.cache, self.threads)?;
                if let (Some(t), Some(start)) = (times.as_deref_mut(), start) {
                    if let Some(acc) = t.get_mut(i) {
                        *acc += start.elapsed();
                    }
                }
                if shape_only && same_shapes {
                    for s in st.outputs() {
                        if let Some(Some(v)) = slots.get(s) {
                            record.push((s, v.clone()));
                        }
                    }
                }
            }
            for &s in &self.free_after[i] {
                slots[s] = None;
            }
        }
        if same_shapes && cached.is_none() {
            // A concurrent first run may have filled it already; both recorded the same values.
            let _ = self.shape_cache.set(record);
        }
        let mut results = Vec::with_capacity(self.outputs.len());
        for (s, name) in &self.outputs {
            let v = slots[*s]
                .clone()
                .ok_or_else(|| JitError::Model(format!("output '{name}' was not computed")))?;
            results.push((v, name));
        }
        // Dropping the working slots leaves each result with one owner, so its buffer moves
        // into the output tensor instead of being copied.
        drop(slots);
        results
            .into_iter()
            .map(|(v, name)| {
                v.into_tensor(name)
                    .map_err(|e| JitError::Model(format!("output '{name}': {}", e.0)))
            })
            .collect()
    }

    /// The input shapes the model was compiled for.
    pub fn input_shapes(&self) -> &InputShapes {
        &self.shapes
    }

    /// What the plan contains.
    pub fn plan_stats(&self) -> PlanStats {
        let mut p = PlanStats {
            steps: self.steps.len(),
            ..PlanStats::default()
        };
        for s in &self.steps {
            match s {
                Step::Norm(n) => {
                    p.norm_steps += 1;
                    p.residual_folded += n.add.is_some() as usize;
                }
                Step::Chain(c) => {
                    p.chain_steps += 1;
                    p.chained_nodes += c.nodes.len();
                }
                Step::MatMul(_) => p.matmul_folds += 1,
                Step::Attention(_) => p.attention_steps += 1,
                Step::Op(_) => {}
            }
        }
        p
    }

    /// Steps that depend only on input shapes and constants (run once per shape, then
    /// replayed from a cache).
    pub fn shape_only_steps(&self) -> usize {
        self.shape_only.iter().filter(|&&b| b).count()
    }

    /// Kernel cache counters.
    pub fn kernel_stats(&self) -> KernelStats {
        self.cache.stats()
    }
}
