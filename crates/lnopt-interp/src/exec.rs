//! The graph executor: scopes, node dispatch, local functions, If and Loop.

use crate::arr::Arr;
use crate::call::Call;
use crate::error::{InterpError, OpError};
use crate::ops;
use lnopt_ir::{
    AttrValue, Attribute, DType, Function, Graph, Model, Node, NodeId, Producer, Tensor,
};
use std::collections::HashMap;
use std::rc::Rc;

/// Deepest nesting of function calls and subgraphs before the run is refused.
const MAX_DEPTH: usize = 64;
/// Most iterations a Loop may run.
const MAX_LOOP_ITERS: i64 = 10_000_000;

/// Values visible while running one graph, chained to the enclosing graph's scope.
pub(crate) struct Scope<'p> {
    pub(crate) vals: HashMap<String, Rc<Arr>>,
    pub(crate) parent: Option<&'p Scope<'p>>,
}

impl Scope<'_> {
    fn get(&self, name: &str) -> Option<Rc<Arr>> {
        match self.vals.get(name) {
            Some(v) => Some(v.clone()),
            None => self.parent.and_then(|p| p.get(name)),
        }
    }
}

/// Per-graph settings: the default-domain opset and, inside a function body, the caller's
/// attributes that `ref_attr_name` attributes refer to.
#[derive(Clone, Copy)]
pub(crate) struct Frame<'a> {
    /// `ai.onnx` version in effect.
    pub opset: i64,
    /// Attribute environment of the enclosing function call.
    pub attrs: Option<&'a [Attribute]>,
    /// Nesting depth.
    pub depth: usize,
}

/// Runs graphs of one model.
pub(crate) struct Exec<'m> {
    pub model: &'m Model,
    /// When set, every value of the top-level graph is recorded here.
    pub trace: Option<HashMap<String, Tensor>>,
}

fn graph_err(graph: &Graph, what: String) -> InterpError {
    InterpError::Graph {
        graph: graph.name.clone(),
        what,
    }
}

impl<'m> Exec<'m> {
    /// Runs `graph`; `inputs` binds graph inputs (and overrides initializers) by name; any
    /// other name is an error.
    /// Graph inputs left unbound are only allowed when `allow_unbound` (function bodies with
    /// omitted optional inputs); nodes then see them as omitted.
    pub fn run_graph(
        &mut self,
        graph: &Graph,
        frame: Frame<'_>,
        parent: Option<&Scope<'_>>,
        inputs: HashMap<String, Rc<Arr>>,
        allow_unbound: bool,
    ) -> Result<Vec<Rc<Arr>>, InterpError> {
        let plan = GraphPlan::of(graph)?;
        self.run_planned(graph, &plan, frame, parent, inputs, allow_unbound)
    }

