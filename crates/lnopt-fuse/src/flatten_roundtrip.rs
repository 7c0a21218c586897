//! Flatten/Reshape round trips around a fused node.
//!
//! The ONNX standard's own LayerNormalization function body normalises a 2-D view of its
//! input: `Flatten(X, axis=a)`, statistics over axis 1, then `Reshape` of Y back to `X`'s
//! shape and of Mean / InvStdDev to `X.shape[:a] + [1, …]`. Once that body is fused, this
//! pass folds the round trip away:
//!
//! ```text
//! Reshape(LN(Flatten(X, a), S₂, B₂, axis=1).Y, ·)      => LN(X, S, B, axis=a).Y
//! Reshape(LN(…).Mean / InvStdDev, ·)                   => LN(X, S, B, axis=a).Mean / InvStdDev
//! ```
//! where `S` and `B` are the 1-D constants `S₂`, `B₂` reshaped to `X.shape[a:]`. The two are
//! the same function: the flattened view only groups the same elements into rows. Conditions,
//! all checked from inferred facts: X's rank and its normalised dims are known, every reader
//! of the fused node's outputs is a Reshape whose result has exactly the shape the direct node
//! would produce (Y: X's shape; statistics: `X.shape[:a]` then ones), and the scale and bias
//! are constants of the flattened size. The Flatten and shape computations left without
//! readers are removed by the caller's clean-up.

use lnopt_infer::GraphTypes;
use lnopt_ir::{AttrValue, Dim, Graph, Node, NodeId, Tensor, ValueId};

/// True when some `LayerNormalization` of `g` reads a `Flatten` (cheap test that saves the
/// inference [`fold`] needs when there is nothing to fold).
pub fn has_candidates(g: &Graph) -> bool {
    g.node_ids().any(|n| {
        let node = g.node(n);
        node.op_type == "LayerNormalization"
            && node.domain.is_empty()
            && node
                .input(0)
                .and_then(|x| g.producer_node(x))
                .is_some_and(|(p, _)| g.node(p).op_type == "Flatten")
    })
}

/// Folds every Flatten/Reshape round trip around a `LayerNormalization` of `g`. Returns the
/// number of nodes rewritten.
pub fn fold(g: &mut Graph, types: &GraphTypes) -> usize {
    let candidates: Vec<NodeId> = g
        .node_ids()
        .filter(|&n| {
            let node = g.node(n);
            node.op_type == "LayerNormalization" && node.domain.is_empty()
        })
        .collect();
    candidates
        .into_iter()
        .filter(|&n| fold_one(g, types, n).is_some())
        .count()
}

fn fold_one(g: &mut Graph, types: &GraphTypes, ln: NodeId) -> Option<()> {
    let node = g.node(ln).clone();
    let axis = node.attr_int("axis").ok()?.unwrap_or(-1);
    let x2d = node.input(0)?;
    if types.ty(x2d)?.rank()? != 2 || !(axis == 1 || axis == -1) {
        return None;
    }
    let (flatten, _) = g.producer_node(x2d)?;
    let fnode = g.node(flatten);
    if fnode.op_type != "Flatten" || !fnode.domain.is_empty() {
        return None;
    }
    let x = fnode.input(0)?;
    let xdims = types.ty(x)?.shape.clone()?;
    let rank = xdims.len() as i64;
    let mut a = fnode.attr_int("axis").ok()?.unwrap_or(1);
    if a < 0 {
        a += rank;
    }
    if !(0..=rank).contains(&a) || a == rank {
        return None;
    }
    let a = a as usize;
    let tail: Vec<i64> = xdims[a..].iter().map(Dim::fixed).collect::<Option<_>>()?;
    let tail_len: i64 = tail.iter().product();
    let mut stat_dims: Vec<Dim> = xdims[..a].to_vec();
    stat_dims.extend(std::iter::repeat_n(Dim::Fixed(1), xdims.len() - a));

    // Every output must be read only by Reshapes giving exactly the direct node's shapes.
    let mut new_outputs: Vec<Option<ValueId>> = Vec::new();
    let mut reshapes: Vec<NodeId> = Vec::new();
    for (slot, out) in node.outputs().iter().enumerate() {
        let Some(out) = *out else {
            new_outputs.push(None);
            continue;
        };
        if g.is_output(out) {
            return None;
        }
        let want: &[Dim] = if slot == 0 { &xdims } else { &stat_dims };
        let uses = g.value(out).uses().to_vec();
        if uses.len() != 1 {
            return None;
        }
        let (r, rslot) = uses[0];
        let rnode = g.node(r);
        if rnode.op_type != "Reshape" || rslot != 0 {
            return None;
        }
        let target = rnode.output(0)?;
        let got = types.ty(target)?.shape.clone()?;
        if got.len() != want.len() || !got.iter().zip(want).all(|(p, q)| p.same_as(q)) {
            return None;
        }
        new_outputs.push(Some(target));
        reshapes.push(r);
    }
    // Scale and bias: constants of the flattened size, reshaped to the normalised dims.
    let mut inputs: Vec<Option<ValueId>> = vec![Some(x)];
    for (slot, role) in [(1usize, "scale"), (2, "bias")] {
        let Some(p) = node.input(slot) else { continue };
        let t = types.constant(p)?;
        if t.numel()? as i64 != tail_len {
            return None;
        }
        let bytes = t.bytes()?.to_vec();
        let mut reshaped = Tensor::from_bytes(role, t.dtype, tail.clone(), bytes).ok()?;
        reshaped.name = format!("{}_{role}", node.name);
        let id = g.add_initializer(&reshaped.name.clone(), reshaped);
        inputs.push(Some(id));
    }
    let mut direct = Node::new("LayerNormalization", node.name.clone());
    direct.attributes = node.attributes.clone();
    direct.set_attr("axis", AttrValue::Int(a as i64));
    g.remove_node(ln);
    for r in reshapes {
        g.remove_node(r);
    }
    g.add_node(direct, inputs, new_outputs).ok()?;
    Some(())
}
