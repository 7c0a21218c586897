//! Planning of MatMul steps: each MatMul (or `Gemm` with alpha = beta = 1, transA = 0) is
//! grouped with the Transposes feeding it, a constant bias Add after it and a Transpose of its
//! result, and a 2-D f32 constant right operand is packed once here
//! (the step itself is [`MatMulStep`]).

use super::uses::{default_domain, single_output, Uses};
use crate::node::PNode;
use crate::ops::sgemm::{pack, MatRef, PackedB};
use crate::steps::matmul::{ctx, GemmForm, MatMulStep, Operand, View};
use crate::value::{Data, Val};
use lnopt_ir::DType;
use std::sync::Arc;

/// The [`GemmForm`] of a `Gemm` node this step can run, or `None`: alpha and beta must be 1
/// and A untransposed (anything else runs as the plain `Gemm` op).
fn gemm_form(n: &PNode) -> Option<GemmForm> {
    let c = ctx(n);
    let one = |name: &str| c.float(name, 1.0).ok() == Some(1.0);
    if !(one("alpha") && one("beta")) || c.int("transA", 0).ok()? != 0 {
        return None;
    }
    let trans_b = match c.int("transB", 0).ok()? {
        0 => false,
        1 => true,
        _ => return None,
    };
    match n.inputs.as_slice() {
        [Some(_), Some(_)] | [Some(_), Some(_), None] => Some(GemmForm { trans_b, c: None }),
        [Some(_), Some(_), Some(cs)] => Some(GemmForm {
            trans_b,
            c: Some(*cs),
        }),
        _ => None,
    }
}

/// Groups each MatMul with the Transposes, bias Add and result Transpose it can absorb.
/// Nodes marked in `taken` are not absorbed and absorbed nodes are marked. Returns, per node
/// index, the step that replaces the MatMul there.
pub(crate) fn plan(
    uses: &Uses<'_>,
    consts: &[Option<Arc<Val>>],
    taken: &mut [bool],
) -> Vec<Option<MatMulStep>> {
    let nodes = uses.nodes;
    let sole_reader = |s: usize| uses.sole_reader(s);
    let mut out: Vec<Option<MatMulStep>> = (0..nodes.len()).map(|_| None).collect();
    for (i, n) in nodes.iter().enumerate() {
        if taken[i] || !default_domain(n) {
            continue;
        }
        let gemm = match n.op.as_str() {
            "MatMul" if n.inputs.len() == 2 => None,
            "Gemm" => match gemm_form(n) {
                Some(g) => Some(g),
                None => continue,
            },
            _ => continue,
        };
        let (Some(Some(sa)), Some(Some(sb))) = (n.inputs.first(), n.inputs.get(1)) else {
            continue;
        };
        let Some(mut result) = single_output(n) else {
            continue;
        };
        if let Some(g) = gemm {
            // A Gemm runs with its own operands only: its B must be a constant worth packing.
            let b_const = consts.get(*sb).and_then(|c| c.as_deref());
            let Some(packed_b) = b_const.and_then(|v| pack_constant(v, None, g.trans_b)) else {
                continue;
            };
            out[i] = Some(MatMulStep {
                node: n.clone(),
                a: Operand {
                    slot: *sa,
                    transpose: None,
                },
                b: Operand {
                    slot: *sb,
                    transpose: None,
                },
                bias: None,
                out_transpose: None,
                out: result,
                packed_b: Some(packed_b),
                gemm: Some(g),
            });
            continue;
        }
        let mut absorbed = Vec::new();
        let a = uses.operand(i, *sa, taken, &mut absorbed);
        let b = uses.operand(i, *sb, taken, &mut absorbed);
        let mut bias = None;
        if let Some(r) = sole_reader(result) {
            let add = &nodes[r];
            if !taken[r] && add.op == "Add" && default_domain(add) && add.inputs.len() == 2 {
                let other = add.inputs.iter().flatten().copied().find(|&s| s != result);
                let is_const = other.is_some_and(|s| consts.get(s).is_some_and(|c| c.is_some()));
                if let (Some(o), true, Some(ao)) = (other, is_const, single_output(add)) {
                    bias = Some((add.clone(), o));
                    absorbed.push(r);
                    result = ao;
                }
            }
        }
        let mut out_transpose = None;
        if let Some((r, o)) = uses.out_transpose(result, taken) {
            out_transpose = Some(nodes[r].clone());
            absorbed.push(r);
            result = o;
        }
        let packed_b = consts
            .get(b.slot)
            .and_then(|c| c.as_deref())
            .and_then(|v| pack_constant(v, b.transpose.as_ref(), false));
        if absorbed.is_empty() && packed_b.is_none() {
            continue; // a plain MatMul: the runtime function does the same
        }
        for p in absorbed {
            taken[p] = true;
        }
        out[i] = Some(MatMulStep {
            node: n.clone(),
            a,
            b,
            bias,
            out_transpose,
            out: result,
            packed_b,
            gemm: None,
        });
    }
    out
}

/// A 2-D f32 constant right operand (seen through its folded Transpose) packed for the
/// product kernels; `None` for anything else, which is then packed per run.
fn pack_constant(v: &Val, transpose: Option<&PNode>, trans_b: bool) -> Option<PackedB> {
    if v.dtype != DType::F32 || v.rank() != 2 {
        return None;
    }
    let Data::F(d) = &*v.data else {
        return None;
    };
    let mut view = View::of(v, transpose).ok()?;
    if trans_b {
        view.swap_last();
    }
    let (k, n) = (view.shape[0], view.shape[1]);
    if k == 0 || n == 0 || d.len() < k * n {
        return None;
    }
    let b = MatRef {
        ptr: d.as_ptr(),
        rs: view.strides[0] as isize,
        cs: view.strides[1] as isize,
    };
    // SAFETY: the view of a k×n tensor with its own (permuted) strides stays inside its k·n
    // elements.
    Some(unsafe { pack(k, n, b) })
}
