//! The opset policy around the fusion pass.
//!
//! - `Target::Standard` (default): the output is valid standard ONNX. `LayerNormalization`
//!   needs ai.onnx 17 and `RMSNormalization` 23. A kind of fusion is allowed when the model
//!   already has that opset, or when `lnopt-opset` can convert every op of the model to it.
//!   After fusing, the model is upgraded to the highest opset a fused node needs; if nothing
//!   was fused, the opset is untouched. Sites that would need an impossible upgrade are left
//!   alone and reported with the blocking node.
//! - `Target::Ort`: ONNX Runtime's private forms at the model's own opset
//!   (`LayerNormalization` and `SimplifiedLayerNormalization` in the default domain); no
//!   upgrade. Only ONNX Runtime runs such models.

use crate::Error;
use lnopt_fuse::{EmitTarget, FuseOptions, FuseReport, NormKind};
use lnopt_ir::Model;

/// Which runtime the output is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Target {
    /// Standard ONNX; raise the opset when a fusion needs it and every op converts.
    #[default]
    Standard,
    /// ONNX Runtime's private normalisation ops at the model's opset.
    Ort,
}

/// Settings of one optimisation run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Output flavour.
    pub target: Target,
    /// Run the fusion pass at all (`false`: import/export only).
    pub fuse: bool,
    /// Allow raising the model's ai.onnx opset (standard target only).
    pub allow_opset_upgrade: bool,
    /// Input size limits.
    pub limits: lnopt_onnx::Limits,
    /// Allow `optimize_file` to write over its input.
    pub overwrite_input: bool,
    /// Where `optimize_file` puts the output's external tensors: copied into `OUT.data`
    /// (default), or referenced in the input's data files in place.
    pub external_data: lnopt_onnx::ExternalData,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            target: Target::Standard,
            fuse: true,
            allow_opset_upgrade: true,
            limits: lnopt_onnx::Limits::default(),
            overwrite_input: false,
            external_data: lnopt_onnx::ExternalData::Copy,
        }
    }
}

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Per-site fusion results.
    pub report: FuseReport,
    /// ai.onnx opset before the run.
    pub opset_before: i64,
    /// ai.onnx opset after the run.
    pub opset_after: i64,
    /// Why an opset upgrade was not possible, when that kept sites unfused.
    pub upgrade_blocked: Vec<String>,
}

impl Outcome {
    /// A short human-readable summary: sites found, fused by kind, and each reason not to.
    pub fn summary(&self) -> String {
        use lnopt_fuse::NormKind;
        let sites = &self.report.sites;
        let ln = sites
            .iter()
            .filter(|s| s.fused_node.is_some() && s.kind == Some(NormKind::LayerNorm))
            .count();
        let rms = sites
            .iter()
            .filter(|s| s.fused_node.is_some() && s.kind == Some(NormKind::RmsNorm))
            .count();
        let mut out = format!(
            "lnopt: {} site(s) found, fused {} LayerNormalization, {} RMSNormalization",
            sites.len(),
            ln,
            rms
        );
        if self.opset_after != self.opset_before {
            out.push_str(&format!(
                "; opset {} -> {}",
                self.opset_before, self.opset_after
            ));
        }
        for s in sites.iter().filter(|s| s.fused_node.is_none()) {
            out.push_str(&format!(
                "\n  not fused at {}: {}",
                s.anchor,
                s.reason.as_deref().unwrap_or("no reason recorded")
            ));
        }
        for b in &self.upgrade_blocked {
            out.push_str(&format!("\n  opset upgrade blocked: {b}"));
        }
        out
    }
}

/// Fuses the main graph of `model` (its subgraphs and local function bodies too) under the
/// opset policy of `options`, after refusing a model [`crate::validate`] finds invalid. On
/// error the model is left unchanged.
pub fn optimize_model(model: &mut Model, options: &Options) -> Result<Outcome, Error> {
    crate::validate(model)?;
    let opset = model.opset_version("").unwrap_or(1);
    let mut outcome = Outcome {
        opset_before: opset,
        opset_after: opset,
        ..Outcome::default()
    };
    if !options.fuse {
        return Ok(outcome);
    }
    let emit = match options.target {
        Target::Ort => EmitTarget::Ort,
        Target::Standard => EmitTarget::Standard,
    };
    // Kinds whose standard op exists at `level`; ORT's private forms exist at every opset.
    let allowed_at = |level: i64| FuseOptions {
        target: emit,
        allow_layer_norm: emit == EmitTarget::Ort || level >= NormKind::LayerNorm.standard_opset(),
        allow_rms_norm: emit == EmitTarget::Ort || level >= NormKind::RmsNorm.standard_opset(),
        ..FuseOptions::default()
    };

    // First pass with every kind allowed: which opset would the fused nodes need?
    let mut work = model.clone();
    let all_kinds = FuseOptions {
        allow_layer_norm: true,
        allow_rms_norm: true,
        ..allowed_at(opset)
    };
    let mut were_unused = crate::cleanup::unused_values(&work.graph);
    let mut report = lnopt_fuse::fuse_model(&mut work, opset, &all_kinds)?;
    let needed = report
        .sites
        .iter()
        .filter(|s| s.is_fused())
        .filter_map(|s| s.needs_opset)
        .max()
        .unwrap_or(opset);
    if emit == EmitTarget::Standard && needed > opset {
        // The fused nodes only exist from `needed` on. Convert the original model to the
        // highest level that converts (RMSNorm's 23, else LayerNorm's 17), then fuse again on
        // the converted graph (whose Reduce ops may now take axes as inputs) with the kinds
        // that level allows, so every other op keeps its meaning under the new opset. When no
        // level converts, fuse only what the model's own opset allows.
        let mut levels = vec![needed, NormKind::LayerNorm.standard_opset()];
        levels.dedup();
        let mut target = opset;
        if options.allow_opset_upgrade {
            for level in levels.into_iter().filter(|&l| l > opset && l <= needed) {
                let blockers = lnopt_opset::upgrade_blockers(model, level);
                if blockers.is_empty() {
                    target = level;
                    break;
                }
                for b in blockers.iter().take(3) {
                    outcome.upgrade_blocked.push(format!(
                        "to opset {level}: node '{}' ({}): {}",
                        b.node, b.op_type, b.reason
                    ));
                }
            }
        } else {
            outcome
                .upgrade_blocked
                .push(format!("opset {needed} needed, upgrades disabled"));
        }
        work = model.clone();
        if target > opset {
            lnopt_opset::upgrade(&mut work, target)?;
            outcome.opset_after = target;
        }
        were_unused = crate::cleanup::unused_values(&work.graph);
        report = lnopt_fuse::fuse_model(&mut work, target, &allowed_at(target))?;
    }
    // Nothing fused: the input model stays exactly as it was (no upgrade, no new names).
    if report.total_fused() > 0 {
        crate::cleanup::drop_orphans(&mut work.graph, &were_unused);
        *model = work;
    } else {
        outcome.opset_after = opset;
    }
    outcome.report = report;
    Ok(outcome)
}
