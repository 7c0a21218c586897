//! A scalar `Mul` / `Div` after a `Transpose` moves in front of it when a product reads the
//! result: `MatMul(Transpose(x) · c)` becomes `MatMul(Transpose(x · c))`, whose Transpose the
//! product then reads as a strided view (`steps::matmul`, `steps::attention`) instead of
//! materialising it. PyTorch's exporter scales Q and Kᵀ by `√scale` right after splitting the
//! heads, so every attention block has two such Transposes.
//!
//! Multiplying or dividing every element by one scalar commutes exactly with permuting the
//! elements: the values are bit for bit the same.

use crate::node::PNode;
use crate::plan::uses::{default_domain, Uses};
use crate::value::{const_f32_scalar, Val};
use std::sync::Arc;

/// Swaps each `Transpose → Mul/Div(scalar)` pair whose Transpose result only the Mul/Div reads
/// and whose result only a MatMul reads. `producer` and `readers` are `build_steps`' counts;
/// every slot keeps its readers and producer index through the swaps, so they stay valid.
/// Returns how many pairs were swapped.
pub(crate) fn scalar_before_transpose(
    nodes: &mut [PNode],
    producer: &[Option<usize>],
    readers: &[usize],
    consts: &[Option<Arc<Val>>],
) -> usize {
    let pairs = {
        let uses = Uses::new(nodes, producer, readers);
        (0..nodes.len())
            .filter_map(|i| swappable(&uses, consts, i))
            .collect::<Vec<_>>()
    };
    for &(i, j, x, ts, ms) in &pairs {
        let mut scale = nodes[j].clone();
        for s in scale.inputs.iter_mut().flatten() {
            if *s == ts {
                *s = x;
            }
        }
        scale.outputs = vec![Some(ts)];
        let mut perm = nodes[i].clone();
        perm.inputs = vec![Some(ts)];
        perm.outputs = vec![Some(ms)];
        nodes[i] = scale;
        nodes[j] = perm;
    }
    pairs.len()
}

/// For the Transpose at `i` that can trade places with the scalar Mul/Div reading it: its
/// index, the Mul/Div's index `j`, the Transpose's input, its output and the Mul/Div's output.
fn swappable(
    uses: &Uses<'_>,
    consts: &[Option<Arc<Val>>],
    i: usize,
) -> Option<(usize, usize, usize, usize, usize)> {
    let t = &uses.nodes[i];
    if t.op != "Transpose" || !default_domain(t) {
        return None;
    }
    let ([Some(x)], [Some(ts)]) = (t.inputs.as_slice(), t.outputs.as_slice()) else {
        return None;
    };
    let rank = match t.attrs.iter().find(|a| a.name == "perm").map(|a| &a.value) {
        Some(lnopt_ir::AttrValue::Ints(p)) => p.len(),
        _ => return None,
    };
    let j = uses.sole_reader(*ts)?;
    let m = &uses.nodes[j];
    if !matches!(m.op.as_str(), "Mul" | "Div") || !default_domain(m) {
        return None;
    }
    let ([Some(a), Some(b)], [Some(ms)]) = (m.inputs.as_slice(), m.outputs.as_slice()) else {
        return None;
    };
    // The constant must not raise the result's rank; Div only by a constant divisor.
    let low = |s: usize| const_f32_scalar(consts, s).is_some_and(|(_, r)| r <= rank);
    let other_is_scalar = if a == ts && b != ts {
        low(*b)
    } else {
        m.op == "Mul" && b == ts && a != ts && low(*a)
    };
    let read_by_product = uses
        .sole_reader(*ms)
        .is_some_and(|r| uses.nodes[r].op == "MatMul");
    (other_is_scalar && read_by_product).then_some((i, j, *x, *ts, *ms))
}
