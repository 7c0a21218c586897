//! Plan-level fusion: normalisation nodes (with a residual Add folded in where the graph allows)
//! and chains of element-wise float ops become single steps run by generated kernels. Every
//! fused step keeps its original nodes and falls back to the runtime functions when the
//! runtime shapes or dtypes do not fit the kernel.

use crate::error::{bail, OpError, OpResult};
use crate::kernels::{Bin, COp, ChainKey, KernelCache, Mode, NormKey, Un};
use crate::ops::norm::{expand_param, geometry};
use crate::ops::{self, Ctx};
use crate::par::{par_for, SendPtr};
use crate::plan::PNode;
use crate::rows::{run_rows, NormArgs};
use crate::step::Step;
use crate::value::{Data, Val};
use lnopt_ir::DType;
use std::sync::Arc;

/// A normalisation step.
pub(crate) struct NormStep {
    /// The norm node (input 0 is the Add output when `add` is set).
    pub node: PNode,
    /// RMS-style (no mean).
    pub rms: bool,
    /// Folded residual Add node, and whether its output must also be stored.
    pub add: Option<(PNode, bool)>,
    /// Large calls may take the AVX-512 row loop ([`crate::wide_norm`]).
    pub wide: bool,
    /// The kernel of the first specialisation used, so that later runs with the same key
    /// skip the shared cache (its lock and hash lookup).
    pub memo: std::sync::OnceLock<(NormKey, crate::kernels::NormFn)>,
}

fn slot_val(slots: &[Option<Arc<Val>>], s: Option<usize>) -> Option<&Val> {
    s.and_then(|s| slots.get(s)?.as_deref())
}

impl NormStep {
    /// Slots read.
    pub(crate) fn reads(&self) -> Vec<usize> {
        let mut r: Vec<usize> = self.node.inputs.iter().skip(1).flatten().copied().collect();
        match &self.add {
            Some((a, _)) => r.extend(a.inputs.iter().flatten().copied()),
            None => r.extend(self.node.inputs.first().copied().flatten()),
        }
        r
    }

    fn fallback(&self, slots: &mut [Option<Arc<Val>>], threads: usize) -> OpResult<()> {
        if let Some((a, _)) = &self.add {
            crate::step::run_op(a, slots, threads)?;
        }
        crate::step::run_op(&self.node, slots, threads)
    }

    /// Runs the kernel (or the fallback).
    pub(crate) fn run(
        &self,
        slots: &mut [Option<Arc<Val>>],
        cache: &KernelCache,
        threads: usize,
    ) -> OpResult<()> {
        self.run_with(slots, cache, threads, self.add.is_some())
    }

