//! Regions: the nodes around one ReduceMean, translated into a small e-graph.
//!
//! A region starts at the ReduceMean's input (peeling `Mul(a,a)`, `Pow(a,_)` and `Cast`) and
//! grows forward through the ops the language knows, up to [`FORWARD_DEPTH`] steps. Values
//! read from outside the region become opaque `%n` leaves whose facts come from inference.

use crate::analysis::{Facts, NormAnalysis};
use crate::consts::{const_of, uniform_of};
use crate::lang::{NormLang, Scalar, ValRef};
use crate::rules::cond::NormEGraph;
use egg::Id;
use lnopt_infer::GraphTypes;
use lnopt_ir::{Graph, NodeId, ValueId};
use std::collections::{BTreeSet, HashMap, VecDeque};

/// How far (in nodes) a region reaches forward from the normalised input.
pub const FORWARD_DEPTH: usize = 14;

/// An IR node as a term of the language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `Add`.
    Add,
    /// `Sub`.
    Sub,
    /// `Mul`.
    Mul,
    /// `Div`.
    Div,
    /// `Pow`.
    Pow,
    /// `Sqrt`.
    Sqrt,
    /// `Reciprocal`.
    Recip,
    /// `Neg`.
    Neg,
    /// `Max` of exactly two operands.
    Max,
    /// `Cast` to a dtype code (`CastLike` to a value of known type too).
    Cast(i64),
    /// `ReduceMean` over the last `k` axes with keepdims, or `GlobalAveragePool`.
    Mean(i64),
    /// `Identity` (and ReduceMean with no axes and `noop_with_empty_axes`).
    Alias,
    /// `ReduceSum` (or, with `square`, `ReduceSumSquare`) over the last `k` axes; with
    /// `flat`, keepdims=0 keeping only axis 1 (the `flat` view of the keepdims sum).
    Sum {
        /// Trailing axes reduced.
        k: i64,
        /// `ReduceSumSquare`: the sum of `x·x`.
        square: bool,
        /// keepdims=0 with only axis 1 kept.
        flat: bool,
    },
    /// `ReduceMin` (or, with `max`, `ReduceMax`) over the last `k` axes with keepdims.
    Extremum {
        /// Trailing axes reduced.
        k: i64,
        /// `ReduceMax`.
        max: bool,
    },
    /// `Equal`.
    Eq,
    /// `And`.
    And,
    /// `Where`.
    Where,
    /// `Squeeze` of every axis but 1 ([`NormLang::Flat`]).
    Flat,
    /// Inference-mode `BatchNormalization` ([`batch_norm_spec`]).
    BatchNorm {
        /// The epsilon attribute.
        eps: Scalar,
        /// The scale is not provably all ones (so it stays a product).
        scale: bool,
        /// The bias is not provably all zeros (so it stays a sum).
        bias: bool,
    },
}

/// The normalised (non-negative, distinct, in range) reduction axes, or `None`.
fn normalised_axes(axes: &[i64], rank: i64) -> Option<BTreeSet<i64>> {
    let mut norm = BTreeSet::new();
    for &a in axes {
        let p = if a < 0 { a + rank } else { a };
        if p < 0 || p >= rank || !norm.insert(p) {
            return None;
        }
    }
    Some(norm)
}

/// The `k` of a keepdims reduction over `axes` that equals the reduction over the last `k`
/// axes: the axes are the last `k` (`k ≥ 1`) plus axes whose dim is known to be 1 (reducing
/// a size-1 axis with keepdims changes nothing; tf2onnx reduces axes `[0, 2, 3]` of a
/// `[1, rows, H, 1]` view).
pub fn trailing_with_unit_axes(axes: &BTreeSet<i64>, shape: &[lnopt_ir::Dim]) -> Option<i64> {
    let rank = shape.len() as i64;
    let mut k = 0;
    while k < rank && axes.contains(&(rank - 1 - k)) {
        k += 1;
    }
    let units = axes
        .iter()
        .filter(|&&a| a < rank - k)
        .all(|&a| shape.get(a as usize) == Some(&lnopt_ir::Dim::Fixed(1)));
    (k >= 1 && units).then_some(k)
}