    /// [`Exec::run_graph`] with the graph's [`GraphPlan`] already made (Loop and Scan make
    /// their body's once for all iterations).
    fn run_planned(
        &mut self,
        graph: &Graph,
        plan: &GraphPlan,
        frame: Frame<'_>,
        parent: Option<&Scope<'_>>,
        inputs: HashMap<String, Rc<Arr>>,
        allow_unbound: bool,
    ) -> Result<Vec<Rc<Arr>>, InterpError> {
        if frame.depth > MAX_DEPTH {
            return Err(graph_err(
                graph,
                format!("nesting deeper than {MAX_DEPTH} (recursive function?)"),
            ));
        }
        let traced = frame.depth == 0 && self.trace.is_some();
        let mut scope = Scope {
            vals: HashMap::new(),
            parent,
        };
        for &id in &graph.initializers {
            let v = graph.value(id);
            if let Some(t) = &v.initializer {
                let a = Arr::from_tensor(t).map_err(|e| {
                    graph_err(graph, format!("initializer '{}': {}", v.name, msg(&e)))
                })?;
                scope.vals.insert(v.name.clone(), Rc::new(a));
            }
        }
        for (name, a) in &inputs {
            let known = graph.find_value(name).map(|id| graph.value(id));
            match known {
                Some(v) if v.initializer.is_some() => {
                    scope.vals.insert(name.clone(), a.clone());
                }
                Some(v) if v.producer() == Producer::Input => {}
                _ => {
                    return Err(InterpError::Inputs {
                        graph: graph.name.clone(),
                        what: format!("'{name}' is neither a graph input nor an initializer"),
                    })
                }
            }
        }
        for &id in graph.inputs() {
            let v = graph.value(id);
            match inputs.get(&v.name) {
                Some(a) => {
                    if traced {
                        self.record(&v.name, a);
                    }
                    scope.vals.insert(v.name.clone(), a.clone());
                }
                None if v.initializer.is_some() || allow_unbound => {}
                None => {
                    return Err(InterpError::Inputs {
                        graph: graph.name.clone(),
                        what: format!("no value given for graph input '{}'", v.name),
                    })
                }
            }
        }
        // Inputs and initializers are bounded by the files they came from; the budget counts
        // the values nodes compute, each freed after the last node that reads it.
        let mut live_elements: usize = 0;
        for (step, &id) in plan.order.iter().enumerate() {
            let node = graph.node(id);
            let mut args = Vec::with_capacity(node.inputs().len());
            for v in node.inputs() {
                let Some(v) = v else {
                    args.push(None);
                    continue;
                };
                let val = graph.value(*v);
                match scope.get(&val.name) {
                    Some(a) => args.push(Some(a)),
                    None if allow_unbound && val.producer() == Producer::Input => args.push(None),
                    None => {
                        return Err(InterpError::Op {
                            node: node.display_name(id),
                            op: node.op_type.clone(),
                            what: format!("input '{}' has no value", val.name),
                        })
                    }
                }
            }
            let outs = self.run_node(node, id, frame, &scope, args)?;
            for (slot, o) in node.outputs().iter().enumerate() {
                let Some(o) = o else { continue };
                let name = &graph.value(*o).name;
                match outs.get(slot) {
                    Some(a) => {
                        if traced {
                            self.record(name, a);
                        }
                        live_elements =
                            live_elements.saturating_add(a.shape.iter().product::<usize>());
                        if live_elements > crate::arr::MAX_LIVE_ELEMENTS {
                            return Err(InterpError::Op {
                                node: node.display_name(id),
                                op: node.op_type.clone(),
                                what: format!(
                                    "the values computed so far hold more than {} elements \
                                     (the reference interpreter's memory budget)",
                                    crate::arr::MAX_LIVE_ELEMENTS
                                ),
                            });
                        }
                        if plan.last_use.contains_key(name.as_str()) {
                            scope.vals.insert(name.clone(), a.clone());
                        } else {
                            // Read by no node and not a graph output: dead on arrival.
                            live_elements -= a.shape.iter().product::<usize>();
                        }
                    }
                    None => {
                        return Err(InterpError::Op {
                            node: node.display_name(id),
                            op: node.op_type.clone(),
                            what: format!("output {slot} ('{name}') is not produced by this op"),
                        })
                    }
                }
            }
            for name in &plan.dies_at[step] {
                if let Some(a) = scope.vals.remove(name) {
                    live_elements = live_elements.saturating_sub(a.shape.iter().product::<usize>());
                }
            }
        }
        let mut outs = Vec::with_capacity(graph.outputs().len());
        for &o in graph.outputs() {
            let name = &graph.value(o).name;
            match scope.get(name) {
                Some(a) => outs.push(a),
                None => return Err(graph_err(graph, format!("output '{name}' has no value"))),
            }
        }
        Ok(outs)
    }

    fn record(&mut self, name: &str, a: &Arr) {
        if let Some(t) = self.trace.as_mut() {
            t.insert(name.to_string(), a.to_tensor(name));
        }
    }

