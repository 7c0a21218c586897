//! lnopt IR -> ONNX protobuf messages. Deterministic: nodes in `topo_order`, everything else
//! in recorded order.

pub(crate) mod external;
mod tensor;
pub(crate) mod types;

use crate::{unknown, OnnxError};
use external::ExternalWriter;
use lnopt_ir::{AttrValue, Attribute, Function, Graph, Metadata, Model, Producer, ValueId};
use onnx_protobuf::attribute_proto::AttributeType as T;
use onnx_protobuf::{
    AttributeProto, FunctionProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto,
    SparseTensorProto, StringStringEntryProto, TensorAnnotation, ValueInfoProto,
};
use protobuf::{EnumOrUnknown, Message, MessageField};

/// State of one export: where external tensor data goes (only when saving).
pub(crate) struct Exporter<'w> {
    pub(crate) external: Option<&'w mut ExternalWriter>,
}

impl Exporter<'_> {
    /// Exports a whole model.
    pub(crate) fn model(&mut self, m: &Model) -> Result<ModelProto, OnnxError> {
        let mut mp = ModelProto::new();
        mp.ir_version = m.ir_version;
        mp.opset_import = opsets(&m.opset_imports);
        mp.producer_name = m.producer_name.clone();
        mp.producer_version = m.producer_version.clone();
        mp.domain = m.domain.clone();
        mp.model_version = m.model_version;
        mp.doc_string = m.doc_string.clone();
        mp.metadata_props = metadata_props(&m.metadata);
        mp.graph = MessageField::some(self.graph(&m.graph, "")?);
        for f in &m.functions {
            mp.functions.push(self.function(f)?);
        }
        for (i, t) in m.training_info.iter().enumerate() {
            mp.training_info
                .push(parse(t, &format!("model training_info #{i}"))?);
        }
        unknown::export(&m.unknown, &mut mp.special_fields, "model")?;
        Ok(mp)
    }

    fn graph(&mut self, g: &Graph, prefix: &str) -> Result<GraphProto, OnnxError> {
        let place = format!("{prefix}graph '{}'", g.name);
        let mut gp = GraphProto::new();
        gp.name = g.name.clone();
        gp.doc_string = g.doc_string.clone();
        gp.metadata_props = metadata_props(&g.metadata);
        // Field 14 (quantization_annotation) was kept as unknown bytes: write it back as the
        // real field so it keeps its place in the message.
        let mut unk = g.unknown.clone();
        let mut rest = Vec::with_capacity(unk.0.len());
        for f in unk.0.drain(..) {
            match f {
                lnopt_ir::UnknownField::Bytes(14, b) => {
                    match TensorAnnotation::parse_from_bytes(&b) {
                        Ok(a) => gp.quantization_annotation.push(a),
                        Err(_) => rest.push(lnopt_ir::UnknownField::Bytes(14, b)),
                    }
                }
                other => rest.push(other),
            }
        }
        unknown::export(
            &lnopt_ir::UnknownFields(rest),
            &mut gp.special_fields,
            &place,
        )?;
        for (i, s) in g.sparse_initializers.iter().enumerate() {
            gp.sparse_initializer.push(parse::<SparseTensorProto>(
                s,
                &format!("{place} sparse initializer #{i}"),
            )?);
        }
        for &i in g.inputs() {
            gp.input.push(value_info(g, i, &place)?);
        }
        let iplace = format!("{place} initializer");
        for &i in &g.initializers {
            if let Some(t) = g.initializer(i) {
                let mut tp = self.tensor(t, &iplace)?;
                tp.name = g.value(i).name.clone();
                gp.initializer.push(tp);
            }
        }
        let order = g.topo_order().map_err(|source| OnnxError::Structure {
            place: place.clone(),
            source,
        })?;
        gp.node.reserve(order.len());
        for n in order {
            gp.node.push(self.node(g, n, &place)?);
        }
        for &o in g.outputs() {
            gp.output.push(value_info(g, o, &place)?);
        }
        for &v in &g.value_info {
            let val = g.value(v);
            let alive = val.producer() != Producer::None || !val.uses().is_empty();
            if alive && val.info.is_some() {
                gp.value_info.push(value_info(g, v, &place)?);
            }
        }
        Ok(gp)
    }

    fn node(
        &mut self,
        g: &Graph,
        id: lnopt_ir::NodeId,
        place: &str,
    ) -> Result<NodeProto, OnnxError> {
        let n = g.node(id);
        let name = |v: &Option<ValueId>| v.map(|v| g.value(v).name.clone()).unwrap_or_default();
        let mut np = NodeProto::new();
        np.input = n.inputs().iter().map(name).collect();
        np.output = n.outputs().iter().map(name).collect();
        np.name = n.name.clone();
        np.op_type = n.op_type.clone();
        np.domain = n.domain.clone();
        np.overload = n.overload.clone();
        np.doc_string = n.doc_string.clone();
        np.metadata_props = metadata_props(&n.metadata);
        let label = n.display_name(id);
        let nplace = format!("{place} node '{label}' ({})", n.op_type);
        unknown::export(&n.unknown, &mut np.special_fields, &nplace)?;
        for a in &n.attributes {
            np.attribute.push(self.attribute(a, &nplace)?);
        }
        Ok(np)
    }

    fn attribute(&mut self, a: &Attribute, place: &str) -> Result<AttributeProto, OnnxError> {
        let mut ap = AttributeProto::new();
        ap.name = a.name.clone();
        ap.doc_string = a.doc_string.clone();
        let aplace = format!("{place} attribute '{}'", a.name);
        let sub = format!("{aplace} > ");
        unknown::export(&a.unknown, &mut ap.special_fields, &aplace)?;
        let ty = match &a.value {
            AttrValue::Float(f) => {
                ap.f = *f;
                T::FLOAT
            }
            AttrValue::Int(i) => {
                ap.i = *i;
                T::INT
            }
            AttrValue::String(s) => {
                ap.s = s.clone();
                T::STRING
            }
            AttrValue::Tensor(t) => {
                ap.t = MessageField::some(self.tensor(t, &aplace)?);
                T::TENSOR
            }
            AttrValue::Graph(g) => {
                ap.g = MessageField::some(self.graph(g, &sub)?);
                T::GRAPH
            }
            AttrValue::SparseTensor(b) => {
                ap.sparse_tensor = MessageField::some(parse(b, &aplace)?);
                T::SPARSE_TENSOR
            }
            AttrValue::Type(t) => {
                ap.tp = MessageField::some(types::type_proto(t, &aplace)?);
                T::TYPE_PROTO
            }
            AttrValue::Floats(v) => {
                ap.floats = v.clone();
                T::FLOATS
            }
            AttrValue::Ints(v) => {
                ap.ints = v.clone();
                T::INTS
            }
            AttrValue::Strings(v) => {
                ap.strings = v.clone();
                T::STRINGS
            }
            AttrValue::Tensors(v) => {
                for t in v {
                    ap.tensors.push(self.tensor(t, &aplace)?);
                }
                T::TENSORS
            }
            AttrValue::Graphs(v) => {
                for g in v {
                    ap.graphs.push(self.graph(g, &sub)?);
                }
                T::GRAPHS
            }
            AttrValue::SparseTensors(v) => {
                for b in v {
                    ap.sparse_tensors.push(parse(b, &aplace)?);
                }
                T::SPARSE_TENSORS
            }
            AttrValue::Types(v) => {
                for t in v {
                    ap.type_protos.push(types::type_proto(t, &aplace)?);
                }
                T::TYPE_PROTOS
            }
            AttrValue::Ref {
                ref_name,
                type_code,
            } => {
                ap.ref_attr_name = ref_name.clone();
                ap.type_ = EnumOrUnknown::from_i32(*type_code);
                return Ok(ap);
            }
        };
        ap.type_ = EnumOrUnknown::new(ty);
        Ok(ap)
    }

    /// Exports a local function. The formal parameters are the body's inputs and outputs.
    fn function(&mut self, f: &Function) -> Result<FunctionProto, OnnxError> {
        let place = format!("function '{}::{}'", f.domain, f.name);
        let body = &f.body;
        let mut fp = FunctionProto::new();
        fp.name = f.name.clone();
        fp.domain = f.domain.clone();
        fp.overload = f.overload.clone();
        fp.input = body
            .inputs()
            .iter()
            .map(|&v| body.value(v).name.clone())
            .collect();
        fp.output = body
            .outputs()
            .iter()
            .map(|&v| body.value(v).name.clone())
            .collect();
        fp.attribute = f.attribute_names.clone();
        for a in &f.attribute_defaults {
            fp.attribute_proto.push(self.attribute(a, &place)?);
        }
        let order = body.topo_order().map_err(|source| OnnxError::Structure {
            place: place.clone(),
            source,
        })?;
        for n in order {
            fp.node.push(self.node(body, n, &place)?);
        }
        fp.doc_string = f.doc_string.clone();
        fp.opset_import = opsets(&f.opset_imports);
        for &v in &body.value_info {
            let val = body.value(v);
            let alive = val.producer() != Producer::None || !val.uses().is_empty();
            if alive && val.info.is_some() {
                fp.value_info.push(value_info(body, v, &place)?);
            }
        }
        fp.metadata_props = metadata_props(&f.metadata);
        unknown::export(&f.unknown, &mut fp.special_fields, &place)?;
        Ok(fp)
    }
}