/// Axes of a reduction or Squeeze node: the `axes` attribute before opset `input_from`,
/// a constant second input from then on. `Ok(None)` when absent.
fn axes_of(
    g: &Graph,
    types: &GraphTypes,
    opset: i64,
    nid: NodeId,
    input_from: i64,
) -> Result<Option<Vec<i64>>, ()> {
    let node = g.node(nid);
    if opset < input_from {
        return node
            .attr_ints("axes")
            .map(|a| a.map(|a| a.to_vec()))
            .map_err(|_| ());
    }
    match node.input(1) {
        None => Ok(None),
        Some(a) => match const_of(g, types, a) {
            Some(c) => Ok(Some(c.values.iter().map(|&v| v as i64).collect())),
            None => Err(()),
        },
    }
}

/// `ReduceSum` / `ReduceSumSquare` as a term: `(k, flat)` when it reduces the last `k` axes
/// (plus size-1 axes, [`trailing_with_unit_axes`]) keeping dims, or with keepdims=0 keeps
/// only axis 1 of a rank ≥ 3 input.
pub fn sum_spec(g: &Graph, types: &GraphTypes, opset: i64, nid: NodeId) -> Option<(i64, bool)> {
    let node = g.node(nid);
    let input_from = if node.op_type == "ReduceSum" { 13 } else { 18 };
    let axes = axes_of(g, types, opset, nid, input_from).ok()?;
    let keepdims = node.attr_int("keepdims").ok()?.unwrap_or(1);
    let noop = node.attr_int("noop_with_empty_axes").ok()?.unwrap_or(0);
    let shape = types.ty(node.input(0)?)?.shape.clone()?;
    let rank = shape.len() as i64;
    let axes = match axes {
        Some(a) if !a.is_empty() => a,
        _ if noop != 0 => return None,
        _ => (0..rank).collect(),
    };
    let norm = normalised_axes(&axes, rank)?;
    let k = trailing_with_unit_axes(&norm, &shape)?;
    match keepdims {
        1 => Some((k, false)),
        0 if rank >= 3 && !norm.contains(&1) && norm.len() as i64 == rank - 1 => Some((k, true)),
        _ => None,
    }
}

/// True when the `Squeeze` node `nid` removes every axis but axis 1 of a rank ≥ 2 input
/// (its result is the `[C]` view of a `[1, C, 1, …]` tensor; Squeeze fails on any other dim).
pub fn squeeze_is_flat(g: &Graph, types: &GraphTypes, opset: i64, nid: NodeId) -> bool {
    let Some(rank) = g
        .node(nid)
        .input(0)
        .and_then(|x| rank_of(g, types, x, 0))
        .map(|r| r as i64)
    else {
        return false;
    };
    let Ok(Some(axes)) = axes_of(g, types, opset, nid, 13) else {
        return false;
    };
    rank >= 2
        && normalised_axes(&axes, rank)
            .is_some_and(|n| n.into_iter().eq((0..rank).filter(|&a| a != 1)))
}