    /// Runs the kernel with the residual Add folded in (`fold`) or on the Add's stored result.
    fn run_with(
        &self,
        slots: &mut [Option<Arc<Val>>],
        cache: &KernelCache,
        threads: usize,
        fold: bool,
    ) -> OpResult<()> {
        let c = Ctx {
            node: &self.node,
            ins: &[],
            threads,
        };
        let add = if fold { self.add.as_ref() } else { None };
        let (x, skip) = match add {
            Some((a, _)) => (
                slot_val(slots, a.inputs.first().copied().flatten()),
                slot_val(slots, a.inputs.get(1).copied().flatten()),
            ),
            None => (
                slot_val(slots, self.node.inputs.first().copied().flatten()),
                None,
            ),
        };
        let Some(x) = x else {
            bail!("input was not computed")
        };
        let ok_dtype =
            x.dtype == DType::F32 || (add.is_none() && matches!(x.dtype, DType::F16 | DType::BF16));
        let skip_ok = match (add, skip) {
            (None, _) => true,
            (Some(_), Some(s)) => s.shape == x.shape && s.dtype == DType::F32,
            (Some(_), None) => false,
        };
        let stash = c.int("stash_type", 1)?;
        let kernel_dtype = matches!(x.dtype, DType::F32 | DType::F16 | DType::BF16);
        if kernel_dtype && !(ok_dtype && skip_ok) && stash == 1 && x.numel() > 0 {
            // The residual broadcasts (e.g. position embeddings [1, s, h] + [b, s, h]) or is
            // not f32: run the Add on its own, then the kernel on its result.
            if let Some((a, keep)) = add {
                crate::step::run_op(a, slots, threads)?;
                self.run_with(slots, cache, threads, false)?;
                if !keep {
                    // Nobody else reads the sum: release it now.
                    if let Some(slot) = a.outputs.first().copied().flatten() {
                        if let Some(v) = slots.get_mut(slot) {
                            *v = None;
                        }
                    }
                }
                return Ok(());
            }
        }
        if !ok_dtype || !skip_ok || stash != 1 || x.numel() == 0 {
            if fold {
                return self.fallback(slots, threads);
            }
            // The Add already ran: only the norm falls back.
            return crate::step::run_op(&self.node, slots, threads);
        }
        let axis = c.int("axis", -1)?;
        let eps = c.float("epsilon", 1e-5)?;
        let g = geometry(x, axis)?;
        let scale = slot_val(slots, self.node.inputs.get(1).copied().flatten());
        let bias = if self.rms {
            None
        } else {
            slot_val(slots, self.node.inputs.get(2).copied().flatten())
        };
        let scale = scale
            .map(|s| expand_param(s, x, axis, "scale"))
            .transpose()?;
        let bias = bias.map(|s| expand_param(s, x, axis, "bias")).transpose()?;
        let outs = &self.node.outputs;
        let (mean_slot, inv_slot) = if self.rms {
            (None, outs.get(1).copied().flatten())
        } else {
            (
                outs.get(1).copied().flatten(),
                outs.get(2).copied().flatten(),
            )
        };
        let sum_slot = match add {
            Some((a, true)) => a.outputs.first().copied().flatten(),
            _ => None,
        };
        let key = NormKey {
            rms: self.rms,
            hidden: g.hidden,
            eps_bits: eps.to_bits(),
            scale: scale.is_some(),
            bias: bias.is_some(),
            skip: add.is_some(),
            sum_out: sum_slot.is_some(),
            mean_out: mean_slot.is_some(),
            inv_out: inv_slot.is_some(),
        };
        let f = match self.memo.get() {
            Some((k, f)) if *k == key => *f,
            _ => {
                let f = cache.norm(&key).map_err(|e| OpError(e.to_string()))?;
                let _ = self.memo.set((key, f));
                f
            }
        };
        let n = x.numel();
        // The kernel writes every element of y (and of the residual sum): no zeroing.
        let mut y = crate::pool::take(n);
        let mut sum = crate::pool::take(if key.sum_out { n } else { 0 });
        let mut mean = vec![0f32; if key.mean_out { g.rows } else { 0 }];
        let mut inv = vec![0f32; if key.inv_out { g.rows } else { 0 }];
        let xd = x.f32s()?;
        let sd = match skip {
            Some(s) => s.f32s()?,
            None => &[],
        };
        let addr = |v: &[f32]| v.as_ptr() as usize;
        let args = NormArgs {
            key,
            x: addr(xd),
            skip: addr(sd),
            scale: addr(scale.as_deref().unwrap_or(&[])),
            bias: addr(bias.as_deref().unwrap_or(&[])),
            y: y.as_mut_ptr() as usize,
            sum: sum.as_mut_ptr() as usize,
            mean: mean.as_mut_ptr() as usize,
            inv: inv.as_mut_ptr() as usize,
            wide: self.wide && cache.uses_fma(),
        };
        par_for(g.rows, n, threads, |a, b| {
            // SAFETY: every buffer holds `rows * h` (or `rows`) f32s, checked by construction
            // above (x/skip/y/sum have n = rows*h elements, scale/bias h, mean/inv rows); each
            // worker gets the disjoint row range a..b, and the kernel touches exactly the
            // buffers its key enables.
            unsafe { run_rows(f, &args, a, b) }
        });
        let dt = x.dtype;
        let shape = x.shape.clone();
        let mut put = |s: Option<usize>, dt: DType, shape: &[usize], v: Vec<f32>| -> OpResult<()> {
            if let Some(slot) = s.and_then(|s| slots.get_mut(s)) {
                *slot = Some(Arc::new(Val::floats(dt, shape.to_vec(), v)?));
            }
            Ok(())
        };
        put(sum_slot, DType::F32, &shape, sum)?;
        put(mean_slot, DType::F32, &g.stat_shape, mean)?;
        put(inv_slot, DType::F32, &g.stat_shape, inv)?;
        put(outs.first().copied().flatten(), dt, &shape, y)?;
        Ok(())
    }
}

