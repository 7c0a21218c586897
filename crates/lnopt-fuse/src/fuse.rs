//! The pass driver: regions around each ReduceMean, saturation, extraction, emission, report.

use crate::emit::{Ctx, Emitter, Event};
use crate::extract::Extraction;
use crate::lang::NormLang;
use crate::region::{self, Op, Region};
use crate::rules::cond::NormEGraph;
use crate::sites;
use crate::{EmitTarget, FuseError, FuseOptions, FuseReport, NormKind, SiteReport};
use egg::{Id, Runner};
use lnopt_infer::GraphTypes;
use lnopt_ir::{DType, Graph, NodeId, ValueId};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

/// Fuses every decomposed LayerNorm / RMSNorm of `graph` (whose ai.onnx opset is `opset`)
/// into single nodes. Runs [`lnopt_infer::infer_graph`] first. Never changes opset imports;
/// the report says which sites were fused, which opset their nodes need, and why the others
/// were not. Running the pass on its own output changes nothing.
pub fn fuse_graph(
    graph: &mut Graph,
    opset: i64,
    opts: &FuseOptions,
) -> Result<FuseReport, FuseError> {
    let types = lnopt_infer::infer_graph(graph, opset)?;
    let order = graph.topo_order()?;
    let mut pos: HashMap<NodeId, usize> =
        order.iter().enumerate().map(|(i, &n)| (n, i * 2)).collect();
    let anchors: Vec<NodeId> = order
        .iter()
        .copied()
        .filter(|&n| region::is_mean_node(graph.node(n)))
        .collect();
    let anchor_names: HashMap<NodeId, String> = anchors
        .iter()
        .map(|&n| (n, graph.node(n).display_name(n)))
        .collect();
    let groups = sites::group(graph, &anchors);
    let mut names: HashSet<String> = graph
        .node_ids()
        .map(|n| graph.node(n).name.clone())
        .collect();
    let rules = crate::rules::all();
    let mut ops: HashMap<NodeId, Option<Op>> = HashMap::new();
    let mut removed: HashSet<NodeId> = HashSet::new();
    let mut fused: Vec<(NodeId, NormKind, String)> = Vec::new();
    let mut refusals: BTreeMap<NodeId, (Option<NormKind>, String)> = BTreeMap::new();

    for &a in &anchors {
        if removed.contains(&a) || !graph.contains_node(a) {
            continue;
        }
        let reg = region::build(graph, &types, opset, a, &pos, &mut ops);
        if reg.reduce_means.is_empty() {
            continue;
        }
        let mut st = State {
            graph: &mut *graph,
            types: &types,
            opset,
            opts,
            pos: &mut pos,
            names: &mut names,
            anchor_names: &anchor_names,
        };
        let out = st.run_region(reg, &rules)?;
        for n in &out.removed {
            removed.insert(*n);
            ops.remove(n);
        }
        fused.extend(out.fused);
        for (n, r) in out.refusals {
            refusals.entry(n).or_insert(r);
        }
    }

    // Report per site.
    let mut sites_out = Vec::new();
    let mut used_events = vec![false; fused.len()];
    for gr in &groups {
        let mut any = false;
        for (i, (anchor, kind, node)) in fused.iter().enumerate() {
            if !used_events[i] && gr.members.contains(anchor) {
                used_events[i] = true;
                any = true;
                sites_out.push(SiteReport {
                    kind: Some(*kind),
                    anchor: gr.anchor_name.clone(),
                    fused_node: Some(node.clone()),
                    reason: None,
                    needs_opset: match opts.target {
                        EmitTarget::Standard => Some(kind.standard_opset()),
                        EmitTarget::Ort => None,
                    },
                });
            }
        }
        if any {
            continue;
        }
        // A lone GlobalAveragePool is a pooling layer, not a norm candidate: not a site.
        if let [m] = gr.members.as_slice() {
            if graph.contains_node(*m)
                && graph.node(*m).op_type == "GlobalAveragePool"
                && !refusals.contains_key(m)
            {
                continue;
            }
        }
        let refusal = gr.members.iter().find_map(|m| refusals.get(m)).cloned();
        let (kind, reason) = match refusal {
            Some((k, r)) => (k, r),
            None => (None, sites::diagnose(graph, &types, opset, gr)),
        };
        sites_out.push(SiteReport {
            kind,
            anchor: gr.anchor_name.clone(),
            fused_node: None,
            reason: Some(reason),
            needs_opset: None,
        });
    }
    graph.topo_order().map_err(|e| FuseError::Internal {
        site: "graph".into(),
        what: format!("the fused graph has a cycle: {e}"),
    })?;
    Ok(FuseReport { sites: sites_out })
}