/// An inference-mode `BatchNormalization` as arithmetic, when every fact it needs holds:
/// opset ≥ 7 (`spatial` = 1 if present), `training_mode` 0, one output, a float input of
/// known rank ≥ 2, the four per-channel inputs of rank 1 whose known lengths equal the
/// input's known dim 1, and a finite epsilon. Its function is then
/// `(x − chan(mean)) / √(chan(var) + ε) · chan(scale) + chan(bias)`.
pub fn batch_norm_spec(g: &Graph, types: &GraphTypes, opset: i64, nid: NodeId) -> Option<Op> {
    let node = g.node(nid);
    if opset < 7 || node.outputs().len() != 1 || node.inputs().len() != 5 {
        return None;
    }
    if node.attr_int("training_mode").ok()?.unwrap_or(0) != 0
        || node.attr_int("spatial").ok()?.unwrap_or(1) != 1
    {
        return None;
    }
    let ins: Vec<ValueId> = node.inputs().iter().copied().collect::<Option<_>>()?;
    let xt = types.ty(ins[0])?;
    let xs = xt.shape.as_ref()?;
    if !xt.elem.is_float() || xs.len() < 2 {
        return None;
    }
    for &p in &ins[1..] {
        let ps = types.ty(p)?.shape.as_ref()?;
        let [d] = ps.as_slice() else { return None };
        if let (lnopt_ir::Dim::Fixed(a), lnopt_ir::Dim::Fixed(b)) = (d, &xs[1]) {
            if a != b {
                return None;
            }
        }
    }
    let eps = f64::from(node.attr_float("epsilon").ok()?.unwrap_or(1e-5));
    if !eps.is_finite() {
        return None;
    }
    Some(Op::BatchNorm {
        eps: Scalar::new(eps),
        scale: uniform_of(g, types, ins[1]) != Some(1.0),
        bias: uniform_of(g, types, ins[2]) != Some(0.0),
    })
}

/// Facts about a ReduceMean node: the number of trailing axes it reduces, or why it cannot
/// be part of a normalisation.
pub fn mean_axes(
    g: &Graph,
    types: &GraphTypes,
    opset: i64,
    nid: NodeId,
) -> Result<Option<i64>, String> {
    let node = g.node(nid);
    let name = node.display_name(nid);
    let Some(x) = node.input(0) else {
        return Err(format!("{} {name} has no input", node.op_type));
    };
    if node.op_type == "GlobalAveragePool" {
        return global_pool_axes(g, types, x, &name).map(Some);
    }
    let keepdims = node
        .attr_int("keepdims")
        .map_err(|e| format!("{name}: {e}"))?;
    let axes: Option<Vec<i64>> = if opset < 18 {
        node.attr_ints("axes")
            .map_err(|e| format!("{name}: {e}"))?
            .map(|a| a.to_vec())
    } else {
        match node.input(1) {
            None => None,
            Some(a) => match const_of(g, types, a) {
                Some(c) => Some(c.values.iter().map(|&v| v as i64).collect()),
                None => {
                    return Err(format!(
                        "ReduceMean axes input of node {name} is not a constant"
                    ))
                }
            },
        }
    };
    let noop = node
        .attr_int("noop_with_empty_axes")
        .ok()
        .flatten()
        .unwrap_or(0);
    if opset >= 18 && noop != 0 && axes.as_ref().is_none_or(|a| a.is_empty()) {
        return Ok(None);
    }
    let Some(rank) = rank_of(g, types, x, 0) else {
        // Negative axes that are the last `k` (`[-1]`, `[-2, -1]`) are the trailing axes of
        // any rank the node accepts (it fails on a rank below `k`).
        return match (&axes, keepdims.unwrap_or(1)) {
            (Some(a), 1) if negative_trailing(a).is_some() => Ok(negative_trailing(a)),
            _ => Err(format!(
                "rank of the input of ReduceMean {name} is unknown, axes cannot be checked"
            )),
        };
    };
    let rank = rank as i64;
    let axes = match axes {
        Some(a) if !a.is_empty() => a,
        _ => (0..rank).collect(),
    };
    let mut norm = BTreeSet::new();
    for &a in &axes {
        let p = if a < 0 { a + rank } else { a };
        if p < 0 || p >= rank || !norm.insert(p) {
            return Err(format!(
                "ReduceMean axes {axes:?} are invalid for rank {rank} at node {name}"
            ));
        }
    }
    let n = norm.len() as i64;
    let k = if norm.iter().copied().eq(rank - n..rank) {
        n
    } else {
        // With keepdims, axes of size 1 may be reduced too: that changes nothing.
        let unit_axes = (keepdims.unwrap_or(1) == 1)
            .then(|| types.ty(x).and_then(|t| t.shape.clone()))
            .flatten()
            .and_then(|s| trailing_with_unit_axes(&norm, &s));
        match unit_axes {
            Some(k) => k,
            None => {
                return Err(format!(
                    "ReduceMean axes {axes:?} are not trailing for rank {rank} at node {name}"
                ))
            }
        }
    };
    if keepdims.unwrap_or(1) != 1 && !kept_dims_are_ones(types, x, k) {
        return Err(format!(
            "ReduceMean keepdims=0 at node {name}: the mean would broadcast along the wrong axes"
        ));
    }
    Ok(Some(k))
}

