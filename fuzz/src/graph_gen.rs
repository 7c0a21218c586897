//! Builds a small random model (and its inputs) from fuzz bytes, with the IR API.
//!
//! Ops are drawn from what the interpreter implements, wired to earlier values, and given
//! random attributes from a table of the names those ops read. Every tensor is tiny (rank ≤ 3,
//! dims ≤ 3) so that a slow run means a bug, not a big input.

use lnopt_ir::{AttrValue, DType, Graph, Model, Node, Tensor, ValueId};

const OPS: &[&str] = &[
    "Abs",
    "Neg",
    "Relu",
    "Sign",
    "Sqrt",
    "Exp",
    "Log",
    "Tanh",
    "Erf",
    "Sigmoid",
    "Reciprocal",
    "Floor",
    "Round",
    "LeakyRelu",
    "Gelu",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Mod",
    "Pow",
    "Equal",
    "Less",
    "Greater",
    "And",
    "Or",
    "Not",
    "Where",
    "Sum",
    "Max",
    "Min",
    "Mean",
    "Clip",
    "Cast",
    "CastLike",
    "ConstantOfShape",
    "Range",
    "Identity",
    "Dropout",
    "Reshape",
    "Flatten",
    "Squeeze",
    "Unsqueeze",
    "Shape",
    "Size",
    "Expand",
    "Concat",
    "Split",
    "Slice",
    "Transpose",
    "Gather",
    "GatherElements",
    "Tile",
    "Pad",
    "ReduceMean",
    "ReduceSum",
    "ReduceMax",
    "ReduceSumSquare",
    "Softmax",
    "LogSoftmax",
    "ArgMax",
    "MatMul",
    "Gemm",
    "Conv",
    "LayerNormalization",
    "RMSNormalization",
    "SimplifiedLayerNormalization",
    "If",
    "Mystery",
];

const INT_ATTRS: &[&str] = &[
    "axis",
    "keepdims",
    "to",
    "transA",
    "transB",
    "stash_type",
    "group",
    "select_last_index",
    "noop_with_empty_axes",
    "num_outputs",
];
const INTS_ATTRS: &[&str] = &[
    "axes",
    "perm",
    "pads",
    "strides",
    "dilations",
    "kernel_shape",
];
const FLOAT_ATTRS: &[&str] = &["epsilon", "alpha", "beta", "min", "max"];

/// Reads choices from the fuzz bytes; past the end every choice is 0.
struct Bytes<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            self.byte() as usize % n
        }
    }

    fn small_int(&mut self) -> i64 {
        self.byte() as i8 as i64 % 5
    }

    fn float(&mut self) -> f32 {
        match self.byte() % 8 {
            0 => f32::NAN,
            1 => f32::INFINITY,
            2 => -0.0,
            3 => 1e-12,
            _ => (self.byte() as i8) as f32 / 16.0,
        }
    }

    fn dims(&mut self) -> Vec<i64> {
        let rank = self.below(4);
        (0..rank).map(|_| self.below(4) as i64).collect()
    }

    fn dtype(&mut self) -> DType {
        [
            DType::F32,
            DType::F32,
            DType::F32,
            DType::I64,
            DType::F16,
            DType::Bool,
            DType::I32,
        ][self.below(7)]
    }

    fn tensor(&mut self, dtype: DType, dims: Vec<i64>) -> Option<Tensor> {
        let n = lnopt_ir::numel(&dims)?;
        let width = match dtype {
            DType::I64 => 8,
            DType::F32 | DType::I32 => 4,
            DType::F16 => 2,
            _ => 1,
        };
        let mut bytes = Vec::with_capacity(n * width);
        for _ in 0..n {
            match dtype {
                DType::F32 => bytes.extend(self.float().to_le_bytes()),
                DType::I64 => bytes.extend(self.small_int().to_le_bytes()),
                DType::I32 => bytes.extend((self.small_int() as i32).to_le_bytes()),
                DType::F16 => bytes.extend([self.byte(), self.byte() & 0x7b]),
                _ => bytes.push(self.byte() & 1),
            }
        }
        Tensor::from_bytes("", dtype, dims, bytes).ok()
    }
}

/// A random model and positional inputs for it, or `None` when the bytes describe nothing
/// the IR accepts (the IR's own refusal is not what this target tests).
pub fn random_model(data: &[u8]) -> Option<(Model, Vec<Tensor>)> {
    let mut b = Bytes { data, pos: 0 };
    let mut g = Graph::new("fuzz");
    let mut pool: Vec<ValueId> = Vec::new();
    let mut inputs = Vec::new();
    for i in 0..1 + b.below(3) {
        let dtype = b.dtype();
        let dims = b.dims();
        let t = b.tensor(dtype, dims)?;
        let v = g.value_by_name_or_new(&format!("in{i}"));
        g.add_input(v);
        pool.push(v);
        inputs.push(t);
    }
    for i in 0..b.below(3) {
        let dtype = b.dtype();
        let dims = b.dims();
        let t = b.tensor(dtype, dims)?;
        pool.push(g.add_initializer(&format!("c{i}"), t));
    }
    let mut last = Vec::new();
    for n in 0..1 + b.below(8) {
        let op = OPS[b.below(OPS.len())];
        let mut node = Node::new(op, format!("n{n}"));
        for _ in 0..b.below(3) {
            match b.below(3) {
                0 => node.set_attr(
                    INT_ATTRS[b.below(INT_ATTRS.len())],
                    AttrValue::Int(b.small_int()),
                ),
                1 => {
                    let k = b.below(4);
                    let v = (0..k).map(|_| b.small_int()).collect();
                    node.set_attr(INTS_ATTRS[b.below(INTS_ATTRS.len())], AttrValue::Ints(v));
                }
                _ => node.set_attr(
                    FLOAT_ATTRS[b.below(FLOAT_ATTRS.len())],
                    AttrValue::Float(b.float()),
                ),
            }
        }
        if op == "If" {
            for branch in ["then_branch", "else_branch"] {
                let mut sub = Graph::new(branch);
                let src = pool[b.below(pool.len())];
                let name = g.value(src).name.clone();
                let outer = sub.value_by_name_or_new(&name);
                let out = sub.value_by_name_or_new(&format!("{branch}_out{n}"));
                sub.add_node(
                    Node::new("Identity", "id"),
                    vec![Some(outer)],
                    vec![Some(out)],
                )
                .ok()?;
                sub.add_output(out);
                node.set_attr(branch, AttrValue::Graph(Box::new(sub)));
            }
        }
        let ins = (0..1 + b.below(3))
            .map(|_| {
                if b.below(8) == 0 {
                    None
                } else {
                    Some(pool[b.below(pool.len())])
                }
            })
            .collect();
        let outs: Vec<Option<ValueId>> = (0..1 + b.below(2))
            .map(|o| Some(g.value_by_name_or_new(&format!("v{n}_{o}"))))
            .collect();
        g.add_node(node, ins, outs.clone()).ok()?;
        last = outs.into_iter().flatten().collect();
        pool.extend(last.iter().copied());
    }
    for v in last {
        g.add_output(v);
    }
    let opset = 13 + b.below(11) as i64;
    Some((Model::new(g, opset), inputs))
}