fn value_info(g: &Graph, id: ValueId, place: &str) -> Result<ValueInfoProto, OnnxError> {
    let v = g.value(id);
    let mut vi = ValueInfoProto::new();
    vi.name = v.name.clone();
    if let Some(info) = &v.info {
        let vplace = format!("{place} value '{}'", v.name);
        if let Some(ty) = &info.ty {
            vi.type_ = MessageField::some(types::type_proto(ty, &vplace)?);
        }
        vi.doc_string = info.doc_string.clone();
        vi.metadata_props = metadata_props(&info.metadata);
        unknown::export(&info.unknown, &mut vi.special_fields, &vplace)?;
    }
    Ok(vi)
}

/// Ordered pairs -> `metadata_props` entries.
pub(crate) fn metadata_props(m: &Metadata) -> Vec<StringStringEntryProto> {
    m.iter()
        .map(|(k, v)| {
            let mut e = StringStringEntryProto::new();
            e.key = k.clone();
            e.value = v.clone();
            e
        })
        .collect()
}

fn opsets(o: &[lnopt_ir::OpsetImport]) -> Vec<OperatorSetIdProto> {
    o.iter()
        .map(|o| {
            let mut p = OperatorSetIdProto::new();
            p.domain = o.domain.clone();
            p.version = o.version;
            p
        })
        .collect()
}

/// Parses a sub-message the IR keeps serialized.
fn parse<M: Message>(b: &[u8], place: &str) -> Result<M, OnnxError> {
    M::parse_from_bytes(b).map_err(|e| {
        OnnxError::invalid(
            place,
            format!("kept bytes are not a valid {}: {e}", M::NAME),
        )
    })
}
