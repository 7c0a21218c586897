//! AttributeProto -> [`Attribute`], checking that the declared type matches the field set.

use super::{to_bytes, types, Importer};
use crate::{unknown, OnnxError};
use lnopt_ir::{AttrValue, Attribute};
use onnx_protobuf::attribute_proto::AttributeType as T;
use onnx_protobuf::AttributeProto;

impl Importer<'_> {
    /// Imports one attribute of node `node` (`op`) in `place`; subgraphs are at `depth + 1`.
    pub(super) fn attribute(
        &mut self,
        ap: &AttributeProto,
        place: &str,
        node: &str,
        op: &str,
        depth: usize,
    ) -> Result<Attribute, OnnxError> {
        let err = |what: String| OnnxError::Attribute {
            place: place.to_string(),
            node: node.to_string(),
            op: op.to_string(),
            attr: ap.name.clone(),
            what,
        };
        let code = ap.type_.value();
        let value = if !ap.ref_attr_name.is_empty() {
            AttrValue::Ref {
                ref_name: ap.ref_attr_name.clone(),
                type_code: code,
            }
        } else {
            let ty = ap
                .type_
                .enum_value()
                .map_err(|c| err(format!("has unknown type code {c}")))?;
            let set = fields_set(ap);
            let expected = field_of(ty).ok_or_else(|| err("has no type (UNDEFINED)".into()))?;
            if let Some(other) = set.iter().find(|f| **f != expected) {
                return Err(err(format!(
                    "has type {} but its '{other}' field is set",
                    type_label(ty)
                )));
            }
            let sub_prefix = format!("{place} > node '{node}' attribute '{}' > ", ap.name);
            let tplace = format!("{place} node '{node}' attribute '{}'", ap.name);
            let missing = || {
                err(format!(
                    "has type {} but no '{expected}' field",
                    type_label(ty)
                ))
            };
            match ty {
                T::UNDEFINED => return Err(err("has no type (UNDEFINED)".into())),
                T::FLOAT => AttrValue::Float(ap.f),
                T::INT => AttrValue::Int(ap.i),
                T::STRING => AttrValue::String(ap.s.clone()),
                T::TENSOR => {
                    let t = ap.t.as_ref().ok_or_else(missing)?;
                    AttrValue::Tensor(self.tensor(t, &tplace)?)
                }
                T::GRAPH => {
                    let g = ap.g.as_ref().ok_or_else(missing)?;
                    AttrValue::Graph(Box::new(self.graph(g, &sub_prefix, depth + 1)?))
                }
                T::SPARSE_TENSOR => {
                    let s = ap.sparse_tensor.as_ref().ok_or_else(missing)?;
                    AttrValue::SparseTensor(to_bytes(s, &tplace)?)
                }
                T::TYPE_PROTO => {
                    let tp = ap.tp.as_ref().ok_or_else(missing)?;
                    AttrValue::Type(types::value_type(tp, &tplace)?)
                }
                T::FLOATS => AttrValue::Floats(ap.floats.clone()),
                T::INTS => AttrValue::Ints(ap.ints.clone()),
                T::STRINGS => AttrValue::Strings(ap.strings.clone()),
                T::TENSORS => {
                    let mut v = Vec::with_capacity(ap.tensors.len());
                    for t in &ap.tensors {
                        v.push(self.tensor(t, &tplace)?);
                    }
                    AttrValue::Tensors(v)
                }
                T::GRAPHS => {
                    let mut v = Vec::with_capacity(ap.graphs.len());
                    for g in &ap.graphs {
                        v.push(self.graph(g, &sub_prefix, depth + 1)?);
                    }
                    AttrValue::Graphs(v)
                }
                T::SPARSE_TENSORS => {
                    let mut v = Vec::with_capacity(ap.sparse_tensors.len());
                    for s in &ap.sparse_tensors {
                        v.push(to_bytes(s, &tplace)?);
                    }
                    AttrValue::SparseTensors(v)
                }
                T::TYPE_PROTOS => {
                    let mut v = Vec::with_capacity(ap.type_protos.len());
                    for tp in &ap.type_protos {
                        v.push(types::value_type(tp, &tplace)?);
                    }
                    AttrValue::Types(v)
                }
            }
        };
        Ok(Attribute {
            name: ap.name.clone(),
            value,
            doc_string: ap.doc_string.clone(),
            unknown: unknown::import(&ap.special_fields),
        })
    }
}

/// Names of the value fields that hold something (zero scalars count as unset, as in proto3).
fn fields_set(ap: &AttributeProto) -> Vec<&'static str> {
    let mut v = Vec::new();
    let checks: [(&'static str, bool); 14] = [
        ("f", ap.f.to_bits() != 0),
        ("i", ap.i != 0),
        ("s", !ap.s.is_empty()),
        ("t", ap.t.is_some()),
        ("g", ap.g.is_some()),
        ("sparse_tensor", ap.sparse_tensor.is_some()),
        ("tp", ap.tp.is_some()),
        ("floats", !ap.floats.is_empty()),
        ("ints", !ap.ints.is_empty()),
        ("strings", !ap.strings.is_empty()),
        ("tensors", !ap.tensors.is_empty()),
        ("graphs", !ap.graphs.is_empty()),
        ("sparse_tensors", !ap.sparse_tensors.is_empty()),
        ("type_protos", !ap.type_protos.is_empty()),
    ];
    for (name, set) in checks {
        if set {
            v.push(name);
        }
    }
    v
}

/// The AttributeProto field that holds a value of type `t`.
fn field_of(t: T) -> Option<&'static str> {
    Some(match t {
        T::UNDEFINED => return None,
        T::FLOAT => "f",
        T::INT => "i",
        T::STRING => "s",
        T::TENSOR => "t",
        T::GRAPH => "g",
        T::SPARSE_TENSOR => "sparse_tensor",
        T::TYPE_PROTO => "tp",
        T::FLOATS => "floats",
        T::INTS => "ints",
        T::STRINGS => "strings",
        T::TENSORS => "tensors",
        T::GRAPHS => "graphs",
        T::SPARSE_TENSORS => "sparse_tensors",
        T::TYPE_PROTOS => "type_protos",
    })
}

fn type_label(t: T) -> &'static str {
    match t {
        T::UNDEFINED => "UNDEFINED",
        T::FLOAT => "FLOAT",
        T::INT => "INT",
        T::STRING => "STRING",
        T::TENSOR => "TENSOR",
        T::GRAPH => "GRAPH",
        T::SPARSE_TENSOR => "SPARSE_TENSOR",
        T::TYPE_PROTO => "TYPE_PROTO",
        T::FLOATS => "FLOATS",
        T::INTS => "INTS",
        T::STRINGS => "STRINGS",
        T::TENSORS => "TENSORS",
        T::GRAPHS => "GRAPHS",
        T::SPARSE_TENSORS => "SPARSE_TENSORS",
        T::TYPE_PROTOS => "TYPE_PROTOS",
    }
}
