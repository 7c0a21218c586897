//! Channels-first LayerNorm and RMSNorm (statistics over axis 1 of an NCHW tensor, as
//! ConvNeXt's `data_format="channels_first"` LayerNorm and timm's `LayerNorm2d` / `RmsNorm2d`
//! compute them; or of an `[N, C, L]` / `[N, C, D, H, W]` tensor) in transposed coordinates.
//!
//! `LayerNormalization` normalises trailing axes, so such a site cannot become one node. It
//! can become `Transpose(0,2,3,1) → LayerNormalization(axis=-1) → Transpose(0,3,1,2)`
//! (for rank r: axis 1 moved last and back):
//! every op of the pattern is element-wise (or a ReduceMean over axis 1 with keepdims), so it
//! commutes with one common transpose. This module rewrites a site's region into that
//! transposed form (constants such as γ `[C,1,1]` are transposed too); the caller then runs
//! the ordinary fusion on the result and keeps it only if the site fused.
//!
//! A `Reshape` that provably returns its input ([`crate::region::is_noop_reshape`], tf2onnx
//! writes one on the mean) is part of the region and becomes an `Identity` there.
//!
//! Only statistics over exactly axis 1 qualify. Rank 4 and 5 are the image and volume layouts
//! the channels-first norm exists for. Rank 3 is also the `[batch, sequence, hidden]` layout,
//! where axis 1 is the tokens and a norm over it is no LayerNorm of anything; a rank-3 site
//! qualifies only when its input is known to be channels-first ([`is_channels_first`]: it comes
//! from a convolution, through element-wise ops, norms, transposes and reshapes — the
//! `[N, C, L]` of Wav2Vec2's conv features or SegFormer's flattened patches after ONNX
//! Runtime's transpose optimiser moved their Transposes out). Other non-trailing reductions
//! are left as they are.

use lnopt_infer::GraphTypes;
use lnopt_ir::{AttrValue, Graph, Node, NodeId, Tensor, TensorData, ValueId};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// The permutation moving axis 1 of a rank-`r` tensor last (NCHW → NHWC for rank 4).
fn to_last(r: usize) -> Vec<i64> {
    std::iter::once(0).chain(2..r as i64).chain([1]).collect()
}

/// Whether `perm` is [`to_last`] of its own length (3 or more).
pub fn moves_axis_1_last(perm: &[i64]) -> bool {
    perm.len() >= 3 && perm == to_last(perm.len()).as_slice()
}

/// The inverse of [`to_last`] (NHWC → NCHW for rank 4).
fn to_first(r: usize) -> Vec<i64> {
    [0, r as i64 - 1]
        .into_iter()
        .chain(1..r as i64 - 1)
        .collect()
}

/// How far [`is_channels_first`] walks up the graph.
const PROVENANCE_STEPS: usize = 64;
/// Element-wise ops that commute with a transpose applied to all their operands.
const ELEMENTWISE: &[&str] = &[
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Pow",
    "Sqrt",
    "Reciprocal",
    "Neg",
    "Cast",
    "Identity",
];

/// ReduceMean over exactly axis 1 of a rank-4 value with keepdims = 1 (attribute or, from
/// opset 18, a constant input).
pub fn is_channel_mean(g: &Graph, types: &GraphTypes, opset: i64, n: NodeId) -> bool {
    let node = g.node(n);
    if node.op_type != "ReduceMean" || !node.in_default_domain() {
        return false;
    }
    if node.attr_int("keepdims").ok().flatten().unwrap_or(1) != 1 {
        return false;
    }
    let Some(rank) = node
        .input(0)
        .and_then(|x| types.ty(x))
        .and_then(|t| t.rank())
    else {
        return false;
    };
    if !(3..=5).contains(&rank) {
        return false;
    }
    let axes: Option<Vec<i64>> = if opset < 18 {
        node.attr_ints("axes").ok().flatten().map(|a| a.to_vec())
    } else {
        node.input(1)
            .and_then(|a| types.constant(a))
            .and_then(|t| t.to_i64_vec())
    };
    let over_axis_1 = matches!(axes.as_deref(), Some([a]) if *a == 1 || *a == 1 - rank as i64);
    over_axis_1
        && (rank != 3
            || node
                .input(0)
                .is_some_and(|x| is_channels_first(g, types, x)))
}

