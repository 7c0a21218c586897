//! # lnopt-ir
//!
//! lnopt's in-memory model: a graph of op nodes stored in a petgraph `StableDiGraph`, an arena
//! of named values, constant tensors shared by `Arc`, attributes of every ONNX type, local
//! functions and subgraphs. It knows nothing of protobuf, egg or cranelift.
//!
//! - [`Graph::verify`] finds dangling inputs, undefined outputs and cycles;
//! - [`dump::dump_model`] prints a canonical text form for golden tests.

#![warn(missing_docs)]

mod attr;
mod blob;
mod dtype;
pub mod dump;
mod error;
mod graph;
mod model;
pub mod narrow;
mod tensor;
mod types;

pub use attr::{AttrValue, Attribute};
pub use blob::{Blob, BlobOrigin, SharedBytes, SourceFile};
pub use dtype::DType;
pub use error::IrError;
pub use graph::{is_default_domain, Graph, Node, NodeId, Producer, Value, ValueId, ValueInfo};
pub use model::{Function, Model, OpsetImport};
pub use tensor::{numel, ExternalRef, Storage, Tensor, TensorData, TensorError};
pub use types::{Dim, Metadata, TensorType, UnknownField, UnknownFields, ValueType};
