//! Small builder for hand-made test graphs.
#![allow(dead_code)]

use lnopt_infer::{infer_graph, GraphTypes, InferError};
use lnopt_ir::{
    AttrValue, DType, Dim, Graph, Node, Tensor, TensorType, ValueId, ValueInfo, ValueType,
};
use std::sync::Arc;

/// Parses "batch,seq,64" / "?" into dims ("" is a scalar).
pub fn dims(s: &str) -> Vec<Dim> {
    s.split(',')
        .filter(|p| !p.is_empty())
        .map(|p| match p {
            "?" => Dim::Unknown,
            _ => p
                .parse::<i64>()
                .map_or(Dim::Symbol(p.to_string()), Dim::Fixed),
        })
        .collect()
}

/// A tensor type from a dtype and a dims string.
pub fn tt(elem: DType, s: &str) -> TensorType {
    TensorType {
        elem,
        shape: Some(dims(s)),
    }
}

/// Graph builder.
pub struct B {
    pub g: Graph,
    k: usize,
}

impl B {
    pub fn new() -> B {
        B {
            g: Graph::new("t"),
            k: 0,
        }
    }

    fn declare(&mut self, v: ValueId, ty: TensorType) {
        self.g.value_mut(v).info = Some(ValueInfo {
            ty: Some(ValueType::Tensor(ty)),
            ..ValueInfo::default()
        });
    }

    /// A graph input of `elem` with dims `s`.
    pub fn input(&mut self, name: &str, elem: DType, s: &str) -> ValueId {
        let v = self.g.value_by_name_or_new(name);
        self.declare(v, tt(elem, s));
        self.g.add_input(v);
        v
    }

    /// An i64 initializer.
    pub fn ints(&mut self, name: &str, d: Vec<i64>, vals: &[i64]) -> ValueId {
        self.g
            .add_initializer(name, Tensor::from_i64(name, d, vals))
    }

    /// An f32 initializer.
    pub fn floats(&mut self, name: &str, d: Vec<i64>, vals: &[f32]) -> ValueId {
        self.g
            .add_initializer(name, Tensor::from_f32(name, d, vals))
    }

    /// Adds a node with `n_out` fresh outputs and the given attributes.
    pub fn node(
        &mut self,
        op: &str,
        inputs: &[Option<ValueId>],
        n_out: usize,
        attrs: Vec<(&str, AttrValue)>,
    ) -> Vec<ValueId> {
        self.k += 1;
        let mut node = Node::new(op, format!("{op}_{}", self.k));
        for (name, value) in attrs {
            node.set_attr(name, value);
        }
        let outs: Vec<ValueId> = (0..n_out)
            .map(|i| self.g.new_value(&format!("{op}_{}_out{i}", self.k)))
            .collect();
        self.g
            .add_node(
                node,
                inputs.to_vec(),
                outs.iter().map(|&o| Some(o)).collect(),
            )
            .expect("well-formed test graph");
        outs
    }

    /// A single-output node over present inputs.
    pub fn op(&mut self, op: &str, inputs: &[ValueId], attrs: Vec<(&str, AttrValue)>) -> ValueId {
        let ins: Vec<Option<ValueId>> = inputs.iter().map(|&v| Some(v)).collect();
        self.node(op, &ins, 1, attrs)[0]
    }

    /// Declares a type on an existing value (value_info).
    pub fn declare_type(&mut self, v: ValueId, ty: TensorType) {
        self.declare(v, ty);
    }

    /// Runs inference at `opset`.
    pub fn infer(&self, opset: i64) -> Result<GraphTypes, InferError> {
        infer_graph(&self.g, opset)
    }
}

/// The inferred type of `v`, formatted (e.g. `f32[batch,seq,1]`).
pub fn show(t: &GraphTypes, v: ValueId) -> String {
    t.ty(v).map_or("none".into(), |t| t.to_string())
}

/// The known constant of `v` as i64s.
pub fn const_ints(t: &GraphTypes, v: ValueId) -> Option<Vec<i64>> {
    t.constant(v)
        .map(|c: &Arc<Tensor>| c.to_i64_vec().expect("integer constant"))
}

/// An INTS attribute.
pub fn ints_attr(v: &[i64]) -> AttrValue {
    AttrValue::Ints(v.to_vec())
}