/// Whether axis 1 of `v` is known to be a channel axis ([`channel_axis`] is 1).
pub fn is_channels_first(g: &Graph, types: &GraphTypes, v: ValueId) -> bool {
    let mut seen = BTreeSet::new();
    channel_axis(g, types, v, &mut seen) == Some(1)
}

/// The axis of `v` known to hold channels, from where `v` comes from: axis 1 of a
/// convolution's output (`Conv`, `ConvTranspose`, `ConvInteger`, `QLinearConv`: `[N, C, ...]`
/// by definition), carried through element-wise ops (operands of the same rank), ReduceMean
/// with keepdims, LayerNormalization / RMSNormalization (they move no axis), Reshapes that
/// provably keep every axis up to it, and Transposes (which move it). Graph inputs and
/// everything else are unknown. Walks at most [`PROVENANCE_STEPS`] values.
fn channel_axis(
    g: &Graph,
    types: &GraphTypes,
    v: ValueId,
    seen: &mut BTreeSet<ValueId>,
) -> Option<usize> {
    if !seen.insert(v) || seen.len() > PROVENANCE_STEPS {
        return None;
    }
    let (p, 0) = g.producer_node(v)? else {
        return None;
    };
    let node = g.node(p);
    if !node.in_default_domain() {
        return None;
    }
    let rank = |x: ValueId| types.ty(x).and_then(|t| t.rank());
    let first = node.input(0);
    match node.op_type.as_str() {
        "Conv" | "ConvTranspose" | "ConvInteger" | "QLinearConv" => Some(1),
        "Reshape" => {
            let x = first?;
            let k = channel_axis(g, types, x, seen)?;
            keeps_leading_axes(types, x, v, k + 1).then_some(k)
        }
        "Transpose" => {
            let k = channel_axis(g, types, first?, seen)?;
            let perm = node.attr_ints("perm").ok().flatten()?;
            perm.iter().position(|&a| a == k as i64)
        }
        "ReduceMean" => {
            let keep = node.attr_int("keepdims").ok().flatten().unwrap_or(1) == 1;
            keep.then(|| channel_axis(g, types, first?, seen)).flatten()
        }
        "LayerNormalization" | "RMSNormalization" => channel_axis(g, types, first?, seen),
        op if ELEMENTWISE.contains(&op) || CHANNEL_PRESERVING.contains(&op) => {
            let r = rank(v)?;
            node.inputs()
                .iter()
                .flatten()
                .filter(|&&x| rank(x) == Some(r))
                .find_map(|&x| channel_axis(g, types, x, seen))
        }
        _ => None,
    }
}

/// Ops beside [`ELEMENTWISE`] whose output keeps its input's layout.
const CHANNEL_PRESERVING: &[&str] = &[
    "Relu", "Gelu", "Erf", "Tanh", "Sigmoid", "Exp", "Abs", "Clip", "Max", "Min", "Where",
];

/// A `Reshape` from `x` to `y` that provably keeps the first `n` axes (equal sizes or
/// symbols), so an axis among them means the same before and after.
fn keeps_leading_axes(types: &GraphTypes, x: ValueId, y: ValueId, n: usize) -> bool {
    let shape = |v: ValueId| types.ty(v).and_then(|t| t.shape.as_ref());
    match (shape(x), shape(y)) {
        (Some(a), Some(b)) if a.len() >= n && b.len() >= n => {
            a[..n].iter().zip(&b[..n]).all(|(p, q)| p.same_as(q))
        }
        _ => false,
    }
}