/// `k` when `axes` are `-k, …, -1` in any order (and not empty).
pub fn negative_trailing(axes: &[i64]) -> Option<i64> {
    let k = axes.len() as i64;
    let set: BTreeSet<i64> = axes.iter().copied().collect();
    (k >= 1 && set.len() == axes.len() && set.iter().copied().eq(-k..0)).then_some(k)
}

/// A keepdims=0 mean over the last `k` axes of `x` whose other dims are all 1 holds one
/// value per row like the keepdims=1 mean, only with fewer (size-1) axes: broadcast against
/// anything of `x`'s rank, both give the same tensor. The region gives it the keepdims=1
/// term; the pass never lets its IR value be replaced or reused as that term
/// ([`Region::reshaped`]).
fn kept_dims_are_ones(types: &GraphTypes, x: ValueId, k: i64) -> bool {
    let Some(shape) = types.ty(x).and_then(|t| t.shape.clone()) else {
        return false;
    };
    let Ok(k) = usize::try_from(k) else {
        return false;
    };
    shape.len() >= k
        && shape[..shape.len() - k]
            .iter()
            .all(|d| *d == lnopt_ir::Dim::Fixed(1))
}

/// The axes a `GlobalAveragePool` averages: every axis from 2 on of a rank ≥ 3 input, kept
/// as size 1 — the keepdims mean over the last `rank - 2` axes.
fn global_pool_axes(g: &Graph, types: &GraphTypes, x: ValueId, name: &str) -> Result<i64, String> {
    let Some(rank) = rank_of(g, types, x, 0) else {
        return Err(format!(
            "rank of the input of GlobalAveragePool {name} is unknown, the pooled axes cannot be checked"
        ));
    };
    if rank < 3 {
        return Err(format!(
            "GlobalAveragePool {name} has a rank-{rank} input; it needs rank 3 or more"
        ));
    }
    Ok(rank as i64 - 2)
}

/// True when the `Reshape` node `nid` provably returns its input unchanged: the target shape
/// is a constant of the input's rank whose entries equal the input's dims (`0` copies a dim
/// unless `allowzero` is set), with at most one `-1`, which then stands for the only dim left.
pub fn is_noop_reshape(g: &Graph, types: &GraphTypes, nid: NodeId) -> bool {
    let node = g.node(nid);
    if node.op_type != "Reshape" || !node.in_default_domain() {
        return false;
    }
    let (Some(x), Some(t)) = (node.input(0), node.input(1)) else {
        return false;
    };
    let allowzero = node.attr_int("allowzero").ok().flatten().unwrap_or(0) != 0;
    let Some(target) = types.constant(t).and_then(|c| c.to_i64_vec()) else {
        return false;
    };
    let Some(shape) = types.ty(x).and_then(|t| t.shape.clone()) else {
        return false;
    };
    if target.len() != shape.len() || target.iter().filter(|&&d| d == -1).count() > 1 {
        return false;
    }
    target.iter().zip(&shape).all(|(&t, d)| match t {
        -1 => true,
        0 if !allowzero => true,
        t => *d == lnopt_ir::Dim::Fixed(t),
    })
}

