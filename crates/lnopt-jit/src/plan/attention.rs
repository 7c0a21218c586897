//! Planning of attention steps: finds `Softmax(Q·Kᵀ [· or / c] [+ mask]) [NaN guard] ·V`
//! blocks whose intermediate values are read by the next node only, and builds the
//! [`AttentionStep`] that runs each one.

use super::uses::{default_domain, single_output, Uses};
use crate::node::PNode;
use crate::steps::attention::{AttentionStep, Scale};
use crate::value::{const_f32_scalar, Val};
use std::sync::Arc;

/// The other input of the two-input node `n` than slot `s`, when `s` is input `at` (or
/// either input when `at` is `None`).
fn other_input(n: &PNode, s: usize, at: Option<usize>) -> Option<usize> {
    let [Some(a), Some(b)] = n.inputs.as_slice() else {
        return None;
    };
    match at {
        Some(0) if *a == s && *b != s => Some(*b),
        Some(1) if *b == s && *a != s => Some(*a),
        None if *a == s && *b != s => Some(*b),
        None if *b == s && *a != s => Some(*a),
        _ => None,
    }
}

/// Finds each attention block around a Softmax whose nodes are not `taken`: the scores'
/// MatMul, the optional scale and mask, the optional NaN guard and the `·V` MatMul, every
/// intermediate value read by the next node only. Marks the absorbed nodes taken and returns,
/// per node index, the step that replaces the `·V` MatMul there.
pub(crate) fn plan(
    uses: &Uses<'_>,
    consts: &[Option<Arc<Val>>],
    taken: &mut [bool],
) -> Vec<Option<AttentionStep>> {
    let nodes = uses.nodes;
    let mut out: Vec<Option<AttentionStep>> = (0..nodes.len()).map(|_| None).collect();
    for (si, sm) in nodes.iter().enumerate() {
        if taken[si] || sm.op != "Softmax" || !default_domain(sm) {
            continue;
        }
        if let Some((at, step, absorbed)) = match_block(uses, consts, taken, si) {
            for p in absorbed {
                taken[p] = true;
            }
            out[at] = Some(step);
        }
    }
    out
}

/// What [`scores_chain`] finds: the scale and its rank, the MatMul's index, the absorbed
/// nodes (the MatMul included).
type ScoresChain = (Option<(Scale, usize)>, usize, Vec<usize>);

/// `[Mul/Div(c)] <- MatMul` producing the scores in slot `cur`, read only by node `reader`:
/// the scale, the MatMul's index and the absorbed nodes (the MatMul included).
fn scores_chain(
    uses: &Uses<'_>,
    consts: &[Option<Arc<Val>>],
    taken: &[bool],
    mut cur: usize,
    mut reader: usize,
) -> Option<ScoresChain> {
    let nodes = uses.nodes;
    let free = |i: usize| !taken[i] && default_domain(&nodes[i]);
    let mut absorbed = Vec::new();
    let mut scale = None;
    let mut prod = uses.producer_of(cur)?;
    if uses.sole_reader(cur) != Some(reader) {
        return None;
    }
    if matches!(nodes[prod].op.as_str(), "Mul" | "Div") && free(prod) {
        let n = &nodes[prod];
        let div = n.op == "Div";
        let [Some(a), Some(b)] = n.inputs.as_slice() else {
            return None;
        };
        // Mul by a constant on either side; Div by a constant on the right only.
        let (scores, (c, rank)) = match (const_f32_scalar(consts, *a), const_f32_scalar(consts, *b))
        {
            (_, Some(c)) => (*a, c),
            (Some(c), None) if !div => (*b, c),
            _ => return None,
        };
        scale = Some((if div { Scale::Div(c) } else { Scale::Mul(c) }, rank));
        absorbed.push(prod);
        reader = prod;
        cur = scores;
        prod = uses.producer_of(cur)?;
        if uses.sole_reader(cur) != Some(reader) {
            return None;
        }
    }
    let qk = &nodes[prod];
    if qk.op != "MatMul" || !free(prod) || qk.inputs.len() != 2 || single_output(qk) != Some(cur) {
        return None;
    }
    absorbed.push(prod);
    Some((scale, prod, absorbed))
}