    pub(crate) fn run_node(
        &mut self,
        node: &Node,
        id: NodeId,
        frame: Frame<'_>,
        scope: &Scope<'_>,
        inputs: Vec<Option<Rc<Arr>>>,
    ) -> Result<Vec<Rc<Arr>>, InterpError> {
        let resolved;
        let node = if let (Some(env), true) = (frame.attrs, has_refs(node)) {
            resolved = resolve_refs(node, env);
            &resolved
        } else {
            node
        };
        let wrap = |e: OpError| match e {
            OpError::Unsupported => InterpError::UnsupportedOp {
                node: node.display_name(id),
                domain: node.domain.clone(),
                op: node.op_type.clone(),
            },
            OpError::Invalid(what) => InterpError::Op {
                node: node.display_name(id),
                op: node.op_type.clone(),
                what,
            },
            OpError::Nested(inner) => *inner,
        };
        if let Some(f) = self.model.function(&node.domain, &node.op_type) {
            return self.call_function(f, node, id, frame, inputs);
        }
        let domain = node.domain.as_str();
        let is_onnx = lnopt_ir::is_default_domain(domain);
        let opset = if is_onnx {
            frame.opset
        } else {
            self.model.opset_version(domain).unwrap_or(1)
        };
        let call = Call {
            node,
            inputs,
            opset,
            n_outputs: node.outputs().len(),
        };
        let result = match (is_onnx, node.op_type.as_str()) {
            (true, "If") => self.run_if(&call, frame, scope),
            (true, "Loop") => self.run_loop(&call, frame, scope),
            (true, "Scan") => self.run_scan(&call, frame, scope),
            (true, op) => ops::dispatch(op, &call),
            (false, op) if domain == "com.microsoft" => ops::dispatch_ms(op, &call),
            (false, "FlexAttention") if domain == "ai.onnx.preview" => {
                let mut run_mod = |g: &Graph, a: Arr| -> Result<Arr, OpError> {
                    let names: Vec<String> = g
                        .inputs()
                        .iter()
                        .map(|&v| g.value(v).name.clone())
                        .collect();
                    if names.len() != 1 {
                        return Err(
                            format!("a mod graph must have 1 input, has {}", names.len()).into(),
                        );
                    }
                    let bound = HashMap::from([(names[0].clone(), Rc::new(a))]);
                    let outs =
                        self.run_graph(g, Self::sub_frame(frame), Some(scope), bound, false)?;
                    match outs.as_slice() {
                        [one] => Ok((**one).clone()),
                        _ => Err(
                            format!("a mod graph must have 1 output, has {}", outs.len()).into(),
                        ),
                    }
                };
                ops::nn::flex_attention::flex_attention(&call, &mut run_mod)
            }
            (false, op) if domain == "ai.onnx.preview.training" => {
                ops::nn::dispatch_training(op, &call).unwrap_or(Err(OpError::Unsupported))
            }
            _ => Err(OpError::Unsupported),
        };
        result
            .map(|v| v.into_iter().map(Rc::new).collect())
            .map_err(wrap)
    }

    fn call_function(
        &mut self,
        f: &Function,
        node: &Node,
        id: NodeId,
        frame: Frame<'_>,
        inputs: Vec<Option<Rc<Arr>>>,
    ) -> Result<Vec<Rc<Arr>>, InterpError> {
        let mut bound = HashMap::new();
        for (i, formal) in f.inputs.iter().enumerate() {
            if let Some(Some(a)) = inputs.get(i) {
                bound.insert(formal.clone(), a.clone());
            }
        }
        // The callee sees the caller's attributes, then the function's defaults.
        let mut env: Vec<Attribute> = node.attributes.clone();
        for d in &f.attribute_defaults {
            if node.attr(&d.name).is_none() {
                env.push(d.clone());
            }
        }
        let opset = f
            .opset_imports
            .iter()
            .find(|o| lnopt_ir::is_default_domain(&o.domain))
            .map(|o| o.version)
            .unwrap_or(frame.opset);
        let inner = Frame {
            opset,
            attrs: Some(&env),
            depth: frame.depth + 1,
        };
        let outs = self.run_graph(&f.body, inner, None, bound, true)?;
        if outs.len() < node.outputs().len() {
            return Err(InterpError::Op {
                node: node.display_name(id),
                op: node.op_type.clone(),
                what: format!(
                    "function '{}' has {} outputs, node wants {}",
                    f.name,
                    outs.len(),
                    node.outputs().len()
                ),
            });
        }
        Ok(outs)
    }