/// A fused chain of element-wise ops with one output.
pub(crate) struct ChainStep {
    /// Name for messages (the root node's).
    pub name: String,
    /// The original nodes, in order (for the fallback).
    pub nodes: Vec<PNode>,
    /// External input slots.
    pub inputs: Vec<usize>,
    /// Output slot.
    pub out: usize,
    /// Program over the inputs.
    pub prog: Vec<COp>,
    /// The kernel of the first input modes used (see [`NormStep::memo`]).
    pub memo: std::sync::OnceLock<(Vec<Mode>, crate::kernels::ChainFn)>,
    /// Run by the AVX-512 Rust evaluator (`wide_chain`) instead of a generated kernel.
    pub wide: bool,
}

impl ChainStep {
    /// Slots read.
    pub(crate) fn reads(&self) -> Vec<usize> {
        self.inputs.clone()
    }

    fn fallback(&self, slots: &mut [Option<Arc<Val>>], threads: usize) -> OpResult<()> {
        for n in &self.nodes {
            crate::step::run_op(n, slots, threads)
                .map_err(|e| OpError(format!("node '{}': {}", n.name, e.0)))?;
        }
        for n in &self.nodes {
            for o in n.outputs.iter().flatten() {
                if *o != self.out {
                    if let Some(s) = slots.get_mut(*o) {
                        *s = None;
                    }
                }
            }
        }
        Ok(())
    }

    /// Runs the kernel (or the fallback).
    pub(crate) fn run(
        &self,
        slots: &mut [Option<Arc<Val>>],
        cache: &KernelCache,
        threads: usize,
    ) -> OpResult<()> {
        let mut ins: Vec<&Val> = Vec::with_capacity(self.inputs.len());
        for &s in &self.inputs {
            match slot_val(slots, Some(s)) {
                Some(v) if v.dtype == DType::F32 => ins.push(v),
                _ => return self.fallback(slots, threads),
            }
        }
        let mut out_shape: Vec<usize> = Vec::new();
        for v in &ins {
            out_shape = ops::bcast::broadcast2(&out_shape, &v.shape)?;
        }
        let n = crate::value::checked_numel(&out_shape)?;
        // Row inputs are a trailing block of the output (a bias [h], a position table
        // [1, 1, s, d] onto [b, heads, s, d]) repeated over the leading axes; all Row inputs
        // of one run must share the block length.
        let mut row_len: Option<usize> = None;
        let mut modes = Vec::with_capacity(ins.len());
        for v in &ins {
            let block = trailing_block(&v.shape, &out_shape);
            modes.push(if v.shape == out_shape {
                Mode::Full
            } else if v.numel() == 1 {
                Mode::Scalar
            } else if block.is_some_and(|l| l < n && row_len.is_none_or(|r| r == l)) {
                row_len = block;
                Mode::Row
            } else if v.numel() == n {
                Mode::Full
            } else {
                return self.fallback(slots, threads);
            });
        }
        if n == 0 {
            return self.fallback(slots, threads);
        }
        let has_row = modes.contains(&Mode::Row);
        let f = if self.wide {
            None
        } else {
            Some(match self.memo.get() {
                Some((m, f)) if *m == modes => *f,
                _ => {
                    let key = ChainKey {
                        prog: self.prog.clone(),
                        modes: modes.clone(),
                    };
                    let f = cache.chain(&key).map_err(|e| OpError(e.to_string()))?;
                    let _ = self.memo.set((modes.clone(), f));
                    f
                }
            })
        };
        let mut out = crate::pool::zeroed(n);
        let ptrs: Vec<SendPtr> = ins
            .iter()
            .map(|v| match &*v.data {
                Data::F(d) => SendPtr(d.as_ptr() as usize),
                _ => SendPtr(0),
            })
            .collect();
        let po = SendPtr(out.as_mut_ptr() as usize);
        let (rows, h) = match row_len {
            Some(l) if has_row && l > 0 => (n / l, l),
            _ => (n, 1),
        };
        let modes_ref = &modes;
        par_for(rows, n, threads, |a, b| {
            // Row-broadcast inputs: split rows; otherwise split the flat range.
            let (start_elem, r, len) = if has_row {
                (a * h, b - a, h)
            } else {
                (a, 1, b - a)
            };
            let bases: Vec<*const f32> = ptrs
                .iter()
                .zip(modes_ref)
                .map(|(p, m)| match m {
                    Mode::Full => (p.0 + start_elem * 4) as *const f32,
                    _ => p.0 as *const f32,
                })
                .collect();
            // SAFETY: Full inputs and the output hold n elements and this worker covers the
            // disjoint range start_elem..start_elem + r*len ≤ n; Row inputs hold `h` elements
            // read per row; Scalar inputs hold one element. `bases` lives across the call.
            let dst = (po.0 + start_elem * 4) as *mut f32;
            match f {
                Some(f) => unsafe { f(bases.as_ptr(), dst, r, len) },
                None => unsafe {
                    crate::wide_chain::run(&crate::wide_chain::ChainCall {
                        prog: &self.prog,
                        modes: modes_ref,
                        bases: &bases,
                        out: dst,
                        rows: r,
                        h: len,
                    })
                },
            }
        });
        let v = Val::floats(DType::F32, out_shape, out)?;
        match slots.get_mut(self.out) {
            Some(s) => *s = Some(Arc::new(v)),
            None => bail!("internal: bad output slot"),
        }
        Ok(())
    }
}

