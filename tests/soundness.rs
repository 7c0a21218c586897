//! Property-based soundness suite for the fusion pass.
//!
//! Each case generates a decomposed LayerNorm / RMSNorm graph from a random [`gen::Spec`]
//! (shape, axes, spelling of every step, operand order, ε form, γ/β, extra readers of
//! intermediates, f32 or f16-with-Casts), optimises it with `lnopt::optimize_model` for the
//! standard target (opset upgrade included) and for ONNX Runtime's forms, and checks:
//!
//! 1. the optimised models verify, and optimising them again changes nothing;
//! 2. the pass did exactly what the spec says: one fused node of the right kind for a
//!    genuine norm, nothing at all (model unchanged) for a near-miss;
//! 3. original and optimised models compute the same outputs through the reference
//!    interpreter, on random inputs.
//!
//! Tolerances: f32 outputs within `1e-4 + 1e-3·|expected|`; f16 outputs within
//! `2e-2 + 2e-2·|expected|`. NaN must meet NaN (near-miss exponents such as `Pow(d, 0.5)`
//! legitimately produce NaN on both sides). Conditioning: the input `x` has values -1.5 and
//! +1.5 at the start of every block of the normalised dims, so each normalised row's
//! variance and mean square is at least 4.5 / (block size) ≥ 0.02; rows with (near) zero
//! variance, where f32 is meaningless for `E[x²] - E[x]²`, are therefore never generated
//! (blocks of one element have variance exactly 0, which both sides compute exactly).
//!
//! Case counts: `LNOPT_SOUNDNESS_CASES` per property (two properties); default 5000 in
//! release builds (10,000 graphs per run), 200 in debug builds.

#[path = "soundness/gen.rs"]
mod gen;

use gen::{Expect, Kind, Spec};
use lnopt::{optimize_model, Options, Outcome, Target};
use lnopt_fuse::NormKind;
use lnopt_ir::{dump::dump_model, DType, Model, Tensor};
use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, TestCaseError};

fn cases() -> u32 {
    std::env::var("LNOPT_SOUNDNESS_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if cfg!(debug_assertions) { 200 } else { 5000 })
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        max_shrink_iters: 2000,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/proptest-regressions/soundness.txt"
        )))),
        ..ProptestConfig::default()
    }
}

fn norm_kind(k: Kind) -> NormKind {
    match k {
        Kind::Ln => NormKind::LayerNorm,
        Kind::Rms => NormKind::RmsNorm,
    }
}

/// Optimises a copy of `m` for `target`, checks validity and idempotence.
fn optimise(m: &Model, target: Target) -> Result<(Model, Outcome), TestCaseError> {
    let opts = Options {
        target,
        ..Options::default()
    };
    let mut out = m.clone();
    let outcome = optimize_model(&mut out, &opts)
        .map_err(|e| TestCaseError::fail(format!("{target:?}: pass failed: {e}")))?;
    out.graph
        .verify()
        .map_err(|e| TestCaseError::fail(format!("{target:?}: optimised graph invalid: {e}")))?;
    let mut again = out.clone();
    let second = optimize_model(&mut again, &opts)
        .map_err(|e| TestCaseError::fail(format!("{target:?}: second pass failed: {e}")))?;
    prop_assert_eq!(
        dump_model(&again),
        dump_model(&out),
        "{:?}: optimising again changed the model ({} more fused)",
        target,
        second.report.total_fused()
    );
    Ok((out, outcome))
}

/// Checks the fused counts against the spec's expectation.
fn check_counts(
    s: &Spec,
    m: &Model,
    out: &Model,
    o: &Outcome,
    target: Target,
) -> Result<(), TestCaseError> {
    let r = &o.report;
    match s.expected() {
        Expect::Fused(k) => {
            prop_assert_eq!(
                r.fused_count(norm_kind(k)),
                1,
                "{:?}: genuine {:?} not fused exactly once: {}\n--- original\n{}--- optimised\n{}",
                target,
                k,
                o.summary(),
                dump_model(m),
                dump_model(out)
            );
            prop_assert_eq!(r.total_fused(), 1, "{:?}: {}", target, o.summary());
        }
        Expect::Untouched => {
            prop_assert_eq!(
                r.total_fused(),
                0,
                "{:?}: near-miss {:?} was fused: {}\n--- original\n{}--- optimised\n{}",
                target,
                s.flaw,
                o.summary(),
                dump_model(m),
                dump_model(out)
            );
            prop_assert_eq!(
                dump_model(out),
                dump_model(m),
                "{:?}: near-miss model was changed",
                target
            );
        }
        Expect::Either => {
            // At most one node for the norm plus one for a raw read of an f32 value.
            prop_assert!(r.total_fused() <= 2, "{:?}: {}", target, o.summary());
        }
    }
    Ok(())
}

