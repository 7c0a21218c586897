//! Graph building shared by the facade's tests.
#![allow(dead_code)] // each test file uses a subset

use lnopt::ir::{AttrValue, DType, Graph, Node, Tensor, TensorType, ValueId, ValueInfo, ValueType};

/// Builds a graph one op at a time, naming nodes `<Op>_<n>` and values `v<n>`.
pub struct Builder {
    /// The graph being built.
    pub g: Graph,
    n: usize,
}

impl Builder {
    /// A graph with one f32 input `x` of shape `dims`; returns the builder and `x`.
    pub fn with_input(dims: &[i64]) -> (Builder, ValueId) {
        let mut g = Graph::new("m");
        let x = g.value_by_name_or_new("x");
        g.value_mut(x).info = Some(ValueInfo {
            ty: Some(ValueType::Tensor(TensorType::fixed(DType::F32, dims))),
            ..ValueInfo::default()
        });
        g.add_input(x);
        (Builder { g, n: 0 }, x)
    }

    /// Adds `op` reading `ins`; `axes` sets `axes = [-1]` (for ReduceMean).
    pub fn op(&mut self, op: &str, ins: &[ValueId], axes: bool) -> ValueId {
        self.n += 1;
        let out = self.g.new_value(&format!("v{}", self.n));
        let mut node = Node::new(op, format!("{op}_{}", self.n));
        if axes {
            node.set_attr("axes", AttrValue::Ints(vec![-1]));
        }
        self.g
            .add_node(
                node,
                ins.iter().map(|&v| Some(v)).collect(),
                vec![Some(out)],
            )
            .unwrap();
        out
    }

    /// The canonical decomposed LayerNorm of `x` over the last axis (no scale or bias):
    /// `(x - mean) / sqrt(mean((x - mean)^2) + 1e-5)`.
    pub fn layer_norm(&mut self, x: ValueId) -> ValueId {
        let two = self
            .g
            .add_initializer("two", Tensor::from_f32("two", vec![], &[2.0]));
        let eps = self
            .g
            .add_initializer("eps", Tensor::from_f32("eps", vec![], &[1e-5]));
        let m = self.op("ReduceMean", &[x], true);
        let d = self.op("Sub", &[x, m], false);
        let p = self.op("Pow", &[d, two], false);
        let v = self.op("ReduceMean", &[p], true);
        let ve = self.op("Add", &[v, eps], false);
        let s = self.op("Sqrt", &[ve], false);
        self.op("Div", &[d, s], false)
    }
}
