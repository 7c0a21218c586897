//! Hostile and broken input: each case gives the right error kind and names the culprit.

mod common;

use common::*;
use lnopt_ir::{AttrValue, Graph, Model, Node};
use lnopt_onnx::{decode, decode_tensor, encode, Limits, OnnxError};
use onnx_protobuf::{ModelProto, TensorProto};
use protobuf::Message;

fn proto(m: &Model) -> ModelProto {
    ModelProto::parse_from_bytes(&encode(m).unwrap()).unwrap()
}

fn decode_proto(mp: &ModelProto) -> Result<Model, OnnxError> {
    decode(&mp.write_to_bytes().unwrap(), None, &Limits::default())
}

#[test]
fn random_bytes_are_not_a_model() {
    let mut x: u64 = 0x1234_5678_9abc_def0;
    let bytes: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let e = decode(&bytes, None, &Limits::default()).unwrap_err();
    assert!(
        matches!(e, OnnxError::Protobuf { what: "model", .. }),
        "{e}"
    );
    assert!(e.to_string().starts_with("not a valid ONNX model"), "{e}");
}

#[test]
fn truncated_model_is_refused() {
    let mut m = relu_model();
    m.graph
        .add_initializer("w", lnopt_ir::Tensor::from_f32("", vec![64], &[1.0; 64]));
    let bytes = encode(&m).unwrap();
    let e = decode(&bytes[..bytes.len() - 100], None, &Limits::default()).unwrap_err();
    assert!(matches!(e, OnnxError::Protobuf { .. }), "{e}");
}

#[test]
fn bad_ir_versions_are_refused() {
    for v in [0, 2, 15, 99, -1] {
        let mut m = relu_model();
        m.ir_version = v;
        let e = decode(&encode(&m).unwrap(), None, &Limits::default()).unwrap_err();
        assert!(matches!(e, OnnxError::IrVersion(x) if x == v), "{e}");
        assert!(e.to_string().contains(&v.to_string()));
    }
}

#[test]
fn missing_graph_is_refused() {
    let mut mp = proto(&relu_model());
    mp.graph = protobuf::MessageField::none();
    assert!(matches!(decode_proto(&mp).unwrap_err(), OnnxError::NoGraph));
}

#[test]
fn dangling_input_names_node_and_value() {
    let mut mp = proto(&relu_model());
    mp.graph.as_mut().unwrap().node[0].input[0] = "nowhere".into();
    let e = decode_proto(&mp).unwrap_err();
    assert!(matches!(e, OnnxError::Structure { .. }), "{e}");
    let s = e.to_string();
    assert!(s.contains("relu") && s.contains("nowhere"), "{s}");
}

