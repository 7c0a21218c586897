//! One node at a time: the interpreter's op implementations as a library for other engines.
//!
//! The JIT runs every node it has no specialised step for through [`PreparedNode::run`], so
//! each op the interpreter knows (including If / Loop with their subgraphs, and local
//! functions) is available to it. Values cross the boundary as [`Value`]s: a dtype, a shape
//! and the elements widened to `f64` (float dtypes) or `i64` (integer and bool dtypes), the
//! interpreter's own representation, so no conversion happens on this side.

use crate::arr::{supported_dtype, Arr, Buf};
use crate::exec::{Exec, Frame, Scope};
use crate::InterpError;
use lnopt_ir::{Attribute, DType, Graph, Model, Node, NodeId, Producer, Tensor};
use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;

/// A tensor handed to or returned by [`PreparedNode::run`].
#[derive(Clone, Debug, PartialEq)]
pub struct Value(Arr);

/// The elements of a [`Value`], row-major.
#[derive(Clone, Debug, PartialEq)]
pub enum Elements {
    /// Elements of a float dtype (f16, bf16, f32, f64), each exactly representable in it.
    Floats(Vec<f64>),
    /// Elements of an integer dtype (unsigned 64-bit ones as their bit pattern) or bool (0 / 1).
    Ints(Vec<i64>),
    /// Elements of a string tensor.
    Strings(Vec<Vec<u8>>),
}

/// A [`Value`] whose parts do not fit together.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("value: {0}")]
pub struct ValueError(String);

/// Element count of `shape`, or an error when it overflows or differs from `len`.
fn check_count(dtype: DType, shape: &[usize], len: usize) -> Result<(), ValueError> {
    let n = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    match n {
        Some(n) if n == len => Ok(()),
        _ => Err(ValueError(format!(
            "{len} elements of {dtype} for shape {shape:?}"
        ))),
    }
}

impl Value {
    /// A value of the float dtype `dtype`; each element is rounded to it.
    pub fn floats(dtype: DType, shape: Vec<usize>, data: Vec<f64>) -> Result<Value, ValueError> {
        if !dtype.is_float() || !supported_dtype(dtype) {
            return Err(ValueError(format!("{dtype} is not a float dtype")));
        }
        check_count(dtype, &shape, data.len())?;
        Ok(Value(Arr::floats(dtype, shape, data)))
    }

    /// A value of the integer or bool dtype `dtype`; each element is wrapped to its range
    /// (bool: non-zero is true).
    pub fn ints(dtype: DType, shape: Vec<usize>, data: Vec<i64>) -> Result<Value, ValueError> {
        if dtype.is_float() || !supported_dtype(dtype) {
            return Err(ValueError(format!(
                "{dtype} is not an integer or bool dtype"
            )));
        }
        check_count(dtype, &shape, data.len())?;
        Ok(Value(Arr::ints(dtype, shape, data)))
    }

    /// Converts an IR tensor (checked: dtype, size).
    pub fn from_tensor(t: &Tensor) -> Result<Value, ValueError> {
        Arr::from_tensor(t)
            .map(Value)
            .map_err(|e| ValueError(crate::exec::msg(&e)))
    }

    /// Packs into an IR tensor called `name`.
    pub fn to_tensor(&self, name: &str) -> Tensor {
        self.0.to_tensor(name)
    }

    /// Element type.
    pub fn dtype(&self) -> DType {
        self.0.dtype
    }

    /// Dims (empty for a scalar).
    pub fn shape(&self) -> &[usize] {
        &self.0.shape
    }

    /// The dtype, shape and elements, without copying.
    pub fn into_parts(self) -> (DType, Vec<usize>, Elements) {
        let Arr { dtype, shape, buf } = self.0;
        let e = match buf {
            Buf::F(v) => Elements::Floats(v),
            Buf::I(v) => Elements::Ints(v),
            Buf::S(v) => Elements::Strings(v),
        };
        (dtype, shape, e)
    }
}

/// What a node may need from its model besides its own attributes: the opset versions of
/// non-default domains and the local functions (called directly or from a subgraph).
pub struct OpContext {
    /// A model with the original's opset imports and functions and an empty main graph.
    model: Model,
}

