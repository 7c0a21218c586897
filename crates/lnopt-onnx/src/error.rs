//! The one error type of this crate. Every variant names the place (graph, node, tensor, file)
//! and says what is wrong.

use lnopt_ir::IrError;
use std::path::PathBuf;

/// Why a model or tensor could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    /// A file could not be read, written or renamed.
    #[error("cannot access '{path}': {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The input is larger than [`crate::Limits::max_file_bytes`].
    #[error("'{path}' is {size} bytes, more than the limit of {max} bytes")]
    FileTooLarge {
        /// The file (or `<bytes>` for in-memory input).
        path: String,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The bytes are not a protobuf message of the expected kind (or are truncated).
    #[error("not a valid ONNX {what}: protobuf decoding failed: {message}")]
    Protobuf {
        /// `model` or `tensor`.
        what: &'static str,
        /// The protobuf decoder's message.
        message: String,
    },
    /// `ir_version` outside the supported range 3..=14 (0 means missing).
    #[error("unsupported ir_version {0} (lnopt reads IR versions 3 to 14)")]
    IrVersion(i64),
    /// The model has no main graph.
    #[error("the model has no graph")]
    NoGraph,
    /// A structural problem: duplicate names, a dangling input, a cycle.
    #[error("{place}: {source}")]
    Structure {
        /// Graph or function concerned.
        place: String,
        /// The problem found by the IR.
        #[source]
        source: IrError,
    },
    /// An attribute whose declared type and content disagree, or that has the wrong type for
    /// its op.
    #[error("{place}: node '{node}' ({op}): attribute '{attr}' {what}")]
    Attribute {
        /// Graph or function concerned.
        place: String,
        /// Node name (or `#index`).
        node: String,
        /// Op type.
        op: String,
        /// Attribute name.
        attr: String,
        /// What is wrong.
        what: String,
    },
    /// A tensor whose dims, type or data are invalid or too large.
    #[error("{place}: tensor '{tensor}': {what}")]
    Tensor {
        /// Where the tensor is (graph initializer, node attribute, test data file).
        place: String,
        /// Tensor name.
        tensor: String,
        /// What is wrong.
        what: String,
    },
    /// A tensor stored in an external file that cannot be read safely.
    #[error("{place}: tensor '{tensor}': external data '{location}': {what}")]
    External {
        /// Where the tensor is.
        place: String,
        /// Tensor name.
        tensor: String,
        /// The `location` entry.
        location: String,
        /// What is wrong.
        what: String,
    },
    /// Subgraphs nested deeper than [`crate::Limits::max_depth`].
    #[error("{place}: subgraphs nested deeper than the limit of {max}")]
    TooDeep {
        /// The graph that is too deep.
        place: String,
        /// The limit.
        max: usize,
    },
    /// More nodes (counting subgraphs and functions) than [`crate::Limits::max_nodes`].
    #[error("the model has more than {max} nodes")]
    TooManyNodes {
        /// The limit.
        max: usize,
    },
    /// Any other invalid content.
    #[error("{place}: {what}")]
    Invalid {
        /// Where.
        place: String,
        /// What is wrong.
        what: String,
    },
}

impl OnnxError {
    /// An [`OnnxError::Io`] for `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> OnnxError {
        OnnxError::Io {
            path: path.into(),
            source,
        }
    }

    /// An [`OnnxError::Invalid`].
    pub(crate) fn invalid(place: &str, what: impl Into<String>) -> OnnxError {
        OnnxError::Invalid {
            place: place.to_string(),
            what: what.into(),
        }
    }
}
