//! # lnopt-fuse: e-graph fusion of decomposed LayerNorm / RMSNorm
//!
//! [`fuse_graph`] finds every `ReduceMean` of a graph, builds a small e-graph over the region
//! around it ([`region`]), saturates it with the rules of [`rules`] (algebraic equalities,
//! variance spellings, casts, and one target per normalisation kind), extracts a DAG-aware
//! cheapest form ([`extract`]) and writes the fused `LayerNormalization` / `RMSNormalization`
//! nodes back into the IR ([`emit`]). Every condition is checked from inferred facts
//! ([`analysis::Facts`]); anything not proven leaves the graph untouched, with a reason in
//! the [`FuseReport`].
//!
//! The language ([`NormLang`]), analysis ([`NormAnalysis`]) and [`rules()`] are public so
//! another egg-based compiler can include them.

#![warn(missing_docs)]

pub mod analysis;
pub mod channels_first;
pub mod consts;
pub mod emit;
pub mod extract;
pub mod flatten_roundtrip;
pub mod functions;
mod fuse;
// egg's define_language! takes no doc comments on its literal variants (`Int`, `Val`);
// the enum's own doc describes every term.
#[allow(missing_docs)]
pub mod lang;
pub mod region;
pub mod rules;
pub mod sites;
mod subgraphs;

pub use analysis::{Facts, NormAnalysis};
pub use functions::fuse_model;
pub use fuse::fuse_graph;
pub use lang::{NormLang, Scalar, ValRef};
pub use subgraphs::fuse_graph_and_subgraphs;

use std::fmt;

/// Which node forms to emit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum EmitTarget {
    /// ONNX standard ops: `LayerNormalization` (opset ≥ 17), `RMSNormalization` (≥ 23).
    #[default]
    Standard,
    /// ONNX Runtime's forms: `LayerNormalization` and `SimplifiedLayerNormalization` in the
    /// default domain, accepted by ORT at any opset.
    Ort,
}

/// Options of the pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FuseOptions {
    /// Node forms to emit.
    pub target: EmitTarget,
    /// May LayerNorm sites be fused (the caller decided the opset allows it)?
    pub allow_layer_norm: bool,
    /// May RMSNorm sites be fused?
    pub allow_rms_norm: bool,
    /// Saturation iteration limit per region.
    pub max_iters: usize,
    /// E-node limit per region.
    pub max_enodes: usize,
}

impl Default for FuseOptions {
    fn default() -> Self {
        FuseOptions {
            target: EmitTarget::Standard,
            allow_layer_norm: true,
            allow_rms_norm: true,
            max_iters: 24,
            max_enodes: 20_000,
        }
    }
}

/// Kind of normalisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NormKind {
    /// Mean-centred, variance-scaled (`LayerNormalization`).
    LayerNorm,
    /// Root-mean-square scaled (`RMSNormalization`).
    RmsNorm,
}

impl NormKind {
    /// The ai.onnx opset that introduced the standard op.
    pub fn standard_opset(self) -> i64 {
        match self {
            NormKind::LayerNorm => 17,
            NormKind::RmsNorm => 23,
        }
    }

    /// The standard op type.
    pub fn op_name(self) -> &'static str {
        match self {
            NormKind::LayerNorm => "LayerNormalization",
            NormKind::RmsNorm => "RMSNormalization",
        }
    }
}

impl fmt::Display for NormKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NormKind::LayerNorm => "LayerNorm",
            NormKind::RmsNorm => "RMSNorm",
        })
    }
}

/// Outcome for one candidate site (rooted at a ReduceMean).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteReport {
    /// Kind fused (or recognised but not allowed), `None` when nothing matched.
    pub kind: Option<NormKind>,
    /// Name of the site's first ReduceMean node (`#index` when unnamed).
    pub anchor: String,
    /// Name of the fused node, when fused.
    pub fused_node: Option<String>,
    /// Why the site was not fused.
    pub reason: Option<String>,
    /// The ai.onnx opset the emitted node needs (`None` for ORT forms or when not fused).
    pub needs_opset: Option<i64>,
}

impl SiteReport {
    /// True when the site was fused.
    pub fn is_fused(&self) -> bool {
        self.fused_node.is_some()
    }
}

/// Per-site outcomes of one run, in graph order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FuseReport {
    /// One entry per site.
    pub sites: Vec<SiteReport>,
}

impl FuseReport {
    /// Number of sites fused as `kind`.
    pub fn fused_count(&self, kind: NormKind) -> usize {
        self.sites
            .iter()
            .filter(|s| s.is_fused() && s.kind == Some(kind))
            .count()
    }

    /// Number of fused sites of any kind.
    pub fn total_fused(&self) -> usize {
        self.sites.iter().filter(|s| s.is_fused()).count()
    }

    /// Sites left as they were.
    pub fn not_fused(&self) -> impl Iterator<Item = &SiteReport> {
        self.sites.iter().filter(|s| !s.is_fused())
    }

    /// Highest opset any emitted node needs.
    pub fn max_needed_opset(&self) -> Option<i64> {
        self.sites.iter().filter_map(|s| s.needs_opset).max()
    }
}

/// Errors of the pass. Sites that cannot be fused are not errors (see [`SiteReport::reason`]).
#[derive(Debug, thiserror::Error)]
pub enum FuseError {
    /// Inference found an inconsistency in the graph.
    #[error("type inference failed: {0}")]
    Infer(#[from] lnopt_infer::InferError),
    /// The graph is not a DAG (or another structural problem).
    #[error("invalid graph: {0}")]
    Graph(#[from] lnopt_ir::IrError),
    /// An edit of the graph failed; the message names the site.
    #[error("internal error while fusing at {site}: {what}")]
    Internal {
        /// Anchor of the site.
        site: String,
        /// What went wrong.
        what: String,
    },
}

/// All rewrite rules of the pass (algebra, variance, cast, LayerNorm, RMSNorm).
pub fn rules() -> Vec<egg::Rewrite<NormLang, NormAnalysis>> {
    rules::all()
}