/// The nodes of the site around `anchor`: starting from the anchor, every element-wise node
/// or channel ReduceMean whose inputs are all the site's input `x`, site values or constants,
/// with at least one site value.
fn region(
    g: &Graph,
    types: &GraphTypes,
    opset: i64,
    anchor: NodeId,
    x: ValueId,
    square: Option<NodeId>,
    rank: usize,
) -> Option<Vec<NodeId>> {
    let order = g.topo_order().ok()?;
    let mut inside: BTreeSet<NodeId> = BTreeSet::from([anchor]);
    inside.extend(square);
    let mut values: BTreeSet<ValueId> = inside
        .iter()
        .flat_map(|&n| g.node(n).outputs().iter().flatten().copied())
        .collect();
    let start = order.iter().position(|&n| n == anchor)?;
    for &n in &order[start + 1..] {
        let node = g.node(n);
        let op_ok = ELEMENTWISE.contains(&node.op_type.as_str()) && node.in_default_domain()
            || is_channel_mean(g, types, opset, n)
            || crate::region::is_noop_reshape(g, types, n);
        if is_bridge(g, n, rank) && node.input(0).is_some_and(|v| values.contains(&v)) {
            // The rest of the norm runs channels-last already: the bridge is in the region,
            // its output is not (downstream nodes read it as they are).
            inside.insert(n);
            continue;
        }
        if !op_ok || node.outputs().len() != 1 {
            continue;
        }
        let data_inputs: Vec<ValueId> = if matches!(node.op_type.as_str(), "ReduceMean" | "Reshape")
        {
            node.input(0).into_iter().collect()
        } else {
            node.inputs().iter().flatten().copied().collect()
        };
        let all_known = data_inputs
            .iter()
            .all(|v| *v == x || values.contains(v) || small_constant(types, *v, rank).is_some());
        let touches = data_inputs.iter().any(|v| values.contains(v));
        if all_known && touches {
            inside.insert(n);
            values.extend(node.outputs().iter().flatten().copied());
        }
    }
    Some(order.into_iter().filter(|n| inside.contains(n)).collect())
}

/// A `Transpose` moving axis 1 of a rank-`rank` value last ([`to_last`]): where a site's
/// statistics are taken channels-first and the rest of it continues channels-last (ONNX
/// Runtime's transpose optimiser leaves such sites). In the rewritten region it becomes an
/// `Identity` of the transposed value.
fn is_bridge(g: &Graph, n: NodeId, rank: usize) -> bool {
    is_bridge_node(g.node(n), rank)
}

/// [`is_bridge`] of a node by value (a copy taken before the region was removed).
fn is_bridge_node(node: &Node, rank: usize) -> bool {
    node.op_type == "Transpose"
        && node.in_default_domain()
        && node.inputs().len() == 1
        && node.outputs().len() == 1
        && node
            .attr_ints("perm")
            .ok()
            .flatten()
            .is_some_and(|p| p.len() == rank && moves_axis_1_last(p))
}

/// Whether the site at the channel ReduceMean `anchor` continues channels-last after a
/// [`is_bridge`] Transpose, so that only a rewrite before fusion can fuse it whole.
pub fn has_bridge(g: &Graph, types: &GraphTypes, opset: i64, anchor: NodeId) -> bool {
    site(g, types, opset, anchor).is_some_and(|s| s.nodes.iter().any(|&n| is_bridge(g, n, s.rank)))
}

/// What [`rewrite_site`] and [`has_bridge`] know of the site at a channel ReduceMean.
struct Site {
    /// The site's input.
    x: ValueId,
    /// The squaring node of a mean of a square, part of the region.
    square: Option<NodeId>,
    /// Rank of the anchor's input.
    rank: usize,
    /// The region's nodes in topological order ([`region`]).
    nodes: Vec<NodeId>,
}

