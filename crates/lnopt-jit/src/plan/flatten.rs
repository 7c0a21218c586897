//! Flattening a model into an execution plan: nodes in topological order over numbered value
//! slots, local functions inlined, constants converted once, and for each step the slots whose
//! last reader it is (freed right after, so buffers are released as early as possible).

use crate::error::JitError;
use crate::fallback::Fallback;
use crate::node::PNode;
use crate::value::Val;
use lnopt_interp::OpContext;
use lnopt_ir::{AttrValue, Attribute, Graph, Model, Producer, ValueId};
use std::collections::HashMap;
use std::sync::Arc;

/// Deepest nesting of local function calls inlined.
const MAX_INLINE_DEPTH: usize = 32;

/// The flattened model.
pub(crate) struct Flat {
    /// Nodes in execution order.
    pub nodes: Vec<PNode>,
    /// Number of slots.
    pub nslots: usize,
    /// Slot names (for messages and output naming).
    pub names: Vec<String>,
    /// Constant slots.
    pub consts: Vec<(usize, Arc<Val>)>,
    /// Runtime input slots with names, positional.
    pub inputs: Vec<(usize, String)>,
    /// Output slots with names.
    pub outputs: Vec<(usize, String)>,
}

struct Builder<'m> {
    model: &'m Model,
    flat: Flat,
    /// Opset imports and local functions, shared by every node's fallback.
    ctx: Arc<OpContext>,
}

impl Builder<'_> {
    /// A plan node; its fallback is prepared here, and the enclosing-scope values its
    /// subgraphs read are looked up in `g` through `bound`.
    #[allow(clippy::too_many_arguments)]
    fn node(
        &self,
        (op, domain): (&str, &str),
        name: String,
        attrs: Vec<Attribute>,
        inputs: Vec<Option<usize>>,
        outputs: Vec<Option<usize>>,
        opset: i64,
        (g, bound): (&Graph, &HashMap<ValueId, Option<usize>>),
    ) -> Result<PNode, JitError> {
        let fallback = Fallback::new(
            op,
            domain,
            &name,
            attrs.clone(),
            (inputs.len(), outputs.len()),
            self.ctx.clone(),
        )
        .map_err(|e| JitError::Model(e.to_string()))?;
        let outer = fallback
            .outer_names()
            .iter()
            .map(|n| {
                g.find_value(n)
                    .and_then(|v| bound.get(&v).copied().flatten())
            })
            .collect();
        Ok(PNode {
            op: op.to_string(),
            domain: domain.to_string(),
            native: crate::ops::supported(domain, op),
            name,
            attrs,
            inputs,
            outputs,
            opset,
            outer,
            fallback: Arc::new(fallback),
        })
    }

    fn slot(&mut self, name: String) -> usize {
        self.flat.names.push(name);
        self.flat.nslots += 1;
        self.flat.nslots - 1
    }

    /// Adds the nodes of `g`; `bound` maps already-known values (function formals) to slots.
    fn graph(
        &mut self,
        g: &Graph,
        opset: i64,
        mut bound: HashMap<ValueId, Option<usize>>,
        prefix: &str,
        call_attrs: Option<(&[Attribute], &[Attribute])>,
        depth: usize,
    ) -> Result<HashMap<ValueId, Option<usize>>, JitError> {
        if depth > MAX_INLINE_DEPTH {
            return Err(JitError::Model(format!(
                "local functions nest deeper than {MAX_INLINE_DEPTH}"
            )));
        }
        // Weights are converted to working values in parallel (the bulk of a large model's
        // compile time: BERT-base's 340 MB of f32); slots are then numbered in file order.
        let todo: Vec<ValueId> = g
            .initializers
            .iter()
            .copied()
            .filter(|v| !bound.contains_key(v) && g.value(*v).initializer.is_some())
            .collect();
        let converted: Vec<Result<Val, JitError>> = {
            use rayon::prelude::*;
            todo.par_iter()
                .map(|&v| {
                    let val = g.value(v);
                    match &val.initializer {
                        Some(t) => Val::from_tensor(t).map_err(|e| {
                            JitError::Model(format!("initializer '{}': {}", val.name, e.0))
                        }),
                        None => Err(JitError::Model(format!("'{}' lost its data", val.name))),
                    }
                })
                .collect()
        };
        for (v, c) in todo.into_iter().zip(converted) {
            let c = c?;
            let s = self.slot(format!("{prefix}{}", g.value(v).name));
            self.flat.consts.push((s, Arc::new(c)));
            bound.insert(v, Some(s));
        }
        let order = g.topo_order().map_err(|e| JitError::Model(e.to_string()))?;
        for id in order {
            let node = g.node(id);
            let name = format!("{prefix}{}", node.display_name(id));
            let mut inputs = Vec::with_capacity(node.inputs().len());
            for i in node.inputs() {
                inputs.push(match i {
                    None => None,
                    Some(v) => match bound.get(v) {
                        Some(s) => *s,
                        None => {
                            let val = g.value(*v);
                            return Err(JitError::Model(format!(
                                "node '{name}' reads '{}', which nothing defines{}",
                                val.name,
                                if val.producer() == Producer::None {
                                    " (outer scope values are not supported)"
                                } else {
                                    ""
                                }
                            )));
                        }
                    },
                });
            }
            let mut outputs = Vec::with_capacity(node.outputs().len());
            for o in node.outputs() {
                outputs.push(match o {
                    None => None,
                    Some(v) => {
                        let s = self.slot(format!("{prefix}{}", g.value(*v).name));
                        bound.insert(*v, Some(s));
                        Some(s)
                    }
                });
            }
            let mut attrs = Vec::with_capacity(node.attributes.len());
            for a in &node.attributes {
                match &a.value {
                    AttrValue::Ref { ref_name, .. } => {
                        let found = call_attrs.and_then(|(given, defaults)| {
                            given.iter().chain(defaults).find(|c| &c.name == ref_name)
                        });
                        if let Some(f) = found {
                            attrs.push(Attribute::new(a.name.clone(), f.value.clone()));
                        }
                    }
                    _ => attrs.push(a.clone()),
                }
            }
            if let Some(f) = self.model.function(&node.domain, &node.op_type) {
                let f_opset = f
                    .opset_imports
                    .iter()
                    .find(|o| lnopt_ir::is_default_domain(&o.domain))
                    .map(|o| o.version)
                    .unwrap_or(opset);
                let body = &f.body;
                let mut fb = HashMap::new();
                for (k, &fi) in body.inputs().iter().enumerate() {
                    fb.insert(fi, inputs.get(k).copied().flatten());
                }
                let defaults = f.attribute_defaults.clone();
                let inner = self.graph(
                    body,
                    f_opset,
                    fb,
                    &format!("{name}/"),
                    Some((&attrs, &defaults)),
                    depth + 1,
                )?;
                for (k, &fo) in body.outputs().iter().enumerate() {
                    let Some(Some(dst)) = outputs.get(k).copied() else {
                        continue;
                    };
                    let src = inner.get(&fo).copied().flatten().ok_or_else(|| {
                        JitError::Model(format!("function '{}' output {k} is not defined", f.name))
                    })?;
                    let n = self.node(
                        ("Identity", ""),
                        format!("{name}/out{k}"),
                        Vec::new(),
                        vec![Some(src)],
                        vec![Some(dst)],
                        opset,
                        (g, &bound),
                    )?;
                    self.flat.nodes.push(n);
                }
                continue;
            }
            let n = self.node(
                (&node.op_type, &node.domain),
                name,
                attrs,
                inputs,
                outputs,
                opset,
                (g, &bound),
            )?;
            self.flat.nodes.push(n);
        }
        Ok(bound)
    }
}

