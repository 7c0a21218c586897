//! What runs: the [`Step`]s of an execution plan and their execution. A plain node runs through
//! its runtime function ([`crate::ops`]) or the interpreter's op; fused steps (`norm`, `chain`,
//! `matmul`, `attention`) run their kernels and fall back to their original nodes.

pub(crate) mod attention;
pub(crate) mod chain;
pub(crate) mod matmul;
pub(crate) mod norm;

use crate::error::{JitError, OpError};
use crate::kernels::KernelCache;
use crate::node::PNode;
use crate::ops::{self, Ctx};
use crate::value::Val;
use std::sync::Arc;

/// The value in slot `s`, if `s` is given and computed.
pub(crate) fn slot_val(slots: &[Option<Arc<Val>>], s: Option<usize>) -> Option<&Val> {
    s.and_then(|s| slots.get(s)?.as_deref())
}

/// True for the normalisation ops that may get a generated kernel.
pub(crate) fn is_norm(op: &str) -> bool {
    matches!(
        op,
        "LayerNormalization" | "RMSNormalization" | "SimplifiedLayerNormalization"
    )
}

/// One step of the plan.
pub(crate) enum Step {
    /// A runtime function.
    Op(PNode),
    /// A normalisation, possibly with a residual Add folded in, run by a generated kernel.
    Norm(Box<crate::steps::norm::NormStep>),
    /// A chain of element-wise ops run as one generated loop.
    Chain(crate::steps::chain::ChainStep),
    /// A MatMul with folded Transposes / bias Add.
    MatMul(Box<crate::steps::matmul::MatMulStep>),
    /// An attention block (scores, Softmax and `·V` in blocks of query rows).
    Attention(Box<crate::steps::attention::AttentionStep>),
}

impl Step {
    /// Slots read.
    pub(crate) fn reads(&self) -> Vec<usize> {
        match self {
            Step::Op(n) => n.reads().collect(),
            Step::Norm(s) => s.reads(),
            Step::Chain(s) => s.reads(),
            Step::MatMul(s) => s.reads(),
            Step::Attention(s) => s.reads(),
        }
    }

    /// Slots written.
    pub(crate) fn outputs(&self) -> Vec<usize> {
        match self {
            Step::Op(n) => n.outputs.iter().flatten().copied().collect(),
            Step::Norm(s) => {
                let mut o: Vec<usize> = s.node.outputs.iter().flatten().copied().collect();
                if let Some((a, true)) = &s.add {
                    o.extend(a.outputs.iter().flatten().copied());
                }
                o
            }
            Step::Chain(s) => vec![s.out],
            Step::MatMul(s) => vec![s.out],
            Step::Attention(s) => vec![s.out],
        }
    }

    /// Name for messages.
    pub(crate) fn name(&self) -> (&str, &str) {
        match self {
            Step::Op(n) => (&n.name, &n.op),
            Step::Norm(s) => (&s.node.name, &s.node.op),
            Step::Chain(s) => (&s.name, "ElementwiseChain"),
            Step::MatMul(s) => (&s.node.name, "MatMul+"),
            Step::Attention(s) => (&s.node.name, "Attention"),
        }
    }

    /// Runs the step over the slots.
    pub(crate) fn run(
        &self,
        slots: &mut [Option<Arc<Val>>],
        cache: &KernelCache,
        threads: usize,
    ) -> Result<(), JitError> {
        let err = |e: OpError| {
            let (node, op) = self.name();
            JitError::Op {
                node: node.to_string(),
                op: op.to_string(),
                what: e.0,
            }
        };
        match self {
            Step::Op(n) => run_op(n, slots, threads).map_err(err),
            Step::Norm(s) => s.run(slots, cache, threads).map_err(err),
            Step::Chain(s) => s.run(slots, cache, threads).map_err(err),
            Step::MatMul(s) => s.run(slots, threads).map_err(err),
            Step::Attention(s) => s.run(slots, threads).map_err(err),
        }
    }
}

