//! Values of the dtypes the JIT does not compute on (8-, 4- and 2-bit floats and integers,
//! strings): the JIT holds them as the interpreter's own values, only the interpreter fallback
//! computes on them, and they cross the model boundary unchanged.

mod common;

use common::*;
use lnopt_ir::{AttrValue, DType, Graph, Model, Node, Tensor, TensorData, ValueId};

/// Every dtype the JIT holds opaque, with the ONNX name used in messages.
const OPAQUE: [(i32, &str); 10] = [
    (17, "float8e4m3fn"),
    (18, "float8e4m3fnuz"),
    (19, "float8e5m2"),
    (20, "float8e5m2fnuz"),
    (21, "uint4"),
    (22, "int4"),
    (23, "float4e2m1"),
    (24, "float8e8m0"),
    (25, "uint2"),
    (26, "int2"),
];

fn add(g: &mut Graph, node: Node, ins: &[ValueId], out: &str) -> ValueId {
    let o = g.value_by_name_or_new(out);
    g.add_node(node, ins.iter().map(|&v| Some(v)).collect(), vec![Some(o)])
        .unwrap();
    o
}

fn cast_to(name: &str, to: DType) -> Node {
    let mut n = Node::new("Cast", name);
    n.set_attr("to", AttrValue::Int(to.onnx_code() as i64));
    n
}

/// `x [2, 3]` → Reshape to `[3, 2]` → Identity → `y`.
fn reshape_model() -> Model {
    let mut g = Graph::new("reshape");
    let x = declare(&mut g, "x", &[2, 3]);
    g.add_input(x);
    let shape = g.add_initializer("shape", Tensor::from_i64("", vec![2], &[3, 2]));
    let r = add(&mut g, Node::new("Reshape", "reshape"), &[x, shape], "r");
    let y = add(&mut g, Node::new("Identity", "identity"), &[r], "y");
    g.add_output(y);
    Model::new(g, 23)
}

/// Six elements of `dtype` with finite, distinct codes (packed as ONNX packs them).
fn six_of(dtype: DType) -> Tensor {
    let bytes = match dtype.onnx_code() {
        17..=20 | 24 => vec![0x01, 0x12, 0x23, 0x34, 0x45, 0x56],
        21..=23 => vec![0x21, 0x43, 0x65],
        _ => vec![0b1110_0100, 0b0000_0110],
    };
    Tensor::from_bytes("x", dtype, vec![2, 3], bytes).unwrap()
}

fn strings(dims: Vec<i64>, v: &[&str]) -> Tensor {
    let mut t = Tensor::from_bytes("x", DType::U8, dims, vec![0; v.len()]).unwrap();
    t.dtype = DType::String;
    t.data = TensorData::Strings(v.iter().map(|s| s.as_bytes().to_vec()).collect());
    t
}

fn jit_run(model: &Model, inputs: &[Tensor]) -> Result<Vec<Tensor>, lnopt_jit::JitError> {
    let cm = lnopt_jit::compile(model, &lnopt_jit::InputShapes::of(inputs))?;
    cm.run(inputs)
}

/// Reshape and Identity have runtime functions that would share the elements under a new
/// shape; on opaque values they decline, the interpreter runs them, and the output has the
/// new shape and exactly the input's bytes.
#[test]
fn narrow_values_cross_the_model_unchanged() {
    let m = reshape_model();
    for (code, name) in OPAQUE {
        let x = six_of(DType::from_onnx(code));
        let got = jit_run(&m, std::slice::from_ref(&x)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got[0].dtype, x.dtype, "{name}");
        assert_eq!(got[0].dims, vec![3, 2], "{name}");
        assert_eq!(got[0].bytes(), x.bytes(), "{name}");
        let want = lnopt_interp::run_model(&m, std::slice::from_ref(&x)).unwrap();
        assert_eq!(got[0], want[0], "{name}: differs from the interpreter");
    }
}

#[test]
fn string_values_cross_the_model_unchanged() {
    let m = reshape_model();
    let x = strings(vec![2, 3], &["a", "", "ünï", "d", "e e", "f"]);
    let got = jit_run(&m, std::slice::from_ref(&x)).unwrap();
    assert_eq!(got[0].dtype, DType::String);
    assert_eq!(got[0].dims, vec![3, 2]);
    assert_eq!(got[0].data, x.data);
}

/// f32 → Cast to the narrow type (interpreter) → Cast back to f32 (interpreter) → Mul by 2
/// (runtime function): a plan mixing both, equal to the interpreter bit for bit, and the
/// narrow intermediate also returned as an output.
#[test]
fn casts_through_narrow_types_match_the_interpreter() {
    let xs: Vec<f32> = vec![0.3, -1.7, 2.5, 0.0, -0.0, 6.0, 100.0, -0.26];
    for (code, name) in OPAQUE {
        let dt = DType::from_onnx(code);
        let mut g = Graph::new("casts");
        let x = declare(&mut g, "x", &[8]);
        g.add_input(x);
        let n = add(&mut g, cast_to("to_narrow", dt), &[x], "n");
        let back = add(&mut g, cast_to("to_f32", DType::F32), &[n], "back");
        let two = g.add_initializer("two", Tensor::from_f32("", vec![], &[2.0]));
        let y = add(&mut g, Node::new("Mul", "mul"), &[back, two], "y");
        g.add_output(n);
        g.add_output(y);
        let m = Model::new(g, 23);
        let inputs = [Tensor::from_f32("x", vec![8], &xs)];
        let got = jit_run(&m, &inputs).unwrap_or_else(|e| panic!("{name}: {e}"));
        let want = lnopt_interp::run_model(&m, &inputs).unwrap();
        assert_eq!(got[0].dtype, dt, "{name}");
        assert_eq!(got, want, "{name}: differs from the interpreter");
    }
}

/// A node that neither a runtime function nor the interpreter computes on an opaque value is
/// refused with an error naming the node and saying why the runtime function declined.
#[test]
fn runtime_functions_refuse_opaque_values() {
    let mut g = Graph::new("sum");
    let x = declare(&mut g, "x", &[2, 3]);
    g.add_input(x);
    let y = add(&mut g, Node::new("Add", "add_strings"), &[x, x], "y");
    g.add_output(y);
    let m = Model::new(g, 23);
    let x = strings(vec![2, 3], &["a", "b", "c", "d", "e", "f"]);
    match jit_run(&m, &[x]) {
        Err(lnopt_jit::JitError::Op { node, what, .. }) => {
            assert_eq!(node, "add_strings");
            assert!(
                what.contains("only the interpreter computes on it"),
                "{what}"
            );
        }
        other => panic!("expected a refusal naming the node, got {other:?}"),
    }
}
