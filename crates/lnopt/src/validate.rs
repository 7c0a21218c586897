//! Refusing models lnopt cannot reason about, before any pass looks at them.
//!
//! What import cannot see alone: an ai.onnx node without an ai.onnx opset import (the op's
//! meaning depends on the version), and a node whose input element types break its schema's
//! type constraints (`Add(f16, f32)`), judged with the types `lnopt-infer` derives. Unknown
//! dtype codes, values defined twice and broken structure are refused by the importer.

use lnopt_ir::{Graph, Model};

/// Why a model is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidModel {
    /// ai.onnx nodes but no ai.onnx opset import.
    #[error("node '{node}' ({op}) is an ai.onnx op, but the {place} imports no ai.onnx opset, so its version (and meaning) is unknown")]
    NoDefaultOpset {
        /// Where (model, or function name).
        place: String,
        /// The first such node.
        node: String,
        /// Its op type.
        op: String,
    },
    /// A node's inputs break its type constraints.
    #[error("node '{node}' ({op}): {what}")]
    TypeConstraint {
        /// Node name.
        node: String,
        /// Op type.
        op: String,
        /// The violation, naming the input slots and types.
        what: String,
    },
    /// Type inference found the model inconsistent.
    #[error(transparent)]
    Inconsistent(#[from] lnopt_infer::InferError),
}

/// The first ai.onnx node of `g` or its subgraphs, as (name, op).
fn first_default_node(g: &Graph) -> Option<(String, String)> {
    for id in g.node_ids() {
        let n = g.node(id);
        if n.in_default_domain() {
            return Some((n.display_name(id), n.op_type.clone()));
        }
        for sub in n.subgraphs() {
            if let Some(found) = first_default_node(sub) {
                return Some(found);
            }
        }
    }
    None
}

/// Checks that `model` can be reasoned about: opset imports for the ops it uses, and type
/// constraints of the main graph's ai.onnx nodes. Returns the first problem, naming the node.
pub fn validate(model: &Model) -> Result<(), InvalidModel> {
    let opset = model.opset_version("");
    if opset.is_none() {
        if let Some((node, op)) = first_default_node(&model.graph) {
            return Err(InvalidModel::NoDefaultOpset {
                place: "model".into(),
                node,
                op,
            });
        }
    }
    for f in &model.functions {
        let has = f
            .opset_imports
            .iter()
            .any(|o| lnopt_ir::is_default_domain(&o.domain));
        if !has {
            if let Some((node, op)) = first_default_node(&f.body) {
                return Err(InvalidModel::NoDefaultOpset {
                    place: format!("function '{}'", f.name),
                    node,
                    op,
                });
            }
        }
    }
    let Some(opset) = opset else { return Ok(()) };
    let types = lnopt_infer::infer_graph(&model.graph, opset)?;
    let g = &model.graph;
    for id in g.node_ids() {
        let n = g.node(id);
        if !n.in_default_domain() {
            continue;
        }
        let dtypes: Vec<_> = n
            .inputs()
            .iter()
            .map(|v| v.and_then(|v| types.ty(v)).map(|t| t.elem))
            .map(|d| d.filter(|d| *d != lnopt_ir::DType::Undefined))
            .collect();
        lnopt_schema::check_inputs(&n.op_type, opset, &dtypes).map_err(|e| {
            InvalidModel::TypeConstraint {
                node: n.display_name(id),
                op: n.op_type.clone(),
                what: e.to_string(),
            }
        })?;
    }
    Ok(())
}
