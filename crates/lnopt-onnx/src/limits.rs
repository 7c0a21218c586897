//! Resource limits applied while reading untrusted files.

/// Bounds on what [`crate::load`] and [`crate::decode`] accept, checked before allocating.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest model (or tensor) file read, in bytes.
    pub max_file_bytes: u64,
    /// Most nodes in the whole model, counting subgraphs and function bodies.
    pub max_nodes: usize,
    /// Deepest subgraph nesting (the main graph is depth 0).
    pub max_depth: usize,
    /// Largest single tensor, in bytes of packed element data.
    pub max_tensor_bytes: u64,
}

impl Default for Limits {
    /// Generous limits: 8 GiB files, 10 million nodes, depth 64, 8 GiB per tensor.
    fn default() -> Limits {
        Limits {
            max_file_bytes: 8 << 30,
            max_nodes: 10_000_000,
            max_depth: 64,
            max_tensor_bytes: 8 << 30,
        }
    }
}

impl Limits {
    /// Recursion limit handed to the protobuf decoder: each subgraph level costs three message
    /// levels (Graph > Node > Attribute), plus room for nested types, so that our own depth
    /// check reports hostile nesting before the decoder does.
    pub(crate) fn protobuf_recursion(&self) -> u32 {
        let levels = self.max_depth.saturating_mul(3).saturating_add(40);
        u32::try_from(levels).unwrap_or(u32::MAX).min(10_000)
    }
}