/// True when node `nid`'s only output is no graph output and only feeds ops of the language,
/// so making it an alias of its input adds no second live value to that input's e-class.
fn only_feeds_terms(g: &Graph, nid: NodeId) -> bool {
    const TERMS: &[&str] = &[
        "Add",
        "Sub",
        "Mul",
        "Div",
        "Pow",
        "Sqrt",
        "Reciprocal",
        "Neg",
        "Max",
        "Cast",
        "CastLike",
        "ReduceMean",
        "Identity",
    ];
    let Some(out) = g.node(nid).output(0) else {
        return false;
    };
    !g.is_output(out)
        && g.value(out)
            .uses()
            .iter()
            .all(|(u, _)| TERMS.contains(&g.node(*u).op_type.as_str()))
}

/// True for the nodes that compute a mean the language models: `ReduceMean` and
/// `GlobalAveragePool` in the default domain.
pub fn is_mean_node(node: &lnopt_ir::Node) -> bool {
    matches!(node.op_type.as_str(), "ReduceMean" | "GlobalAveragePool") && node.in_default_domain()
}

/// Rank of `v`: inferred, or (when inference does not know) propagated through element-wise
/// ops and keepdims reductions from inputs of known rank.
pub fn rank_of(g: &Graph, types: &GraphTypes, v: ValueId, depth: usize) -> Option<usize> {
    if let Some(r) = types.ty(v).and_then(|t| t.rank()) {
        return Some(r);
    }
    if let Some(c) = const_of(g, types, v) {
        return Some(c.dims.len());
    }
    if depth > 32 {
        return None;
    }
    let (n, _) = g.producer_node(v)?;
    let node = g.node(n);
    match node.op_type.as_str() {
        "Add" | "Sub" | "Mul" | "Div" | "Pow" => {
            let mut r = 0;
            for i in node.inputs() {
                r = r.max(rank_of(g, types, (*i)?, depth + 1)?);
            }
            Some(r)
        }
        "Sqrt" | "Reciprocal" | "Cast" | "CastLike" | "Identity" | "Neg" | "GlobalAveragePool" => {
            rank_of(g, types, node.input(0)?, depth + 1)
        }
        "Max" if node.inputs().len() == 2 => {
            let mut r = 0;
            for i in node.inputs() {
                r = r.max(rank_of(g, types, (*i)?, depth + 1)?);
            }
            Some(r)
        }
        "ReduceMean" if node.attr_int("keepdims").ok()?.unwrap_or(1) == 1 => {
            rank_of(g, types, node.input(0)?, depth + 1)
        }
        _ => None,
    }
}

/// The term an IR node stands for, or `None` if the language does not model it.
pub fn translate(g: &Graph, types: &GraphTypes, opset: i64, nid: NodeId) -> Option<Op> {
    let node = g.node(nid);
    if !node.in_default_domain() || node.outputs().len() != 1 {
        return None;
    }
    let n_in = node.inputs().iter().flatten().count();
    let bin = |op| (n_in == 2 && node.inputs().len() == 2).then_some(op);
    let un = |op| (n_in == 1 && node.inputs().len() == 1).then_some(op);
    match node.op_type.as_str() {
        "Add" => bin(Op::Add),
        "Sub" => bin(Op::Sub),
        "Mul" => bin(Op::Mul),
        "Div" => bin(Op::Div),
        "Pow" => bin(Op::Pow),
        "Sqrt" => un(Op::Sqrt),
        "Reciprocal" => un(Op::Recip),
        "Neg" => un(Op::Neg),
        "Max" => bin(Op::Max),
        "Identity" => un(Op::Alias),
        "Reshape" if is_noop_reshape(g, types, nid) && only_feeds_terms(g, nid) => Some(Op::Alias),
        "Cast" => {
            let to = node.attr_int("to").ok()??;
            un(Op::Cast(to))
        }
        "CastLike" if n_in == 2 && node.inputs().len() == 2 => {
            let like = node.input(1)?;
            let d = types
                .ty(like)
                .map(|t| t.elem)
                .filter(|d| *d != lnopt_ir::DType::Undefined)
                .or_else(|| const_of(g, types, like).map(|c| c.dtype))?;
            Some(Op::Cast(i64::from(d.onnx_code())))
        }
        "ReduceSum" | "ReduceSumSquare" => {
            sum_spec(g, types, opset, nid).map(|(k, flat)| Op::Sum {
                k,
                square: node.op_type == "ReduceSumSquare",
                flat,
            })
        }
        "Squeeze" if squeeze_is_flat(g, types, opset, nid) => Some(Op::Flat),
        "ReduceMin" | "ReduceMax" => match sum_spec(g, types, opset, nid) {
            Some((k, false)) => Some(Op::Extremum {
                k,
                max: node.op_type == "ReduceMax",
            }),
            _ => None,
        },
        "Equal" => bin(Op::Eq),
        "And" => bin(Op::And),
        "Where" if n_in == 3 && node.inputs().len() == 3 => Some(Op::Where),
        "BatchNormalization" => batch_norm_spec(g, types, opset, nid),
        "GlobalAveragePool" => mean_axes(g, types, opset, nid).ok().flatten().map(Op::Mean),
        "ReduceMean" => match mean_axes(g, types, opset, nid) {
            Ok(Some(k)) => Some(Op::Mean(k)),
            Ok(None) => Some(Op::Alias),
            Err(_) => None,
        },
        _ => None,
    }
}