impl OpContext {
    /// The context of `model` (copies its opset imports and local functions, not its graph).
    pub fn of(model: &Model) -> OpContext {
        let mut m = Model::new(Graph::new("context"), model.opset_version("").unwrap_or(23));
        m.opset_imports = model.opset_imports.clone();
        m.functions = model.functions.clone();
        OpContext { model: m }
    }
}

/// One node ready to run on its own through the interpreter's op implementations.
pub struct PreparedNode {
    /// A graph holding only this node (its values stand for the node's inputs and outputs).
    graph: Graph,
    id: NodeId,
    /// Values the node's subgraphs read from enclosing scopes, sorted.
    outer: Vec<String>,
}

/// Names that `g` (and the subgraphs inside it) read from outside `g`.
pub(crate) fn free_names(g: &Graph, out: &mut BTreeSet<String>) {
    let mut inner = BTreeSet::new();
    for id in g.node_ids() {
        for sub in g.node(id).subgraphs() {
            free_names(sub, &mut inner);
        }
    }
    let defined: BTreeSet<&str> = g.defined_names().into_iter().collect();
    for v in g.value_ids() {
        let val = g.value(v);
        if val.producer() == Producer::None {
            out.insert(val.name.clone());
        }
    }
    out.extend(inner.into_iter().filter(|n| !defined.contains(n.as_str())));
}

impl PreparedNode {
    /// Prepares node `op_type` of `domain` called `name` (used in error messages) with
    /// `attributes` (references to function attributes already resolved), `n_inputs` input
    /// slots and `n_outputs` output slots.
    pub fn new(
        op_type: &str,
        domain: &str,
        name: &str,
        attributes: Vec<Attribute>,
        n_inputs: usize,
        n_outputs: usize,
    ) -> Result<PreparedNode, InterpError> {
        let mut graph = Graph::new(name);
        let ins = (0..n_inputs)
            .map(|i| Some(graph.new_value(&format!("in{i}"))))
            .collect();
        let outs = (0..n_outputs)
            .map(|i| Some(graph.new_value(&format!("out{i}"))))
            .collect();
        let mut node = Node::new(op_type, name);
        node.domain = domain.to_string();
        node.attributes = attributes;
        let mut outer = BTreeSet::new();
        for sub in node.subgraphs() {
            free_names(sub, &mut outer);
        }
        let id = graph
            .add_node(node, ins, outs)
            .map_err(|e| InterpError::Graph {
                graph: name.to_string(),
                what: e.to_string(),
            })?;
        Ok(PreparedNode {
            graph,
            id,
            outer: outer.into_iter().collect(),
        })
    }

    /// Names of the enclosing-scope values the node's subgraphs (If branches, Loop bodies …)
    /// read, sorted; [`PreparedNode::run`] takes their values in this order. Empty for a node
    /// without subgraphs.
    pub fn outer_names(&self) -> &[String] {
        &self.outer
    }

    /// Runs the node with `opset` as the `ai.onnx` version in effect. `inputs` has one entry
    /// per input slot (`None`: omitted optional input); `outer` holds the values of
    /// [`PreparedNode::outer_names`] in order (`None`, or a missing trailing entry, for a name
    /// the caller does not define: an error only if a subgraph reads it). Returns one value
    /// per output slot.
    pub fn run(
        &self,
        ctx: &OpContext,
        opset: i64,
        inputs: Vec<Option<Value>>,
        outer: Vec<Option<Value>>,
    ) -> Result<Vec<Value>, InterpError> {
        let node = self.graph.node(self.id);
        let scope = Scope {
            vals: self
                .outer
                .iter()
                .cloned()
                .zip(outer)
                .filter_map(|(name, v)| Some((name, Rc::new(v?.0))))
                .collect::<HashMap<_, _>>(),
            parent: None,
        };
        let frame = Frame {
            opset,
            attrs: None,
            depth: 0,
        };
        let args = inputs
            .into_iter()
            .map(|v| v.map(|v| Rc::new(v.0)))
            .collect();
        let mut exec = Exec {
            model: &ctx.model,
            trace: None,
        };
        let outs = exec.run_node(node, self.id, frame, &scope, args)?;
        Ok(outs
            .into_iter()
            .map(|a| Value(Rc::try_unwrap(a).unwrap_or_else(|a| (*a).clone())))
            .collect())
    }
}
