//! Sites: ReduceMean nodes grouped into normalisation candidates, and the explanation of why
//! a site was not fused.

use crate::consts::const_of;
use crate::region::mean_axes;
use lnopt_infer::GraphTypes;
use lnopt_ir::{Graph, NodeId, ValueId};
use std::collections::{BTreeSet, VecDeque};

/// ReduceMeans that belong to one candidate normalisation.
#[derive(Clone, Debug)]
pub struct Group {
    /// Member ReduceMean nodes in topological order; the first is the anchor.
    pub members: Vec<NodeId>,
    /// Display name of the anchor.
    pub anchor_name: String,
    mean_of: Option<ValueId>,
    sq_of: Option<ValueId>,
}

fn producer_op(g: &Graph, v: ValueId) -> Option<(NodeId, &lnopt_ir::Node)> {
    let (n, _) = g.producer_node(v)?;
    let node = g.node(n);
    node.in_default_domain().then_some((n, node))
}

/// `v` with Cast, CastLike and Identity producers peeled off.
pub fn strip_cast(g: &Graph, v: ValueId) -> ValueId {
    let mut cur = v;
    for _ in 0..4 {
        match producer_op(g, cur) {
            Some((_, n)) if matches!(n.op_type.as_str(), "Cast" | "CastLike" | "Identity") => {
                match n.input(0) {
                    Some(i) => cur = i,
                    None => break,
                }
            }
            _ => break,
        }
    }
    cur
}

/// The centred value a `Where(guard, 0, x - mean)` selects from (Flax's constant-row
/// guard), or `v` itself.
fn unguarded(g: &Graph, v: ValueId) -> ValueId {
    match producer_op(g, v) {
        Some((_, n)) if n.op_type == "Where" => n.input(2).map_or(v, |c| strip_cast(g, c)),
        _ => v,
    }
}

fn square_base(g: &Graph, v: ValueId) -> Option<ValueId> {
    let (_, n) = producer_op(g, v)?;
    match n.op_type.as_str() {
        "Mul" if n.input(0).is_some() && n.input(0) == n.input(1) => n.input(0),
        "Pow" => n.input(0),
        _ => None,
    }
}

/// Groups the ReduceMean nodes `anchors` (in topological order) into sites.
pub fn group(g: &Graph, anchors: &[NodeId]) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    let mut group_of: Vec<(NodeId, usize)> = Vec::new();
    for &r in anchors {
        let Some(m) = g.node(r).input(0) else {
            continue;
        };
        let mut joined = None;
        let mut new_group = (None, None);
        if let Some(a) = square_base(g, strip_cast(g, m)) {
            let a = strip_cast(g, a);
            let centred_by = producer_op(g, unguarded(g, a))
                .filter(|(_, n)| n.op_type == "Sub")
                .and_then(|(_, n)| n.input(1))
                .map(|s| strip_cast(g, s))
                .and_then(|s| g.producer_node(s))
                .and_then(|(p, _)| group_of.iter().find(|(n, _)| *n == p).map(|(_, i)| *i));
            if let Some(i) = centred_by {
                joined = Some(i);
            } else if let Some(i) = groups
                .iter()
                .position(|gr| gr.mean_of == Some(a) && gr.sq_of.is_none())
            {
                groups[i].sq_of = Some(a);
                joined = Some(i);
            } else {
                new_group = (None, Some(a));
            }
        } else {
            let base = strip_cast(g, m);
            if let Some(i) = groups
                .iter()
                .position(|gr| gr.sq_of == Some(base) && gr.mean_of.is_none())
            {
                groups[i].mean_of = Some(base);
                joined = Some(i);
            } else {
                new_group = (Some(base), None);
            }
        }
        let i = match joined {
            Some(i) => {
                groups[i].members.push(r);
                i
            }
            None => {
                groups.push(Group {
                    members: vec![r],
                    anchor_name: g.node(r).display_name(r),
                    mean_of: new_group.0,
                    sq_of: new_group.1,
                });
                groups.len() - 1
            }
        };
        group_of.push((r, i));
    }
    groups
}