/// One region and its e-graph.
pub struct Region {
    /// Region nodes in topological order.
    pub nodes: Vec<NodeId>,
    /// The e-graph (not yet saturated).
    pub egraph: NormEGraph,
    /// E-class of each value read or defined by the region.
    pub class_of: HashMap<ValueId, Id>,
    /// Values defined by region nodes and read outside it (or graph outputs), in topo order.
    pub roots: Vec<ValueId>,
    /// ReduceMean nodes of the region (topo order) with their output value.
    pub reduce_means: Vec<(NodeId, ValueId)>,
    /// Region values whose IR rank differs from their e-class's (values computed from a
    /// keepdims=0 mean with size-1 kept dims, or of unknown rank downstream of one). They are
    /// equal to their class only after broadcasting, so they are never read in place of the
    /// class nor redefined from a fused node.
    pub reshaped: BTreeSet<ValueId>,
}

/// Facts of an opaque value.
pub fn leaf_facts(g: &Graph, types: &GraphTypes, v: ValueId) -> Facts {
    let c = const_of(g, types, v);
    let ty = types.ty(v);
    Facts {
        dtype: ty
            .map(|t| t.elem)
            .filter(|d| *d != lnopt_ir::DType::Undefined)
            .or(c.as_ref().map(|c| c.dtype)),
        shape: ty.and_then(|t| t.shape.clone()).or_else(|| {
            c.as_ref()
                .map(|c| c.dims.iter().map(|&d| lnopt_ir::Dim::Fixed(d)).collect())
        }),
        uniform: uniform_of(g, types, v),
        int: None,
        reduced: g
            .producer_node(v)
            .is_some_and(|(n, _)| is_mean_node(g.node(n))),
    }
}

/// The defining arithmetic of an inference-mode BatchNormalization over `x` with per-channel
/// `scale`, `bias`, `mean`, `var`: `(x − chan(mean)) / √(chan(var) + ε)`, times `chan(scale)`
/// unless the scale is all ones, plus `chan(bias)` unless the bias is all zeros.
fn batch_norm_term(
    eg: &mut NormEGraph,
    [x, scale, bias, mean, var]: [Id; 5],
    eps: Scalar,
    keep_scale: bool,
    keep_bias: bool,
) -> Id {
    let m = eg.add(NormLang::Chan([mean, x]));
    let v = eg.add(NormLang::Chan([var, x]));
    let e = eg.add(NormLang::Num(eps));
    let centred = eg.add(NormLang::Sub([x, m]));
    let shifted = eg.add(NormLang::Add([v, e]));
    let std = eg.add(NormLang::Sqrt(shifted));
    let mut y = eg.add(NormLang::Div([centred, std]));
    if keep_scale {
        let s = eg.add(NormLang::Chan([scale, x]));
        y = eg.add(NormLang::Mul([y, s]));
    }
    if keep_bias {
        let b = eg.add(NormLang::Chan([bias, x]));
        y = eg.add(NormLang::Add([y, b]));
    }
    y
}

