//! Errors of the interpreter.

/// What went wrong while interpreting a model. Every node-level error names the node (its name,
/// or `#index` when it has none) and its op type.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InterpError {
    /// The node's op is neither a known ONNX / ORT op nor a local function.
    #[error("node '{node}': unsupported op '{op}' in domain '{domain}'")]
    UnsupportedOp {
        /// Node name.
        node: String,
        /// Op domain (empty for `ai.onnx`).
        domain: String,
        /// Op type.
        op: String,
    },
    /// A node's inputs or attributes are invalid for its op (shape mismatch, bad dtype, …).
    #[error("node '{node}' ({op}): {what}")]
    Op {
        /// Node name.
        node: String,
        /// Op type.
        op: String,
        /// What is wrong.
        what: String,
    },
    /// The inputs given to a run do not match the graph inputs.
    #[error("graph '{graph}': {what}")]
    Inputs {
        /// Graph name.
        graph: String,
        /// What is wrong.
        what: String,
    },
    /// The graph itself is malformed (cycle, value with no producer, …).
    #[error("graph '{graph}': {what}")]
    Graph {
        /// Graph name.
        graph: String,
        /// What is wrong.
        what: String,
    },
}

/// Error raised inside an op kernel; the executor adds the node's name and op type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum OpError {
    /// The op (or this form of it) is not implemented.
    Unsupported,
    /// The inputs or attributes are invalid.
    Invalid(String),
    /// A nested error that already names its node (inside a subgraph or function body).
    Nested(Box<InterpError>),
}

impl From<String> for OpError {
    fn from(s: String) -> OpError {
        OpError::Invalid(s)
    }
}

impl From<&str> for OpError {
    fn from(s: &str) -> OpError {
        OpError::Invalid(s.to_string())
    }
}

impl From<InterpError> for OpError {
    fn from(e: InterpError) -> OpError {
        OpError::Nested(Box::new(e))
    }
}

/// Result of an op kernel.
pub(crate) type OpResult<T> = Result<T, OpError>;

/// Returns early with an [`OpError::Invalid`] built by `format!`.
macro_rules! bail {
    ($($t:tt)*) => {
        return Err($crate::error::OpError::Invalid(format!($($t)*)))
    };
}
pub(crate) use bail;
