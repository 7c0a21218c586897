//! The "why not fused" reason of a site names the real blocker. Each case is a committed
//! near-miss fixture; the expected fragment names what stops it, and a fragment seen as a
//! wrong reason before is ruled out.

use lnopt::{optimize_model, Options};
use std::path::Path;

/// The reasons lnopt gives for the unfused sites of a fixture.
fn reasons(case: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(case)
        .join("model.onnx");
    let mut model = lnopt::onnx::load(&path, &Default::default()).expect("fixture loads");
    let outcome = optimize_model(&mut model, &Options::default()).expect("pass runs");
    outcome
        .report
        .sites
        .iter()
        .filter_map(|s| s.reason.clone())
        .collect()
}

fn check(case: &str, wanted: &str, not: Option<&str>) {
    let r = reasons(case);
    assert_eq!(r.len(), 1, "{case}: one unfused site expected, got {r:?}");
    assert!(
        r[0].contains(wanted),
        "{case}: reason '{}' lacks '{wanted}'",
        r[0]
    );
    if let Some(bad) = not {
        assert!(
            !r[0].contains(bad),
            "{case}: reason '{}' names '{bad}'",
            r[0]
        );
    }
}

#[test]
fn clamp_above_zero_is_named_not_a_reversed_sub() {
    // E[x²] − E[x]² has a mean as its first operand; that is no `mean - x`.
    check(
        "negative/ln_variance_clamped_above_zero",
        "Max at node",
        Some("reversed operands"),
    );
}

#[test]
fn castlike_of_a_runtime_eps_is_named() {
    check(
        "negative/rms_eps_castlike_runtime",
        "epsilon added at node",
        Some("Pow"),
    );
}

#[test]
fn global_pool_axes_are_compared_with_the_variance_axes() {
    check(
        "negative/ln_global_pool_mismatched_axes",
        "reduce different axes: last 2 at node GlobalAveragePool_0",
        Some("rank"),
    );
}

#[test]
fn f64_eps_that_underflows_f32_is_named() {
    check(
        "negative/rms_double_eps_underflows_f32",
        "no normal f32 value",
        None,
    );
}

#[test]
fn a_lone_global_average_pool_is_no_site() {
    // timm's ConvNeXt pools its head with a GlobalAveragePool: a pooling layer, not a site.
    // With the pool's shape rule the head norm after it fuses too, so nothing is left.
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/exporters/timm/convnext_tiny/model.onnx");
    let mut model = lnopt::onnx::load(&path, &Default::default()).expect("fixture loads");
    let o = optimize_model(&mut model, &Options::default()).expect("pass runs");
    // meta.json counts 9 LayerNorm calls in the timm model.
    assert_eq!(o.report.sites.len(), 9, "{}", o.summary());
    for s in &o.report.sites {
        assert!(s.is_fused(), "{}: {:?}", s.anchor, s.reason);
        assert!(!s.anchor.contains("GlobalAveragePool"), "{}", s.anchor);
    }
}
