//! IR -> encode -> decode keeps everything; encode(decode(encode(ir))) is a byte fixpoint.

mod common;

use common::*;
use lnopt_ir::dump::dump_model;
use lnopt_ir::{
    AttrValue, DType, ExternalRef, Function, Graph, Model, Node, OpsetImport, Storage, Tensor,
    TensorData, TensorType, UnknownField, UnknownFields, ValueInfo, ValueType,
};
use lnopt_onnx::{decode, decode_tensor, encode, encode_tensor, Limits};
use protobuf::Message;

/// Encodes, decodes, re-encodes; checks IR equality and byte equality; returns the decoded IR.
fn round_trip(m: &Model) -> Model {
    let b1 = encode(m).expect("encode");
    let m2 = decode(&b1, None, &Limits::default()).expect("decode");
    assert_eq!(dump_model(m), dump_model(&m2));
    assert_eq!(*m, m2, "decoded IR differs");
    let b2 = encode(&m2).expect("re-encode");
    assert!(b1 == b2, "encode is not a fixpoint");
    m2
}

#[test]
fn plain_model_round_trips_with_symbolic_dims() {
    let m = round_trip(&relu_model());
    let x = m.graph.find_value("x").unwrap();
    let t = m.graph.value(x).declared_tensor_type().unwrap();
    assert_eq!(t.to_string(), "f32[batch,4,?]");
}

#[test]
fn every_attribute_type_round_trips() {
    let t = Tensor::from_f32("t", vec![2], &[1.5, -2.0]);
    let mut sub = Graph::new("body");
    let a = sub.value_by_name_or_new("a");
    sub.add_input(a);
    let b = sub.value_by_name_or_new("b");
    sub.add_node(Node::new("Identity", ""), vec![Some(a)], vec![Some(b)])
        .unwrap();
    sub.add_output(b);
    let sparse = {
        let mut sp = onnx_protobuf::SparseTensorProto::new();
        sp.dims = vec![4];
        sp.write_to_bytes().unwrap()
    };
    let opaque_seq = {
        let mut tp = onnx_protobuf::TypeProto::new();
        tp.value = Some(onnx_protobuf::type_proto::Value::SequenceType(
            onnx_protobuf::type_proto::Sequence::new(),
        ));
        tp.write_to_bytes().unwrap()
    };
    let attrs = vec![
        attr("f", AttrValue::Float(0.25)),
        attr("i", AttrValue::Int(-7)),
        attr("s", AttrValue::String(b"hello".to_vec())),
        attr("t", AttrValue::Tensor(t.clone())),
        attr("g", AttrValue::Graph(Box::new(sub.clone()))),
        attr("sp", AttrValue::SparseTensor(sparse.clone())),
        attr(
            "tp",
            AttrValue::Type(ValueType::Tensor(TensorType::fixed(DType::I64, &[3]))),
        ),
        attr("floats", AttrValue::Floats(vec![1.0, f32::MAX, -0.5])),
        attr("ints", AttrValue::Ints(vec![1, i64::MIN, i64::MAX])),
        attr(
            "strings",
            AttrValue::Strings(vec![b"a".to_vec(), Vec::new()]),
        ),
        attr("tensors", AttrValue::Tensors(vec![t.clone(), t])),
        attr("graphs", AttrValue::Graphs(vec![sub.clone(), sub])),
        attr("sps", AttrValue::SparseTensors(vec![sparse])),
        attr("tps", AttrValue::Types(vec![ValueType::Opaque(opaque_seq)])),
    ];
    let m = model_with_attrs("Custom", "com.example", attrs.clone());
    let back = round_trip(&m);
    let g = &back.graph;
    let node = g
        .node_ids()
        .map(|n| g.node(n))
        .find(|n| n.op_type == "Custom")
        .unwrap();
    assert_eq!(node.domain, "com.example");
    assert_eq!(node.attributes, attrs);
}