/// Builds the region around the ReduceMean `anchor`. `pos` is each node's topo position.
pub fn build(
    g: &Graph,
    types: &GraphTypes,
    opset: i64,
    anchor: NodeId,
    pos: &HashMap<NodeId, usize>,
    ops: &mut HashMap<NodeId, Option<Op>>,
) -> Region {
    let mut op_of = |n: NodeId| {
        *ops.entry(n)
            .or_insert_with(|| translate(g, types, opset, n))
    };
    let mut sources = Vec::new();
    if let Some(m) = g.node(anchor).input(0) {
        sources.push(m);
        let mut cur = m;
        for _ in 0..3 {
            let Some((p, _)) = g.producer_node(cur) else {
                break;
            };
            let pn = g.node(p);
            let next = match pn.op_type.as_str() {
                "Mul" if pn.input(0).is_some() && pn.input(0) == pn.input(1) => pn.input(0),
                "Pow" | "Cast" | "CastLike" => pn.input(0),
                _ => None,
            };
            match next {
                Some(n) => {
                    sources.push(n);
                    cur = n;
                }
                None => break,
            }
        }
    }
    // A centred source `a - b` brings its operands, so the region sees the whole
    // difference (and the RMS rule can tell a malformed LayerNorm from an RMSNorm).
    for s in sources.clone() {
        if let Some((p, _)) = g.producer_node(s) {
            let pn = g.node(p);
            if pn.op_type == "Sub" {
                sources.extend(pn.inputs().iter().flatten().copied());
            }
        }
    }
    let mut in_region: BTreeSet<(usize, NodeId)> = BTreeSet::new();
    let mut queue: VecDeque<(ValueId, usize)> = sources.iter().map(|&s| (s, 0)).collect();
    let mut seen_vals: BTreeSet<ValueId> = sources.iter().copied().collect();
    while let Some((v, d)) = queue.pop_front() {
        if d >= FORWARD_DEPTH {
            continue;
        }
        for &(c, _) in g.value(v).uses() {
            if op_of(c).is_none() {
                continue;
            }
            let p = pos.get(&c).copied().unwrap_or(usize::MAX);
            if in_region.insert((p, c)) {
                for o in g.node(c).outputs().iter().flatten() {
                    if seen_vals.insert(*o) {
                        queue.push_back((*o, d + 1));
                    }
                }
            }
        }
    }
    let nodes: Vec<NodeId> = in_region.iter().map(|&(_, n)| n).collect();
    let node_set: BTreeSet<NodeId> = nodes.iter().copied().collect();

    let mut egraph = NormEGraph::new(NormAnalysis::default());
    let mut class_of: HashMap<ValueId, Id> = HashMap::new();
    let mut reduce_means = Vec::new();
    let leaf = |eg: &mut NormEGraph, class_of: &mut HashMap<ValueId, Id>, v: ValueId| {
        if let Some(&c) = class_of.get(&v) {
            return c;
        }
        let r = ValRef(v.0);
        eg.analysis.leaves.insert(r, leaf_facts(g, types, v));
        let c = eg.add(NormLang::Val(r));
        class_of.insert(v, c);
        c
    };
    for &n in &nodes {
        let node = g.node(n);
        let Some(op) = op_of(n) else { continue };
        let Some(out) = node.output(0) else { continue };
        // The operands the term reads, each made a class first: all of them for Where and
        // BatchNormalization (whose terms need exactly three and five), at most two otherwise.
        let arity = match op {
            Op::Where | Op::BatchNorm { .. } => usize::MAX,
            _ => 2,
        };
        let ins: Vec<Id> = node
            .inputs()
            .iter()
            .flatten()
            .take(arity)
            .map(|&v| leaf(&mut egraph, &mut class_of, v))
            .collect();
        if op == Op::Where {
            let &[c, a, b] = ins.as_slice() else {
                continue;
            };
            let w = egraph.add(NormLang::Where([c, a, b]));
            class_of.insert(out, w);
            continue;
        }
        if let Op::BatchNorm { eps, scale, bias } = op {
            let &[x, s, b, m, v] = ins.as_slice() else {
                continue;
            };
            let y = batch_norm_term(&mut egraph, [x, s, b, m, v], eps, scale, bias);
            class_of.insert(out, y);
            continue;
        }
        let (a, b) = (ins.first().copied(), ins.get(1).copied());
        let term = match (op, a, b) {
            (Op::Alias, Some(a), _) => {
                class_of.insert(out, a);
                continue;
            }
            (Op::Add, Some(a), Some(b)) => NormLang::Add([a, b]),
            (Op::Sub, Some(a), Some(b)) => NormLang::Sub([a, b]),
            (Op::Mul, Some(a), Some(b)) => NormLang::Mul([a, b]),
            (Op::Div, Some(a), Some(b)) => NormLang::Div([a, b]),
            (Op::Pow, Some(a), Some(b)) => NormLang::Pow([a, b]),
            (Op::Sqrt, Some(a), _) => NormLang::Sqrt(a),
            (Op::Recip, Some(a), _) => NormLang::Recip(a),
            (Op::Neg, Some(a), _) => NormLang::Neg(a),
            (Op::Max, Some(a), Some(b)) => NormLang::Max([a, b]),
            (Op::Cast(t), Some(a), _) => {
                let t = egraph.add(NormLang::Int(t));
                NormLang::Cast([a, t])
            }
            (Op::Sum { k, square, flat }, Some(a), _) => {
                let a = if square {
                    egraph.add(NormLang::Mul([a, a]))
                } else {
                    a
                };
                let k = egraph.add(NormLang::Int(k));
                let sum = NormLang::Sum([a, k]);
                if flat {
                    NormLang::Flat(egraph.add(sum))
                } else {
                    sum
                }
            }
            (Op::Flat, Some(a), _) => NormLang::Flat(a),
            (Op::Extremum { k, max }, Some(a), _) => {
                let k = egraph.add(NormLang::Int(k));
                if max {
                    NormLang::RMax([a, k])
                } else {
                    NormLang::RMin([a, k])
                }
            }
            (Op::Eq, Some(a), Some(b)) => NormLang::Eq([a, b]),
            (Op::And, Some(a), Some(b)) => NormLang::And([a, b]),
            (Op::Mean(k), Some(a), _) => {
                reduce_means.push((n, out));
                let k = egraph.add(NormLang::Int(k));
                NormLang::Mean([a, k])
            }
            _ => continue,
        };
        let c = egraph.add(term);
        class_of.insert(out, c);
    }
    let mut roots = Vec::new();
    for &n in &nodes {
        for &o in g.node(n).outputs().iter().flatten() {
            let outside =
                g.is_output(o) || g.value(o).uses().iter().any(|(u, _)| !node_set.contains(u));
            if outside && class_of.contains_key(&o) {
                roots.push(o);
            }
        }
    }
    egraph.rebuild();
    let squeezed = reduce_means.iter().any(|&(n, _)| {
        g.node(n).op_type == "ReduceMean"
            && g.node(n).attr_int("keepdims").ok().flatten().unwrap_or(1) != 1
    });
    let reshaped = if squeezed {
        class_of
            .iter()
            .filter(|(v, _)| {
                g.producer_node(**v)
                    .is_some_and(|(n, _)| node_set.contains(&n))
            })
            .filter(|(v, c)| {
                let ir = types.ty(**v).and_then(|t| t.rank());
                ir.is_none() || ir != egraph[**c].data.rank()
            })
            .map(|(v, _)| *v)
            .collect()
    } else {
        BTreeSet::new()
    };
    Region {
        nodes,
        egraph,
        class_of,
        roots,
        reduce_means,
        reshaped,
    }
}