/// The attention block around the Softmax at `si`: the index of its `·V` MatMul, the step
/// and the absorbed node indices.
fn match_block(
    uses: &Uses<'_>,
    consts: &[Option<Arc<Val>>],
    taken: &[bool],
    si: usize,
) -> Option<(usize, AttentionStep, Vec<usize>)> {
    let nodes = uses.nodes;
    let sm = &nodes[si];
    let free = |i: usize| !taken[i] && default_domain(&nodes[i]);
    let [Some(x)] = sm.inputs.as_slice() else {
        return None;
    };
    let p = single_output(sm)?;
    let mut absorbed = vec![si];
    // Backwards: [Add(mask)] <- [Mul/Div(c)] <- MatMul. The scores are whichever input of
    // the Add such a chain makes.
    let mut mask = None;
    let back = match uses.producer_of(*x) {
        Some(a) if nodes[a].op == "Add" && free(a) && uses.sole_reader(*x) == Some(si) => {
            let [Some(l), Some(r)] = nodes[a].inputs.as_slice() else {
                return None;
            };
            if l == r {
                return None;
            }
            let (found, m) = match scores_chain(uses, consts, taken, *l, a) {
                Some(f) => (f, *r),
                None => (scores_chain(uses, consts, taken, *r, a)?, *l),
            };
            mask = Some(m);
            absorbed.push(a);
            found
        }
        _ => scores_chain(uses, consts, taken, *x, si)?,
    };
    let (scale, qk_at, chain) = back;
    absorbed.extend(chain);
    let qk = &nodes[qk_at];
    let [Some(sq), Some(sk)] = qk.inputs.as_slice() else {
        return None;
    };
    // Forwards: [Where(IsNaN(P), c, P)] -> MatMul(·, V).
    let mut probs = p;
    let mut nan_to = None;
    if uses.readers.get(p) == Some(&2) {
        // P's two reads: the Where's third input (the Where is the later reader, as it reads
        // the IsNaN's flag) and the IsNaN's only input.
        let wh = uses.last_reader(p)?;
        let w = &nodes[wh];
        let [Some(flag), Some(c1), Some(c2)] = w.inputs.as_slice() else {
            return None;
        };
        let isnan = uses.producer_of(*flag)?;
        let ni = &nodes[isnan];
        if ni.op != "IsNaN" || w.op != "Where" || !free(isnan) || !free(wh) {
            return None;
        }
        if ni.inputs != [Some(p)] || *c2 != p || uses.sole_reader(*flag) != Some(wh) {
            return None;
        }
        nan_to = Some(const_f32_scalar(consts, *c1)?);
        probs = single_output(w)?;
        absorbed.extend([isnan, wh]);
    }
    let pv_at = uses.sole_reader(probs)?;
    let pv = &nodes[pv_at];
    if pv.op != "MatMul" || !free(pv_at) {
        return None;
    }
    let sv = other_input(pv, probs, Some(0))?;
    let mut result = single_output(pv)?;
    absorbed.push(pv_at);
    let q = uses.operand(qk_at, *sq, taken, &mut absorbed);
    let k = uses.operand(qk_at, *sk, taken, &mut absorbed);
    let v = uses.operand(pv_at, sv, taken, &mut absorbed);
    let mut out_transpose = None;
    if let Some((r, o)) = uses.out_transpose(result, taken) {
        out_transpose = Some(nodes[r].clone());
        absorbed.push(r);
        result = o;
    }
    // The step runs at the `·V` MatMul, after every absorbed node but the output Transpose
    // in plan order: Q, K, V, the mask and the constants all exist by then.
    let mut order = absorbed.clone();
    order.sort_unstable();
    let step = AttentionStep {
        node: pv.clone(),
        q,
        k,
        scale,
        mask,
        softmax: sm.clone(),
        nan_to,
        v,
        out_transpose,
        out: result,
        originals: order.iter().map(|&i| nodes[i].clone()).collect(),
    };
    Some((pv_at, step, absorbed))
}
