//! Building the plan's steps from the flattened nodes: MatMul and attention blocks (via
//! `plan::matmul` and `plan::attention`), normalisations with a residual Add folded in where the
//! graph allows, and chains of element-wise float ops, each becoming one step; every other node
//! becomes a step of its own.

use crate::kernels::{Bin, COp, Un};
use crate::node::PNode;
use crate::steps::chain::ChainStep;
use crate::steps::norm::NormStep;
use crate::steps::Step;
use crate::value::Val;
use std::sync::Arc;

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
    if !super::uses::default_domain(n) || n.outputs.len() != 1 || n.outputs[0].is_none() {
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
    opts: &super::Options,
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
        crate::plan::commute::scalar_before_transpose(&mut nodes, &producer, &readers, consts);
    }
    let mut taken = vec![false; nodes.len()];
    // Norm nodes and the residual Adds they absorb.
    let mut norm_add: Vec<Option<usize>> = vec![None; nodes.len()];
    if opts.norm_kernels {
        for (i, n) in nodes.iter().enumerate() {
            if !crate::steps::is_norm(&n.op) {
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
    let uses = crate::plan::uses::Uses::new(&nodes, &producer, &readers);
    // Attention blocks first (their products and Softmax become one step), then the other
    // MatMuls with the Transposes and bias Add around them.
    let mut attentions = if opts.fold_attention {
        crate::plan::attention::plan(&uses, consts, &mut taken)
    } else {
        Vec::new()
    };
    let mut matmuls = if opts.fold_matmul {
        crate::plan::matmul::plan(&uses, consts, &mut taken)
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
        if crate::steps::is_norm(&n.op) && opts.norm_kernels {
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
        wide: allow_wide && crate::kernels::wide_chain::suits(&prog),
        prog,
        memo: std::sync::OnceLock::new(),
    }
}