/// Flattens the main graph of `model`.
pub(crate) fn flatten(model: &Model) -> Result<Flat, JitError> {
    let opset = model.opset_version("").unwrap_or(23);
    let g = &model.graph;
    let mut b = Builder {
        model,
        ctx: Arc::new(OpContext::of(model)),
        flat: Flat {
            nodes: Vec::new(),
            nslots: 0,
            names: Vec::new(),
            consts: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
        },
    };
    let mut bound = HashMap::new();
    for &v in g.inputs() {
        let val = g.value(v);
        if val.initializer.is_some() {
            continue;
        }
        let s = b.slot(val.name.clone());
        b.flat.inputs.push((s, val.name.clone()));
        bound.insert(v, Some(s));
    }
    let bound = b.graph(g, opset, bound, "", None, 0)?;
    for &o in g.outputs() {
        let name = g.value(o).name.clone();
        match bound.get(&o).copied().flatten() {
            Some(s) => b.flat.outputs.push((s, name)),
            None => {
                return Err(JitError::Model(format!(
                    "graph output '{name}' is not defined"
                )))
            }
        }
    }
    Ok(b.flat)
}

/// For each step, the slots it reads for the last time (never inputs' constants or outputs).
pub(crate) fn last_uses(nslots: usize, reads: &[Vec<usize>], keep: &[usize]) -> Vec<Vec<usize>> {
    let mut last = vec![None; nslots];
    for (i, r) in reads.iter().enumerate() {
        for &s in r {
            if let Some(l) = last.get_mut(s) {
                *l = Some(i);
            }
        }
    }
    let mut out = vec![Vec::new(); reads.len()];
    for (s, l) in last.into_iter().enumerate() {
        if let Some(i) = l {
            if !keep.contains(&s) {
                out[i].push(s);
            }
        }
    }
    out
}

/// For each step, whether its outputs depend only on constants and the *shapes* of runtime
/// values: `Shape`/`Size` nodes, and runtime-function nodes or element-wise chains all of whose
/// inputs are constants or such outputs (with at least one input). Norm and MatMul steps are
/// never marked.
pub(crate) fn shape_only_steps(
    steps: &[crate::steps::Step],
    nslots: usize,
    consts: &[(usize, Arc<Val>)],
) -> Vec<bool> {
    let mut known = vec![false; nslots];
    for (s, _) in consts {
        if let Some(k) = known.get_mut(*s) {
            *k = true;
        }
    }
    steps
        .iter()
        .map(|st| {
            let by_shape = match st {
                crate::steps::Step::Op(n) => {
                    matches!(n.op.as_str(), "Shape" | "Size") && n.domain.is_empty()
                }
                crate::steps::Step::Chain(_) => false,
                _ => return false,
            };
            let ins = st.reads();
            let from_known =
                !ins.is_empty() && ins.iter().all(|&s| known.get(s).copied().unwrap_or(false));
            let ok = by_shape || from_known;
            if ok {
                for s in st.outputs() {
                    if let Some(k) = known.get_mut(s) {
                        *k = true;
                    }
                }
            }
            ok
        })
        .collect()
}