#[test]
fn tensors_of_every_storage_and_dtype_round_trip() {
    let mut m = relu_model();
    let g = &mut m.graph;
    let cases: Vec<(DType, Vec<u8>)> = vec![
        (
            DType::F32,
            [1.0f32, -3.5]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        ),
        (
            DType::F64,
            [2.0f64, 1e300]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        ),
        (
            DType::I64,
            [i64::MIN, 5].iter().flat_map(|v| v.to_le_bytes()).collect(),
        ),
        (
            DType::I32,
            [-1i32, 7].iter().flat_map(|v| v.to_le_bytes()).collect(),
        ),
        (
            DType::I16,
            [-2i16, 300].iter().flat_map(|v| v.to_le_bytes()).collect(),
        ),
        (
            DType::U16,
            [65535u16, 1].iter().flat_map(|v| v.to_le_bytes()).collect(),
        ),
        (DType::F16, vec![0x00, 0x3c, 0x00, 0xbc]),
        (DType::BF16, vec![0x80, 0x3f, 0x80, 0xbf]),
        (DType::I8, vec![0xff, 0x7f]),
        (DType::U8, vec![0xff, 0x00]),
        (DType::Bool, vec![1, 0]),
        (
            DType::U32,
            [u32::MAX, 3].iter().flat_map(|v| v.to_le_bytes()).collect(),
        ),
        (
            DType::U64,
            [u64::MAX, 3].iter().flat_map(|v| v.to_le_bytes()).collect(),
        ),
        (
            DType::Complex64,
            [1.0f32, 2.0, 3.0, 4.0]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        ),
    ];
    for (k, (dtype, bytes)) in cases.into_iter().enumerate() {
        for storage in [Storage::Raw, Storage::Typed] {
            let mut t = Tensor::from_bytes("", dtype, vec![2], bytes.clone()).unwrap();
            t.storage = storage.clone();
            g.add_initializer(&format!("w{k}_{storage:?}"), t);
        }
    }
    // A string tensor, an unknown dtype kept as raw bytes, and an empty tensor.
    let mut s = Tensor::from_bytes("", DType::U8, vec![2], vec![0, 0]).unwrap();
    s.dtype = DType::String;
    s.data = TensorData::Strings(vec![b"x".to_vec(), b"yz".to_vec()]);
    s.storage = Storage::Typed;
    g.add_initializer("strings", s);
    let mut f8 = Tensor::from_bytes("", DType::U8, vec![3], vec![1, 2, 3]).unwrap();
    f8.dtype = DType::Other(17);
    g.add_initializer("float8", f8);
    g.add_initializer("empty", Tensor::from_f32("", vec![0, 3], &[]));
    let back = round_trip(&m);
    // Check the data itself, not only the dump checksum: initializers keep bytes and storage.
    for &id in &m.graph.initializers {
        let name = &m.graph.value(id).name;
        let orig = m.graph.initializer(id).unwrap();
        let got = back
            .graph
            .initializer(back.graph.find_value(name).unwrap())
            .unwrap();
        assert_eq!(orig.data, got.data, "{name}");
        assert_eq!(orig.storage, got.storage, "{name}");
        assert_eq!(orig.dtype, got.dtype, "{name}");
    }
    assert_eq!(back.graph.initializers.len(), m.graph.initializers.len());
}

#[test]
fn typed_storage_uses_typed_fields_on_the_wire() {
    let mut t = Tensor::from_i64("k", vec![3], &[1, -2, 3]);
    t.storage = Storage::Typed;
    let bytes = encode_tensor(&t).unwrap();
    let tp = onnx_protobuf::TensorProto::parse_from_bytes(&bytes).unwrap();
    assert_eq!(tp.int64_data, vec![1, -2, 3]);
    assert!(tp.raw_data.is_empty());
    let back = decode_tensor(&bytes, &Limits::default()).unwrap();
    assert_eq!(back.to_i64_vec().unwrap(), vec![1, -2, 3]);
    assert_eq!(back.storage, Storage::Typed);
}

