//! Fusion inside subgraphs (If branches, Loop and Scan bodies).
//!
//! A subgraph reads values of its enclosing graphs by name; inside it they have no producer,
//! so inference alone knows nothing about them. Before fusing a subgraph, the facts the
//! enclosing graph has about those values (declared type, small constants) are attached to
//! the subgraph's values for the duration of the pass and removed afterwards, so the exported
//! subgraph gains no value_info or initializer it did not have.

use crate::{fuse_graph, FuseError, FuseOptions, FuseReport};
use lnopt_infer::GraphTypes;
use lnopt_ir::{AttrValue, Graph, Producer, ValueId, ValueInfo, ValueType};
use std::sync::Arc;

/// Fuses `graph` and then, recursively, every subgraph of its nodes. Site anchors inside
/// subgraphs are prefixed with the owning node and attribute (`If_0/then_branch/…`).
pub fn fuse_graph_and_subgraphs(
    graph: &mut Graph,
    opset: i64,
    opts: &FuseOptions,
) -> Result<FuseReport, FuseError> {
    let mut report = fuse_with_bridged_sites(graph, opset, opts)?;
    let mut facts = FactsCache::default();
    if crate::flatten_roundtrip::has_candidates(graph) {
        let folded = crate::flatten_roundtrip::fold(graph, facts.get(graph, opset)?);
        if folded > 0 {
            facts.invalidate();
        }
    }
    if !has_subgraphs(graph) {
        return Ok(report);
    }
    let types = facts.get(graph, opset)?.clone();
    let ids: Vec<_> = graph.node_ids().collect();
    for id in ids {
        let owner = graph.node(id).display_name(id);
        for ai in 0..graph.node(id).attributes.len() {
            let attr_name = graph.node(id).attributes[ai].name.clone();
            let mut value = std::mem::replace(
                &mut graph.node_mut(id).attributes[ai].value,
                AttrValue::Int(0),
            );
            let result = match &mut value {
                AttrValue::Graph(sg) => fuse_sub(sg, graph, &types, opset, opts),
                AttrValue::Graphs(sgs) => {
                    let mut acc = FuseReport::default();
                    let mut res = Ok(());
                    for sg in sgs.iter_mut() {
                        match fuse_sub(sg, graph, &types, opset, opts) {
                            Ok(r) => acc.sites.extend(r.sites),
                            Err(e) => {
                                res = Err(e);
                                break;
                            }
                        }
                    }
                    res.map(|()| acc)
                }
                _ => Ok(FuseReport::default()),
            };
            graph.node_mut(id).attributes[ai].value = value;
            for mut site in result?.sites {
                site.anchor = format!("{owner}/{attr_name}/{}", site.anchor);
                report.sites.push(site);
            }
        }
    }
    Ok(report)
}

/// Fuses `graph`. When a channels-first site continues channels-last after a Transpose
/// ([`crate::channels_first::has_bridge`]), a copy with those sites rewritten into
/// channels-last form first is fused too, and kept when it fuses more (or as many, with fewer
/// left unfused): fused as they stand, such a site's tail becomes an RMSNormalization of the
/// centred tensor, after which the channels-first retry can no longer fuse it whole.
fn fuse_with_bridged_sites(
    graph: &mut Graph,
    opset: i64,
    opts: &FuseOptions,
) -> Result<FuseReport, FuseError> {
    use crate::channels_first::{
        copy_name, find_channel_mean, has_bridge, is_channel_mean, rewrite_site,
    };
    // Cheap test first (no inference): a Transpose moving axis 1 last that reads a Sub.
    let maybe_bridged = opts.allow_layer_norm
        && graph.node_ids().any(|n| {
            let node = graph.node(n);
            let moves_axis_1_last = node
                .attr_ints("perm")
                .ok()
                .flatten()
                .is_some_and(crate::channels_first::moves_axis_1_last);
            node.op_type == "Transpose"
                && moves_axis_1_last
                && node
                    .input(0)
                    .and_then(|v| graph.producer_node(v))
                    .is_some_and(|(p, _)| graph.node(p).op_type == "Sub")
        });
    if !maybe_bridged {
        return fuse_with_retry(graph, opset, opts);
    }
    let mut trial = graph.clone();
    let mut facts = FactsCache::default();
    let types = facts.get(&trial, opset)?;
    let bridged: Vec<String> = trial
        .node_ids()
        .filter(|&n| {
            is_channel_mean(&trial, types, opset, n) && has_bridge(&trial, types, opset, n)
        })
        .map(|n| trial.node(n).display_name(n))
        .collect();
    if bridged.is_empty() {
        return fuse_with_retry(graph, opset, opts);
    }
    for name in &bridged {
        // Facts are inferred again only after a rewrite: a name already rewritten inside an
        // earlier site's region (its variance mean, a norm of that norm) is not found.
        let types = facts.get(&trial, opset)?;
        let Some(n) = find_channel_mean(&trial, types, opset, name) else {
            continue;
        };
        if rewrite_site(&mut trial, types, opset, n).is_none() {
            // The trial may be partly edited: fuse the graph as it stands instead.
            return fuse_with_retry(graph, opset, opts);
        }
        facts.invalidate();
    }
    let mut base = graph.clone();
    let base_report = fuse_with_retry(&mut base, opset, opts)?;
    let Ok(mut trial_report) = fuse_with_retry(&mut trial, opset, opts) else {
        *graph = base;
        return Ok(base_report);
    };
    // More sites fused, then fewer left unfused (a partial fusion leaves its mean's site
    // unfused beside an RMSNormalization of the centred tensor).
    let score = |r: &FuseReport| {
        let fused = r.sites.iter().filter(|s| s.is_fused()).count();
        (fused, std::cmp::Reverse(r.sites.len() - fused))
    };
    if score(&trial_report) <= score(&base_report) {
        *graph = base;
        return Ok(base_report);
    }
    for site in &mut trial_report.sites {
        if let Some(name) = bridged.iter().find(|b| copy_name(b) == site.anchor) {
            site.anchor = name.clone();
        }
    }
    *graph = trial;
    Ok(trial_report)
}

