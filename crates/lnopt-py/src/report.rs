//! The optimisation report as Python objects (`Report`, `Site`).

use lnopt::Outcome;
use lnopt_cli::optimize::{kind_name, report_json};
use pyo3::prelude::*;
use std::path::Path;

/// One normalisation site lnopt looked at.
#[pyclass(frozen, get_all, module = "lnopt")]
#[derive(Clone, Debug)]
pub struct Site {
    /// "LayerNormalization", "RMSNormalization" or "unknown" (nothing matched).
    pub kind: String,
    /// Name of the site's first ReduceMean node (`#index` when unnamed).
    pub anchor: String,
    /// True when the site was fused.
    pub fused: bool,
    /// Name of the fused node, when fused.
    pub fused_node: Option<String>,
    /// Why the site was not fused.
    pub reason: Option<String>,
    /// The ai.onnx opset the emitted node needs, when fused into a standard op.
    pub needs_opset: Option<i64>,
}

#[pymethods]
impl Site {
    fn __repr__(&self) -> String {
        match (&self.fused_node, &self.reason) {
            (Some(n), _) => format!("Site({} at '{}' fused as '{n}')", self.kind, self.anchor),
            (None, r) => format!(
                "Site({} at '{}' not fused: {})",
                self.kind,
                self.anchor,
                r.as_deref().unwrap_or("no reason given")
            ),
        }
    }
}

/// What one optimisation did.
#[pyclass(frozen, module = "lnopt")]
#[derive(Clone, Debug)]
pub struct Report {
    /// Every site found, in graph order.
    #[pyo3(get)]
    pub sites: Vec<Site>,
    /// The model's ai.onnx opset before.
    #[pyo3(get)]
    pub opset_before: i64,
    /// The ai.onnx opset after (raised when a fusion needed it).
    #[pyo3(get)]
    pub opset_after: i64,
    /// Nodes that blocked an opset upgrade.
    #[pyo3(get)]
    pub upgrade_blocked: Vec<String>,
    summary: String,
    json: String,
}

impl Report {
    /// The report of `outcome`; `model` and `output` name the files in the JSON.
    pub fn new(outcome: &Outcome, model: &Path, output: &Path) -> Report {
        let sites = outcome
            .report
            .sites
            .iter()
            .map(|s| Site {
                kind: kind_name(s.kind).to_string(),
                anchor: s.anchor.clone(),
                fused: s.is_fused(),
                fused_node: s.fused_node.clone(),
                reason: s.reason.clone(),
                needs_opset: s.needs_opset,
            })
            .collect();
        Report {
            sites,
            opset_before: outcome.opset_before,
            opset_after: outcome.opset_after,
            upgrade_blocked: outcome.upgrade_blocked.clone(),
            summary: outcome.summary(),
            json: report_json(outcome, model, output),
        }
    }
}

#[pymethods]
impl Report {
    /// The human-readable summary the CLI prints on stderr.
    fn summary(&self) -> String {
        self.summary.clone()
    }

    /// The CLI's `--report json` document.
    fn to_json(&self) -> String {
        self.json.clone()
    }

    fn __repr__(&self) -> String {
        let fused = self.sites.iter().filter(|s| s.fused).count();
        format!(
            "Report({} sites, {fused} fused, opset {} -> {})",
            self.sites.len(),
            self.opset_before,
            self.opset_after
        )
    }
}