/// The [`Site`] at the channel ReduceMean `anchor`, when its input's rank is known.
fn site(g: &Graph, types: &GraphTypes, opset: i64, anchor: NodeId) -> Option<Site> {
    let (x, square) = site_input(g, anchor)?;
    let rank = g
        .node(anchor)
        .input(0)
        .and_then(|m| types.ty(m))
        .and_then(|t| t.rank())?;
    let nodes = region(g, types, opset, anchor, x, square, rank)?;
    Some(Site {
        x,
        square,
        rank,
        nodes,
    })
}

/// The channel ReduceMean named `name` ([`is_channel_mean`]), looked up by name: after a
/// rewrite is kept, node ids taken before it may name other nodes.
pub fn find_channel_mean(g: &Graph, types: &GraphTypes, opset: i64, name: &str) -> Option<NodeId> {
    g.node_ids()
        .find(|&n| g.node(n).display_name(n) == name && is_channel_mean(g, types, opset, n))
}

/// The site's input and, for a mean of a square (`Pow(x, c)` or `Mul(x, x)`, an RMSNorm's
/// statistic; timm's `RmsNorm2d`), the squaring node, which then belongs to the region.
fn site_input(g: &Graph, anchor: NodeId) -> Option<(ValueId, Option<NodeId>)> {
    let m = g.node(anchor).input(0)?;
    if let Some((p, _)) = g.producer_node(m) {
        let pn = g.node(p);
        let default = pn.in_default_domain();
        let square = match pn.op_type.as_str() {
            "Pow" => pn.input(0),
            "Mul" if pn.input(0).is_some() && pn.input(0) == pn.input(1) => pn.input(0),
            _ => None,
        };
        if let (true, Some(x)) = (default, square) {
            return Some((x, Some(p)));
        }
    }
    Some((m, None))
}

/// A constant of rank ≤ `rank` that can be transposed.
fn small_constant(types: &GraphTypes, v: ValueId, rank: usize) -> Option<&Arc<Tensor>> {
    let t = types.constant(v)?;
    (t.dims.len() <= rank && matches!(t.data, TensorData::Bytes(_)) && t.dtype.size_of().is_some())
        .then_some(t)
}

/// `t` right-aligned to rank `rank` and permuted by [`to_last`] (axis 1 moved last): seen
/// as `[n, c, rest]` with `rest` the product of the later axes, that is `[n, rest, c]`.
fn transpose_constant(t: &Tensor, rank: usize) -> Option<Tensor> {
    let mut dims = vec![1i64; rank.checked_sub(t.dims.len())?];
    dims.extend_from_slice(&t.dims);
    let size = t.dtype.size_of()?;
    let bytes = t.bytes()?;
    let d: Vec<usize> = dims
        .iter()
        .map(|&v| usize::try_from(v).ok())
        .collect::<Option<_>>()?;
    let (n, c) = (d[0], d[1]);
    let rest: usize = d[2..].iter().product();
    if bytes.len() != n * c * rest * size {
        return None;
    }
    let mut out = vec![0u8; bytes.len()];
    for i0 in 0..n {
        for i1 in 0..c {
            for i2 in 0..rest {
                let src = ((i0 * c + i1) * rest + i2) * size;
                let dst = ((i0 * rest + i2) * c + i1) * size;
                out[dst..dst + size].copy_from_slice(&bytes[src..src + size]);
            }
        }
    }
    let new_dims: Vec<i64> = to_last(rank).iter().map(|&p| dims[p as usize]).collect();
    Tensor::from_bytes(t.name.clone(), t.dtype, new_dims, out).ok()
}

/// The name [`rewrite_site`] gives the transposed copy of the node named `name`.
pub fn copy_name(name: &str) -> String {
    format!("{name}/nhwc")
}

