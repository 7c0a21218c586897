//! Outputs cross the API without per-element copies: an f32 result's buffer becomes the output
//! tensor's bytes (and returns to the buffer pool when the tensor is dropped, so the next run
//! reuses it), an output that is an input passes its bytes through, and outputs that share one
//! value, or are a weight, still come out right.

mod common;

use lnopt_ir::{DType, Graph, Model, Node, Tensor, TensorData};

/// Graph outputs: `y = Relu(x)` twice (the same value), `x` itself, the weight `w`, and
/// `Cast(Relu(x), f16)`.
fn model(n: i64) -> Model {
    let mut g = Graph::new("outputs");
    let x = common::declare(&mut g, "x", &[n]);
    g.add_input(x);
    let wv: Vec<f32> = (0..n).map(|i| i as f32).collect();
    let w = g.add_initializer("w", Tensor::from_f32("", vec![n], &wv));
    let y = g.new_value("y");
    g.add_node(Node::new("Relu", "relu"), vec![Some(x)], vec![Some(y)])
        .unwrap();
    let h = g.new_value("h");
    let mut cast = Node::new("Cast", "cast");
    cast.attributes
        .push(lnopt_ir::Attribute::new("to", lnopt_ir::AttrValue::Int(10)));
    g.add_node(cast, vec![Some(y)], vec![Some(h)]).unwrap();
    for v in [y, y, x, w, h] {
        g.add_output(v);
    }
    Model::new(g, 17)
}

fn bytes_ptr(t: &Tensor) -> *const u8 {
    match &t.data {
        TensorData::Bytes(b) => b.as_ptr(),
        TensorData::Strings(_) => panic!("not a byte tensor"),
    }
}

#[test]
fn results_move_into_outputs_and_their_buffers_are_reused() {
    // Large enough for the buffer pool (64 KiB and up).
    let n = 40_000usize;
    let xs: Vec<f32> = (0..n).map(|i| (i as f32 - 20_000.0) * 0.5).collect();
    let input = Tensor::from_f32("x", vec![n as i64], &xs);
    let shapes = lnopt_jit::InputShapes::of(std::slice::from_ref(&input));
    let cm = lnopt_jit::compile(&model(n as i64), &shapes).unwrap();
    let relu: Vec<f64> = xs.iter().map(|&v| v.max(0.0) as f64).collect();
    let half: Vec<f64> = xs
        .iter()
        .map(|&v| half::f16::from_f32(v.max(0.0)).to_f64())
        .collect();
    let weights: Vec<f64> = (0..n).map(|i| i as f64).collect();

    // This file holds one test, so nothing else uses the process's buffer pool meanwhile.
    lnopt_jit::release_pooled_buffers();
    let first = cm.run(std::slice::from_ref(&input)).unwrap();
    // The Relu result lives on in the outputs (not in the pool); only the f16 cast's working
    // buffer went back to the pool.
    assert_eq!(lnopt_jit::release_pooled_buffers(), 4 * n);
    assert_eq!(first.len(), 5);
    assert_eq!(first[0].to_f64_vec().unwrap(), relu);
    assert_eq!(first[1].to_f64_vec().unwrap(), relu);
    assert_eq!(
        first[2].to_f64_vec().unwrap(),
        xs.iter().map(|&v| v as f64).collect::<Vec<_>>()
    );
    assert_eq!(first[3].to_f64_vec().unwrap(), weights);
    assert_eq!(first[4].dtype, DType::F16);
    assert_eq!(first[4].to_f64_vec().unwrap(), half);
    // The input passes through as the caller's own bytes.
    assert_eq!(bytes_ptr(&first[2]), bytes_ptr(&input));
    // The two outputs of one value: one took the buffer, the other is a copy.
    assert_ne!(bytes_ptr(&first[0]), bytes_ptr(&first[1]));

    // Dropping the outputs gives the Relu result's buffer back to the pool.
    let probe = cm.run(std::slice::from_ref(&input)).unwrap();
    lnopt_jit::release_pooled_buffers();
    drop(probe);
    assert_eq!(lnopt_jit::release_pooled_buffers(), 4 * n);

    // While the first run's outputs are alive, a second run cannot reuse their buffers.
    let held: Vec<*const u8> = first[..2].iter().map(bytes_ptr).collect();
    let second = cm.run(std::slice::from_ref(&input)).unwrap();
    assert!(!held.contains(&bytes_ptr(&second[0])));
    drop(second);
    // Dropped outputs give their buffers back: the next run's result lands in one of them.
    drop(first);
    let third = cm.run(std::slice::from_ref(&input)).unwrap();
    assert_eq!(third[0].to_f64_vec().unwrap(), relu);
    let reused = [&held[..]].concat();
    assert!(
        reused.contains(&bytes_ptr(&third[0])) || reused.contains(&bytes_ptr(&third[1])),
        "no output of the third run reuses a buffer of the first"
    );
}