/// If `shape` (leading 1s stripped) equals the trailing axes of `out`, the number of elements
/// of that trailing block.
fn trailing_block(shape: &[usize], out: &[usize]) -> Option<usize> {
    let lead = shape.iter().take_while(|&&d| d == 1).count();
    let core = shape.get(lead..)?;
    if core.is_empty() || core.len() > out.len() || !out.ends_with(core) {
        return None;
    }
    Some(core.iter().product())
}

/// The chain instruction for a fusible node, given operand instruction indices.
fn chain_op(op: &str) -> Option<Result<Un, Bin>> {
    Some(match op {
        "Neg" => Ok(Un::Neg),
        "Abs" => Ok(Un::Abs),
        "Sqrt" => Ok(Un::Sqrt),
        "Reciprocal" => Ok(Un::Recip),
        "Relu" => Ok(Un::Relu),
        "Erf" => Ok(Un::Erf),
        "Tanh" => Ok(Un::Tanh),
        "Sigmoid" => Ok(Un::Sigmoid),
        "Exp" => Ok(Un::Exp),
        "Add" => Err(Bin::Add),
        "Sub" => Err(Bin::Sub),
        "Mul" => Err(Bin::Mul),
        "Div" => Err(Bin::Div),
        "Max" => Err(Bin::Max),
        "Min" => Err(Bin::Min),
        _ => return None,
    })
}

/// Scalar f32 constant held in `slot`, if any.
fn const_scalar(consts: &[Option<Arc<Val>>], slot: usize) -> Option<f32> {
    crate::value::const_f32_scalar(consts, slot).map(|(c, _)| c)
}

/// Whether node `n` can join a chain (`Pow` only with a constant exponent of 1, 2 or 3; not
/// 0.5, whose `Sqrt` spelling differs at -inf: `pow(-inf, 0.5)` is +inf, `sqrt(-inf)` NaN).
fn fusible(n: &PNode, consts: &[Option<Arc<Val>>]) -> bool {
    if !(n.domain.is_empty() || n.domain == "ai.onnx")
        || n.outputs.len() != 1
        || n.outputs[0].is_none()
    {
        return false;
    }
    if n.op == "Pow" {
        return n.inputs.len() == 2
            && n.inputs[1]
                .and_then(|s| const_scalar(consts, s))
                .is_some_and(|e| [1.0, 2.0, 3.0].contains(&e));
    }
    match chain_op(&n.op) {
        Some(Ok(_)) => n.inputs.len() == 1 && n.inputs[0].is_some(),
        Some(Err(_)) => n.inputs.len() == 2 && n.inputs.iter().all(|i| i.is_some()),
        None => false,
    }
}

