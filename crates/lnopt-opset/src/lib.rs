//! # lnopt-opset
//!
//! Sound upgrade of a model's ai.onnx opset import, so that fusions can emit ops that need a
//! newer opset (`LayerNormalization` ≥ 17, `RMSNormalization` ≥ 23).
//!
//! Every node of the default domain — in the main graph, in If/Loop/Scan bodies and in local
//! function bodies — is looked up in a table of schema changes ([`table`]). Type-only and
//! additive changes keep the node; changes of form (ReduceMean `axes` moving to an input,
//! Split, Squeeze/Unsqueeze, Softmax axis semantics, Pad, Clip, Slice, …) are rewritten; an op
//! whose change is not known to be safe is a [`Blocker`], and then nothing is changed.
//! Other domains are left alone.
//!
//! ```ignore
//! let blockers = lnopt_opset::upgrade_blockers(&model, 17);
//! if blockers.is_empty() {
//!     let report = lnopt_opset::upgrade(&mut model, 17)?;
//! }
//! ```

#![warn(missing_docs)]

mod convert;
mod error;
pub mod table;
mod typeview;
pub mod versions;
mod walk;

pub use error::{Blocker, OpsetError};
pub use versions::MAX_TARGET;

use lnopt_ir::Model;

/// What [`upgrade`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpgradeReport {
    /// The ai.onnx opset the main graph declared before.
    pub from: i64,
    /// The ai.onnx opset it declares now.
    pub to: i64,
    /// `(node, what was rewritten)` for every node whose form changed; nodes that only needed
    /// the version bump are not listed.
    pub converted: Vec<(String, String)>,
}

/// The lowest IR version that may declare ai.onnx `opset` (from ONNX's version table).
pub fn min_ir_version(opset: i64) -> i64 {
    match opset {
        i64::MIN..=8 => 3,
        9 => 4,
        10 => 5,
        11 => 6,
        12..=14 => 7,
        15..=18 => 8,
        19 | 20 => 9,
        21 | 22 => 10,
        _ => 11,
    }
}

/// What would stop an upgrade of the main graph, its subgraphs and local functions to
/// ai.onnx opset `to` (empty: [`upgrade`] would succeed).
pub fn upgrade_blockers(model: &Model, to: i64) -> Vec<Blocker> {
    match walk::plan(model, to) {
        Ok((_, _)) => Vec::new(),
        Err(OpsetError::Blocked { blockers, .. }) => blockers,
        Err(other) => vec![Blocker {
            node: String::new(),
            op_type: String::new(),
            reason: other.to_string(),
        }],
    }
}

/// Upgrades the ai.onnx opset import to `to`, rewriting every node whose op changed meaning or
/// form, and raises `ir_version` to what the new opset needs. All or nothing: on error the
/// model is unchanged. Upgrading to the current version is a no-op.
pub fn upgrade(model: &mut Model, to: i64) -> Result<UpgradeReport, OpsetError> {
    let (upgraded, report) = walk::plan(model, to)?;
    *model = upgraded;
    Ok(report)
}