#[test]
fn external_reference_is_encoded_without_data() {
    let mut t = Tensor::from_f32("w", vec![2], &[1.0, 2.0]);
    t.storage = Storage::External(ExternalRef {
        location: "w.bin".into(),
        offset: 4096,
        length: Some(8),
        extra: vec![("checksum".into(), "abc".into())],
    });
    let bytes = encode_tensor(&t).unwrap();
    let tp = onnx_protobuf::TensorProto::parse_from_bytes(&bytes).unwrap();
    assert!(tp.raw_data.is_empty());
    let kv: Vec<(String, String)> = tp
        .external_data
        .iter()
        .map(|e| (e.key.clone(), e.value.clone()))
        .collect();
    assert_eq!(
        kv,
        vec![
            ("location".to_string(), "w.bin".to_string()),
            ("offset".into(), "4096".into()),
            ("length".into(), "8".into()),
            ("checksum".into(), "abc".into())
        ]
    );
}

#[test]
fn if_subgraphs_reading_outer_values_round_trip() {
    let mut g = Graph::new("main");
    let c = g.value_by_name_or_new("cond");
    g.value_mut(c).info = Some(ValueInfo {
        ty: Some(ValueType::Tensor(TensorType::fixed(DType::Bool, &[]))),
        ..ValueInfo::default()
    });
    g.add_input(c);
    let x = g.value_by_name_or_new("x");
    g.value_mut(x).info = Some(f32_info(&[2]));
    g.add_input(x);
    let branch = |name: &str, op: &str| {
        let mut b = Graph::new(name);
        let outer = b.value_by_name_or_new("x");
        let out = b.value_by_name_or_new(&format!("{name}_out"));
        b.add_node(
            Node::new(op, ""),
            vec![Some(outer), Some(outer)],
            vec![Some(out)],
        )
        .unwrap();
        b.value_mut(out).info = Some(f32_info(&[2]));
        b.add_output(out);
        b
    };
    let y = g.value_by_name_or_new("y");
    let mut node = Node::new("If", "if");
    node.attributes = vec![
        attr(
            "then_branch",
            AttrValue::Graph(Box::new(branch("then", "Add"))),
        ),
        attr(
            "else_branch",
            AttrValue::Graph(Box::new(branch("else", "Mul"))),
        ),
    ];
    g.add_node(node, vec![Some(c)], vec![Some(y)]).unwrap();
    g.add_output(y);
    let m = Model::new(g, 17);
    let back = round_trip(&m);
    let dump = dump_model(&back);
    assert!(
        dump.contains("[then_branch]") && dump.contains("Mul(%x, %x)"),
        "{dump}"
    );
}

#[test]
fn functions_with_ref_attributes_round_trip() {
    let mut body = Graph::new("MyScale");
    let x = body.value_by_name_or_new("X");
    body.add_input(x);
    let k = body.value_by_name_or_new("k");
    let mut c = Node::new("Constant", "c");
    c.attributes = vec![attr(
        "value_float",
        AttrValue::Ref {
            ref_name: "alpha".into(),
            type_code: 1,
        },
    )];
    body.add_node(c, vec![], vec![Some(k)]).unwrap();
    let y = body.value_by_name_or_new("Y");
    body.add_node(Node::new("Mul", "m"), vec![Some(x), Some(k)], vec![Some(y)])
        .unwrap();
    body.add_output(y);
    body.value_info.push(k);
    body.value_mut(k).info = Some(f32_info(&[]));
    let f = Function {
        name: "MyScale".into(),
        domain: "com.example".into(),
        overload: "v2".into(),
        inputs: vec!["X".into()],
        outputs: vec!["Y".into()],
        attribute_names: vec!["beta".into()],
        attribute_defaults: vec![attr("alpha", AttrValue::Float(2.0))],
        body,
        opset_imports: vec![OpsetImport {
            domain: String::new(),
            version: 17,
        }],
        doc_string: "scales".into(),
        metadata: vec![("fk".into(), "fv".into())],
        unknown: UnknownFields(vec![UnknownField::Varint(1000, 5)]),
    };
    let mut m = model_with_attrs("MyScale", "com.example", vec![]);
    m.functions.push(f.clone());
    let back = round_trip(&m);
    let g = &back.functions[0];
    assert_eq!(g.attribute_defaults, f.attribute_defaults);
    assert_eq!(
        (&g.overload, &g.doc_string, &g.metadata, &g.unknown),
        (&f.overload, &f.doc_string, &f.metadata, &f.unknown)
    );
    assert_eq!(g.inputs, f.inputs);
    assert!(g.body.value(g.body.find_value("k").unwrap()).info.is_some());
}

