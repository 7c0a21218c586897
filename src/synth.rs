//! Synthetic BERT-like graphs with decomposed LayerNorms, built directly in lnopt's IR.
//!
//! Each layer is: self-attention-shaped block (3 MatMul + Add, Transpose, MatMul, Div, Softmax,
//! MatMul, output MatMul + Add), residual Add, decomposed LayerNorm (PyTorch form: ReduceMean,
//! Sub, Pow 2, ReduceMean, Add eps, Sqrt, Div, Mul γ, Add β), FFN (MatMul, Add, GELU via Erf,
//! MatMul, Add), residual Add, decomposed LayerNorm. 40 nodes and 2 norm sites per layer.
//! Weight tensors of one shape are shared (`Arc`) across layers to keep memory small; the
//! input is `[batch, seq, hidden]` with symbolic batch and seq.

use lnopt_ir::{
    AttrValue, DType, Dim, Graph, Model, Node, Tensor, TensorType, ValueId, ValueInfo, ValueType,
};
use std::sync::Arc;

struct Builder {
    g: Graph,
    count: usize,
}

impl Builder {
    fn node(&mut self, op: &str, inputs: &[ValueId], attrs: Vec<(&str, AttrValue)>) -> ValueId {
        self.count += 1;
        let name = format!("/n{}/{}", self.count, op);
        let out = self.g.new_value(&format!("{name}_out"));
        let mut node = Node::new(op, name);
        for (k, v) in attrs {
            node.set_attr(k, v);
        }
        self.g
            .add_node(
                node,
                inputs.iter().map(|&v| Some(v)).collect(),
                vec![Some(out)],
            )
            .expect("synthetic graph is well formed");
        out
    }

    fn shared_init(&mut self, name: &str, t: &Arc<Tensor>) -> ValueId {
        let id = self.g.new_value(name);
        let mut t2 = (**t).clone();
        t2.name = self.g.value(id).name.clone();
        self.g.set_initializer(id, Arc::new(t2));
        id
    }

    fn layer_norm(
        &mut self,
        x: ValueId,
        gamma: ValueId,
        beta: ValueId,
        eps: ValueId,
        two: ValueId,
    ) -> ValueId {
        let axes = || vec![("axes", AttrValue::Ints(vec![-1]))];
        let mean = self.node("ReduceMean", &[x], axes());
        let d = self.node("Sub", &[x, mean], vec![]);
        let sq = self.node("Pow", &[d, two], vec![]);
        let var = self.node("ReduceMean", &[sq], axes());
        let ve = self.node("Add", &[var, eps], vec![]);
        let sd = self.node("Sqrt", &[ve], vec![]);
        let n = self.node("Div", &[d, sd], vec![]);
        let s = self.node("Mul", &[n, gamma], vec![]);
        self.node("Add", &[s, beta], vec![])
    }
}

/// A BERT-like model of `layers` layers with hidden size `hidden` at ai.onnx opset 14.
pub fn bert_like(layers: usize, hidden: usize) -> Model {
    bert_like_ffn(layers, hidden, hidden)
}