#[test]
fn cycle_is_refused() {
    let mut mp = proto(&relu_model());
    let g = mp.graph.as_mut().unwrap();
    let mut n2 = g.node[0].clone();
    n2.name = "back".into();
    n2.input = vec!["y".into()];
    n2.output = vec!["x2".into()];
    g.node[0].input = vec!["x2".into()];
    g.node.push(n2);
    let e = decode_proto(&mp).unwrap_err();
    assert!(
        matches!(
            e,
            OnnxError::Structure {
                source: lnopt_ir::IrError::Cycle { .. },
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("cycle"), "{e}");
}

#[test]
fn duplicate_output_names_are_refused() {
    let mut mp = proto(&relu_model());
    let g = mp.graph.as_mut().unwrap();
    let mut n2 = g.node[0].clone();
    n2.name = "relu2".into();
    g.node.push(n2);
    let e = decode_proto(&mp).unwrap_err();
    assert!(
        matches!(
            e,
            OnnxError::Structure {
                source: lnopt_ir::IrError::DuplicateName { .. },
                ..
            }
        ),
        "{e}"
    );
    let s = e.to_string();
    assert!(s.contains("'y'") && s.contains("relu2"), "{s}");
}

#[test]
fn well_known_attribute_of_wrong_type_is_refused() {
    let m = model_with_attrs("ReduceMean", "", vec![attr("axes", AttrValue::Float(1.0))]);
    let e = decode(&encode(&m).unwrap(), None, &Limits::default()).unwrap_err();
    assert!(matches!(e, OnnxError::Attribute { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("node 'custom' (ReduceMean): attribute 'axes' must be INTS, found FLOAT"),
        "{e}"
    );
}

#[test]
fn attribute_type_disagreeing_with_its_field_is_refused() {
    let mut mp = proto(&model_with_attrs(
        "Foo",
        "x",
        vec![attr("k", AttrValue::Int(3))],
    ));
    let a = &mut mp.graph.as_mut().unwrap().node[1].attribute[0];
    a.type_ = protobuf::EnumOrUnknown::new(onnx_protobuf::attribute_proto::AttributeType::FLOAT);
    let e = decode_proto(&mp).unwrap_err();
    assert!(
        matches!(e, OnnxError::Attribute { ref attr, .. } if attr == "k"),
        "{e}"
    );
    assert!(e.to_string().contains("FLOAT"), "{e}");
    // An unknown type code.
    let a = &mut mp.graph.as_mut().unwrap().node[1].attribute[0];
    a.type_ = protobuf::EnumOrUnknown::from_i32(77);
    let e = decode_proto(&mp).unwrap_err();
    assert!(e.to_string().contains("unknown type code 77"), "{e}");
}

#[test]
fn tensor_data_length_mismatch_is_refused() {
    let mut t = TensorProto::new();
    t.name = "w".into();
    t.data_type = 1;
    t.dims = vec![3];
    t.raw_data = vec![0; 8];
    let e = decode_tensor(&t.write_to_bytes().unwrap(), &Limits::default()).unwrap_err();
    assert!(
        matches!(e, OnnxError::Tensor { ref tensor, .. } if tensor == "w"),
        "{e}"
    );
    assert!(e.to_string().contains("8 bytes"), "{e}");
    t.raw_data.clear();
    t.float_data = vec![1.0, 2.0];
    let e = decode_tensor(&t.write_to_bytes().unwrap(), &Limits::default()).unwrap_err();
    assert!(e.to_string().contains("float_data has 2 values"), "{e}");
}

#[test]
fn negative_dim_is_refused() {
    let mut t = TensorProto::new();
    t.name = "neg".into();
    t.data_type = 1;
    t.dims = vec![2, -1];
    let e = decode_tensor(&t.write_to_bytes().unwrap(), &Limits::default()).unwrap_err();
    assert!(matches!(e, OnnxError::Tensor { .. }), "{e}");
    assert!(e.to_string().contains("negative dim -1") && e.to_string().contains("neg"));
}

#[test]
fn huge_dims_are_refused_before_allocating() {
    let mut t = TensorProto::new();
    t.name = "huge".into();
    t.data_type = 1;
    t.dims = vec![1 << 30, 1 << 30];
    t.raw_data = vec![0; 16];
    let bytes = t.write_to_bytes().unwrap();
    assert!(bytes.len() < 100);
    let e = decode_tensor(&bytes, &Limits::default()).unwrap_err();
    assert!(matches!(e, OnnxError::Tensor { .. }), "{e}");
    assert!(e.to_string().contains("huge"), "{e}");
    // 2^60 elements of f32 overflow the byte count.
    t.dims = vec![1 << 60];
    let e = decode_tensor(&t.write_to_bytes().unwrap(), &Limits::default()).unwrap_err();
    assert!(matches!(e, OnnxError::Tensor { .. }), "{e}");
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    let bytes = nested(200);
    let e = decode(&bytes, None, &Limits::default()).unwrap_err();
    assert!(matches!(e, OnnxError::TooDeep { max: 64, .. }), "{e}");
    // Below the decoder's recursion limit, the importer's own check names the graph.
    let limits = Limits {
        max_depth: 3,
        ..Limits::default()
    };
    let e = decode(&nested(10), None, &limits).unwrap_err();
    assert!(matches!(e, OnnxError::TooDeep { max: 3, .. }), "{e}");
    assert!(e.to_string().contains("graph 'g5'"), "{e}");
}

/// `levels` nested subgraphs, each a GraphProto > NodeProto > AttributeProto level.
fn nested(levels: usize) -> Vec<u8> {
    let mut g = onnx_protobuf::GraphProto::new();
    g.name = "leaf".into();
    for depth in 0..levels {
        let mut a = onnx_protobuf::AttributeProto::new();
        a.name = "then_branch".into();
        a.type_ =
            protobuf::EnumOrUnknown::new(onnx_protobuf::attribute_proto::AttributeType::GRAPH);
        a.g = protobuf::MessageField::some(g);
        let mut n = onnx_protobuf::NodeProto::new();
        n.op_type = "Wrap".into();
        n.domain = "x".into();
        n.name = format!("n{depth}");
        n.attribute.push(a);
        g = onnx_protobuf::GraphProto::new();
        g.name = format!("g{depth}");
        g.node.push(n);
    }
    let mut mp = proto(&relu_model());
    mp.graph = protobuf::MessageField::some(g);
    mp.write_to_bytes().unwrap()
}

#[test]
fn node_count_and_file_size_limits_are_enforced() {
    let m = relu_model();
    let bytes = encode(&m).unwrap();
    let limits = Limits {
        max_nodes: 0,
        ..Limits::default()
    };
    let e = decode(&bytes, None, &limits).unwrap_err();
    assert!(matches!(e, OnnxError::TooManyNodes { max: 0 }), "{e}");
    let limits = Limits {
        max_file_bytes: 10,
        ..Limits::default()
    };
    let e = decode(&bytes, None, &limits).unwrap_err();
    assert!(matches!(e, OnnxError::FileTooLarge { max: 10, .. }), "{e}");
}

#[test]
fn subgraph_reading_an_undefined_outer_name_is_refused() {
    let mut g = Graph::new("main");
    let c = g.value_by_name_or_new("c");
    g.add_input(c);
    let mut body = Graph::new("then");
    let ghost = body.value_by_name_or_new("ghost");
    let o = body.value_by_name_or_new("o");
    body.add_node(
        Node::new("Identity", "inner"),
        vec![Some(ghost)],
        vec![Some(o)],
    )
    .unwrap();
    body.add_output(o);
    let y = g.value_by_name_or_new("y");
    let mut n = Node::new("If", "if");
    n.attributes = vec![attr("then_branch", AttrValue::Graph(Box::new(body)))];
    g.add_node(n, vec![Some(c)], vec![Some(y)]).unwrap();
    g.add_output(y);
    let e = decode(
        &encode(&Model::new(g, 17)).unwrap(),
        None,
        &Limits::default(),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("ghost") && e.to_string().contains("inner"),
        "{e}"
    );
}

#[test]
fn mutated_models_never_panic() {
    // Flip, truncate and overwrite bytes of a valid model: every result is Ok or an error.
    let mut m = relu_model();
    m.graph
        .add_initializer("w", lnopt_ir::Tensor::from_f32("", vec![4], &[1.0; 4]));
    let base = encode(&m).unwrap();
    let mut x: u64 = 42;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let (mut ok, mut err) = (0, 0);
    for _ in 0..3000 {
        let mut b = base.clone();
        for _ in 0..1 + next() % 4 {
            let i = (next() as usize) % b.len();
            b[i] = next() as u8;
        }
        match decode(&b, None, &Limits::default()) {
            Ok(m) => {
                ok += 1;
                let _ = encode(&m);
            }
            Err(e) => {
                err += 1;
                assert!(!e.to_string().is_empty());
            }
        }
    }
    assert!(err > 0, "no mutation was detected ({ok} ok)");
}
