//! Errors and blockers of an opset upgrade.

use std::fmt;

/// One node that cannot be carried to the target opset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blocker {
    /// The node's name (or `#index`), prefixed with its subgraph or function path.
    pub node: String,
    /// Its op type.
    pub op_type: String,
    /// Why it cannot be converted.
    pub reason: String,
}

impl fmt::Display for Blocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "node '{}' ({}): {}",
            self.node, self.op_type, self.reason
        )
    }
}

/// Why an upgrade was refused. The model is left unchanged in every case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpsetError {
    /// Some nodes cannot be converted safely; the first one is named in the message.
    #[error("cannot upgrade to ai.onnx opset {to}: {} ({} blocker(s) in all)", first(.blockers), .blockers.len())]
    Blocked {
        /// The target opset.
        to: i64,
        /// Every node that blocks, in graph order.
        blockers: Vec<Blocker>,
    },
    /// The target is older than the model's opset.
    #[error("cannot downgrade from ai.onnx opset {from} to {to}")]
    Downgrade {
        /// The model's opset.
        from: i64,
        /// The requested one.
        to: i64,
    },
    /// The target is newer than the change table covers.
    #[error("ai.onnx opset {to} is beyond the newest opset lnopt knows ({max})")]
    UnsupportedTarget {
        /// The requested opset.
        to: i64,
        /// The newest supported one.
        max: i64,
    },
    /// Default-domain nodes but no ai.onnx opset import.
    #[error("the model has ai.onnx nodes (e.g. '{node}') but no ai.onnx opset import")]
    MissingDefaultOpset {
        /// A default-domain node.
        node: String,
    },
}

fn first(b: &[Blocker]) -> String {
    b.first().map(|b| b.to_string()).unwrap_or_default()
}