/// [`bert_like`] with a feed-forward block of width `ffn` (BERT-base: 768 → 3072 → 768), so
/// that the weights a compiler must take in match a real encoder's (12 layers of BERT-base:
/// 85 M parameters; the graph shares one tensor per shape, a compiler sees each separately).
pub fn bert_like_ffn(layers: usize, hidden: usize, ffn: usize) -> Model {
    let h = hidden as i64;
    let f_w = ffn as i64;
    let mut b = Builder {
        g: Graph::new("synthetic_bert"),
        count: 0,
    };
    let x = b.g.new_value("input");
    b.g.value_mut(x).info = Some(ValueInfo {
        ty: Some(ValueType::Tensor(TensorType {
            elem: DType::F32,
            shape: Some(vec![
                Dim::Symbol("batch".into()),
                Dim::Symbol("seq".into()),
                Dim::Fixed(h),
            ]),
        })),
        ..ValueInfo::default()
    });
    b.g.add_input(x);
    let small = |n: i64| Arc::new(Tensor::from_f32("w", vec![n], &vec![0.5; n as usize]));
    // Large weights would dominate memory; a [h, h] matrix is shared by every MatMul.
    let w_hh = Arc::new(Tensor::from_f32(
        "w",
        vec![h, h],
        &vec![0.01; (h * h) as usize],
    ));
    let vec_h = small(h);
    let vec_f = small(f_w);
    let w_hf = Arc::new(Tensor::from_f32(
        "w",
        vec![h, f_w],
        &vec![0.01; (h * f_w) as usize],
    ));
    let w_fh = Arc::new(Tensor::from_f32(
        "w",
        vec![f_w, h],
        &vec![0.01; (h * f_w) as usize],
    ));
    let eps_t = Arc::new(Tensor::from_f32("eps", vec![], &[1e-12]));
    let two_t = Arc::new(Tensor::from_f32("two", vec![], &[2.0]));
    let scale_t = Arc::new(Tensor::from_f32("scale", vec![], &[8.0]));
    let half_t = Arc::new(Tensor::from_f32("half", vec![], &[0.5]));
    let one_t = Arc::new(Tensor::from_f32("one", vec![], &[1.0]));
    let sqrt2_t = Arc::new(Tensor::from_f32(
        "sqrt2",
        vec![],
        &[std::f32::consts::SQRT_2],
    ));
    let eps = b.shared_init("eps", &eps_t);
    let two = b.shared_init("two", &two_t);
    let scale = b.shared_init("scale", &scale_t);
    let half = b.shared_init("half", &half_t);
    let one = b.shared_init("one", &one_t);
    let sqrt2 = b.shared_init("sqrt2", &sqrt2_t);
    let mut cur = x;
    for l in 0..layers {
        let wq = b.shared_init(&format!("l{l}.wq"), &w_hh);
        let wk = b.shared_init(&format!("l{l}.wk"), &w_hh);
        let wv = b.shared_init(&format!("l{l}.wv"), &w_hh);
        let wo = b.shared_init(&format!("l{l}.wo"), &w_hh);
        let bias = b.shared_init(&format!("l{l}.bias"), &vec_h);
        let q = b.node("MatMul", &[cur, wq], vec![]);
        let q = b.node("Add", &[q, bias], vec![]);
        let k = b.node("MatMul", &[cur, wk], vec![]);
        let kt = b.node(
            "Transpose",
            &[k],
            vec![("perm", AttrValue::Ints(vec![0, 2, 1]))],
        );
        let v = b.node("MatMul", &[cur, wv], vec![]);
        let s = b.node("MatMul", &[q, kt], vec![]);
        let s = b.node("Div", &[s, scale], vec![]);
        let p = b.node("Softmax", &[s], vec![("axis", AttrValue::Int(-1))]);
        let a = b.node("MatMul", &[p, v], vec![]);
        let o = b.node("MatMul", &[a, wo], vec![]);
        let o = b.node("Add", &[o, bias], vec![]);
        let r = b.node("Add", &[o, cur], vec![]);
        let g1 = b.shared_init(&format!("l{l}.ln1.gamma"), &vec_h);
        let b1 = b.shared_init(&format!("l{l}.ln1.beta"), &vec_h);
        let ln1 = b.layer_norm(r, g1, b1, eps, two);
        let w1 = b.shared_init(&format!("l{l}.w1"), &w_hf);
        let w2 = b.shared_init(&format!("l{l}.w2"), &w_fh);
        let bias_f = b.shared_init(&format!("l{l}.bias_f"), &vec_f);
        let f = b.node("MatMul", &[ln1, w1], vec![]);
        let f = b.node("Add", &[f, bias_f], vec![]);
        let e = b.node("Div", &[f, sqrt2], vec![]);
        let e = b.node("Erf", &[e], vec![]);
        let e = b.node("Add", &[e, one], vec![]);
        let f2 = b.node("Mul", &[f, e], vec![]);
        let f2 = b.node("Mul", &[f2, half], vec![]);
        let f3 = b.node("MatMul", &[f2, w2], vec![]);
        let f3 = b.node("Add", &[f3, bias], vec![]);
        let r2 = b.node("Add", &[f3, ln1], vec![]);
        let g2 = b.shared_init(&format!("l{l}.ln2.gamma"), &vec_h);
        let b2 = b.shared_init(&format!("l{l}.ln2.beta"), &vec_h);
        cur = b.layer_norm(r2, g2, b2, eps, two);
    }
    b.g.add_output(cur);
    b.g.value_mut(cur).info = Some(ValueInfo {
        ty: Some(ValueType::Tensor(TensorType {
            elem: DType::F32,
            shape: None,
        })),
        ..ValueInfo::default()
    });
    Model::new(b.g, 14)
}

/// The number of nodes [`bert_like`] builds per layer.
pub const NODES_PER_LAYER: usize = 40;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_has_the_documented_node_count_and_verifies() {
        for layers in [1, 3] {
            let m = bert_like(layers, 16);
            assert_eq!(m.graph.node_count(), layers * NODES_PER_LAYER);
            m.graph.verify().expect("synthetic graph verifies");
        }
    }
}
