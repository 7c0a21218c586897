//! Small model builders shared by the integration tests.
#![allow(dead_code)]

use lnopt_ir::{
    AttrValue, Attribute, DType, Dim, Graph, Model, Node, TensorType, ValueInfo, ValueType,
};

/// A tensor type with fixed dims.
pub fn f32_info(dims: &[i64]) -> ValueInfo {
    ValueInfo {
        ty: Some(ValueType::Tensor(TensorType::fixed(DType::F32, dims))),
        ..ValueInfo::default()
    }
}

/// `y = Relu(x)` with typed input and output.
pub fn relu_model() -> Model {
    let mut g = Graph::new("main");
    let x = g.value_by_name_or_new("x");
    g.value_mut(x).info = Some(ValueInfo {
        ty: Some(ValueType::Tensor(TensorType {
            elem: DType::F32,
            shape: Some(vec![
                Dim::Symbol("batch".into()),
                Dim::Fixed(4),
                Dim::Unknown,
            ]),
        })),
        ..ValueInfo::default()
    });
    g.add_input(x);
    let y = g.value_by_name_or_new("y");
    g.add_node(Node::new("Relu", "relu"), vec![Some(x)], vec![Some(y)])
        .unwrap();
    g.value_mut(y).info = Some(f32_info(&[2, 4, 3]));
    g.add_output(y);
    Model::new(g, 17)
}

/// A one-node model whose node carries `attrs`.
pub fn model_with_attrs(op: &str, domain: &str, attrs: Vec<Attribute>) -> Model {
    let mut m = relu_model();
    let g = &mut m.graph;
    let y = g.find_value("y").unwrap();
    let z = g.value_by_name_or_new("z");
    let mut n = Node::new(op, "custom");
    n.domain = domain.into();
    n.attributes = attrs;
    g.add_node(n, vec![Some(y)], vec![Some(z)]).unwrap();
    g.add_output(z);
    if !domain.is_empty() {
        m.set_opset_version(domain, 1);
    }
    m
}

/// Shorthand for an attribute.
pub fn attr(name: &str, v: AttrValue) -> Attribute {
    Attribute::new(name, v)
}
