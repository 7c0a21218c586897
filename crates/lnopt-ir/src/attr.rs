//! Node attributes, with every ONNX attribute type.

use crate::{Graph, Tensor, UnknownFields, ValueType};

/// The value of an attribute. Strings are raw bytes, as ONNX stores them.
#[derive(Clone, Debug, PartialEq)]
pub enum AttrValue {
    /// `FLOAT`.
    Float(f32),
    /// `INT`.
    Int(i64),
    /// `STRING`.
    String(Vec<u8>),
    /// `TENSOR`.
    Tensor(Tensor),
    /// `GRAPH` (the body of If/Loop/Scan).
    Graph(Box<Graph>),
    /// `SPARSE_TENSOR`, kept as serialized `SparseTensorProto` bytes.
    SparseTensor(Vec<u8>),
    /// `TYPE_PROTO`.
    Type(ValueType),
    /// `FLOATS`.
    Floats(Vec<f32>),
    /// `INTS`.
    Ints(Vec<i64>),
    /// `STRINGS`.
    Strings(Vec<Vec<u8>>),
    /// `TENSORS`.
    Tensors(Vec<Tensor>),
    /// `GRAPHS`.
    Graphs(Vec<Graph>),
    /// `SPARSE_TENSORS`, serialized.
    SparseTensors(Vec<Vec<u8>>),
    /// `TYPE_PROTOS`.
    Types(Vec<ValueType>),
    /// An attribute inside a function body that refers to an attribute of the calling node
    /// (`ref_attr_name`), with the declared type code.
    Ref {
        /// Name of the function attribute it refers to.
        ref_name: String,
        /// ONNX `AttributeType` code.
        type_code: i32,
    },
}

impl AttrValue {
    /// Name of the ONNX attribute type, for messages (`INT`, `FLOATS`, …).
    pub fn type_name(&self) -> &'static str {
        match self {
            AttrValue::Float(_) => "FLOAT",
            AttrValue::Int(_) => "INT",
            AttrValue::String(_) => "STRING",
            AttrValue::Tensor(_) => "TENSOR",
            AttrValue::Graph(_) => "GRAPH",
            AttrValue::SparseTensor(_) => "SPARSE_TENSOR",
            AttrValue::Type(_) => "TYPE_PROTO",
            AttrValue::Floats(_) => "FLOATS",
            AttrValue::Ints(_) => "INTS",
            AttrValue::Strings(_) => "STRINGS",
            AttrValue::Tensors(_) => "TENSORS",
            AttrValue::Graphs(_) => "GRAPHS",
            AttrValue::SparseTensors(_) => "SPARSE_TENSORS",
            AttrValue::Types(_) => "TYPE_PROTOS",
            AttrValue::Ref { .. } => "REF",
        }
    }
}

/// A named attribute of a node.
#[derive(Clone, Debug, PartialEq)]
pub struct Attribute {
    /// Attribute name.
    pub name: String,
    /// Its value.
    pub value: AttrValue,
    /// `doc_string`.
    pub doc_string: String,
    /// Fields lnopt does not model.
    pub unknown: UnknownFields,
}

impl Attribute {
    /// A plain attribute with no doc string.
    pub fn new(name: impl Into<String>, value: AttrValue) -> Attribute {
        Attribute {
            name: name.into(),
            value,
            doc_string: String::new(),
            unknown: UnknownFields::default(),
        }
    }
}