    fn sub_frame<'a>(frame: Frame<'a>) -> Frame<'a> {
        Frame {
            depth: frame.depth + 1,
            ..frame
        }
    }

    fn run_if(
        &mut self,
        call: &Call<'_>,
        frame: Frame<'_>,
        scope: &Scope<'_>,
    ) -> Result<Vec<Arr>, OpError> {
        let c = call.input(0)?.scalar_f64("If condition")? != 0.0;
        let name = if c { "then_branch" } else { "else_branch" };
        let g = graph_attr(call, name)?;
        let outs = self.run_graph(
            g,
            Self::sub_frame(frame),
            Some(scope),
            HashMap::new(),
            false,
        )?;
        Ok(outs.into_iter().map(|a| (*a).clone()).collect())
    }

    fn run_loop(
        &mut self,
        call: &Call<'_>,
        frame: Frame<'_>,
        scope: &Scope<'_>,
    ) -> Result<Vec<Arr>, OpError> {
        let body = graph_attr(call, "body")?;
        let plan = GraphPlan::of(body)?;
        let max_trip = match call.opt_input(0) {
            Some(m) => Some(m.scalar_i64("M")?),
            None => None,
        };
        let mut cond = match call.opt_input(1) {
            Some(c) => c.scalar_f64("cond")? != 0.0,
            None => true,
        };
        let mut state: Vec<Rc<Arr>> = call.inputs.iter().skip(2).flatten().cloned().collect();
        let n_state = state.len();
        let body_inputs: Vec<String> = body
            .inputs()
            .iter()
            .map(|&v| body.value(v).name.clone())
            .collect();
        if body_inputs.len() != n_state + 2 {
            return Err(format!(
                "body has {} inputs, expected {} (iteration, condition, {} loop-carried)",
                body_inputs.len(),
                n_state + 2,
                n_state
            )
            .into());
        }
        let mut scans: Vec<Vec<Rc<Arr>>> = Vec::new();
        let mut i: i64 = 0;
        loop {
            if max_trip.is_some_and(|m| i >= m) || !cond {
                break;
            }
            if i >= MAX_LOOP_ITERS {
                return Err(format!("more than {MAX_LOOP_ITERS} iterations").into());
            }
            let mut bound = HashMap::new();
            bound.insert(
                body_inputs[0].clone(),
                Rc::new(Arr::ints(DType::I64, vec![], vec![i])),
            );
            bound.insert(
                body_inputs[1].clone(),
                Rc::new(Arr::ints(DType::Bool, vec![], vec![cond as i64])),
            );
            for (k, s) in state.iter().enumerate() {
                bound.insert(body_inputs[k + 2].clone(), s.clone());
            }
            let outs = self.run_planned(
                body,
                &plan,
                Self::sub_frame(frame),
                Some(scope),
                bound,
                false,
            )?;
            if outs.len() < 1 + n_state {
                return Err(format!(
                    "body has {} outputs, needs at least {}",
                    outs.len(),
                    1 + n_state
                )
                .into());
            }
            cond = outs[0].scalar_f64("body condition output")? != 0.0;
            state = outs[1..1 + n_state].to_vec();
            let scan_outs = &outs[1 + n_state..];
            if scans.is_empty() {
                scans = vec![Vec::new(); scan_outs.len()];
            }
            for (k, s) in scan_outs.iter().enumerate() {
                if let Some(list) = scans.get_mut(k) {
                    list.push(s.clone());
                }
            }
            i += 1;
        }
        let mut result: Vec<Arr> = state.into_iter().map(|a| (*a).clone()).collect();
        let n_scan = call.n_outputs.saturating_sub(n_state);
        for k in 0..n_scan {
            let list = scans.get(k).cloned().unwrap_or_default();
            result.push(ops::shape_ops::stack(&list)?);
        }
        Ok(result)
    }

    /// `Scan`: from opset 9, N state inputs then M scan inputs sliced along
    /// `scan_input_axes` (reversed per `scan_input_directions`); the body's K extra outputs
    /// are stacked along `scan_output_axes` (`scan_output_directions`). Opset 8 adds a
    /// leading batch axis and `sequence_lens` (all sequences must be full length).
    fn run_scan(
        &mut self,
        call: &Call<'_>,
        frame: Frame<'_>,
        scope: &Scope<'_>,
    ) -> Result<Vec<Arr>, OpError> {
        let body = graph_attr(call, "body")?;
        let plan = GraphPlan::of(body)?;
        let m = call.int("num_scan_inputs", -1)?;
        let v8 = call.opset < 9;
        let inputs: Vec<Rc<Arr>> = call
            .inputs
            .iter()
            .skip(v8 as usize)
            .flatten()
            .cloned()
            .collect();
        if m < 1 || m as usize > inputs.len() {
            return Err(format!("num_scan_inputs {m} does not fit {} inputs", inputs.len()).into());
        }
        let m = m as usize;
        let n = inputs.len() - m;
        let k_out = call
            .n_outputs
            .checked_sub(n)
            .ok_or("fewer outputs than states")?;
        let list = |name: &str, len: usize| -> Result<Vec<i64>, OpError> {
            match call.ints(name)? {
                Some(v) if v.len() == len => Ok(v),
                Some(v) => Err(format!("{name} {v:?} must have {len} entries").into()),
                None => Ok(vec![0; len]),
            }
        };
        if !v8 {
            let in_axes = list("scan_input_axes", m)?;
            let in_dirs = list("scan_input_directions", m)?;
            let out_axes = list("scan_output_axes", k_out)?;
            let out_dirs = list("scan_output_directions", k_out)?;
            return self.scan_core(
                (body, &plan),
                frame,
                scope,
                &inputs,
                n,
                (&in_axes, &in_dirs),
                (&out_axes, &out_dirs),
            );
        }
        if let Some(lens) = call.opt_input(0) {
            let full = inputs[n].shape.get(1).copied().unwrap_or(0) as i64;
            if lens.int_values("sequence_lens")?.iter().any(|&l| l != full) {
                return Err(
                    "Scan-8 with sequences shorter than the scan axis is not supported".into(),
                );
            }
        }
        let dirs = list("directions", m)?;
        let batch = inputs
            .first()
            .and_then(|a| a.shape.first().copied())
            .unwrap_or(0);
        if inputs.iter().any(|a| a.shape.first() != Some(&batch)) {
            return Err("Scan-8 inputs must share the batch dim 0".into());
        }
        let mut per_batch: Vec<Vec<Arr>> = Vec::with_capacity(batch);
        for b in 0..batch {
            let sliced: Vec<Rc<Arr>> = inputs
                .iter()
                .map(|a| Rc::new(ops::nn::axis::slice_at(a, 0, b)))
                .collect();
            let zeros_in = vec![0; m];
            let zeros_out = vec![0; k_out];
            per_batch.push(self.scan_core(
                (body, &plan),
                frame,
                scope,
                &sliced,
                n,
                (&zeros_in, &dirs),
                (&zeros_out, &zeros_out),
            )?);
        }
        (0..n + k_out)
            .map(|o| {
                let parts: Vec<Arr> = per_batch.iter().map(|r| r[o].clone()).collect();
                ops::nn::axis::stack_at(&parts, 0)
            })
            .collect()
    }

    /// The opset-9 Scan loop over `inputs` (`n` states, then the scan inputs).
    #[allow(clippy::too_many_arguments)]
    fn scan_core(
        &mut self,
        (body, plan): (&Graph, &GraphPlan),
        frame: Frame<'_>,
        scope: &Scope<'_>,
        inputs: &[Rc<Arr>],
        n: usize,
        (in_axes, in_dirs): (&[i64], &[i64]),
        (out_axes, out_dirs): (&[i64], &[i64]),
    ) -> Result<Vec<Arr>, OpError> {
        let scans = &inputs[n..];
        let axes: Vec<usize> = scans
            .iter()
            .zip(in_axes)
            .map(|(a, &ax)| crate::index::norm_axis(ax, a.rank()))
            .collect::<Result<_, _>>()?;
        let len = match scans.first() {
            Some(a) => a.shape[axes[0]],
            None => 0,
        };
        if scans.iter().zip(&axes).any(|(a, &ax)| a.shape[ax] != len) {
            return Err("scan inputs differ in sequence length".into());
        }
        let body_inputs: Vec<String> = body
            .inputs()
            .iter()
            .map(|&v| body.value(v).name.clone())
            .collect();
        if body_inputs.len() != inputs.len() {
            return Err(format!(
                "body has {} inputs, expected {}",
                body_inputs.len(),
                inputs.len()
            )
            .into());
        }
        let mut state: Vec<Rc<Arr>> = inputs[..n].to_vec();
        let mut outs_per_step: Vec<Vec<Arr>> = Vec::with_capacity(len);
        for step in 0..len {
            let mut bound = HashMap::new();
            for (k, s) in state.iter().enumerate() {
                bound.insert(body_inputs[k].clone(), s.clone());
            }
            for (j, a) in scans.iter().enumerate() {
                let i = if in_dirs[j] != 0 {
                    len - 1 - step
                } else {
                    step
                };
                bound.insert(
                    body_inputs[n + j].clone(),
                    Rc::new(ops::nn::axis::slice_at(a, axes[j], i)),
                );
            }
            let outs = self.run_planned(
                body,
                plan,
                Self::sub_frame(frame),
                Some(scope),
                bound,
                false,
            )?;
            if outs.len() != n + out_axes.len() {
                return Err(format!(
                    "body has {} outputs, expected {}",
                    outs.len(),
                    n + out_axes.len()
                )
                .into());
            }
            state = outs[..n].to_vec();
            outs_per_step.push(outs[n..].iter().map(|a| (**a).clone()).collect());
        }
        let mut result: Vec<Arr> = state.into_iter().map(|a| (*a).clone()).collect();
        for k in 0..out_axes.len() {
            let mut parts: Vec<Arr> = outs_per_step.iter().map(|o| o[k].clone()).collect();
            if out_dirs[k] != 0 {
                parts.reverse();
            }
            let rank = parts.first().map_or(0, |p| p.rank()) + 1;
            let ax = crate::index::norm_axis(out_axes[k], rank)?;
            if parts.is_empty() {
                return Err("a scan over zero steps has no output shape".into());
            }
            result.push(ops::nn::axis::stack_at(&parts, ax)?);
        }
        Ok(result)
    }
}