/// Why the site `gr` matched no normalisation (checked on the graph as it is now).
pub fn diagnose(g: &Graph, types: &GraphTypes, opset: i64, gr: &Group) -> String {
    let members: Vec<NodeId> = gr
        .members
        .iter()
        .copied()
        .filter(|&m| g.contains_node(m) && crate::region::is_mean_node(g.node(m)))
        .collect();
    let mut ks = Vec::new();
    for &m in &members {
        match mean_axes(g, types, opset, m) {
            Err(e) => return e,
            Ok(k) => ks.push((m, k)),
        }
    }
    if let Some(((m0, k0), (m1, k1))) = ks
        .iter()
        .zip(ks.iter().skip(1))
        .find(|(a, b)| a.1 != b.1)
        .map(|(a, b)| (*a, *b))
    {
        return format!(
            "the ReduceMeans reduce different axes: last {} at node {} vs last {} at node {}",
            k0.unwrap_or(0),
            g.node(m0).display_name(m0),
            k1.unwrap_or(0),
            g.node(m1).display_name(m1)
        );
    }
    let outs: BTreeSet<ValueId> = members
        .iter()
        .filter_map(|&m| g.node(m).output(0))
        .collect();
    for &o in &outs {
        if g.is_output(o) {
            return format!(
                "the mean '{}' is a graph output and cannot be fed from the fused node",
                g.value(o).name
            );
        }
    }
    // Look at the nodes downstream of the statistics.
    let mut seen = BTreeSet::new();
    let mut queue: VecDeque<(ValueId, usize)> = outs.iter().map(|&o| (o, 0)).collect();
    if let Some(x) = members.first().and_then(|&m| g.node(m).input(0)) {
        queue.push_back((x, 0));
    }
    let mut findings: Vec<String> = Vec::new();
    while let Some((v, d)) = queue.pop_front() {
        if d > 8 {
            continue;
        }
        for &(c, slot) in g.value(v).uses() {
            if !seen.insert(c) {
                continue;
            }
            let n = g.node(c);
            let name = n.display_name(c);
            match n.op_type.as_str() {
                "Pow" => match n
                    .input(1)
                    .and_then(|e| const_of(g, types, e))
                    .and_then(|c| c.uniform())
                {
                    Some(e) if e == 2.0 || e == 0.5 || e == -0.5 => {}
                    Some(e) => findings.push(format!("Pow exponent {e} at node {name} is not 2")),
                    None => findings.push(format!("Pow exponent at node {name} is not a constant")),
                },
                "Max" => {
                    let other = n.input(1 - slot.min(1));
                    if let Some(c) = other
                        .and_then(|e| const_of(g, types, e))
                        .and_then(|c| c.uniform())
                    {
                        if c > 0.0 {
                            findings.push(format!(
                                "Max at node {name} floors the statistic at {c}, which changes \
                                 small variances (only a floor at or below 0 is the variance)"
                            ));
                        }
                    }
                }
                "Sub" if outs.contains(&v) && slot == 0 => {
                    // `mean(x) - x` only: `E[x²] - E[x]²` has a mean first too.
                    let mean_in = members
                        .iter()
                        .find(|&&m| g.node(m).output(0) == Some(v))
                        .and_then(|&m| g.node(m).input(0));
                    if let (Some(a), Some(b)) = (mean_in, n.input(1)) {
                        if strip_cast(g, a) == strip_cast(g, b) {
                            findings.push(format!(
                                "Sub at node {name} computes mean - x (reversed operands)"
                            ));
                        }
                    }
                }
                "Sub" if outs.contains(&v) && slot == 1 => {
                    let mean_in = members
                        .iter()
                        .find(|&&m| g.node(m).output(0) == Some(v))
                        .and_then(|&m| g.node(m).input(0));
                    let y = n.input(0);
                    if let (Some(a), Some(b)) = (mean_in, y) {
                        if strip_cast(g, a) != strip_cast(g, b) {
                            findings.push(format!(
                                "Sub at node {name} centres a different tensor than the mean's input"
                            ));
                        }
                    }
                }
                "Add"
                    if outs.contains(&v) && members.len() > 1
                        || square_base_mean(g, &members, v) =>
                {
                    let other = n.input(1 - slot.min(1));
                    if other.and_then(|e| const_of(g, types, e)).is_none() {
                        findings.push(format!("epsilon added at node {name} is not a constant"));
                    } else if let Some(o) = n.output(0) {
                        if g.value(o)
                            .uses()
                            .iter()
                            .any(|&(u, s)| g.node(u).op_type == "Div" && s == 1)
                        {
                            findings.push(format!(
                                "variance + epsilon from node {name} is divided by without a square root"
                            ));
                        }
                    }
                }
                _ => {}
            }
            for &o in n.outputs().iter().flatten() {
                queue.push_back((o, d + 1));
            }
        }
    }
    if let Some(f) = findings.into_iter().next() {
        return f;
    }
    let stats_dtype = members
        .first()
        .and_then(|&m| g.node(m).input(0))
        .and_then(|x| types.ty(x))
        .map(|t| t.elem);
    match stats_dtype {
        Some(lnopt_ir::DType::F64) => {
            return format!(
                "statistics are computed in f64 at ReduceMean {}: a fused node would compute \
                 them in f32 (stash_type has no f64)",
                gr.anchor_name
            )
        }
        Some(d) if !d.is_float() => {
            return format!(
                "ReduceMean {} reduces a {d} tensor, not floating point",
                gr.anchor_name
            )
        }
        _ => {}
    }
    format!(
        "no LayerNorm or RMSNorm pattern matched around ReduceMean {}",
        gr.anchor_name
    )
}

/// True when `v` is the output of a member ReduceMean over a square (an RMS statistic).
fn square_base_mean(g: &Graph, members: &[NodeId], v: ValueId) -> bool {
    members.iter().any(|&m| {
        g.node(m).output(0) == Some(v)
            && g.node(m).input(0).and_then(|i| square_base(g, i)).is_some()
    })
}
