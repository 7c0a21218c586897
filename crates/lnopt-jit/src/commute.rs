//! A scalar `Mul` / `Div` after a `Transpose` moves in front of it when a product reads the
//! result: `MatMul(Transpose(x) · c)` becomes `MatMul(Transpose(x · c))`, whose Transpose the
//! product then reads as a strided view (`matmul_step`, `attention_step`) instead of
//! materialising it. PyTorch's exporter scales Q and Kᵀ by `√scale` right after splitting the
//! heads, so every attention block has two such Transposes.
//!
//! Multiplying or dividing every element by one scalar commutes exactly with permuting the
//! elements: the values are bit for bit the same.

use crate::plan::PNode;
use crate::value::{Data, Val};
use lnopt_ir::DType;
use std::sync::Arc;

/// The rank of the single-element f32 constant in `slot`.
fn scalar_rank(consts: &[Option<Arc<Val>>], slot: usize) -> Option<usize> {
    let v = consts.get(slot)?.as_deref()?;
    match (&*v.data, v.dtype) {
        (Data::F(d), DType::F32) if d.len() == 1 => Some(v.rank()),
        _ => None,
    }
}

fn default_domain(n: &PNode) -> bool {
    n.domain.is_empty() || n.domain == "ai.onnx"
}

/// Swaps each `Transpose → Mul/Div(scalar)` pair whose Transpose result only the Mul/Div reads
/// and whose result only a MatMul reads. `readers[s]` counts the nodes and graph outputs
/// reading slot `s`; every slot keeps its readers and producer index, so the counts stay
/// valid. Returns how many pairs were swapped.
pub(crate) fn scalar_before_transpose(
    nodes: &mut [PNode],
    readers: &[usize],
    consts: &[Option<Arc<Val>>],
) -> usize {
    let mut reader_of: Vec<Option<usize>> = vec![None; readers.len()];
    for (i, n) in nodes.iter().enumerate() {
        for s in n.inputs.iter().flatten() {
            if let Some(r) = reader_of.get_mut(*s) {
                *r = Some(i);
            }
        }
    }
    let sole = |s: usize| {
        if readers.get(s) == Some(&1) {
            reader_of.get(s).copied().flatten()
        } else {
            None
        }
    };
    let mut swapped = 0;
    for i in 0..nodes.len() {
        let t = &nodes[i];
        if t.op != "Transpose" || !default_domain(t) {
            continue;
        }
        let ([Some(x)], [Some(ts)]) = (t.inputs.as_slice(), t.outputs.as_slice()) else {
            continue;
        };
        let (x, ts) = (*x, *ts);
        let rank = match t.attrs.iter().find(|a| a.name == "perm").map(|a| &a.value) {
            Some(lnopt_ir::AttrValue::Ints(p)) => p.len(),
            _ => continue,
        };
        let Some(j) = sole(ts) else { continue };
        let m = &nodes[j];
        if !matches!(m.op.as_str(), "Mul" | "Div") || !default_domain(m) {
            continue;
        }
        let ([Some(a), Some(b)], [Some(ms)]) = (m.inputs.as_slice(), m.outputs.as_slice()) else {
            continue;
        };
        let (a, b, ms) = (*a, *b, *ms);
        // The constant must not raise the result's rank; Div only by a constant divisor.
        let low = |s: usize| scalar_rank(consts, s).is_some_and(|r| r <= rank);
        let other_is_scalar = if a == ts && b != ts {
            low(b)
        } else {
            m.op == "Mul" && b == ts && a != ts && low(a)
        };
        let read_by_product = sole(ms).is_some_and(|r| nodes[r].op == "MatMul");
        if !other_is_scalar || !read_by_product {
            continue;
        }
        let mut scale = m.clone();
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
        swapped += 1;
    }
    swapped
}
