//! `lnopt MODEL -o OUT`: import, fuse, export, and report every site.

use crate::{Failure, LimitArgs};
use clap::{Args, ValueEnum};
use lnopt::fuse::NormKind;
use lnopt::{Options, Outcome, Target};
use serde_json::json;
use std::path::PathBuf;

/// Output flavour on the command line.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetArg {
    /// Standard ONNX (raises the opset when needed and safe).
    Standard,
    /// ONNX Runtime's private LayerNormalization / SimplifiedLayerNormalization at the model's opset.
    Ort,
}

/// Where the output's external tensors go.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExternalDataArg {
    /// Copy them into OUT.data beside the output (file to file, never all in memory).
    Copy,
    /// Write only the graph and reference the input's data files in place (output in the
    /// input's folder, weights unchanged).
    Keep,
}

/// Report format.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportArg {
    /// A short summary on stderr.
    Text,
    /// A JSON document on stdout (the summary still goes to stderr).
    Json,
}

/// Arguments of the default command.
#[derive(Args, Debug)]
pub struct OptimizeArgs {
    /// The ONNX model to optimise (never modified).
    #[arg(value_name = "MODEL", required = true)]
    model: Option<PathBuf>,
    /// Where to write the optimised model (written atomically; external data goes to OUT.data).
    #[arg(short, long, value_name = "OUT", required = true)]
    output: Option<PathBuf>,
    /// Allow OUT to be the same file as MODEL.
    #[arg(long)]
    force: bool,
    /// Output flavour.
    #[arg(long, value_enum, default_value_t = TargetArg::Standard)]
    target: TargetArg,
    /// Where external tensors go: `copy` into OUT.data, or `keep` the input's data files.
    #[arg(long, value_enum, default_value_t = ExternalDataArg::Copy, value_name = "MODE")]
    external_data: ExternalDataArg,
    /// Report format.
    #[arg(long, value_enum, default_value_t = ReportArg::Text)]
    report: ReportArg,
    /// Only import and export (no fusion).
    #[arg(long)]
    no_fuse: bool,
    /// Never raise the model's opset; sites that would need it stay unfused.
    #[arg(long)]
    no_opset_upgrade: bool,
    /// Print nothing on stderr on success.
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    limits: LimitArgs,
}

/// Runs the default command.
pub fn optimize(a: &OptimizeArgs) -> Result<u8, Failure> {
    let (Some(model), Some(output)) = (&a.model, &a.output) else {
        return Err(Failure::bad("usage: lnopt MODEL -o OUT (see --help)"));
    };
    let options = Options {
        target: match a.target {
            TargetArg::Standard => Target::Standard,
            TargetArg::Ort => Target::Ort,
        },
        fuse: !a.no_fuse,
        allow_opset_upgrade: !a.no_opset_upgrade,
        limits: a.limits.limits(),
        overwrite_input: a.force,
        external_data: match a.external_data {
            ExternalDataArg::Copy => lnopt::onnx::ExternalData::Copy,
            ExternalDataArg::Keep => lnopt::onnx::ExternalData::Keep,
        },
    };
    let outcome = lnopt::optimize_file(model, output, &options)?;
    if !a.quiet {
        eprintln!("{}", outcome.summary());
    }
    if a.report == ReportArg::Json {
        println!("{}", report_json(&outcome, model, output));
    }
    Ok(0)
}

/// The ONNX op name of a norm kind, as the report spells it (`unknown` when none matched).
pub fn kind_name(k: Option<NormKind>) -> &'static str {
    match k {
        Some(NormKind::LayerNorm) => "LayerNormalization",
        Some(NormKind::RmsNorm) => "RMSNormalization",
        None => "unknown",
    }
}

/// The machine-readable report.
pub fn report_json(o: &Outcome, model: &std::path::Path, output: &std::path::Path) -> String {
    let sites: Vec<_> = o
        .report
        .sites
        .iter()
        .map(|s| {
            json!({
                "kind": kind_name(s.kind),
                "anchor": s.anchor,
                "fused": s.fused_node.is_some(),
                "fused_node": s.fused_node,
                "reason": s.reason,
                "needs_opset": s.needs_opset,
            })
        })
        .collect();
    let count = |k| {
        o.report
            .sites
            .iter()
            .filter(|s| s.fused_node.is_some() && s.kind == Some(k))
            .count()
    };
    let doc = json!({
        "model": model.display().to_string(),
        "output": output.display().to_string(),
        "opset_before": o.opset_before,
        "opset_after": o.opset_after,
        "sites_found": o.report.sites.len(),
        "fused": {
            "LayerNormalization": count(NormKind::LayerNorm),
            "RMSNormalization": count(NormKind::RmsNorm),
        },
        "upgrade_blocked": o.upgrade_blocked,
        "sites": sites,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