#[test]
fn metadata_doc_strings_and_model_fields_at_every_level_round_trip() {
    let mut m = relu_model();
    m.producer_name = "p".into();
    m.producer_version = "1.2".into();
    m.domain = "org.test".into();
    m.model_version = 42;
    m.ir_version = 10;
    m.doc_string = "model doc".into();
    m.metadata = vec![("a".into(), "1".into()), ("b".into(), "2".into())];
    m.training_info = vec![onnx_protobuf::TrainingInfoProto::new()
        .write_to_bytes()
        .unwrap()];
    let g = &mut m.graph;
    g.doc_string = "graph doc".into();
    g.metadata = vec![("gk".into(), "gv".into())];
    let n = g.node_ids().next().unwrap();
    g.node_mut(n).doc_string = "node doc".into();
    g.node_mut(n).metadata = vec![("nk".into(), "nv".into())];
    g.node_mut(n).overload = "ov".into();
    let mut a = attr("alpha", AttrValue::Float(1.0));
    a.doc_string = "attr doc".into();
    g.node_mut(n).attributes.push(a);
    let y = g.find_value("y").unwrap();
    if let Some(info) = g.value_mut(y).info.as_mut() {
        info.doc_string = "value doc".into();
        info.metadata = vec![("vk".into(), "vv".into())];
    }
    let mut t = Tensor::from_f32("", vec![1], &[3.0]);
    t.doc_string = "tensor doc".into();
    t.metadata = vec![("tk".into(), "tv".into())];
    g.add_initializer("w", t);
    let back = round_trip(&m);
    assert_eq!(
        (
            back.producer_name.as_str(),
            back.model_version,
            back.ir_version
        ),
        ("p", 42, 10)
    );
    assert_eq!(back.metadata, m.metadata);
    assert_eq!(back.training_info, m.training_info);
    let bg = &back.graph;
    assert_eq!(
        (bg.doc_string.as_str(), &bg.metadata),
        ("graph doc", &m.graph.metadata)
    );
    let bn = bg.node(bg.node_ids().next().unwrap());
    assert_eq!(
        (
            bn.doc_string.as_str(),
            bn.overload.as_str(),
            bn.attributes[0].doc_string.as_str()
        ),
        ("node doc", "ov", "attr doc")
    );
    assert_eq!(bn.metadata, vec![("nk".to_string(), "nv".to_string())]);
    let info = bg.value(bg.find_value("y").unwrap()).info.clone().unwrap();
    assert_eq!(
        (info.doc_string.as_str(), info.metadata.len()),
        ("value doc", 1)
    );
    let w = bg.initializer(bg.find_value("w").unwrap()).unwrap();
    assert_eq!((w.doc_string.as_str(), w.metadata.len()), ("tensor doc", 1));
}

