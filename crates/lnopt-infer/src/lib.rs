//! # lnopt-infer
//!
//! Shape and dtype inference (with symbolic dims) and propagation of small constant tensors
//! (shape computations, eps, axes) over an [`lnopt_ir::Graph`]. Results live in a side table,
//! [`GraphTypes`], indexed by [`ValueId`]; the graph itself is never changed, so inferred facts
//! never leak into the exported model.
//!
//! Rules cover every ai.onnx op up to opset 28 (by family in `ops/`). A size that depends
//! on data (NonZero's count, Unique's length, a runtime OneHot depth or Resize size) is a
//! fresh symbolic dim: the rank stays known and nothing is proven equal to it but itself.
//! A fact is only stated when certain; what a rule cannot prove is left unknown.

#![warn(missing_docs)]

mod dims;
mod fold;
mod ops;

pub use dims::{
    broadcast_dim, broadcast_shapes, fixed_product, merge_types, normalize_axes, normalize_axis,
    unify_dim,
};
pub use fold::{MAX_FOLD, MAX_FOLD_INPUT};
pub use ops::reduced_dims;

use lnopt_ir::{DType, Dim, Graph, Model, Node, Tensor, TensorType, ValueId};
use std::sync::Arc;

/// What inference knows about the values of one graph.
#[derive(Clone, Debug, Default)]
pub struct GraphTypes {
    /// Type per value id (`None`: unknown).
    pub types: Vec<Option<TensorType>>,
    /// Constant value per value id, when it is known at compile time and small
    /// (initializers, Constant nodes, and folded shape computations).
    pub consts: Vec<Option<Arc<Tensor>>>,
}

impl GraphTypes {
    /// The inferred type of `v`.
    pub fn ty(&self, v: ValueId) -> Option<&TensorType> {
        self.types.get(v.index())?.as_ref()
    }

    /// The known constant value of `v`.
    pub fn constant(&self, v: ValueId) -> Option<&Arc<Tensor>> {
        self.consts.get(v.index())?.as_ref()
    }
}

/// An inconsistency found while inferring (e.g. a Reshape whose target size cannot match).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("node '{node}' ({op}): {what}")]
pub struct InferError {
    /// Node name.
    pub node: String,
    /// Op type.
    pub op: String,
    /// What is wrong.
    pub what: String,
}

/// Infers types and constants for the main graph of `model` (using its ai.onnx opset).
pub fn infer_model(model: &Model) -> Result<GraphTypes, InferError> {
    let opset = model.opset_version("").unwrap_or(1);
    infer_graph(&model.graph, opset)
}

/// Infers types and constants for `graph` at ai.onnx `opset`. Declared types (inputs,
/// outputs, value_info) are the starting point; inferred facts refine unknown dims.
///
/// Initializers that are also listed as graph inputs can be overridden by the caller, so
/// they get a type but no constant. Ops the rules do not know leave their outputs at the
/// declared type (or unknown). A declared type that contradicts an inferred one (dtype,
/// rank or a fixed dim) is an error naming the node and the value.
pub fn infer_graph(graph: &Graph, opset: i64) -> Result<GraphTypes, InferError> {
    let mut st = State::new(graph);
    let prefix = fresh_prefix(graph);
    let order = graph.topo_order().map_err(|e| InferError {
        node: String::new(),
        op: String::new(),
        what: e.to_string(),
    })?;
    for id in order {
        let node = graph.node(id);
        let err = |what: String| InferError {
            node: node.display_name(id),
            op: node.op_type.clone(),
            what,
        };
        let fresh_base = format!("{prefix}{}", id.index());
        let ctx = st.ctx(node, opset, &fresh_base);
        let out = ops::infer_node(&ctx).map_err(err)?;
        st.record(graph, node, out).map_err(err)?;
    }
    Ok(st.out)
}

/// The start of the names of fresh symbolic dims (sizes that depend on data, such as
/// NonZero's count): `#`, lengthened until no symbol declared anywhere in `graph` (its
/// subgraphs included) starts with it, so a fresh dim never equals a declared one.
/// A fresh dim is named `{prefix}{node index}.{output slot}.{axis}`: distinct per node
/// output and axis, and the same each time the same graph is inferred.
fn fresh_prefix(graph: &Graph) -> String {
    fn collect(g: &Graph, out: &mut Vec<String>) {
        for v in g.value_ids() {
            if let Some(shape) = g
                .value(v)
                .declared_tensor_type()
                .and_then(|t| t.shape.as_ref())
            {
                out.extend(shape.iter().filter_map(|d| match d {
                    Dim::Symbol(s) => Some(s.clone()),
                    _ => None,
                }));
            }
        }
        for n in g.node_ids() {
            for sg in g.node(n).subgraphs() {
                collect(sg, out);
            }
        }
    }
    let mut declared = Vec::new();
    collect(graph, &mut declared);
    let mut prefix = String::from("#");
    while declared.iter().any(|s| s.starts_with(&prefix)) {
        prefix.push('#');
    }
    prefix
}

