//! Helpers for the op tests: one-node models, tensor builders and readers.
#![allow(dead_code)]

use lnopt_interp::InterpError;
use lnopt_ir::{AttrValue, Attribute, DType, Graph, Model, Node, Tensor};

/// An f32 tensor.
pub fn f32t(dims: &[i64], v: &[f32]) -> Tensor {
    Tensor::from_f32("", dims.to_vec(), v)
}

/// An i64 tensor.
pub fn i64t(dims: &[i64], v: &[i64]) -> Tensor {
    Tensor::from_i64("", dims.to_vec(), v)
}

/// A bool tensor.
pub fn boolt(dims: &[i64], v: &[bool]) -> Tensor {
    let bytes: Vec<u8> = v.iter().map(|&b| b as u8).collect();
    Tensor::from_bytes("", DType::Bool, dims.to_vec(), bytes).unwrap()
}

/// An f16 tensor.
pub fn f16t(dims: &[i64], v: &[f32]) -> Tensor {
    let bytes: Vec<u8> = v
        .iter()
        .flat_map(|&x| half::f16::from_f32(x).to_le_bytes())
        .collect();
    Tensor::from_bytes("", DType::F16, dims.to_vec(), bytes).unwrap()
}

/// Elements as f64.
pub fn vals(t: &Tensor) -> Vec<f64> {
    t.to_f64_vec().unwrap()
}

/// Elements as i64.
pub fn ints(t: &Tensor) -> Vec<i64> {
    t.to_i64_vec().unwrap()
}

/// Asserts element-wise closeness (1e-6 absolute + relative); NaN must meet NaN and an
/// infinity the same infinity.
pub fn close(got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "length: got {got:?}, want {want:?}");
    for (g, w) in got.iter().zip(want) {
        let ok = g == w
            || (g.is_nan() && w.is_nan())
            || (g.is_finite() && w.is_finite() && (g - w).abs() <= 1e-6 * (1.0 + w.abs()));
        assert!(ok, "got {got:?}, want {want:?}");
    }
}

/// An attribute list entry.
pub fn attr(name: &str, v: AttrValue) -> Attribute {
    Attribute::new(name, v)
}

/// A model with one node of `op` in `domain`: every present input becomes a graph input
/// (`None` = omitted optional input), `n_out` outputs become graph outputs.
pub fn one_node_model(
    op: &str,
    domain: &str,
    attrs: Vec<Attribute>,
    n_inputs: &[bool],
    n_out: usize,
    opset: i64,
) -> Model {
    let mut g = Graph::new("g");
    let mut ins = Vec::new();
    for (i, &present) in n_inputs.iter().enumerate() {
        if present {
            let v = g.value_by_name_or_new(&format!("in{i}"));
            g.add_input(v);
            ins.push(Some(v));
        } else {
            ins.push(None);
        }
    }
    let outs: Vec<_> = (0..n_out)
        .map(|k| g.value_by_name_or_new(&format!("out{k}")))
        .collect();
    let mut node = Node::new(op, "the_node");
    node.domain = domain.to_string();
    node.attributes = attrs;
    g.add_node(node, ins, outs.iter().map(|&o| Some(o)).collect())
        .unwrap();
    for o in outs {
        g.add_output(o);
    }
    let mut m = Model::new(g, opset);
    if !domain.is_empty() {
        m.set_opset_version(domain, 1);
    }
    m
}

/// Runs one op at `opset` on the given inputs (`None` = omitted).
pub fn run_op_at(
    op: &str,
    opset: i64,
    attrs: Vec<Attribute>,
    inputs: &[Option<Tensor>],
    n_out: usize,
) -> Result<Vec<Tensor>, InterpError> {
    let present: Vec<bool> = inputs.iter().map(|i| i.is_some()).collect();
    let m = one_node_model(op, "", attrs, &present, n_out, opset);
    let given: Vec<Tensor> = inputs.iter().flatten().cloned().collect();
    lnopt_interp::run_model(&m, &given)
}

/// Runs one op at opset 18 with all inputs present and one output.
pub fn run1(op: &str, attrs: Vec<Attribute>, inputs: &[Tensor]) -> Tensor {
    let ins: Vec<Option<Tensor>> = inputs.iter().cloned().map(Some).collect();
    run_op_at(op, 18, attrs, &ins, 1)
        .unwrap_or_else(|e| panic!("{op}: {e}"))
        .remove(0)
}