/// Compares interpreter outputs of `a` (original) and `b` (optimised).
fn check_same(s: &Spec, a: &[Tensor], b: &[Tensor], target: Target) -> Result<(), TestCaseError> {
    prop_assert_eq!(a.len(), b.len(), "{:?}: output count changed", target);
    for (x, y) in a.iter().zip(b) {
        prop_assert_eq!(&x.dims, &y.dims, "{:?}: output {} shape", target, &x.name);
        prop_assert_eq!(x.dtype, y.dtype, "{:?}: output {} dtype", target, &x.name);
        let (abs, rel) = if x.dtype == DType::F16 || s.f16 {
            (2e-2, 2e-2)
        } else {
            (1e-4, 1e-3)
        };
        let xv = x
            .to_f64_vec()
            .ok_or_else(|| TestCaseError::fail("non-numeric"))?;
        let yv = y
            .to_f64_vec()
            .ok_or_else(|| TestCaseError::fail("non-numeric"))?;
        for (i, (p, q)) in xv.iter().zip(&yv).enumerate() {
            // NaN meets NaN, an infinity only the same infinity, finite values within tolerance.
            let ok = (p.is_nan() && q.is_nan())
                || p == q
                || (p.is_finite() && q.is_finite() && (p - q).abs() <= abs + rel * p.abs());
            prop_assert!(
                ok,
                "{:?}: output {} element {}: original {} optimised {}",
                target,
                &x.name,
                i,
                p,
                q
            );
        }
    }
    Ok(())
}

/// The whole property for one spec.
fn check(s: &Spec) -> Result<(), TestCaseError> {
    let m = gen::build(s);
    m.graph
        .verify()
        .map_err(|e| TestCaseError::fail(format!("generator made an invalid graph: {e}")))?;
    let inputs = gen::inputs(s, &m);
    let want = lnopt_interp::run_model(&m, &inputs)
        .map_err(|e| TestCaseError::fail(format!("original does not run: {e}")))?;
    for target in [Target::Standard, Target::Ort] {
        let (out, outcome) = optimise(&m, target)?;
        check_counts(s, &m, &out, &outcome, target)?;
        let got = lnopt_interp::run_model(&out, &inputs).map_err(|e| {
            TestCaseError::fail(format!("{target:?}: optimised model does not run: {e}"))
        })?;
        check_same(s, &want, &got, target)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    /// Genuine norms in every spelling: fused exactly once (or, for extra readers of the
    /// statistics, possibly not at all), same outputs.
    #[test]
    fn genuine_norms_fuse_and_keep_outputs(s in gen::spec(false)) {
        check(&s)?;
    }

    /// Near-misses: never fused, model unchanged, same outputs.
    #[test]
    fn near_misses_are_left_alone(s in gen::spec(true)) {
        prop_assert!(s.expected() == Expect::Untouched);
        check(&s)?;
    }
}

/// The generators reach every class: each flaw, spelling and extra reader appears in a
/// sample, so the properties cannot silently stop covering one.
#[test]
fn generators_cover_every_class() {
    use proptest::strategy::ValueTree;
    use std::collections::BTreeSet;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut seen = BTreeSet::new();
    for flawed in [false, true] {
        let strategy = gen::spec(flawed);
        for _ in 0..3000 {
            let s = strategy
                .new_tree(&mut runner)
                .expect("spec generation")
                .current();
            let flaw = format!("{:?}", s.flaw);
            let flaw = flaw.split('(').next().unwrap_or_default().to_string();
            seen.insert(format!("flaw {flaw} {:?}", s.kind));
            seen.insert(format!("inv {:?}", s.inv));
            seen.insert(format!("eps {:?}", s.eps));
            seen.insert(format!("extra {:?}", s.extra));
            seen.insert(format!("square {:?} moments {}", s.square, s.moments));
            seen.insert(format!("rank {} k {}", s.rank(), s.k));
            seen.insert(format!("f16 {} axes_input {}", s.f16, s.axes_input));
            seen.insert(format!("gamma {:?}", s.gamma));
            seen.insert(format!(
                "clamp {} factored {} squeeze {}",
                s.clamp, s.factored, s.squeeze
            ));
        }
    }
    let flaws = [
        "None",
        "Exponent",
        "NonTrailing",
        "Keepdims0",
        "MeanOfOther",
        "EpsInput",
        "EpsEnlarges",
        "EpsPerElement",
        "DivNoSqrt",
        "PowNegTwo",
        "ClampPositive",
    ];
    for kind in ["Ln", "Rms"] {
        for f in flaws {
            assert!(
                seen.contains(&format!("flaw {f} {kind}")),
                "{f} {kind} never generated"
            );
        }
    }
    for f in ["ReversedSub", "Mismatched", "FactoredOtherScale"] {
        assert!(
            seen.contains(&format!("flaw {f} Ln")),
            "{f} never generated"
        );
    }
    for rank in 2..=4 {
        for k in 1..=rank {
            assert!(
                seen.contains(&format!("rank {rank} k {k}")),
                "rank {rank} k {k}"
            );
        }
    }
    // 6 inverse spellings, 5 eps forms, clamp / Keras 3 factoring / keepdims=0 on and off, 8 extras, 4 square x variance forms, 4 dtype/opset
    // combinations, 13 γ forms.
    let count = |p: &str| seen.iter().filter(|s| s.starts_with(p)).count();
    assert_eq!(count("inv "), 6);
    assert_eq!(count("eps "), 5);
    for knob in ["clamp true", "factored true", "squeeze true"] {
        assert!(
            seen.iter().any(|s| s.contains(knob)),
            "{knob} never generated"
        );
    }
    assert_eq!(count("extra "), 8);
    assert_eq!(count("square "), 4);
    assert_eq!(count("f16 "), 4);
    assert_eq!(count("gamma "), 13);
}
