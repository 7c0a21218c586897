//! A whole model: the main graph plus opsets, local functions and model-level metadata.

use crate::{Attribute, Graph, Metadata, UnknownFields};

/// One `opset_import` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpsetImport {
    /// Domain; empty (or `ai.onnx`) for the default domain.
    pub domain: String,
    /// Version.
    pub version: i64,
}

/// A model-local function (`FunctionProto`).
#[derive(Clone, Debug, PartialEq)]
pub struct Function {
    /// Function (op type) name.
    pub name: String,
    /// Domain callers use.
    pub domain: String,
    /// `overload`.
    pub overload: String,
    /// Formal input names.
    pub inputs: Vec<String>,
    /// Formal output names.
    pub outputs: Vec<String>,
    /// Attribute names without defaults (`attribute`).
    pub attribute_names: Vec<String>,
    /// Attributes with defaults (`attribute_proto`).
    pub attribute_defaults: Vec<Attribute>,
    /// The body. Its inputs and outputs are the formal parameters; `value_info` keeps the
    /// function's `value_info` entries.
    pub body: Graph,
    /// The function's own opset imports.
    pub opset_imports: Vec<OpsetImport>,
    /// `doc_string`.
    pub doc_string: String,
    /// `metadata_props`.
    pub metadata: Metadata,
    /// Fields lnopt does not model.
    pub unknown: UnknownFields,
}

/// An ONNX model in lnopt's IR.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    /// `ir_version`.
    pub ir_version: i64,
    /// `opset_import` in file order.
    pub opset_imports: Vec<OpsetImport>,
    /// `producer_name`.
    pub producer_name: String,
    /// `producer_version`.
    pub producer_version: String,
    /// `domain`.
    pub domain: String,
    /// `model_version`.
    pub model_version: i64,
    /// `doc_string`.
    pub doc_string: String,
    /// `metadata_props`.
    pub metadata: Metadata,
    /// The main graph.
    pub graph: Graph,
    /// Local functions.
    pub functions: Vec<Function>,
    /// `training_info` entries, kept as serialized `TrainingInfoProto` bytes.
    pub training_info: Vec<Vec<u8>>,
    /// Fields lnopt does not model.
    pub unknown: UnknownFields,
}

impl Model {
    /// A model around `graph` importing `ai.onnx` at `opset`, IR version 8.
    pub fn new(graph: Graph, opset: i64) -> Model {
        Model {
            ir_version: 8,
            opset_imports: vec![OpsetImport {
                domain: String::new(),
                version: opset,
            }],
            producer_name: String::new(),
            producer_version: String::new(),
            domain: String::new(),
            model_version: 0,
            doc_string: String::new(),
            metadata: Vec::new(),
            graph,
            functions: Vec::new(),
            training_info: Vec::new(),
            unknown: UnknownFields::default(),
        }
    }

    /// The imported version of `domain` (`""` and `"ai.onnx"` are the same domain).
    pub fn opset_version(&self, domain: &str) -> Option<i64> {
        let norm = |d: &str| if d == "ai.onnx" { "" } else { d }.to_string();
        let want = norm(domain);
        self.opset_imports
            .iter()
            .find(|o| norm(&o.domain) == want)
            .map(|o| o.version)
    }

    /// Sets the imported version of `domain`, adding an import if there is none.
    pub fn set_opset_version(&mut self, domain: &str, version: i64) {
        let norm = |d: &str| if d == "ai.onnx" { "" } else { d }.to_string();
        let want = norm(domain);
        match self
            .opset_imports
            .iter_mut()
            .find(|o| norm(&o.domain) == want)
        {
            Some(o) => o.version = version,
            None => self.opset_imports.push(OpsetImport {
                domain: domain.to_string(),
                version,
            }),
        }
    }

    /// The local function an op `(domain, op_type)` calls, if any.
    pub fn function(&self, domain: &str, op_type: &str) -> Option<&Function> {
        self.functions
            .iter()
            .find(|f| f.domain == domain && f.name == op_type)
    }
}