/// True for a dim symbol made by inference for a data-dependent size (see [`fresh_prefix`]).
fn is_fresh(sym: &str) -> bool {
    sym.starts_with('#')
}

/// Where inference only made up a fresh symbol for a dim the file names, keeps the file's
/// name (it may tie the value to others).
fn keep_declared_symbols(declared: &TensorType, mut merged: TensorType) -> TensorType {
    if let (Some(d), Some(m)) = (&declared.shape, &mut merged.shape) {
        for (dd, md) in d.iter().zip(m.iter_mut()) {
            if let (Dim::Symbol(name), Dim::Symbol(f)) = (dd, &*md) {
                if is_fresh(f) {
                    *md = Dim::Symbol(name.clone());
                }
            }
        }
    }
    merged
}

/// Working tables of one inference run.
struct State {
    out: GraphTypes,
    /// Known, possibly symbolic, elements of small 0-D/1-D integer values.
    elems: Vec<Option<Vec<Dim>>>,
}

/// Largest integer vector whose elements are tracked symbolically.
const MAX_ELEMS: usize = 64;

impl State {
    fn new(graph: &Graph) -> State {
        let n = graph.value_count();
        let mut out = GraphTypes {
            types: vec![None; n],
            consts: vec![None; n],
        };
        for v in graph.value_ids() {
            let val = graph.value(v);
            if let Some(t) = &val.initializer {
                out.types[v.index()] = Some(TensorType::fixed(t.dtype, &t.dims));
                if !graph.inputs().contains(&v) {
                    out.consts[v.index()] = Some(t.clone());
                }
            } else if let Some(t) = val.declared_tensor_type() {
                out.types[v.index()] = Some(t.clone());
            }
        }
        State {
            out,
            elems: vec![None; n],
        }
    }

    /// Symbolic elements of `v`: recorded ones, or those of a small integer constant.
    fn elems_of(&self, v: ValueId) -> Option<Vec<Dim>> {
        if let Some(e) = self.elems.get(v.index())?.as_ref() {
            return Some(e.clone());
        }
        let t = self.out.constant(v)?;
        if t.dims.len() > 1
            || !(t.dtype.is_int() || t.dtype == DType::Bool)
            || t.numel()? > MAX_ELEMS
        {
            return None;
        }
        Some(fold::ints(t)?.into_iter().map(Dim::Fixed).collect())
    }

    fn ctx<'a>(&'a self, node: &'a Node, opset: i64, fresh_base: &'a str) -> ops::Ctx<'a> {
        let ins = node.inputs();
        ops::Ctx {
            node,
            opset,
            fresh_base,
            types: ins.iter().map(|v| v.and_then(|v| self.out.ty(v))).collect(),
            consts: ins
                .iter()
                .map(|v| v.and_then(|v| self.out.constant(v)))
                .collect(),
            elems: ins
                .iter()
                .map(|v| v.and_then(|v| self.elems_of(v)))
                .collect(),
        }
    }

    /// Stores a node's results, merged with the outputs' declared types.
    fn record(&mut self, graph: &Graph, node: &Node, out: ops::Out) -> Result<(), String> {
        for (slot, v) in node.outputs().iter().enumerate() {
            let Some(v) = *v else { continue };
            let inferred = out.types.get(slot).cloned().flatten();
            let declared = graph.value(v).declared_tensor_type();
            let ty = match (declared, inferred) {
                (Some(d), Some(i)) => Some(keep_declared_symbols(
                    d,
                    dims::merge_types(d, &i)
                        .map_err(|e| format!("output '{}': {e}", graph.value(v).name))?,
                )),
                (d, i) => i.or_else(|| d.cloned()),
            };
            let konst = out.consts.get(slot).cloned().flatten().filter(|t| {
                // A folded constant must agree with the value's type, else drop it.
                ty.as_ref().is_some_and(|ty| {
                    ty.elem == t.dtype && ty.fixed_dims().as_deref() == Some(&t.dims[..])
                })
            });
            let elems = out
                .elems
                .get(slot)
                .cloned()
                .flatten()
                .filter(|e| e.len() <= MAX_ELEMS);
            // Elements that all became known make a constant (e.g. pads computed from a
            // fixed Shape through Gather/Sub/Concat).
            let konst = konst.or_else(|| {
                let ty = ty.as_ref()?;
                let vals: Vec<i64> = elems
                    .as_ref()?
                    .iter()
                    .map(Dim::fixed)
                    .collect::<Option<_>>()?;
                let dims = ty.fixed_dims()?;
                if dims.len() > 1 || lnopt_ir::numel(&dims)? != vals.len() {
                    return None;
                }
                fold::from_ints(ty.elem, dims, &vals)
            });
            self.out.types[v.index()] = ty;
            self.out.consts[v.index()] = konst.map(|mut t| {
                t.name = graph.value(v).name.clone();
                Arc::new(t)
            });
            self.elems[v.index()] = elems;
        }
        Ok(())
    }
}