struct State<'a> {
    graph: &'a mut Graph,
    types: &'a GraphTypes,
    opset: i64,
    opts: &'a FuseOptions,
    pos: &'a mut HashMap<NodeId, usize>,
    names: &'a mut HashSet<String>,
    anchor_names: &'a HashMap<NodeId, String>,
}

#[derive(Default)]
struct RegionOutcome {
    removed: Vec<NodeId>,
    fused: Vec<(NodeId, NormKind, String)>,
    refusals: Vec<(NodeId, (Option<NormKind>, String))>,
}

fn fused_kind(eg: &NormEGraph, c: Id) -> Option<NormKind> {
    eg[c].nodes.iter().find_map(|n| match n {
        NormLang::Ln(_) => Some(NormKind::LayerNorm),
        NormLang::Rms(_) => Some(NormKind::RmsNorm),
        _ => None,
    })
}

/// Internal classes of a fused pattern and the (class, output slot) pairs it can feed.
type PatternClasses = (BTreeSet<Id>, Vec<(Id, usize)>);

/// Classes of the statistics behind the fused node in class `f`: (internal classes,
/// feedable (class, output slot) pairs).
fn pattern_classes(eg: &NormEGraph, f: Id, ext: &Extraction) -> PatternClasses {
    let mut internal = BTreeSet::new();
    let mut feed = Vec::new();
    let Some(node) = ext.node(eg, f).cloned() else {
        return (internal, feed);
    };
    let (is_ln, x, k, e) = match node {
        NormLang::Ln([x, k, e]) => (true, x, k, e),
        NormLang::Rms([x, k, e]) => (false, x, k, e),
        _ => return (internal, feed),
    };
    let mut xs = vec![eg.find(x)];
    if let Some(t) = eg.lookup(NormLang::Int(i64::from(DType::F32.onnx_code()))) {
        if let Some(c) = eg.lookup(NormLang::Cast([x, t])) {
            xs.push(c);
        }
    }
    let add = |n: NormLang, set: &mut BTreeSet<Id>| -> Option<Id> {
        let c = eg.lookup(n)?;
        set.insert(c);
        Some(c)
    };
    for sx in xs {
        let sq = add(NormLang::Mul([sx, sx]), &mut internal);
        if is_ln {
            let m = add(NormLang::Mean([sx, k]), &mut internal);
            let v = add(NormLang::Var([sx, k]), &mut internal);
            if let Some(m) = m {
                add(NormLang::Sub([sx, m]), &mut internal);
                add(NormLang::Mul([m, m]), &mut internal);
                if eg[m].data.dtype == Some(DType::F32) {
                    feed.push((m, 1));
                }
            }
            if let Some(sq) = sq {
                add(NormLang::Mean([sq, k]), &mut internal);
            }
            if let Some(v) = v {
                let a = add(NormLang::Add([v, e]), &mut internal);
                if let Some(a) = a {
                    if let Some(s) = add(NormLang::Sqrt(a), &mut internal) {
                        if let Some(r) = add(NormLang::Recip(s), &mut internal) {
                            if eg[r].data.dtype == Some(DType::F32) {
                                feed.push((r, 2));
                            }
                        }
                    }
                }
            }
        } else if let Some(sq) = sq {
            if let Some(m) = add(NormLang::Mean([sq, k]), &mut internal) {
                if let Some(a) = add(NormLang::Add([m, e]), &mut internal) {
                    if let Some(s) = add(NormLang::Sqrt(a), &mut internal) {
                        add(NormLang::Recip(s), &mut internal);
                    }
                }
            }
        }
    }
    internal.remove(&eg.find(f));
    (internal, feed)
}

/// True when `v` is read by a live node or is a graph output (values of nodes outside the
/// region count as live).
fn live_value(g: &Graph, live: &HashSet<NodeId>, v: ValueId) -> bool {
    match g.producer_node(v) {
        Some((n, _)) => live.contains(&n),
        None => true,
    }
}

