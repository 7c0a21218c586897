//! Dtype and rank of values, from lnopt-infer with the declared types as fallback.

use lnopt_infer::GraphTypes;
use lnopt_ir::{DType, Graph, ValueId};

/// Read-only type facts about one graph, computed before any rewrite.
pub struct TypeView {
    inferred: Option<GraphTypes>,
}

impl TypeView {
    /// Infers `graph` at `opset`; inference errors only lose information.
    pub fn new(graph: &Graph, opset: i64) -> TypeView {
        TypeView {
            inferred: lnopt_infer::infer_graph(graph, opset).ok(),
        }
    }

    fn tensor_type(&self, g: &Graph, v: ValueId) -> Option<lnopt_ir::TensorType> {
        if let Some(t) = self.inferred.as_ref().and_then(|t| t.ty(v)) {
            return Some(t.clone());
        }
        if v.index() >= g.value_count() {
            return None;
        }
        let val = g.value(v);
        if let Some(t) = &val.initializer {
            return Some(lnopt_ir::TensorType::fixed(t.dtype, &t.dims));
        }
        val.declared_tensor_type().cloned()
    }

    /// The element type of `v`, when known.
    pub fn dtype(&self, g: &Graph, v: ValueId) -> Option<DType> {
        self.tensor_type(g, v)
            .map(|t| t.elem)
            .filter(|d| *d != DType::Undefined)
    }

    /// The rank of `v`, when known.
    pub fn rank(&self, g: &Graph, v: ValueId) -> Option<usize> {
        self.tensor_type(g, v).and_then(|t| t.rank())
    }

    /// Size of dim `axis` (already normalised) of `v`, when known.
    pub fn dim(&self, g: &Graph, v: ValueId, axis: usize) -> Option<i64> {
        self.tensor_type(g, v)?.shape?.get(axis)?.fixed()
    }
}