/// Builds the plan's steps from flattened nodes.
pub(crate) fn build_steps(
    mut nodes: Vec<PNode>,
    nslots: usize,
    consts: &[Option<Arc<Val>>],
    graph_outputs: &[usize],
    opts: &crate::Options,
) -> Vec<Step> {
    let mut readers = vec![0usize; nslots];
    // Index of the earliest node reading each slot (plan order).
    let mut first_reader: Vec<Option<usize>> = vec![None; nslots];
    let mut producer = vec![None; nslots];
    for (i, n) in nodes.iter().enumerate() {
        // Subgraphs' reads of enclosing values count: such a value must be stored.
        for s in n.reads() {
            let s = &s;
            if let Some(r) = readers.get_mut(*s) {
                *r += 1;
            }
            if let Some(f) = first_reader.get_mut(*s) {
                if f.is_none() {
                    *f = Some(i);
                }
            }
        }
        for s in n.outputs.iter().flatten() {
            if let Some(p) = producer.get_mut(*s) {
                *p = Some(i);
            }
        }
    }
    for &o in graph_outputs {
        if let Some(r) = readers.get_mut(o) {
            *r += 1;
        }
    }
    if opts.fold_matmul {
        // Slots keep their readers and producer indices through the swaps.
        crate::commute::scalar_before_transpose(&mut nodes, &producer, &readers, consts);
    }
    let mut taken = vec![false; nodes.len()];
    // Norm nodes and the residual Adds they absorb.
    let mut norm_add: Vec<Option<usize>> = vec![None; nodes.len()];
    if opts.norm_kernels {
        for (i, n) in nodes.iter().enumerate() {
            if !crate::step::is_norm(&n.op) {
                continue;
            }
            let Some(x) = n.inputs.first().copied().flatten() else {
                continue;
            };
            if let Some(p) = producer.get(x).copied().flatten() {
                let a = &nodes[p];
                // The Add's result is computed inside the norm's step, so no other node may
                // need it before the norm runs.
                let first = first_reader.get(x).copied().flatten();
                if opts.fold_residual
                    && a.op == "Add"
                    && a.domain.is_empty()
                    && a.inputs.len() == 2
                    && a.inputs.iter().all(|s| s.is_some())
                    && !taken[p]
                    && first == Some(i)
                {
                    taken[p] = true;
                    norm_add[i] = Some(p);
                }
            }
        }
    }
    // MatMuls with the Transposes and bias Add around them.
    let uses = crate::matmul_step::Uses::new(&nodes, &producer, &readers);
    // Attention blocks first (their products and Softmax become one step), then the other
    // MatMuls with the Transposes and bias Add around them.
    let mut attentions = if opts.fold_attention {
        crate::attention_step::plan(&uses, consts, &mut taken)
    } else {
        Vec::new()
    };
    let mut matmuls = if opts.fold_matmul {
        crate::matmul_step::plan(&uses, consts, &mut taken)
    } else {
        Vec::new()
    };
    // Chains: union fusible producers read only by one fusible consumer.
    let mut group: Vec<usize> = (0..nodes.len()).collect();
    let ok: Vec<bool> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| opts.fuse_chains && !taken[i] && fusible(n, consts))
        .collect();
    fn find(g: &mut [usize], i: usize) -> usize {
        let mut r = i;
        while g[r] != r {
            r = g[r];
        }
        let mut c = i;
        while g[c] != r {
            let nx = g[c];
            g[c] = r;
            c = nx;
        }
        r
    }
    for (i, n) in nodes.iter().enumerate() {
        if !ok[i] {
            continue;
        }
        for s in n.inputs.iter().flatten() {
            if let Some(p) = producer.get(*s).copied().flatten() {
                if ok[p] && readers[*s] == 1 {
                    let rp = find(&mut group, p);
                    group[rp] = i;
                }
            }
        }
    }
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, &fus) in ok.iter().enumerate() {
        if fus {
            let r = find(&mut group, i);
            members[r].push(i);
        }
    }
    let mut steps = Vec::with_capacity(nodes.len());
    for (i, n) in nodes.iter().enumerate() {
        if let Some(a) = attentions.get_mut(i).and_then(Option::take) {
            steps.push(Step::Attention(Box::new(a)));
            continue;
        }
        if let Some(m) = matmuls.get_mut(i).and_then(Option::take) {
            steps.push(Step::MatMul(Box::new(m)));
            continue;
        }
        if taken[i] {
            continue;
        }
        if crate::step::is_norm(&n.op) && opts.norm_kernels {
            let add = norm_add[i].map(|p| {
                let a = &nodes[p];
                let out = a.outputs.first().copied().flatten();
                let keep = out.is_some_and(|o| readers.get(o).copied().unwrap_or(0) > 1);
                (a.clone(), keep)
            });
            steps.push(Step::Norm(Box::new(NormStep {
                node: n.clone(),
                rms: n.op != "LayerNormalization",
                add,
                wide: opts.wide_norms,
                memo: std::sync::OnceLock::new(),
            })));
            continue;
        }
        if ok[i] {
            if find(&mut group, i) != i {
                continue; // emitted with its root
            }
            // A lone fusible op runs as a one-node chain too: the generated loop beats the
            // runtime function (t5's Relu over [2,8,256]: 3.5 us as a runtime function).
            steps.push(Step::Chain(make_chain(
                &nodes,
                &members[i],
                consts,
                opts.wide_chains,
            )));
            continue;
        }
        steps.push(Step::Op(n.clone()));
    }
    steps
}