#[test]
fn unknown_fields_survive_at_every_level() {
    // Craft a model with protobuf's own UnknownFields API, as a newer ONNX version would write.
    let bytes = encode(&relu_model_with_init()).unwrap();
    let mut mp = onnx_protobuf::ModelProto::parse_from_bytes(&bytes).unwrap();
    mp.special_fields.mut_unknown_fields().add_varint(100, 7);
    mp.special_fields
        .mut_unknown_fields()
        .add_length_delimited(101, b"future".to_vec());
    let g = mp.graph.as_mut().unwrap();
    g.special_fields
        .mut_unknown_fields()
        .add_fixed32(200, 0xdead);
    g.node[0]
        .special_fields
        .mut_unknown_fields()
        .add_fixed64(300, 9);
    g.initializer[0]
        .special_fields
        .mut_unknown_fields()
        .add_varint(400, 1);
    g.input[0]
        .special_fields
        .mut_unknown_fields()
        .add_varint(500, 2);
    let mut a = onnx_protobuf::AttributeProto::new();
    a.name = "k".into();
    a.type_ = protobuf::EnumOrUnknown::new(onnx_protobuf::attribute_proto::AttributeType::INT);
    a.i = 3;
    a.special_fields.mut_unknown_fields().add_varint(600, 4);
    g.node[0].attribute.push(a);
    // A tensor type with a denotation cannot be a plain IR tensor type: it stays opaque.
    if let Some(onnx_protobuf::type_proto::Value::TensorType(_)) =
        g.output[0].type_.as_ref().and_then(|t| t.value.as_ref())
    {
        g.output[0].type_.as_mut().unwrap().denotation = "IMAGE".into();
    }
    let crafted = mp.write_to_bytes().unwrap();
    let m = decode(&crafted, None, &Limits::default()).unwrap();
    assert_eq!(
        m.unknown.0,
        vec![
            UnknownField::Varint(100, 7),
            UnknownField::Bytes(101, b"future".to_vec())
        ]
    );
    assert_eq!(m.graph.unknown.0, vec![UnknownField::Fixed32(200, 0xdead)]);
    let n = m.graph.node(m.graph.node_ids().next().unwrap());
    assert_eq!(n.unknown.0, vec![UnknownField::Fixed64(300, 9)]);
    assert_eq!(
        n.attributes[0].unknown.0,
        vec![UnknownField::Varint(600, 4)]
    );
    let w = m.graph.initializer(m.graph.initializers[0]).unwrap();
    assert_eq!(w.unknown.0, vec![UnknownField::Varint(400, 1)]);
    let x = m.graph.value(m.graph.inputs()[0]);
    assert_eq!(
        x.info.as_ref().unwrap().unknown.0,
        vec![UnknownField::Varint(500, 2)]
    );
    let y = m.graph.value(m.graph.outputs()[0]);
    assert!(matches!(
        y.info.as_ref().unwrap().ty,
        Some(ValueType::Opaque(_))
    ));
    // And back out: the re-encoded message carries the same unknown fields and denotation.
    let out = encode(&m).unwrap();
    let mp2 = onnx_protobuf::ModelProto::parse_from_bytes(&out).unwrap();
    assert_eq!(mp2, mp);
    round_trip(&m);
}

fn relu_model_with_init() -> Model {
    let mut m = relu_model();
    m.graph
        .add_initializer("w", Tensor::from_f32("", vec![1], &[1.0]));
    m
}

#[test]
fn tensor_segment_and_quantization_annotations_are_kept() {
    let bytes = encode(&relu_model_with_init()).unwrap();
    let mut mp = onnx_protobuf::ModelProto::parse_from_bytes(&bytes).unwrap();
    let g = mp.graph.as_mut().unwrap();
    let mut seg = onnx_protobuf::tensor_proto::Segment::new();
    seg.begin = 1;
    seg.end = 2;
    g.initializer[0].segment = protobuf::MessageField::some(seg);
    let mut qa = onnx_protobuf::TensorAnnotation::new();
    qa.tensor_name = "y".into();
    g.quantization_annotation.push(qa);
    let crafted = mp.write_to_bytes().unwrap();
    let m = decode(&crafted, None, &Limits::default()).unwrap();
    let out = encode(&m).unwrap();
    let mp2 = onnx_protobuf::ModelProto::parse_from_bytes(&out).unwrap();
    assert_eq!(mp2, mp);
}

#[test]
fn dead_value_info_entries_are_not_written() {
    let mut m = relu_model();
    let g = &mut m.graph;
    let ghost = g.value_by_name_or_new("ghost");
    g.value_mut(ghost).info = Some(f32_info(&[1]));
    g.value_info.push(ghost);
    let y = g.find_value("y").unwrap();
    g.value_info.push(y);
    let bytes = encode(&m).unwrap();
    let mp = onnx_protobuf::ModelProto::parse_from_bytes(&bytes).unwrap();
    let names: Vec<_> = mp.graph.value_info.iter().map(|v| v.name.clone()).collect();
    assert_eq!(names, vec!["y".to_string()]);
}
