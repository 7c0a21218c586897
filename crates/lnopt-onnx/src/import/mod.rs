//! ONNX protobuf messages -> lnopt IR. One [`Importer`] per decode call carries the limits,
//! the model's folder (for external data) and the running node count.

mod attr;
pub(crate) mod external;
mod tensor;
mod types;

use crate::{unknown, Limits, OnnxError};
use lnopt_ir::{
    Function, Graph, IrError, Metadata, Model, Node, OpsetImport, Producer, UnknownField, ValueInfo,
};
use onnx_protobuf::{
    FunctionProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    ValueInfoProto,
};
use protobuf::Message;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// IR versions read: 3 (the oldest with opset imports) to 14 (ONNX 1.23); newer fields are
/// kept as unknown fields.
const IR_VERSIONS: std::ops::RangeInclusive<i64> = 3..=14;

/// State of one import.
pub(crate) struct Importer<'a> {
    limits: &'a Limits,
    /// Canonical model folder, when external data may be read.
    base_dir: Option<PathBuf>,
    nodes_seen: usize,
    /// External-data files mapped so far.
    mapped: external::MappedFiles,
}

impl<'a> Importer<'a> {
    /// An importer reading external data relative to `base_dir` (canonicalised here).
    pub(crate) fn new(
        limits: &'a Limits,
        base_dir: Option<&Path>,
    ) -> Result<Importer<'a>, OnnxError> {
        let base_dir = match base_dir {
            Some(d) => {
                let d = if d.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    d
                };
                Some(d.canonicalize().map_err(|e| OnnxError::io(d, e))?)
            }
            None => None,
        };
        Ok(Importer {
            limits,
            base_dir,
            nodes_seen: 0,
            mapped: Default::default(),
        })
    }

    /// Imports a whole model and verifies every graph.
    pub(crate) fn model(&mut self, mp: &ModelProto) -> Result<Model, OnnxError> {
        if !IR_VERSIONS.contains(&mp.ir_version) {
            return Err(OnnxError::IrVersion(mp.ir_version));
        }
        let gp = mp.graph.as_ref().ok_or(OnnxError::NoGraph)?;
        let graph = self.graph(gp, "", 0)?;
        let main_place = format!("graph '{}'", gp.name);
        graph.verify().map_err(|source| OnnxError::Structure {
            place: main_place,
            source,
        })?;
        let mut functions = Vec::with_capacity(mp.functions.len());
        for fp in &mp.functions {
            functions.push(self.function(fp)?);
        }
        let mut training_info = Vec::with_capacity(mp.training_info.len());
        for t in &mp.training_info {
            training_info.push(to_bytes(t, "model training_info")?);
        }
        Ok(Model {
            ir_version: mp.ir_version,
            opset_imports: opsets(&mp.opset_import),
            producer_name: mp.producer_name.clone(),
            producer_version: mp.producer_version.clone(),
            domain: mp.domain.clone(),
            model_version: mp.model_version,
            doc_string: mp.doc_string.clone(),
            metadata: metadata(&mp.metadata_props),
            graph,
            functions,
            training_info,
            unknown: unknown::import(&mp.special_fields),
        })
    }

    fn count_nodes(&mut self, n: usize) -> Result<(), OnnxError> {
        self.nodes_seen = self.nodes_seen.saturating_add(n);
        if self.nodes_seen > self.limits.max_nodes {
            return Err(OnnxError::TooManyNodes {
                max: self.limits.max_nodes,
            });
        }
        Ok(())
    }

    /// Imports a graph at nesting `depth`; `prefix` names the enclosing places (empty for the
    /// main graph). Does not verify (the caller verifies the main graph with its subgraphs).
    pub(crate) fn graph(
        &mut self,
        gp: &GraphProto,
        prefix: &str,
        depth: usize,
    ) -> Result<Graph, OnnxError> {
        let place = format!("{prefix}graph '{}'", gp.name);
        if depth > self.limits.max_depth {
            return Err(OnnxError::TooDeep {
                place,
                max: self.limits.max_depth,
            });
        }
        self.count_nodes(gp.node.len())?;
        let mut g = Graph::new(gp.name.clone());
        g.doc_string = gp.doc_string.clone();
        g.metadata = metadata(&gp.metadata_props);
        g.unknown = unknown::import(&gp.special_fields);
        // quantization_annotation (field 14) has no IR field: keep it as unknown bytes.
        for qa in &gp.quantization_annotation {
            g.unknown
                .0
                .push(UnknownField::Bytes(14, to_bytes(qa, &place)?));
        }
        unknown::sort(&mut g.unknown.0);
        for sp in &gp.sparse_initializer {
            g.sparse_initializers.push(to_bytes(sp, &place)?);
        }

        let mut seen_inputs = HashSet::with_capacity(gp.input.len());
        for vi in &gp.input {
            require_name(&vi.name, &place, "graph input")?;
            if !seen_inputs.insert(vi.name.as_str()) {
                return Err(OnnxError::invalid(
                    &place,
                    format!("graph input '{}' is listed twice", vi.name),
                ));
            }
            let id = g.value_by_name_or_new(&vi.name);
            g.value_mut(id).info = Some(value_info(vi, &place)?);
            g.add_input(id);
        }
        for tp in &gp.initializer {
            require_name(&tp.name, &place, "initializer")?;
            let t = self.tensor(tp, &format!("{place} initializer"))?;
            let id = g.value_by_name_or_new(&tp.name);
            if g.value(id).initializer.is_some() {
                return Err(OnnxError::Structure {
                    place,
                    source: IrError::DuplicateName {
                        name: tp.name.clone(),
                        first: "an initializer".into(),
                        second: "another initializer".into(),
                    },
                });
            }
            g.set_initializer(id, Arc::new(t));
        }
        for (index, np) in gp.node.iter().enumerate() {
            let node = self.node(np, index, &place, depth)?;
            let label = node_label(np, index);
            let ins = np.input.iter().map(|n| opt_value(&mut g, n)).collect();
            let outs: Vec<_> = np.output.iter().map(|n| opt_value(&mut g, n)).collect();
            let mut distinct = HashSet::with_capacity(outs.len());
            for (name, o) in np.output.iter().zip(&outs) {
                if o.is_some() && !distinct.insert(*o) {
                    return Err(OnnxError::Structure {
                        place,
                        source: IrError::DuplicateName {
                            name: name.clone(),
                            first: label.clone(),
                            second: label,
                        },
                    });
                }
            }
            g.add_node(node, ins, outs)
                .map_err(|source| OnnxError::Structure {
                    place: place.clone(),
                    source,
                })?;
        }
        for vi in &gp.output {
            require_name(&vi.name, &place, "graph output")?;
            let id = g.value_by_name_or_new(&vi.name);
            let info = value_info(vi, &place)?;
            let v = g.value_mut(id);
            if v.info.is_none() {
                v.info = Some(info);
            }
            g.add_output(id);
        }
        for vi in &gp.value_info {
            require_name(&vi.name, &place, "value_info entry")?;
            let id = g.value_by_name_or_new(&vi.name);
            let info = value_info(vi, &place)?;
            let v = g.value_mut(id);
            if v.info.is_none() {
                v.info = Some(info);
            }
            g.value_info.push(id);
        }
        Ok(g)
    }

    fn node(
        &mut self,
        np: &NodeProto,
        index: usize,
        place: &str,
        depth: usize,
    ) -> Result<Node, OnnxError> {
        let mut n = Node::new(np.op_type.clone(), np.name.clone());
        n.domain = np.domain.clone();
        n.overload = np.overload.clone();
        n.doc_string = np.doc_string.clone();
        n.metadata = metadata(&np.metadata_props);
        n.unknown = unknown::import(&np.special_fields);
        let label = node_label(np, index);
        for ap in &np.attribute {
            let a = self.attribute(ap, place, &label, &np.op_type, depth)?;
            n.attributes.push(a);
        }
        crate::attr_table::check(&n, place, &label)?;
        Ok(n)
    }

    fn function(&mut self, fp: &FunctionProto) -> Result<Function, OnnxError> {
        let place = format!("function '{}::{}'", fp.domain, fp.name);
        self.count_nodes(fp.node.len())?;
        let mut body = Graph::new(fp.name.clone());
        for name in &fp.input {
            require_name(name, &place, "function input")?;
            let id = body.value_by_name_or_new(name);
            if body.value(id).producer() != Producer::None {
                return Err(OnnxError::invalid(
                    &place,
                    format!("function input '{name}' is listed twice"),
                ));
            }
            body.add_input(id);
        }
        for (index, np) in fp.node.iter().enumerate() {
            let node = self.node(np, index, &place, 0)?;
            let ins = np.input.iter().map(|n| opt_value(&mut body, n)).collect();
            let outs = np.output.iter().map(|n| opt_value(&mut body, n)).collect();
            body.add_node(node, ins, outs)
                .map_err(|source| OnnxError::Structure {
                    place: place.clone(),
                    source,
                })?;
        }
        for name in &fp.output {
            require_name(name, &place, "function output")?;
            let id = body.value_by_name_or_new(name);
            body.add_output(id);
        }
        for vi in &fp.value_info {
            require_name(&vi.name, &place, "value_info entry")?;
            let id = body.value_by_name_or_new(&vi.name);
            let info = value_info(vi, &place)?;
            let v = body.value_mut(id);
            if v.info.is_none() {
                v.info = Some(info);
            }
            body.value_info.push(id);
        }
        body.verify().map_err(|source| OnnxError::Structure {
            place: place.clone(),
            source,
        })?;
        let mut attribute_defaults = Vec::with_capacity(fp.attribute_proto.len());
        for ap in &fp.attribute_proto {
            attribute_defaults.push(self.attribute(ap, &place, "(attribute defaults)", "", 0)?);
        }
        Ok(Function {
            name: fp.name.clone(),
            domain: fp.domain.clone(),
            overload: fp.overload.clone(),
            inputs: fp.input.clone(),
            outputs: fp.output.clone(),
            attribute_names: fp.attribute.clone(),
            attribute_defaults,
            body,
            opset_imports: opsets(&fp.opset_import),
            doc_string: fp.doc_string.clone(),
            metadata: metadata(&fp.metadata_props),
            unknown: unknown::import(&fp.special_fields),
        })
    }
}