fn make_chain(
    nodes: &[PNode],
    m: &[usize],
    consts: &[Option<Arc<Val>>],
    allow_wide: bool,
) -> ChainStep {
    use std::collections::HashMap;
    let mut prog = Vec::new();
    let mut at: HashMap<usize, usize> = HashMap::new(); // slot -> instruction
    let mut inputs = Vec::new();
    let mut operand = |s: usize, prog: &mut Vec<COp>, at: &mut HashMap<usize, usize>| -> usize {
        if let Some(&k) = at.get(&s) {
            return k;
        }
        let op = match const_scalar(consts, s) {
            Some(c) => COp::Const(c.to_bits()),
            None => {
                inputs.push(s);
                COp::In(inputs.len() - 1)
            }
        };
        prog.push(op);
        at.insert(s, prog.len() - 1);
        prog.len() - 1
    };
    let mut out = 0;
    for &i in m {
        let n = &nodes[i];
        let a = operand(n.inputs[0].unwrap_or(0), &mut prog, &mut at);
        let res = if n.op == "Pow" {
            let e = n.inputs[1]
                .and_then(|s| const_scalar(consts, s))
                .unwrap_or(1.0);
            if e == 1.0 {
                prog.push(COp::Bin(Bin::Max, a, a));
            } else {
                prog.push(COp::Bin(Bin::Mul, a, a));
                if e == 3.0 {
                    prog.push(COp::Bin(Bin::Mul, prog.len() - 1, a));
                }
            }
            prog.len() - 1
        } else {
            match chain_op(&n.op) {
                Some(Ok(u)) => prog.push(COp::Un(u, a)),
                Some(Err(b)) => {
                    let c = operand(n.inputs[1].unwrap_or(0), &mut prog, &mut at);
                    prog.push(COp::Bin(b, a, c));
                }
                None => {}
            }
            prog.len() - 1
        };
        if let Some(o) = n.outputs[0] {
            at.insert(o, res);
            out = o;
        }
    }
    ChainStep {
        name: nodes[m[m.len() - 1]].name.clone(),
        nodes: m.iter().map(|&i| nodes[i].clone()).collect(),
        inputs,
        out,
        wide: allow_wide && crate::wide_chain::suits(&prog),
        prog,
        memo: std::sync::OnceLock::new(),
    }
}
