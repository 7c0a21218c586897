//! Shape-only steps (Shape and what is computed from it and constants) run once per input
//! shape and are replayed afterwards: results must stay right for repeated runs, for other
//! input shapes than the compiled ones, and when the shape-derived values feed real compute.

use lnopt_ir::{AttrValue, DType, Graph, Model, Node, Tensor, TensorType, ValueInfo, ValueType};

/// `y = Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])) * Cast(Gather(Shape(x), 1))`:
/// x of shape [a, b, c] flattened to [a, b·c], every element multiplied by b.
fn model() -> Model {
    let mut g = Graph::new("shape_cache");
    let x = g.value_by_name_or_new("x");
    g.value_mut(x).info = Some(ValueInfo {
        ty: Some(ValueType::Tensor(TensorType {
            elem: DType::F32,
            shape: None,
        })),
        ..ValueInfo::default()
    });
    g.add_input(x);
    let i0 = g.add_initializer("i0", Tensor::from_i64("", vec![], &[0]));
    let i1 = g.add_initializer("i1", Tensor::from_i64("", vec![], &[1]));
    let ax = g.add_initializer("ax", Tensor::from_i64("", vec![1], &[0]));
    let m1 = g.add_initializer("m1", Tensor::from_i64("", vec![1], &[-1]));
    let node =
        |g: &mut Graph, op: &str, ins: Vec<lnopt_ir::ValueId>, attrs: Vec<(&str, AttrValue)>| {
            let o = g.new_value(op);
            let mut n = Node::new(op, "");
            for (k, v) in attrs {
                n.attributes.push(lnopt_ir::Attribute::new(k, v));
            }
            g.add_node(n, ins.into_iter().map(Some).collect(), vec![Some(o)])
                .unwrap();
            o
        };
    let sh = node(&mut g, "Shape", vec![x], vec![]);
    let d0 = node(&mut g, "Gather", vec![sh, i0], vec![]);
    let d0u = node(&mut g, "Unsqueeze", vec![d0, ax], vec![]);
    let target = node(
        &mut g,
        "Concat",
        vec![d0u, m1],
        vec![("axis", AttrValue::Int(0))],
    );
    let r = node(&mut g, "Reshape", vec![x, target], vec![]);
    let d1 = node(&mut g, "Gather", vec![sh, i1], vec![]);
    let f = node(&mut g, "Cast", vec![d1], vec![("to", AttrValue::Int(1))]);
    let y = node(&mut g, "Mul", vec![r, f], vec![]);
    g.add_output(y);
    Model::new(g, 17)
}

fn input(dims: &[usize]) -> Tensor {
    let n: usize = dims.iter().product();
    let v: Vec<f32> = (0..n).map(|i| i as f32 * 0.25 - 3.0).collect();
    Tensor::from_f32("x", dims.iter().map(|&d| d as i64).collect(), &v)
}

fn expect(dims: &[usize]) -> (Vec<i64>, Vec<f32>) {
    let n: usize = dims.iter().product();
    let b = dims[1] as f32;
    (
        vec![dims[0] as i64, (dims[1] * dims[2]) as i64],
        (0..n).map(|i| (i as f32 * 0.25 - 3.0) * b).collect(),
    )
}

fn floats(t: &Tensor) -> Vec<f32> {
    t.bytes()
        .unwrap()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[test]
fn shape_steps_are_replayed_only_for_the_compiled_shapes() {
    let m = model();
    let cm = lnopt_jit::compile(&m, &lnopt_jit::InputShapes(vec![vec![2, 3, 4]])).unwrap();
    // Shape, both Gathers, Unsqueeze, Concat, Cast.
    assert_eq!(cm.shape_only_steps(), 6);
    for dims in [
        [2, 3, 4],
        [2, 3, 4],
        [5, 2, 3],
        [2, 3, 4],
        [1, 7, 2],
        [2, 3, 4],
    ] {
        let out = cm.run(&[input(&dims)]).unwrap();
        let (shape, vals) = expect(&dims);
        assert_eq!(out[0].dims, shape, "input {dims:?}");
        assert_eq!(floats(&out[0]), vals, "input {dims:?}");
    }
}
