//! Flatten/Reshape round trips around a fused node.
//!
//! The ONNX standard's own LayerNormalization function body normalises a 2-D view of its
//! input: `Flatten(X, axis=a)`, statistics over axis 1, then `Reshape` of Y back to `X`'s
//! shape and of Mean / InvStdDev to `X.shape[:a] + [1, …]`. tf2onnx's Keras 2 LayerNorm
//! normalises a `Reshape` of X to `[1, rows, H, 1]` over its last two axes and reshapes
//! back. Once such a body is fused, this pass folds the round trip away:
//!
//! ```text
//! Reshape(LN(View(X), S₂, B₂, axis=a₁).Y, ·)      => LN(X, S, B, axis=a).Y
//! Reshape(LN(…).Mean / InvStdDev, ·)              => LN(X, S, B, axis=a).Mean / InvStdDev
//! ```
//! where `View` is a `Flatten` or a `Reshape`, and `S`, `B` are the constants `S₂`, `B₂`
//! reshaped to `X.shape[a:]`. The two are the same function: both views lay out X's
//! elements in the same (row-major) order, and a LayerNormalization normalises consecutive
//! blocks of that order, of `prod(view.shape[a₁:])` elements on the view and of
//! `prod(X.shape[a:])` on X; the pass picks `a` so that the two block sizes are equal and
//! known (the normalised axes stay contiguous and last), so every block holds the same
//! elements. Conditions, all checked from inferred facts: those dims of the view and of X
//! are known, every reader of the fused node's outputs is a Reshape whose result has exactly
//! the shape the direct node would produce (Y: X's shape; statistics: `X.shape[:a]` then
//! ones), and the scale and bias are constants of the block size. The view and shape
//! computations left without readers are removed by the caller's clean-up.

use lnopt_infer::GraphTypes;
use lnopt_ir::{AttrValue, Dim, Graph, Node, NodeId, Tensor, ValueId};

/// True for the view nodes the pass looks through: `Flatten` and `Reshape` of the default
/// domain.
fn is_view(node: &Node) -> bool {
    matches!(node.op_type.as_str(), "Flatten" | "Reshape") && node.in_default_domain()
}

/// True when some `LayerNormalization` of `g` reads a `Flatten` or `Reshape` (cheap test
/// that saves the inference [`fold`] needs when there is nothing to fold).
pub fn has_candidates(g: &Graph) -> bool {
    g.node_ids().any(|n| {
        let node = g.node(n);
        node.op_type == "LayerNormalization"
            && node.domain.is_empty()
            && node
                .input(0)
                .and_then(|x| g.producer_node(x))
                .is_some_and(|(p, _)| is_view(g.node(p)))
    })
}

/// Product of `dims` when every one is known.
fn fixed_product(dims: &[Dim]) -> Option<i64> {
    dims.iter()
        .map(Dim::fixed)
        .try_fold(1i64, |acc, d| acc.checked_mul(d?))
}

/// The axis `a` of X (the last such) whose trailing block `X.shape[a:]` has `block`
/// elements, all its dims known.
pub fn axis_with_block(xdims: &[Dim], block: i64) -> Option<usize> {
    (0..xdims.len())
        .rev()
        .find(|&a| fixed_product(&xdims[a..]) == Some(block))
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
    let view = node.input(0)?;
    let vdims = types.ty(view)?.shape.clone()?;
    let rv = vdims.len() as i64;
    let a1 = if axis < 0 { axis + rv } else { axis };
    if !(0..rv).contains(&a1) {
        return None;
    }
    let block = fixed_product(&vdims[a1 as usize..])?;
    if block <= 0 {
        return None;
    }
    let (producer, _) = g.producer_node(view)?;
    let pnode = g.node(producer);
    if !is_view(pnode) {
        return None;
    }
    let x = pnode.input(0)?;
    let xdims = types.ty(x)?.shape.clone()?;
    let a = axis_with_block(&xdims, block)?;
    let tail: Vec<i64> = xdims[a..].iter().map(Dim::fixed).collect::<Option<_>>()?;
    let tail_len = block;
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
