//! Fusion inside model-local functions (`FunctionProto` bodies).
//!
//! A function body is fused once, however often it is called, and stays a function: the
//! calls are untouched. Its formal inputs carry no types, so before fusing, each input gets
//! the join of the types its call sites pass (element type when all agree; per-dim, the dim
//! all calls agree on, else unknown; no shape when ranks differ). Those facts are removed
//! again afterwards, and constants the fusion created become `Constant` nodes, since a
//! function body has no initializers.

use crate::{fuse_graph_and_subgraphs, FuseError, FuseOptions, FuseReport, NormKind};
use lnopt_ir::{
    AttrValue, DType, Dim, Graph, Model, Node, TensorType, ValueId, ValueInfo, ValueType,
};
use std::collections::BTreeSet;

/// Fuses the main graph (and subgraphs) of `model`, then every local function body.
/// Sites inside a function are reported with the anchor `function <domain>.<name>/<anchor>`.
pub fn fuse_model(
    model: &mut Model,
    opset: i64,
    opts: &FuseOptions,
) -> Result<FuseReport, FuseError> {
    let mut report = fuse_graph_and_subgraphs(&mut model.graph, opset, opts)?;
    if model.functions.is_empty() {
        return Ok(report);
    }
    let types = lnopt_infer::infer_graph(&model.graph, opset)?;
    for fi in 0..model.functions.len() {
        let (name, domain) = (
            model.functions[fi].name.clone(),
            model.functions[fi].domain.clone(),
        );
        let calls: Vec<Vec<Option<TensorType>>> = model
            .graph
            .node_ids()
            .map(|n| model.graph.node(n))
            .filter(|n| n.op_type == name && n.domain == domain)
            .map(|n| {
                n.inputs()
                    .iter()
                    .map(|i| i.and_then(|v| types.ty(v).cloned()))
                    .collect()
            })
            .collect();
        let f = &mut model.functions[fi];
        let f_opset = f
            .opset_imports
            .iter()
            .find(|o| lnopt_ir::is_default_domain(&o.domain))
            .map_or(opset, |o| o.version);
        let sub_opts = options_for(opts, opset, f_opset);
        let lent = lend_call_types(&mut f.body, &calls);
        let before: BTreeSet<ValueId> = f.body.initializers.iter().copied().collect();
        let result = fuse_graph_and_subgraphs(&mut f.body, f_opset, &sub_opts);
        for v in lent {
            f.body.value_mut(v).info = None;
        }
        let r = result?;
        constants_to_nodes(&mut f.body, &before)?;
        for mut site in r.sites {
            site.anchor = format!("function {domain}.{name}/{}", site.anchor);
            report.sites.push(site);
        }
    }
    Ok(report)
}

/// The options for a body whose ai.onnx opset is `f_opset` in a model at `opset`: a body
/// behind the model's opset only gets the norm ops its own opset has (the caller's opset
/// policy upgrades bodies with the model, so a body at the model's opset follows the model).
fn options_for(opts: &FuseOptions, opset: i64, f_opset: i64) -> FuseOptions {
    let mut o = opts.clone();
    if f_opset < opset && o.target == crate::EmitTarget::Standard {
        o.allow_layer_norm &= f_opset >= NormKind::LayerNorm.standard_opset();
        o.allow_rms_norm &= f_opset >= NormKind::RmsNorm.standard_opset();
    }
    o
}

/// The join of the types passed at every call for one formal input.
pub fn join_types<'a>(
    types: impl IntoIterator<Item = Option<&'a TensorType>>,
) -> Option<TensorType> {
    let mut acc: Option<TensorType> = None;
    for t in types {
        let t = t?;
        acc = Some(match acc {
            None => t.clone(),
            Some(a) => {
                if a.elem != t.elem {
                    return None;
                }
                let shape = match (a.shape, &t.shape) {
                    (Some(x), Some(y)) if x.len() == y.len() => Some(
                        x.iter()
                            .zip(y)
                            .map(|(p, q)| {
                                if p.same_as(q) {
                                    p.clone()
                                } else {
                                    Dim::Unknown
                                }
                            })
                            .collect(),
                    ),
                    _ => None,
                };
                TensorType {
                    elem: a.elem,
                    shape,
                }
            }
        });
    }
    acc.filter(|t| t.elem != DType::Undefined)
}

/// Gives each untyped formal input of `body` the join of its call sites' types; returns the
/// values that got one.
fn lend_call_types(body: &mut Graph, calls: &[Vec<Option<TensorType>>]) -> Vec<ValueId> {
    if calls.is_empty() {
        return Vec::new();
    }
    let mut lent = Vec::new();
    let formals: Vec<ValueId> = body.inputs().to_vec();
    for (i, v) in formals.into_iter().enumerate() {
        if body.value(v).info.is_some() {
            continue;
        }
        let Some(t) = join_types(calls.iter().map(|c| c.get(i).and_then(|t| t.as_ref()))) else {
            continue;
        };
        body.value_mut(v).info = Some(ValueInfo {
            ty: Some(ValueType::Tensor(t)),
            ..ValueInfo::default()
        });
        lent.push(v);
    }
    lent
}

/// Turns the initializers added since `before` into `Constant` nodes.
fn constants_to_nodes(body: &mut Graph, before: &BTreeSet<ValueId>) -> Result<(), FuseError> {
    let added: Vec<ValueId> = body
        .initializers
        .iter()
        .copied()
        .filter(|v| !before.contains(v))
        .collect();
    for v in added {
        let Some(t) = body.value_mut(v).initializer.take() else {
            continue;
        };
        body.initializers.retain(|&w| w != v);
        let name = body.value(v).name.clone();
        let mut node = Node::new("Constant", format!("{name}_const"));
        node.set_attr("value", AttrValue::Tensor((*t).clone()));
        body.add_node(node, vec![], vec![Some(v)])
            .map_err(|e| FuseError::Internal {
                site: name.clone(),
                what: format!("turning constant '{name}' into a Constant node: {e}"),
            })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tt(elem: DType, dims: &[Dim]) -> TensorType {
        TensorType {
            elem,
            shape: Some(dims.to_vec()),
        }
    }

    #[test]
    fn join_keeps_only_what_every_call_agrees_on() {
        let a = tt(DType::F32, &[Dim::Fixed(2), Dim::Fixed(16)]);
        let b = tt(DType::F32, &[Dim::Fixed(3), Dim::Fixed(16)]);
        let j = join_types([Some(&a), Some(&b)]).unwrap();
        assert_eq!(j.shape, Some(vec![Dim::Unknown, Dim::Fixed(16)]));
        let c = tt(DType::F16, &[Dim::Fixed(2), Dim::Fixed(16)]);
        assert!(join_types([Some(&a), Some(&c)]).is_none());
        let d = tt(DType::F32, &[Dim::Fixed(16)]);
        assert_eq!(join_types([Some(&a), Some(&d)]).unwrap().shape, None);
        assert!(join_types([Some(&a), None]).is_none());
    }
}
