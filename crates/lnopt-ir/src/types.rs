//! Static types of values: element type plus a shape whose dims may be symbolic.

use crate::DType;
use std::fmt;

/// One dimension of a shape.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dim {
    /// A known size.
    Fixed(i64),
    /// A named symbolic size (`batch`, `seq`); equal names mean equal sizes.
    Symbol(String),
    /// Nothing is known.
    Unknown,
}

impl Dim {
    /// The size if it is known.
    pub fn fixed(&self) -> Option<i64> {
        match self {
            Dim::Fixed(v) => Some(*v),
            _ => None,
        }
    }

    /// True when both dims are provably the same size (equal constants or equal symbols).
    pub fn same_as(&self, other: &Dim) -> bool {
        match (self, other) {
            (Dim::Fixed(a), Dim::Fixed(b)) => a == b,
            (Dim::Symbol(a), Dim::Symbol(b)) => a == b,
            _ => false,
        }
    }
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Fixed(v) => write!(f, "{v}"),
            Dim::Symbol(s) => write!(f, "{s}"),
            Dim::Unknown => f.write_str("?"),
        }
    }
}

/// Type of a tensor value: element type and, when known, its shape.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TensorType {
    /// Element type; [`DType::Undefined`] when unknown.
    pub elem: DType,
    /// Dims, or `None` when even the rank is unknown.
    pub shape: Option<Vec<Dim>>,
}

impl TensorType {
    /// A tensor type with fully known dims.
    pub fn fixed(elem: DType, dims: &[i64]) -> TensorType {
        TensorType {
            elem,
            shape: Some(dims.iter().map(|&d| Dim::Fixed(d)).collect()),
        }
    }

    /// Rank if known.
    pub fn rank(&self) -> Option<usize> {
        self.shape.as_ref().map(|s| s.len())
    }

    /// All dims as numbers, when every one is known.
    pub fn fixed_dims(&self) -> Option<Vec<i64>> {
        self.shape.as_ref()?.iter().map(|d| d.fixed()).collect()
    }
}

impl fmt::Display for TensorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.elem)?;
        match &self.shape {
            None => f.write_str("[*]"),
            Some(dims) => {
                f.write_str("[")?;
                for (i, d) in dims.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{d}")?;
                }
                f.write_str("]")
            }
        }
    }
}

/// The declared type of a value as ONNX writes it in `ValueInfoProto.type`.
#[derive(Clone, Debug, PartialEq)]
pub enum ValueType {
    /// A dense tensor.
    Tensor(TensorType),
    /// Any other type (sequence, map, optional, sparse tensor) or a tensor type carrying
    /// fields lnopt does not model (denotations): kept as the serialized `TypeProto` bytes.
    Opaque(Vec<u8>),
}

impl ValueType {
    /// The tensor type, if this is a dense tensor.
    pub fn as_tensor(&self) -> Option<&TensorType> {
        match self {
            ValueType::Tensor(t) => Some(t),
            ValueType::Opaque(_) => None,
        }
    }
}

/// Extra fields of a protobuf message that lnopt does not know, kept as raw wire data so they
/// survive a round trip. Each entry is `(field number, wire type, raw payload bytes)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnknownFields(pub Vec<UnknownField>);

/// One unknown protobuf field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnknownField {
    /// Varint wire type.
    Varint(u32, u64),
    /// 32-bit fixed wire type.
    Fixed32(u32, u32),
    /// 64-bit fixed wire type.
    Fixed64(u32, u64),
    /// Length-delimited wire type.
    Bytes(u32, Vec<u8>),
}

impl UnknownFields {
    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Ordered `metadata_props` (key, value) pairs, as found in the file.
pub type Metadata = Vec<(String, String)>;
