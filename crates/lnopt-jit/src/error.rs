//! The error type of the JIT.

/// Everything that can go wrong compiling or running a model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JitError {
    /// An op got inputs or attributes it cannot work with, or neither a JIT step nor the
    /// interpreter implements it (the message says which).
    #[error("node '{node}' ({op}): {what}")]
    Op {
        /// Node name (or `#index`).
        node: String,
        /// Op type.
        op: String,
        /// What is wrong.
        what: String,
    },
    /// The inputs given to `compile` or `run` do not fit the model.
    #[error("inputs: {0}")]
    Inputs(String),
    /// The model structure cannot be planned (cycle, missing producer, recursion).
    #[error("model: {0}")]
    Model(String),
    /// Cranelift refused to build a kernel.
    #[error("codegen of kernel '{kernel}': {what}")]
    Codegen {
        /// Kernel name.
        kernel: String,
        /// Cranelift's message.
        what: String,
    },
}

/// Error of one op before the node is known; the executor attaches the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OpError(pub String);

/// Result of an op kernel.
pub(crate) type OpResult<T> = Result<T, OpError>;

/// Returns early with an [`OpError`] built from a format string.
macro_rules! bail {
    ($($t:tt)*) => { return Err($crate::error::OpError(format!($($t)*))) };
}
pub(crate) use bail;