/// [`fuse_graph`], then [`retry_channels_first`] for the sites left unfused.
fn fuse_with_retry(
    graph: &mut Graph,
    opset: i64,
    opts: &FuseOptions,
) -> Result<FuseReport, FuseError> {
    let mut report = fuse_graph(graph, opset, opts)?;
    if report.sites.iter().any(|s| !s.is_fused()) {
        retry_channels_first(graph, opset, opts, &mut report, &mut FactsCache::default())?;
    }
    Ok(report)
}

/// Sites anchored at a channels-first ReduceMean ([`crate::channels_first::is_channel_mean`])
/// that did not fuse are tried again in transposed coordinates ([`crate::channels_first`]) on
/// a copy of the graph; the copy is kept only when that site then fuses.
fn retry_channels_first(
    graph: &mut Graph,
    opset: i64,
    opts: &FuseOptions,
    report: &mut FuseReport,
    facts: &mut FactsCache,
) -> Result<(), FuseError> {
    if !opts.allow_layer_norm && !opts.allow_rms_norm {
        return Ok(());
    }
    let types = facts.get(graph, opset)?;
    let candidates: Vec<String> = graph
        .node_ids()
        .filter(|&n| crate::channels_first::is_channel_mean(graph, types, opset, n))
        .map(|n| graph.node(n).display_name(n))
        .collect();
    for name in candidates {
        if !report
            .sites
            .iter()
            .any(|s| s.anchor == name && s.fused_node.is_none())
        {
            continue;
        }
        let types = facts.get(graph, opset)?;
        let Some(n) = crate::channels_first::find_channel_mean(graph, types, opset, &name) else {
            continue;
        };
        let mut trial = graph.clone();
        let Some(copy) = crate::channels_first::rewrite_site(&mut trial, types, opset, n) else {
            continue;
        };
        let Ok(r) = fuse_graph(&mut trial, opset, opts) else {
            continue;
        };
        if r.sites
            .iter()
            .any(|s| s.anchor == copy && s.fused_node.is_some())
        {
            // The rewritten region can hold further sites downstream (a norm of this norm's
            // output); each unfused site whose transposed copy fused takes that result.
            for site in report.sites.iter_mut().filter(|s| s.fused_node.is_none()) {
                let copy = crate::channels_first::copy_name(&site.anchor);
                if let Some(done) = r
                    .sites
                    .iter()
                    .find(|s| s.anchor == copy && s.fused_node.is_some())
                {
                    let anchor = std::mem::take(&mut site.anchor);
                    *site = done.clone();
                    site.anchor = anchor;
                }
            }
            *graph = trial;
            facts.invalidate();
        }
    }
    Ok(())
}

/// Inferred facts of the graph being worked on, computed at most once per version of it.
#[derive(Default)]
struct FactsCache {
    types: Option<GraphTypes>,
}

impl FactsCache {
    /// The facts of `graph`, inferring them if the graph changed since the last call.
    fn get(&mut self, graph: &Graph, opset: i64) -> Result<&GraphTypes, FuseError> {
        let types = match self.types.take() {
            Some(t) => t,
            None => lnopt_infer::infer_graph(graph, opset)?,
        };
        Ok(self.types.insert(types))
    }

    /// Forgets the facts after an edit of the graph.
    fn invalidate(&mut self) {
        self.types = None;
    }
}

fn has_subgraphs(g: &Graph) -> bool {
    g.node_ids().any(|n| g.node(n).subgraphs().next().is_some())
}

/// Values of `sg` that read the enclosing scope, with the facts attached to them.
struct Borrowed {
    typed: Vec<ValueId>,
    constants: Vec<ValueId>,
}

fn fuse_sub(
    sg: &mut Graph,
    outer: &Graph,
    outer_types: &GraphTypes,
    opset: i64,
    opts: &FuseOptions,
) -> Result<FuseReport, FuseError> {
    let borrowed = borrow_outer_facts(sg, outer, outer_types);
    let result = fuse_graph_and_subgraphs(sg, opset, opts);
    for v in borrowed.typed {
        sg.value_mut(v).info = None;
    }
    for v in &borrowed.constants {
        sg.value_mut(*v).initializer = None;
    }
    sg.initializers.retain(|v| !borrowed.constants.contains(v));
    result
}

fn borrow_outer_facts(sg: &mut Graph, outer: &Graph, outer_types: &GraphTypes) -> Borrowed {
    let mut b = Borrowed {
        typed: Vec::new(),
        constants: Vec::new(),
    };
    let free: Vec<ValueId> = sg
        .value_ids()
        .filter(|&v| sg.value(v).producer() == Producer::None)
        .collect();
    for v in free {
        let Some(ov) = outer.find_value(&sg.value(v).name) else {
            continue;
        };
        if let Some(c) = outer_types.constant(ov) {
            let mut t = (**c).clone();
            t.name = sg.value(v).name.clone();
            sg.set_initializer(v, Arc::new(t));
            b.constants.push(v);
        } else if sg.value(v).info.is_none() {
            if let Some(t) = outer_types.ty(ov) {
                sg.value_mut(v).info = Some(ValueInfo {
                    ty: Some(ValueType::Tensor(t.clone())),
                    ..ValueInfo::default()
                });
                b.typed.push(v);
            }
        }
    }
    b
}
