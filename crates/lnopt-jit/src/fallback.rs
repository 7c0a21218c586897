//! The generic step: a node the JIT has no runtime function for, or whose runtime function
//! declines its dtypes or attributes, runs through the interpreter's op implementations
//! ([`lnopt_interp::PreparedNode`]). Every op the interpreter knows is thereby available to the
//! JIT, If and Loop (with the enclosing-scope values their subgraphs read) included.

use crate::error::{bail, OpError, OpResult};
use crate::value::{rep, Data, Rep, Val};
use lnopt_interp::{Elements, InterpError, OpContext, PreparedNode, Value};
use std::sync::Arc;

/// A node for the interpreter, with the model context it runs in. Nodes with subgraphs are
/// prepared when planned (their outer-scope reads shape the plan); the others only when they
/// first run here, so plans whose nodes all have JIT steps pay nothing for it.
pub(crate) struct Fallback {
    /// Op type, domain, name for messages.
    op: (String, String, String),
    /// Attributes, function references resolved.
    attrs: Vec<lnopt_ir::Attribute>,
    /// Input and output slot counts.
    slots: (usize, usize),
    /// The prepared node (or why it could not be prepared).
    node: std::sync::OnceLock<Result<PreparedNode, String>>,
    /// Opset imports and local functions of the model.
    ctx: Arc<OpContext>,
}

impl std::fmt::Debug for Fallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fallback")
    }
}

impl Fallback {
    /// Prepares `node` of the given op; `attrs` already have function references resolved.
    pub(crate) fn new(
        op: &str,
        domain: &str,
        name: &str,
        attrs: Vec<lnopt_ir::Attribute>,
        (n_inputs, n_outputs): (usize, usize),
        ctx: Arc<OpContext>,
    ) -> Result<Fallback, InterpError> {
        let f = Fallback {
            op: (op.to_string(), domain.to_string(), name.to_string()),
            attrs,
            slots: (n_inputs, n_outputs),
            node: std::sync::OnceLock::new(),
            ctx,
        };
        let has_subgraphs = f.attrs.iter().any(|a| {
            matches!(
                a.value,
                lnopt_ir::AttrValue::Graph(_) | lnopt_ir::AttrValue::Graphs(_)
            )
        });
        if has_subgraphs {
            let n = f.build()?;
            let _ = f.node.set(Ok(n));
        }
        Ok(f)
    }

    fn build(&self) -> Result<PreparedNode, InterpError> {
        let (op, domain, name) = &self.op;
        PreparedNode::new(
            op,
            domain,
            name,
            self.attrs.clone(),
            self.slots.0,
            self.slots.1,
        )
    }

    fn prepared(&self) -> OpResult<&PreparedNode> {
        self.node
            .get_or_init(|| self.build().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| OpError(e.clone()))
    }

    /// Names of the enclosing-scope values the node's subgraphs read, in the order
    /// [`Fallback::run`] takes them (none for a node without subgraphs).
    pub(crate) fn outer_names(&self) -> &[String] {
        match self.node.get() {
            Some(Ok(n)) => n.outer_names(),
            _ => &[],
        }
    }

    /// Runs the node on `ins` (one per input slot) and `outer` (one per outer name; `None`
    /// for a name the plan does not define) at ai.onnx `opset`.
    pub(crate) fn run(
        &self,
        opset: i64,
        ins: &[Option<&Val>],
        outer: &[Option<&Val>],
    ) -> OpResult<Vec<Val>> {
        let inputs = ins
            .iter()
            .map(|v| v.map(to_value).transpose())
            .collect::<OpResult<Vec<_>>>()?;
        let outer = outer
            .iter()
            .map(|v| v.map(to_value).transpose())
            .collect::<OpResult<Vec<_>>>()?;
        let outs = self
            .prepared()?
            .run(&self.ctx, opset, inputs, outer)
            .map_err(|e| OpError(interp_message(e)))?;
        outs.into_iter().map(from_value).collect()
    }
}

/// The interpreter's verdict without the node name the JIT's error adds again.
fn interp_message(e: InterpError) -> String {
    match e {
        InterpError::UnsupportedOp { domain, op, .. } => {
            let op = if domain.is_empty() {
                op
            } else {
                format!("{domain}::{op}")
            };
            format!("op '{op}' is not supported (neither by a JIT step nor by the interpreter)")
        }
        InterpError::Op { what, .. } => what,
        other => other.to_string(),
    }
}

fn value_err(e: lnopt_interp::ValueError) -> OpError {
    OpError(e.to_string())
}

/// A JIT value as an interpreter value (one pass over the elements; an opaque value is the
/// interpreter's own, handed back unchanged).
pub(crate) fn to_value(v: &Val) -> OpResult<Value> {
    let shape = v.shape.clone();
    match &*v.data {
        Data::Opaque(x) => v.opaque_checked(x).map(|()| x.clone()),
        Data::F(x) => {
            Value::floats(v.dtype, shape, x.iter().map(|&a| a as f64).collect()).map_err(value_err)
        }
        Data::D(x) => Value::floats(v.dtype, shape, x.clone()).map_err(value_err),
        Data::I(x) => Value::ints(v.dtype, shape, x.clone()).map_err(value_err),
        Data::B(x) => {
            Value::ints(v.dtype, shape, x.iter().map(|&b| b as i64).collect()).map_err(value_err)
        }
    }
}

/// An interpreter value as a JIT value (one pass over the elements; the interpreter has
/// already rounded them to their dtype). A value of a dtype the JIT does not compute on is
/// kept as it is ([`Data::Opaque`]).
pub(crate) fn from_value(v: Value) -> OpResult<Val> {
    if rep(v.dtype()).is_err() {
        return Val::opaque(v);
    }
    let (dtype, shape, elems) = v.into_parts();
    let data = match (rep(dtype)?, elems) {
        (Rep::F, Elements::Floats(x)) => Data::F(x.into_iter().map(|a| a as f32).collect()),
        (Rep::D, Elements::Floats(x)) => Data::D(x),
        (Rep::I, Elements::Ints(x)) => Data::I(x),
        (Rep::B, Elements::Ints(x)) => Data::B(x.into_iter().map(|a| a != 0).collect()),
        (_, _) => bail!("internal: the interpreter returned {dtype} with the wrong element kind"),
    };
    Val::new(dtype, shape, data)
}
