//! Errors found by [`crate::Graph::verify`] and graph edits.

/// A structural problem in a graph. Each variant names the node or value concerned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IrError {
    /// A node reads a value that nothing produces (no node, graph input, initializer or
    /// enclosing scope).
    #[error(
        "node '{node}' ({op}) reads '{value}', which no node, graph input or initializer produces"
    )]
    MissingProducer {
        /// Node name (or `#index` when unnamed).
        node: String,
        /// Op type.
        op: String,
        /// The value's name.
        value: String,
    },
    /// A graph output that nothing produces.
    #[error("graph output '{value}' is not produced by any node, input or initializer")]
    DanglingOutput {
        /// The value's name.
        value: String,
    },
    /// Two producers for one name.
    #[error("value '{name}' is defined more than once ({first} and {second})")]
    DuplicateName {
        /// The duplicated name.
        name: String,
        /// First definition.
        first: String,
        /// Second definition.
        second: String,
    },
    /// The nodes form a cycle.
    #[error("the graph has a cycle through node '{node}' ({op})")]
    Cycle {
        /// A node on the cycle.
        node: String,
        /// Its op type.
        op: String,
    },
    /// An edit referred to a node or value that does not exist.
    #[error("invalid graph edit: {0}")]
    BadEdit(String),
}