fn has_refs(node: &Node) -> bool {
    node.attributes
        .iter()
        .any(|a| matches!(a.value, AttrValue::Ref { .. }))
}

/// A copy of `node` whose `ref_attr_name` attributes take the values from `env` (dropped when
/// the caller did not set them and there is no default).
fn resolve_refs(node: &Node, env: &[Attribute]) -> Node {
    let mut n = node.clone();
    n.attributes = node
        .attributes
        .iter()
        .filter_map(|a| match &a.value {
            AttrValue::Ref { ref_name, .. } => env.iter().find(|e| &e.name == ref_name).map(|e| {
                let mut r = e.clone();
                r.name = a.name.clone();
                r
            }),
            _ => Some(a.clone()),
        })
        .collect();
    n
}

/// The message of an op error, for wrapping in graph-level errors.
pub(crate) fn msg(e: &OpError) -> String {
    match e {
        OpError::Unsupported => "unsupported".into(),
        OpError::Invalid(s) => s.clone(),
        OpError::Nested(e) => e.to_string(),
    }
}

/// The graph attribute `name` of the node (If branches, Loop and Scan bodies).
fn graph_attr<'c>(call: &Call<'c>, name: &str) -> Result<&'c Graph, OpError> {
    match call.node.attr(name) {
        Some(AttrValue::Graph(g)) => Ok(g),
        _ => Err(format!("attribute '{name}' (a graph) is missing").into()),
    }
}

