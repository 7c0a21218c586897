//! Builders for hand-made test graphs and a differential check through lnopt-interp.
#![allow(dead_code)]

use lnopt_ir::{
    AttrValue, DType, Dim, Graph, Model, Node, NodeId, Tensor, TensorType, ValueId, ValueInfo,
    ValueType,
};

/// A graph under construction.
pub struct B {
    pub g: Graph,
}

impl B {
    pub fn new() -> B {
        B { g: Graph::new("g") }
    }

    /// A graph input; `None` dims mean unknown rank.
    pub fn input(&mut self, name: &str, dtype: DType, dims: Option<&[i64]>) -> ValueId {
        let v = self.g.value_by_name_or_new(name);
        let shape = dims.map(|d| d.iter().map(|&x| Dim::Fixed(x)).collect());
        self.g.value_mut(v).info = Some(ValueInfo {
            ty: Some(ValueType::Tensor(TensorType { elem: dtype, shape })),
            ..ValueInfo::default()
        });
        self.g.add_input(v);
        v
    }

    pub fn init(&mut self, name: &str, t: Tensor) -> ValueId {
        self.g.add_initializer(name, t)
    }

    /// Adds a node with `n_out` fresh outputs named `<name>_out<i>`.
    pub fn node(
        &mut self,
        op: &str,
        name: &str,
        inputs: &[Option<ValueId>],
        n_out: usize,
        attrs: Vec<(&str, AttrValue)>,
    ) -> (NodeId, Vec<ValueId>) {
        let mut n = Node::new(op, name);
        for (k, v) in attrs {
            n.set_attr(k, v);
        }
        let outs: Vec<ValueId> = (0..n_out)
            .map(|i| self.g.value_by_name_or_new(&format!("{name}_out{i}")))
            .collect();
        let id = self
            .g
            .add_node(n, inputs.to_vec(), outs.iter().map(|&o| Some(o)).collect())
            .expect("test graph is well formed");
        (id, outs)
    }

    pub fn output(&mut self, v: ValueId) {
        self.g.add_output(v);
    }

    pub fn model(self, opset: i64) -> Model {
        let mut m = Model::new(self.g, opset);
        m.ir_version = 7;
        m
    }
}

pub fn ints(v: &[i64]) -> AttrValue {
    AttrValue::Ints(v.to_vec())
}

/// The only node with this op type.
pub fn find(g: &Graph, op: &str) -> NodeId {
    let v: Vec<NodeId> = g.node_ids().filter(|&n| g.node(n).op_type == op).collect();
    assert_eq!(v.len(), 1, "expected exactly one {op}, found {}", v.len());
    v[0]
}

pub fn count(g: &Graph, op: &str) -> usize {
    g.node_ids().filter(|&n| g.node(n).op_type == op).count()
}

/// The int64 contents of the initializer feeding `slot` of `node`.
pub fn const_input(g: &Graph, node: NodeId, slot: usize) -> Option<Vec<i64>> {
    let v = g.node(node).input(slot)?;
    g.initializer(v)?.to_i64_vec()
}

pub fn const_input_f64(g: &Graph, node: NodeId, slot: usize) -> Option<(DType, Vec<f64>)> {
    let v = g.node(node).input(slot)?;
    let t = g.initializer(v)?;
    Some((t.dtype, t.to_f64_vec()?))
}

/// Deterministic pseudo-random f32 data in [-2, 2).
pub fn data(dims: &[i64], seed: u64) -> Tensor {
    let n: i64 = dims.iter().product();
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let vals: Vec<f32> = (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
        })
        .collect();
    Tensor::from_f32("x", dims.to_vec(), &vals)
}

/// Runs both models through the reference interpreter and requires identical outputs.
pub fn same_outputs(before: &Model, after: &Model, inputs: &[Tensor]) {
    let a = lnopt_interp::run_model(before, inputs).expect("interpreter runs the original");
    let b = lnopt_interp::run_model(after, inputs).expect("interpreter runs the upgraded model");
    assert_eq!(a.len(), b.len(), "output counts differ");
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.dims, y.dims, "output shapes differ");
        assert_eq!(x.dtype, y.dtype, "output dtypes differ");
        let (xv, yv) = (x.to_f64_vec().unwrap(), y.to_f64_vec().unwrap());
        for (i, (p, q)) in xv.iter().zip(&yv).enumerate() {
            // NaN meets NaN, an infinity only the same infinity.
            let ok = p == q
                || (p.is_nan() && q.is_nan())
                || (p.is_finite() && q.is_finite() && (p - q).abs() <= 1e-6 * p.abs().max(1.0));
            assert!(ok, "element {i}: {p} before, {q} after");
        }
    }
}
