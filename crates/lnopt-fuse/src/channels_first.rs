//! Channels-first LayerNorm and RMSNorm (statistics over axis 1 of an NCHW tensor, as
//! ConvNeXt's `data_format="channels_first"` LayerNorm and timm's `LayerNorm2d` / `RmsNorm2d`
//! compute them) in transposed coordinates.
//!
//! `LayerNormalization` normalises trailing axes, so such a site cannot become one node. It
//! can become `Transpose(0,2,3,1) → LayerNormalization(axis=-1) → Transpose(0,3,1,2)`:
//! every op of the pattern is element-wise (or a ReduceMean over axis 1 with keepdims), so it
//! commutes with one common transpose. This module rewrites a site's region into that
//! transposed form (constants such as γ `[C,1,1]` are transposed too); the caller then runs
//! the ordinary fusion on the result and keeps it only if the site fused.
//!
//! A `Reshape` that provably returns its input ([`crate::region::is_noop_reshape`], tf2onnx
//! writes one on the mean) is part of the region and becomes an `Identity` there.
//!
//! Only rank-4 tensors with statistics over exactly axis 1 qualify (the image layout the
//! channels-first norm exists for); other non-trailing reductions are left as they are.

use lnopt_infer::GraphTypes;
use lnopt_ir::{AttrValue, Graph, Node, NodeId, Tensor, TensorData, ValueId};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// NCHW → NHWC.
const TO_LAST: [i64; 4] = [0, 2, 3, 1];
/// NHWC → NCHW.
const TO_FIRST: [i64; 4] = [0, 3, 1, 2];
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
    if node.op_type != "ReduceMean" || !(node.domain.is_empty() || node.domain == "ai.onnx") {
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
    if rank != 4 {
        return false;
    }
    let axes: Option<Vec<i64>> = if opset < 18 {
        node.attr_ints("axes").ok().flatten().map(|a| a.to_vec())
    } else {
        node.input(1)
            .and_then(|a| types.constant(a))
            .and_then(|t| t.to_i64_vec())
    };
    matches!(axes.as_deref(), Some([1]) | Some([-3]))
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
        let op_ok = ELEMENTWISE.contains(&node.op_type.as_str())
            && (node.domain.is_empty() || node.domain == "ai.onnx")
            || is_channel_mean(g, types, opset, n)
            || crate::region::is_noop_reshape(g, types, n);
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
            .all(|v| *v == x || values.contains(v) || small_constant(types, *v).is_some());
        let touches = data_inputs.iter().any(|v| values.contains(v));
        if all_known && touches {
            inside.insert(n);
            values.extend(node.outputs().iter().flatten().copied());
        }
    }
    Some(order.into_iter().filter(|n| inside.contains(n)).collect())
}

/// The site's input and, for a mean of a square (`Pow(x, c)` or `Mul(x, x)`, an RMSNorm's
/// statistic; timm's `RmsNorm2d`), the squaring node, which then belongs to the region.
fn site_input(g: &Graph, anchor: NodeId) -> Option<(ValueId, Option<NodeId>)> {
    let m = g.node(anchor).input(0)?;
    if let Some((p, _)) = g.producer_node(m) {
        let pn = g.node(p);
        let default = pn.domain.is_empty() || pn.domain == "ai.onnx";
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

/// A constant of rank ≤ 4 that can be transposed.
fn small_constant(types: &GraphTypes, v: ValueId) -> Option<&Arc<Tensor>> {
    let t = types.constant(v)?;
    (t.dims.len() <= 4 && matches!(t.data, TensorData::Bytes(_)) && t.dtype.size_of().is_some())
        .then_some(t)
}

/// `t` right-aligned to rank 4 and permuted NCHW → NHWC.
fn transpose_constant(t: &Tensor) -> Option<Tensor> {
    let mut dims = vec![1i64; 4 - t.dims.len()];
    dims.extend_from_slice(&t.dims);
    let size = t.dtype.size_of()?;
    let bytes = t.bytes()?;
    let d: Vec<usize> = dims
        .iter()
        .map(|&v| usize::try_from(v).ok())
        .collect::<Option<_>>()?;
    let (n, c, h, w) = (d[0], d[1], d[2], d[3]);
    if bytes.len() != n * c * h * w * size {
        return None;
    }
    let mut out = vec![0u8; bytes.len()];
    for i0 in 0..n {
        for i1 in 0..c {
            for i2 in 0..h {
                for i3 in 0..w {
                    let src = (((i0 * c + i1) * h + i2) * w + i3) * size;
                    let dst = (((i0 * h + i2) * w + i3) * c + i1) * size;
                    out[dst..dst + size].copy_from_slice(&bytes[src..src + size]);
                }
            }
        }
    }
    let new_dims: Vec<i64> = TO_LAST.iter().map(|&p| dims[p as usize]).collect();
    Tensor::from_bytes(t.name.clone(), t.dtype, new_dims, out).ok()
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
    let (x, square) = site_input(g, anchor)?;
    let nodes = region(g, types, opset, anchor, x, square)?;
    let two_means = nodes
        .iter()
        .any(|&n| n != anchor && g.node(n).op_type == "ReduceMean");
    if !two_means && square.is_none() {
        return None; // one statistic of no square: not a norm
    }
    let inside: BTreeSet<NodeId> = nodes.iter().copied().collect();
    let produced: BTreeSet<ValueId> = nodes
        .iter()
        .flat_map(|&n| g.node(n).outputs().iter().flatten().copied())
        .collect();
    let exits: Vec<ValueId> = produced
        .iter()
        .copied()
        .filter(|&v| g.is_output(v) || g.value(v).uses().iter().any(|(u, _)| !inside.contains(u)))
        .collect();
    if exits.is_empty() {
        return None;
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
                consts.insert(v, transpose_constant(small_constant(types, v)?)?);
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
    tr.set_attr("perm", AttrValue::Ints(TO_LAST.to_vec()));
    g.add_node(tr, vec![Some(x)], vec![Some(xt)]).ok()?;
    map.insert(x, xt);
    for (n, _) in &originals {
        g.remove_node(*n);
    }
    let axes_input = (opset >= 18).then(|| {
        let t = Tensor::from_i64("axes", vec![1], &[3]);
        g.add_initializer(&format!("{anchor_name}_nhwc_axes"), t)
    });
    let mut anchor_copy = String::new();
    for (n, node) in &originals {
        let mut copy = node.clone();
        copy.name = format!("{}/nhwc", node.display_name(*n));
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
        if node.op_type == "ReduceMean" {
            if opset >= 18 {
                inputs.truncate(1);
                inputs.push(axes_input);
            } else {
                copy.set_attr("axes", AttrValue::Ints(vec![3]));
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
        back.set_attr("perm", AttrValue::Ints(TO_FIRST.to_vec()));
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
        let r = transpose_constant(&t).unwrap();
        assert_eq!(r.dims, vec![1, 1, 2, 2]);
        assert_eq!(r.dtype, DType::F32);
        assert_eq!(r.to_f64_vec().unwrap(), vec![1.0, 3.0, 2.0, 4.0]);
    }

    #[test]
    fn scalar_constant_stays_a_single_element() {
        let t = Tensor::from_f32("e", vec![], &[1e-6]);
        let r = transpose_constant(&t).unwrap();
        assert_eq!(r.dims, vec![1, 1, 1, 1]);
    }
}
