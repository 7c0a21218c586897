//! One op of the flattened graph ([`PNode`]): what the plan builder produces, the op library
//! reads its attributes from, and every step keeps to fall back to.

use crate::fallback::Fallback;
use lnopt_ir::{AttrValue, Attribute};
use std::sync::Arc;

/// One op of the flattened graph.
#[derive(Clone, Debug)]
pub(crate) struct PNode {
    /// Op type.
    pub op: String,
    /// Domain.
    pub domain: String,
    /// Name for messages (`name` or `#index`, with the calling function's prefix).
    pub name: String,
    /// Attributes, references to function attributes resolved.
    pub attrs: Vec<Attribute>,
    /// Input slots.
    pub inputs: Vec<Option<usize>>,
    /// Output slots.
    pub outputs: Vec<Option<usize>>,
    /// ai.onnx opset in effect.
    pub opset: i64,
    /// Slots of the enclosing-scope values the node's subgraphs read (in the order of
    /// [`Fallback::outer_names`]; `None` for a name nothing defines).
    pub outer: Vec<Option<usize>>,
    /// Whether the JIT has a runtime function for the op ([`crate::ops::supported`]).
    pub native: bool,
    /// The node for the interpreter: run when there is no runtime function or it declines.
    pub fallback: Arc<Fallback>,
}

impl PNode {
    /// Input and outer-scope slots the node reads.
    pub(crate) fn reads(&self) -> impl Iterator<Item = usize> + '_ {
        self.inputs.iter().chain(&self.outer).flatten().copied()
    }

    /// True if the node has subgraph attributes (If, Loop, Scan …).
    pub(crate) fn has_subgraphs(&self) -> bool {
        self.attrs
            .iter()
            .any(|a| matches!(a.value, AttrValue::Graph(_) | AttrValue::Graphs(_)))
    }
}