/// How a graph runs: its nodes in order and, for each step, the computed values it reads for
/// the last time. Made once per graph run, and once per Loop / Scan body for all iterations.
pub(crate) struct GraphPlan {
    /// The nodes in execution order.
    order: Vec<NodeId>,
    /// The step of the last reader of each computed value something reads (see
    /// [`last_uses`]).
    last_use: HashMap<String, usize>,
    /// For each step, the values to free after it.
    dies_at: Vec<Vec<String>>,
}

impl GraphPlan {
    /// The plan of `graph`; an error if its nodes form a cycle.
    fn of(graph: &Graph) -> Result<GraphPlan, InterpError> {
        let order = graph
            .topo_order()
            .map_err(|e| graph_err(graph, e.to_string()))?;
        let last_use = last_uses(graph, &order);
        let mut dies_at: Vec<Vec<String>> = vec![Vec::new(); order.len()];
        for (name, &step) in &last_use {
            if let Some(list) = dies_at.get_mut(step) {
                list.push(name.clone());
            }
        }
        Ok(GraphPlan {
            order,
            last_use,
            dies_at,
        })
    }
}

/// For each value a node of `graph` computes, the step (index in `order`) of the last node
/// that reads it, directly or from a subgraph by name; graph outputs live to the end
/// (`usize::MAX`). Values no node reads and no output names are absent.
fn last_uses(graph: &Graph, order: &[NodeId]) -> HashMap<String, usize> {
    let mut last = HashMap::new();
    for (step, &id) in order.iter().enumerate() {
        let n = graph.node(id);
        for v in n.inputs().iter().flatten() {
            last.insert(graph.value(*v).name.clone(), step);
        }
        for sub in n.subgraphs() {
            let mut names = std::collections::BTreeSet::new();
            crate::node::free_names(sub, &mut names);
            for name in names {
                last.insert(name, step);
            }
        }
    }
    for &o in graph.outputs() {
        last.insert(graph.value(o).name.clone(), usize::MAX);
    }
    last.retain(|name, _| {
        graph
            .find_value(name)
            .is_some_and(|v| matches!(graph.value(v).producer(), Producer::Node(..)))
    });
    last
}