/// `name` if set, else `#index`, as node labels in messages.
fn node_label(np: &NodeProto, index: usize) -> String {
    if np.name.is_empty() {
        format!("#{index}")
    } else {
        np.name.clone()
    }
}

fn require_name(name: &str, place: &str, what: &str) -> Result<(), OnnxError> {
    if name.is_empty() {
        return Err(OnnxError::invalid(
            place,
            format!("a {what} has an empty name"),
        ));
    }
    Ok(())
}

fn opt_value(g: &mut Graph, name: &str) -> Option<lnopt_ir::ValueId> {
    if name.is_empty() {
        None
    } else {
        Some(g.value_by_name_or_new(name))
    }
}

fn value_info(vi: &ValueInfoProto, place: &str) -> Result<ValueInfo, OnnxError> {
    let ty = match vi.type_.as_ref() {
        Some(tp) => Some(types::value_type(
            tp,
            &format!("{place} value '{}'", vi.name),
        )?),
        None => None,
    };
    Ok(ValueInfo {
        ty,
        doc_string: vi.doc_string.clone(),
        metadata: metadata(&vi.metadata_props),
        unknown: unknown::import(&vi.special_fields),
    })
}

/// `metadata_props` as ordered pairs.
pub(crate) fn metadata(props: &[StringStringEntryProto]) -> Metadata {
    props
        .iter()
        .map(|p| (p.key.clone(), p.value.clone()))
        .collect()
}

fn opsets(ops: &[OperatorSetIdProto]) -> Vec<OpsetImport> {
    ops.iter()
        .map(|o| OpsetImport {
            domain: o.domain.clone(),
            version: o.version,
        })
        .collect()
}

/// Serializes a sub-message kept opaque in the IR.
pub(crate) fn to_bytes(m: &impl Message, place: &str) -> Result<Vec<u8>, OnnxError> {
    m.write_to_bytes()
        .map_err(|e| OnnxError::invalid(place, format!("cannot serialize: {e}")))
}