/// Rewrites the site anchored at the channel ReduceMean `anchor` into transposed
/// coordinates. Returns the name of the anchor's transposed copy, or `None` when the site's
/// region cannot be expressed that way. Call it on a trial copy: after `None` the graph may
/// be partly edited.
pub fn rewrite_site(
    g: &mut Graph,
    types: &GraphTypes,
    opset: i64,
    anchor: NodeId,
) -> Option<String> {
    let Site {
        x,
        square,
        rank,
        nodes,
    } = site(g, types, opset, anchor)?;
    let two_means = nodes
        .iter()
        .any(|&n| n != anchor && g.node(n).op_type == "ReduceMean");
    let bridged = nodes.iter().any(|&n| is_bridge(g, n, rank));
    if !two_means && square.is_none() && !bridged {
        return None; // one statistic of no square, not continued channels-last: not a norm
    }
    let inside: BTreeSet<NodeId> = nodes.iter().copied().collect();
    let produced: BTreeSet<ValueId> = nodes
        .iter()
        .filter(|&&n| !is_bridge(g, n, rank))
        .flat_map(|&n| g.node(n).outputs().iter().flatten().copied())
        .collect();
    let exits: Vec<ValueId> = produced
        .iter()
        .copied()
        .filter(|&v| g.is_output(v) || g.value(v).uses().iter().any(|(u, _)| !inside.contains(u)))
        .collect();
    if exits.is_empty() && !bridged {
        return None; // nothing leaves the region: nothing to rewrite
    }
    // Constants in transposed form, prepared before any edit so failure leaves g untouched.
    let mut consts: BTreeMap<ValueId, Tensor> = BTreeMap::new();
    for &n in &nodes {
        let node = g.node(n);
        let data: Vec<ValueId> = if matches!(node.op_type.as_str(), "ReduceMean" | "Reshape") {
            node.input(0).into_iter().collect()
        } else {
            node.inputs().iter().flatten().copied().collect()
        };
        for v in data {
            if v != x && !produced.contains(&v) && !consts.contains_key(&v) {
                consts.insert(
                    v,
                    transpose_constant(small_constant(types, v, rank)?, rank)?,
                );
            }
        }
    }
    let originals: Vec<(NodeId, Node)> = nodes.iter().map(|&n| (n, g.node(n).clone())).collect();
    let anchor_name = g.node(anchor).display_name(anchor);
    let mut map: HashMap<ValueId, ValueId> = HashMap::new();
    for (v, t) in consts {
        let hint = format!("{}_nhwc", g.value(v).name);
        let id = g.add_initializer(&hint, t);
        map.insert(v, id);
    }
    let xt = g.new_value(&format!("{}_nhwc", g.value(x).name));
    let mut tr = Node::new("Transpose", format!("{anchor_name}/to_nhwc"));
    tr.set_attr("perm", AttrValue::Ints(to_last(rank)));
    g.add_node(tr, vec![Some(x)], vec![Some(xt)]).ok()?;
    map.insert(x, xt);
    for (n, _) in &originals {
        g.remove_node(*n);
    }
    let axes_input = (opset >= 18).then(|| {
        let t = Tensor::from_i64("axes", vec![1], &[rank as i64 - 1]);
        g.add_initializer(&format!("{anchor_name}_nhwc_axes"), t)
    });
    let mut anchor_copy = String::new();
    for (n, node) in &originals {
        let mut copy = node.clone();
        copy.name = copy_name(&node.display_name(*n));
        let mut inputs: Vec<Option<ValueId>> = node
            .inputs()
            .iter()
            .map(|i| i.map(|v| map.get(&v).copied().unwrap_or(v)))
            .collect();
        if node.op_type == "Reshape" {
            // A no-op Reshape in NCHW (the only kind in a region) is an Identity in NHWC; its
            // target shape would describe the wrong layout there.
            copy = Node::new("Identity", copy.name.clone());
            inputs.truncate(1);
        }
        if is_bridge_node(node, rank) {
            // Transposing to channels-last is what the region already did: the bridge's
            // readers read the transposed value (an Identity keeps a graph output's name).
            let (Some(Some(from)), Some(Some(to))) = (inputs.first(), node.outputs().first())
            else {
                return None;
            };
            if g.is_output(*to) {
                let copy = Node::new("Identity", copy.name.clone());
                g.add_node(copy, vec![Some(*from)], vec![Some(*to)]).ok()?;
            } else {
                g.replace_all_uses(*to, *from);
            }
            continue;
        }
        if node.op_type == "ReduceMean" {
            if opset >= 18 {
                inputs.truncate(1);
                inputs.push(axes_input);
            } else {
                copy.set_attr("axes", AttrValue::Ints(vec![rank as i64 - 1]));
            }
        }
        let outs: Vec<Option<ValueId>> = node
            .outputs()
            .iter()
            .map(|o| {
                o.map(|v| {
                    let nv = g.new_value(&format!("{}_nhwc", g.value(v).name));
                    map.insert(v, nv);
                    nv
                })
            })
            .collect();
        if *n == anchor {
            anchor_copy = copy.name.clone();
        }
        g.add_node(copy, inputs, outs).ok()?;
    }
    for e in exits {
        let mut back = Node::new("Transpose", format!("{}/to_nchw", g.value(e).name));
        back.set_attr("perm", AttrValue::Ints(to_first(rank)));
        g.add_node(back, vec![map.get(&e).copied()], vec![Some(e)])
            .ok()?;
    }
    Some(anchor_copy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lnopt_ir::DType;

    #[test]
    fn constant_transposes_nchw_to_nhwc() {
        // [C=2, 1, 2] right-aligns to [1, 2, 1, 2] and becomes [1, 1, 2, 2] with C last.
        let t = Tensor::from_f32("g", vec![2, 1, 2], &[1.0, 2.0, 3.0, 4.0]);
        let r = transpose_constant(&t, 4).unwrap();
        assert_eq!(r.dims, vec![1, 1, 2, 2]);
        assert_eq!(r.dtype, DType::F32);
        assert_eq!(r.to_f64_vec().unwrap(), vec![1.0, 3.0, 2.0, 4.0]);
    }

    #[test]
    fn permutations_move_axis_1_last_and_back() {
        assert_eq!(to_last(3), vec![0, 2, 1]);
        assert_eq!(to_first(3), vec![0, 2, 1]);
        assert_eq!(to_last(4), vec![0, 2, 3, 1]);
        assert_eq!(to_first(4), vec![0, 3, 1, 2]);
        assert_eq!(to_last(5), vec![0, 2, 3, 4, 1]);
        assert_eq!(to_first(5), vec![0, 4, 1, 2, 3]);
    }

    #[test]
    fn rank3_constant_moves_channels_last() {
        // gamma [1, C=3, 1] of an [N, C, L] site becomes [1, 1, 3], values in order.
        let t = Tensor::from_f32("g", vec![3, 1], &[1.0, 2.0, 3.0]);
        let r = transpose_constant(&t, 3).unwrap();
        assert_eq!(r.dims, vec![1, 1, 3]);
        assert_eq!(r.to_f64_vec().unwrap(), vec![1.0, 2.0, 3.0]);
        // [C=2, L=2]: element (c, l) lands at (l, c).
        let t = Tensor::from_f32("g", vec![2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let r = transpose_constant(&t, 3).unwrap();
        assert_eq!(r.to_f64_vec().unwrap(), vec![1.0, 3.0, 2.0, 4.0]);
        assert!(
            transpose_constant(&Tensor::from_f32("g", vec![1, 2, 2, 1], &[0.0; 4]), 3).is_none()
        );
    }

    #[test]
    fn scalar_constant_stays_a_single_element() {
        let t = Tensor::from_f32("e", vec![], &[1e-6]);
        let r = transpose_constant(&t, 4).unwrap();
        assert_eq!(r.dims, vec![1, 1, 1, 1]);
    }
}