/// Runs a fused step's original `nodes` one by one (its fast path declined the values) and
/// clears every slot they wrote except the step's output `keep`.
pub(crate) fn run_originals<'n>(
    nodes: impl Iterator<Item = &'n PNode> + Clone,
    keep: usize,
    slots: &mut [Option<Arc<Val>>],
    threads: usize,
) -> Result<(), OpError> {
    for n in nodes.clone() {
        run_op(n, slots, threads).map_err(|e| OpError(format!("node '{}': {}", n.name, e.0)))?;
    }
    for n in nodes {
        for o in n.outputs.iter().flatten() {
            if *o != keep {
                if let Some(s) = slots.get_mut(*o) {
                    *s = None;
                }
            }
        }
    }
    Ok(())
}

/// Stores a fused step's result in slot `out`, or, when the fast path declined (`None`),
/// runs the step's original nodes (listed by `originals`, called only then) instead.
pub(crate) fn store_or_run<'n, I>(
    result: Option<Val>,
    out: usize,
    originals: impl FnOnce() -> I,
    slots: &mut [Option<Arc<Val>>],
    threads: usize,
) -> Result<(), OpError>
where
    I: IntoIterator<Item = &'n PNode>,
    I::IntoIter: Clone,
{
    match result {
        Some(v) => match slots.get_mut(out) {
            Some(s) => {
                *s = Some(Arc::new(v));
                Ok(())
            }
            None => Err(OpError("internal: bad output slot".into())),
        },
        None => run_originals(originals().into_iter(), out, slots, threads),
    }
}

/// Runs one node: through its runtime function when the JIT has one, else (or when that
/// function declines the node's dtypes or attributes) through the interpreter's op.
pub(crate) fn run_op(
    n: &PNode,
    slots: &mut [Option<Arc<Val>>],
    threads: usize,
) -> Result<(), OpError> {
    let outs = {
        let get = |i: &Option<usize>| i.and_then(|s| slots.get(s)?.as_deref());
        let ins: Vec<Option<&Val>> = n.inputs.iter().map(get).collect();
        if n.inputs
            .iter()
            .zip(&ins)
            .any(|(a, b)| a.is_some() && b.is_none())
        {
            return Err(OpError("an input was not computed".into()));
        }
        let outer: Vec<Option<&Val>> = n.outer.iter().map(get).collect();
        run_node(n, &ins, &outer, threads)?
    };
    store(slots, &n.outputs, outs)
}

/// The results of node `n` on `ins` (and the enclosing-scope values `outer` its subgraphs
/// read): its runtime function's when it has one that accepts them, else the interpreter's.
/// When both refuse, the error carries both reasons.
pub(crate) fn run_node(
    n: &PNode,
    ins: &[Option<&Val>],
    outer: &[Option<&Val>],
    threads: usize,
) -> Result<Vec<Val>, OpError> {
    if !n.native {
        return n.fallback.run(n.opset, ins, outer);
    }
    let native = ops::run(&Ctx {
        node: n,
        ins,
        threads,
    });
    match native {
        Ok(v) => Ok(v),
        Err(declined) => n
            .fallback
            .run(n.opset, ins, outer)
            .map_err(|e| OpError(format!("{}; the interpreter: {}", declined.0, e.0))),
    }
}

/// Stores op results into output slots.
pub(crate) fn store(
    slots: &mut [Option<Arc<Val>>],
    outs: &[Option<usize>],
    vals: Vec<Val>,
) -> Result<(), OpError> {
    let mut it = vals.into_iter();
    for o in outs {
        let v = it.next();
        if let Some(s) = o {
            match (v, slots.get_mut(*s)) {
                (Some(v), Some(slot)) => *slot = Some(Arc::new(v)),
                (None, _) => {
                    return Err(OpError(
                        "the op produced fewer outputs than the node declares".into(),
                    ))
                }
                (_, None) => return Err(OpError("internal: bad slot".into())),
            }
        }
    }
    Ok(())
}
