//! The opset policy of `optimize_model`: upgrade only when a fused node needs it and every op
//! converts; otherwise leave the model (opset included) as it was and say why.

mod common;

use common::Builder;
use lnopt::ir::Model;
use lnopt::{optimize_model, Options};

/// A canonical decomposed LayerNorm over `[2, 8]` at opset 13, optionally followed by an op
/// of the default domain that lnopt-opset does not know (so no upgrade is possible).
fn model(with_blocker: bool) -> Model {
    let (mut b, x) = Builder::with_input(&[2, 8]);
    let mut y = b.layer_norm(x);
    if with_blocker {
        y = b.op("NotAnOnnxOp", &[y], false);
    }
    b.g.add_output(y);
    Model::new(b.g, 13)
}

#[test]
fn upgrades_to_17_when_a_layer_norm_fuses() {
    let mut m = model(false);
    let o = optimize_model(&mut m, &Options::default()).unwrap();
    assert_eq!(o.report.total_fused(), 1, "{}", o.summary());
    assert_eq!((o.opset_before, o.opset_after), (13, 17));
    assert_eq!(m.opset_version(""), Some(17));
    assert!(o.upgrade_blocked.is_empty(), "{:?}", o.upgrade_blocked);
}

#[test]
fn a_blocking_op_leaves_the_model_untouched_and_names_the_node() {
    let original = model(true);
    let mut m = original.clone();
    let o = optimize_model(&mut m, &Options::default()).unwrap();
    assert_eq!(o.report.total_fused(), 0, "{}", o.summary());
    assert_eq!(m, original);
    assert_eq!(m.opset_version(""), Some(13));
    assert!(
        o.upgrade_blocked.iter().any(|b| b.contains("NotAnOnnxOp")),
        "{:?}",
        o.upgrade_blocked
    );
    let reason = o.report.sites[0].reason.as_deref().unwrap_or("");
    assert!(reason.contains("opset 17"), "{reason}");
}

#[test]
fn no_opset_upgrade_keeps_the_opset_and_says_so() {
    let original = model(false);
    let mut m = original.clone();
    let opts = Options {
        allow_opset_upgrade: false,
        ..Options::default()
    };
    let o = optimize_model(&mut m, &opts).unwrap();
    assert_eq!(o.report.total_fused(), 0);
    assert_eq!(m, original);
    assert!(o
        .upgrade_blocked
        .iter()
        .any(|b| b.contains("upgrades disabled")));
}