impl State<'_> {
    fn anchor_of(&self, reg: &Region, eg: &NormEGraph, f: Id, ext: &Extraction) -> NodeId {
        let (internal, _) = pattern_classes(eg, f, ext);
        reg.reduce_means
            .iter()
            .find(|(_, o)| {
                reg.class_of
                    .get(o)
                    .is_some_and(|c| internal.contains(&eg.find(*c)))
            })
            .or(reg.reduce_means.first())
            .map(|(n, _)| *n)
            .unwrap_or_else(|| NodeId::new(usize::MAX >> 1))
    }

    fn run_region(
        &mut self,
        reg: Region,
        rules: &[crate::rules::Rule],
    ) -> Result<RegionOutcome, FuseError> {
        let mut out = RegionOutcome::default();
        let runner = Runner::default()
            .with_egraph(reg.egraph.clone())
            .with_iter_limit(self.opts.max_iters)
            .with_node_limit(self.opts.max_enodes)
            .with_time_limit(Duration::from_secs(3600))
            .run(rules);
        let eg = runner.egraph;
        let has_any = eg.classes().any(|c| c.nodes.iter().any(|n| n.is_fused()));
        if !has_any {
            return Ok(out);
        }
        let root_class = |v: &ValueId| reg.class_of.get(v).map(|c| eg.find(*c));
        let mut banned: BTreeSet<Id> = BTreeSet::new();
        // Kinds the caller did not allow: report them, never emit them.
        let probe = Extraction::new(&eg, &banned, true, true);
        for r in &reg.roots {
            let Some(rc) = root_class(r) else { continue };
            for c in probe.dag(&eg, rc) {
                let Some(kind) = probe.node(&eg, c).and_then(|n| match n {
                    NormLang::Ln(_) => Some(NormKind::LayerNorm),
                    NormLang::Rms(_) => Some(NormKind::RmsNorm),
                    _ => None,
                }) else {
                    continue;
                };
                let allowed = match kind {
                    NormKind::LayerNorm => self.opts.allow_layer_norm,
                    NormKind::RmsNorm => self.opts.allow_rms_norm,
                };
                if !allowed {
                    let anchor = self.anchor_of(&reg, &eg, c, &probe);
                    out.refusals.push((
                        anchor,
                        (
                            Some(kind),
                            format!(
                                "{} needs opset {}; model is at {} and upgrading it was not allowed",
                                kind.op_name(),
                                kind.standard_opset(),
                                self.opset
                            ),
                        ),
                    ));
                }
            }
        }
        let mut class_values: BTreeMap<Id, Vec<ValueId>> = BTreeMap::new();
        // Values of another rank than their class (see Region::reshaped) are neither read as
        // the class nor redefined: where still needed, their original nodes stay.
        let mut cv: Vec<(&ValueId, &Id)> = reg
            .class_of
            .iter()
            .filter(|(v, _)| !reg.reshaped.contains(*v))
            .collect();
        cv.sort();
        for (v, c) in cv {
            class_values.entry(eg.find(*c)).or_default().push(*v);
        }
        let region_set: HashSet<NodeId> = reg.nodes.iter().copied().collect();
        let val_pos = |g: &Graph, pos: &HashMap<NodeId, usize>, v: ValueId| {
            g.producer_node(v)
                .and_then(|(n, _)| pos.get(&n).copied())
                .unwrap_or(0)
        };
        for _attempt in 0..8 {
            let ext = Extraction::new(
                &eg,
                &banned,
                self.opts.allow_layer_norm,
                self.opts.allow_rms_norm,
            );
            let fused_classes: BTreeSet<Id> = eg
                .classes()
                .map(|c| c.id)
                .filter(|&c| ext.node(&eg, c).is_some_and(|n| n.is_fused()))
                .collect();
            if fused_classes.is_empty() {
                return Ok(out);
            }
            let no_stats: crate::emit::StatPlan = HashMap::new();
            let empty: BTreeSet<ValueId> = BTreeSet::new();
            let anchor_names_empty: HashMap<Id, String> = HashMap::new();
            // Which values become fused nodes: those whose class is a fused class or an
            // absorbable affine around one, and that stay needed.
            let mut fam: BTreeMap<ValueId, Id> = BTreeMap::new(); // value -> fused class
            let mut internal_of: BTreeMap<Id, PatternClasses> = BTreeMap::new();
            {
                let q = Emitter::new(
                    Ctx {
                        eg: &eg,
                        ext: &ext,
                        types: self.types,
                        opset: self.opset,
                        opts: self.opts,
                        class_values: &class_values,
                        rewrite_roots: &empty,
                        stats: &no_stats,
                        anchor_names: &anchor_names_empty,
                    },
                    self.graph,
                    self.pos,
                    self.names,
                    true,
                );
                for (&v, &c) in reg.class_of.iter() {
                    if reg.reshaped.contains(&v) {
                        continue;
                    }
                    let Some((n, _)) = q.g.producer_node(v) else {
                        continue;
                    };
                    if !region_set.contains(&n) {
                        continue;
                    }
                    let c = eg.find(c);
                    if fused_classes.contains(&c) {
                        fam.insert(v, c);
                    } else if let Some((f, _, _)) = q.affine(c) {
                        fam.insert(v, f);
                    }
                }
            }
            // When the normalised value itself is needed outside the pattern (read raw, not
            // through an affine tail), only the core is fused: the affine ops stay and read
            // the fused node's output, instead of a second fused node that would recompute
            // the statistics. Two affine tails over one core (two norms after CSE, as in
            // GPT-NeoX) are two sites and become two fused nodes.
            let class_of_value = |v: &ValueId| reg.class_of.get(v).map(|c| eg.find(*c));
            let core_needed: BTreeSet<Id> = fam
                .iter()
                .filter(|(v, f)| class_of_value(v) == Some(**f))
                .filter(|(v, _)| {
                    self.graph.is_output(**v)
                        || self.graph.value(**v).uses().iter().any(|(u, _)| {
                            self.graph
                                .node(*u)
                                .output(0)
                                .is_none_or(|o| !fam.contains_key(&o))
                        })
                })
                .map(|(_, f)| *f)
                .collect();
            fam.retain(|v, f| !core_needed.contains(f) || class_of_value(v) == Some(*f));
            let fams: BTreeSet<Id> = fam.values().copied().collect();
            for &f in &fams {
                internal_of.insert(f, pattern_classes(&eg, f, &ext));
            }
            // Plan: redefine the outermost family values, then any that stays live.
            let mut redefine: BTreeSet<ValueId> = fam
                .keys()
                .copied()
                .filter(|v| {
                    self.graph.is_output(*v)
                        || self.graph.value(*v).uses().iter().any(|(u, _)| {
                            self.graph
                                .node(*u)
                                .output(0)
                                .is_none_or(|o| !fam.contains_key(&o))
                        })
                })
                .collect();
            let mut stat_defs: BTreeMap<ValueId, (Id, Id, usize)> = BTreeMap::new(); // value -> (f, stat class, slot)
            let mut violation: Option<(Id, String)> = None;
            for _ in 0..8 {
                let live = self.simulate_live(&reg, &redefine, &stat_defs, &fam, &eg, &ext);
                let mut changed = false;
                for (&v, _) in fam.iter() {
                    if !redefine.contains(&v) && live_value(self.graph, &live, v) {
                        redefine.insert(v);
                        changed = true;
                    }
                }
                let mut pending: Vec<(Id, ValueId)> = Vec::new();
                for (&f, (internal, feed)) in &internal_of {
                    for &i in internal {
                        for &w in class_values.get(&i).map(|v| v.as_slice()).unwrap_or(&[]) {
                            if stat_defs.contains_key(&w) || !live_value(self.graph, &live, w) {
                                continue;
                            }
                            if let Some(&(_, slot)) = feed.iter().find(|(fc, _)| *fc == i) {
                                if !stat_defs.values().any(|(ff, sc, _)| *ff == f && *sc == i) {
                                    stat_defs.insert(w, (f, i, slot));
                                    changed = true;
                                    continue;
                                }
                            }
                            pending.push((f, w));
                        }
                    }
                }
                // Judge what is still needed only once feeding the statistics settled.
                if !changed {
                    for (f, w) in pending {
                        {
                            if violation.is_none() {
                                let what = if self.graph.is_output(w) {
                                    format!("'{}' is a graph output", self.graph.value(w).name)
                                } else {
                                    format!(
                                        "'{}' is used outside the pattern",
                                        self.graph.value(w).name
                                    )
                                };
                                violation = Some((
                                    f,
                                    format!(
                                    "an intermediate of the normalisation is still needed: {what}"
                                ),
                                ));
                            }
                        }
                    }
                }
                if violation.is_some() || !changed {
                    break;
                }
            }
            if let Some((f, why)) = violation {
                let anchor = self.anchor_of(&reg, &eg, f, &ext);
                out.refusals.push((anchor, (fused_kind(&eg, f), why)));
                banned.insert(f);
                continue;
            }
            redefine.retain(|v| fam.contains_key(v));
            if redefine.is_empty() {
                return Ok(out);
            }
            let mut rewrite_roots = redefine.clone();
            rewrite_roots.extend(stat_defs.keys().copied());
            let mut stats: crate::emit::StatPlan = HashMap::new();
            for (&w, &(f, i, slot)) in &stat_defs {
                stats.entry(f).or_default().push((i, slot, Some(w)));
            }
            let mut anchor_names: HashMap<Id, String> = HashMap::new();
            let mut anchors: HashMap<Id, NodeId> = HashMap::new();
            for &f in &fams {
                let a = self.anchor_of(&reg, &eg, f, &ext);
                anchors.insert(f, a);
                if let Some(n) = self.anchor_names.get(&a) {
                    anchor_names.insert(f, n.clone());
                }
            }
            let mut order: Vec<(usize, ValueId)> = redefine
                .iter()
                .map(|&v| (val_pos(self.graph, self.pos, v), v))
                .collect();
            order.sort();
            let mk_ctx = || Ctx {
                eg: &eg,
                ext: &ext,
                types: self.types,
                opset: self.opset,
                opts: self.opts,
                class_values: &class_values,
                rewrite_roots: &rewrite_roots,
                stats: &stats,
                anchor_names: &anchor_names,
            };
            // Dry run: every check, no edit.
            let dry = {
                let mut em = Emitter::new(mk_ctx(), self.graph, self.pos, self.names, true);
                let mut res = Ok(());
                for &(p, v) in &order {
                    let Some(&c) = reg.class_of.get(&v) else {
                        continue;
                    };
                    if let Err(e) = em.emit_into(c, v, p) {
                        res = Err((fam.get(&v).copied(), e));
                        break;
                    }
                }
                res
            };
            if let Err((f, why)) = dry {
                if let Some(f) = f {
                    let anchor = anchors
                        .get(&f)
                        .copied()
                        .unwrap_or_else(|| self.anchor_of(&reg, &eg, f, &ext));
                    out.refusals.push((anchor, (fused_kind(&eg, f), why)));
                    banned.insert(f);
                    continue;
                }
                return Ok(out);
            }
            let mut em = Emitter::new(mk_ctx(), self.graph, self.pos, self.names, false);
            for &(p, v) in &order {
                let Some(&c) = reg.class_of.get(&v) else {
                    continue;
                };
                em.emit_into(c, v, p).map_err(|what| FuseError::Internal {
                    site: fam
                        .get(&v)
                        .and_then(|f| anchor_names.get(f))
                        .cloned()
                        .unwrap_or_default(),
                    what,
                })?;
            }
            let events: Vec<Event> = std::mem::take(&mut em.events);
            let mut removed = std::mem::take(&mut em.removed);
            drop(em);
            // Remove region nodes that became dead.
            for &n in reg.nodes.iter().rev() {
                if removed.contains(&n) || !self.graph.contains_node(n) {
                    continue;
                }
                let dead =
                    self.graph.node(n).outputs().iter().flatten().all(|&o| {
                        self.graph.value(o).uses().is_empty() && !self.graph.is_output(o)
                    });
                if dead {
                    self.graph.remove_node(n);
                    self.pos.remove(&n);
                    removed.push(n);
                }
            }
            for ev in events {
                let anchor = anchors
                    .get(&ev.class)
                    .copied()
                    .unwrap_or_else(|| NodeId::new(usize::MAX >> 1));
                out.fused.push((anchor, ev.kind, ev.node_name));
            }
            out.removed = removed;
            return Ok(out);
        }
        Ok(out)
    }

    /// Which region nodes stay alive if the values in `redefine` and `stat_defs` get new
    /// producers (fused nodes reading x, γ and β).
    fn simulate_live(
        &self,
        reg: &Region,
        redefine: &BTreeSet<ValueId>,
        stat_defs: &BTreeMap<ValueId, (Id, Id, usize)>,
        fam: &BTreeMap<ValueId, Id>,
        eg: &NormEGraph,
        ext: &Extraction,
    ) -> HashSet<NodeId> {
        let region_set: HashSet<NodeId> = reg.nodes.iter().copied().collect();
        // Values the new nodes read: an original value of x's class and plain γ/β values.
        let mut extra: HashSet<ValueId> = HashSet::new();
        for v in redefine {
            let Some(f) = fam.get(v) else { continue };
            if let Some(NormLang::Ln([x, _, _]) | NormLang::Rms([x, _, _])) = ext.node(eg, *f) {
                let xc = eg.find(*x);
                for (val, c) in &reg.class_of {
                    if eg.find(*c) == xc {
                        extra.insert(*val);
                    }
                }
            }
        }
        let mut live: HashSet<NodeId> = HashSet::new();
        for &n in reg.nodes.iter().rev() {
            let node = self.graph.node(n);
            let outs: Vec<ValueId> = node.outputs().iter().flatten().copied().collect();
            if outs
                .iter()
                .any(|o| redefine.contains(o) || stat_defs.contains_key(o))
            {
                continue;
            }
            let alive = outs.iter().any(|&o| {
                self.graph.is_output(o)
                    || extra.contains(&o)
                    || self
                        .graph
                        .value(o)
                        .uses()
                        .iter()
                        .any(|(u, _)| !region_set.contains(u) || live.contains(u))
            });
            if alive {
                live.insert(n);
            }
        }
        live
    }
}
