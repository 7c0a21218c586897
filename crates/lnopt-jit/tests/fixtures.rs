//! The JIT on the repository's fixtures (no `../shared` needed):
//!
//! - `fixtures_match_interpreter`: the original models of the roundtrip, fusion and negative
//!   groups, JIT vs the reference interpreter on their test data;
//! - `fused_fixtures_match_onnx_runtime`: every fusion fixture fused by lnopt (the expected
//!   number of fused nodes, asserted), then run by the interpreter and by the JIT, each
//!   compared with ONNX Runtime's reference outputs of the original model.
//!
//! Neither test skips silently: a case that does not run must be in the exact list of known
//! exceptions below, and every listed exception must still be one.

mod common;

use common::*;
use lnopt::reference::{compare as compare_ref, tolerance_for, Tolerance};
use lnopt_ir::{Graph, Model, Tensor};
use std::collections::BTreeSet;
use std::path::Path;

/// Original fixtures with control flow (If / Loop): the JIT runs them through the
/// interpreter's op library, and they must match like every other fixture.
const CONTROL_FLOW: &[&str] = &["if_outer_scope", "ln_inside_if_branch", "loop_counter"];

/// Fixtures that ship no test data (nothing to run): a custom-domain op no engine knows.
const NO_TEST_DATA: &[&str] = &["unknown_custom_domain_op"];

/// The fewest fusion fixtures there may be (the count when this test was written); a fixture
/// that disappears makes the test fail instead of shrinking its coverage.
const MIN_FUSION_FIXTURES: usize = 46;

fn case_name(case: &Path) -> String {
    case.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .to_string()
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn fixtures_match_interpreter() {
    let mut failures = Vec::new();
    let (mut ran, mut total) = (0, 0);
    let (mut control_flow, mut no_data) = (BTreeSet::new(), BTreeSet::new());
    for group in ["roundtrip", "fusion", "negative"] {
        for case in cases(&fixtures().join(group)) {
            total += 1;
            let name = case_name(&case);
            let model =
                match lnopt_onnx::load(&case.join("model.onnx"), &lnopt_onnx::Limits::default()) {
                    Ok(m) => m,
                    Err(e) => {
                        failures.push(format!("{group}/{name}: load: {e}"));
                        continue;
                    }
                };
            let inputs = data(&case, "input");
            if inputs.is_empty() && !model.graph.inputs().is_empty() {
                no_data.insert(name);
                continue;
            }
            let want = match lnopt_interp::run_model(&model, &inputs) {
                Ok(w) => w,
                Err(e) => {
                    failures.push(format!("{group}/{name}: interpreter: {e}"));
                    continue;
                }
            };
            let got = lnopt_jit::compile(&model, &lnopt_jit::InputShapes::of(&inputs))
                .and_then(|c| c.run(&inputs));
            match got {
                Err(e) => failures.push(format!("{group}/{name}: {e}")),
                Ok(got) => {
                    ran += 1;
                    if CONTROL_FLOW.contains(&name.as_str()) {
                        control_flow.insert(name.clone());
                    }
                    let half = want
                        .iter()
                        .any(|w| matches!(w.dtype, lnopt_ir::DType::F16 | lnopt_ir::DType::BF16));
                    let (atol, rtol) = if half { (1e-2, 1e-2) } else { (1e-4, 1e-3) };
                    match compare_all(&got, &want, atol, rtol) {
                        Ok(e) if e <= 0.0 => {}
                        Ok(e) => failures.push(format!("{group}/{name}: off by {e:.3e}")),
                        Err(e) => failures.push(format!("{group}/{name}: {e}")),
                    }
                }
            }
        }
    }
    eprintln!(
        "fixtures: {ran} of {total} ran under the JIT; control flow {control_flow:?}, no data {no_data:?}"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        control_flow,
        names(CONTROL_FLOW),
        "control-flow fixtures run under the JIT"
    );
    assert_eq!(no_data, names(NO_TEST_DATA), "fixtures without test data");
    assert_eq!(ran, total - NO_TEST_DATA.len(), "every other fixture runs");
    assert!(total >= 100, "only {total} fixtures found");
}

/// LayerNormalization and RMSNormalization nodes in `g` and its subgraphs.
/// Norm nodes of the main graph and of every local function body (fused once per body).
fn count_model_norms(m: &Model) -> (usize, usize) {
    m.functions
        .iter()
        .map(|f| count_norms(&f.body))
        .fold(count_norms(&m.graph), |(a, b), (c, d)| (a + c, b + d))
}

fn count_norms(g: &Graph) -> (usize, usize) {
    let (mut ln, mut rms) = (0, 0);
    for n in g.node_ids() {
        let node = g.node(n);
        match node.op_type.as_str() {
            "LayerNormalization" => ln += 1,
            "RMSNormalization" => rms += 1,
            _ => {}
        }
        for sg in node.subgraphs() {
            let (a, b) = count_norms(sg);
            ln += a;
            rms += b;
        }
    }
    (ln, rms)
}

/// The case's `expect.json`.
fn expect(case: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(case.join("expect.json")).expect("expect.json readable");
    serde_json::from_str(&text).expect("expect.json parses")
}

/// The dtype's default tolerance, loosened (never tightened) by the case's `tolerance` (the
/// same rule as the workspace fixture suite).
fn tolerance(expect: &serde_json::Value, t: &Tensor) -> Tolerance {
    let default = tolerance_for(t.dtype);
    let tol = &expect["tolerance"];
    default.max(Tolerance {
        atol: tol["atol"].as_f64().unwrap_or(default.atol),
        rtol: tol["rtol"].as_f64().unwrap_or(default.rtol),
    })
}

/// Compares `got` with ONNX Runtime's `want`: same output count, every output within tolerance
/// (NaN and infinities only where the reference has them).
fn check_vs_reference(
    expect: &serde_json::Value,
    got: &[Tensor],
    want: &[Tensor],
) -> Result<f64, String> {
    if got.len() != want.len() {
        return Err(format!("{} outputs, {} expected", got.len(), want.len()));
    }
    let mut worst = 0f64;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let c = compare_ref(g, w, tolerance(expect, w));
        if let Some(p) = c.problem.filter(|_| !c.ok) {
            return Err(format!("output {i}: {p}"));
        }
        if !c.ok {
            return Err(format!("output {i}: out of tolerance"));
        }
        worst = worst.max(c.max_abs);
    }
    Ok(worst)
}

/// Fuses `model` with lnopt's default options and checks the fused node counts against
/// `expect.json`; returns the fused model.
fn fuse(model: &Model, expect: &serde_json::Value) -> Result<Model, String> {
    let want = (
        expect["fused"]["LayerNormalization"].as_u64().unwrap_or(0) as usize,
        expect["fused"]["RMSNormalization"].as_u64().unwrap_or(0) as usize,
    );
    if want == (0, 0) {
        return Err("expect.json of a fusion fixture expects no fused node".into());
    }
    let mut fused = model.clone();
    let outcome = lnopt::optimize_model(&mut fused, &lnopt::Options::default())
        .map_err(|e| format!("optimize: {e}"))?;
    let report = &outcome.report;
    let reported = (
        report.fused_count(lnopt::fuse::NormKind::LayerNorm),
        report.fused_count(lnopt::fuse::NormKind::RmsNorm),
    );
    let (ln0, rms0) = count_model_norms(model);
    let (ln1, rms1) = count_model_norms(&fused);
    let added = (ln1.saturating_sub(ln0), rms1.saturating_sub(rms0));
    if reported != want || added != want {
        return Err(format!(
            "fused (LN, RMS) reported {reported:?}, nodes added {added:?}, expected {want:?}\n{}",
            outcome.summary()
        ));
    }
    Ok(fused)
}

/// One fusion fixture: fuse, then interpreter and JIT against ONNX Runtime. Returns whether the
/// JIT ran (always true: a refusal is an error), and a note.
fn check_fused_case(case: &Path) -> Result<(bool, String), String> {
    let expect = expect(case);
    let model = lnopt_onnx::load(&case.join("model.onnx"), &lnopt_onnx::Limits::default())
        .map_err(|e| format!("load: {e}"))?;
    let fused = fuse(&model, &expect)?;
    let inputs = data(case, "input");
    let want = data(case, "output");
    if want.is_empty() {
        return Err("no reference outputs in test_data_set_0".into());
    }
    let interp = lnopt_interp::run_model(&fused, &inputs).map_err(|e| format!("interp: {e}"))?;
    let ei = check_vs_reference(&expect, &interp, &want).map_err(|e| format!("interp: {e}"))?;
    let compiled = match lnopt_jit::compile(&fused, &lnopt_jit::InputShapes::of(&inputs)) {
        Err(e) => return Err(format!("jit compile: {e}")),
        Ok(c) => c,
    };
    // The second run replays the shape-only steps recorded by the first.
    let first = compiled.run(&inputs).map_err(|e| format!("jit: {e}"))?;
    let ej = check_vs_reference(&expect, &first, &want).map_err(|e| format!("jit: {e}"))?;
    let second = compiled
        .run(&inputs)
        .map_err(|e| format!("jit (2nd run): {e}"))?;
    check_vs_reference(&expect, &second, &want).map_err(|e| format!("jit (2nd run): {e}"))?;
    Ok((true, format!("interp {ei:.1e}, jit {ej:.1e}")))
}

#[test]
fn fused_fixtures_match_onnx_runtime() {
    let all = cases(&fixtures().join("fusion"));
    let mut failures = Vec::new();
    let (mut jit_ran, mut jit_refused) = (0, BTreeSet::new());
    for case in &all {
        let name = case_name(case);
        match check_fused_case(case) {
            Ok((true, note)) => {
                jit_ran += 1;
                eprintln!("ok    {name}: {note}");
            }
            Ok((false, note)) => {
                eprintln!("ok    {name}: {note}");
                jit_refused.insert(name);
            }
            Err(e) => {
                eprintln!("FAIL  {name}: {e}");
                failures.push(format!("{name}: {e}"));
            }
        }
    }
    eprintln!(
        "fused fixtures: {} cases, interpreter ran all that passed, JIT ran {jit_ran}",
        all.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} fused fixtures failed:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
    assert!(
        all.len() >= MIN_FUSION_FIXTURES,
        "{} fusion fixtures, expected at least {MIN_FUSION_FIXTURES}",
        all.len()
    );
    assert!(jit_refused.is_empty(), "JIT refused {jit_refused:?}");
    assert_eq!(jit_ran, all.len());
}

/// The fused fixtures include the kinds whose geometry differs from a plain last-axis norm, so
/// a JIT or interpreter that mishandles `axis`, channels-first layouts or fp16 cannot pass
/// `fused_fixtures_match_onnx_runtime`.
#[test]
fn fused_fixtures_cover_axes_layouts_and_fp16() {
    let dir = fixtures().join("fusion");
    let mut kinds = BTreeSet::new();
    for case in cases(&dir) {
        let model = lnopt_onnx::load(&case.join("model.onnx"), &lnopt_onnx::Limits::default())
            .expect("fixture loads");
        let fused = fuse(&model, &expect(&case)).expect("fixture fuses");
        let g = &fused.graph;
        let types = lnopt::infer::infer_model(&fused).expect("fused fixture types infer");
        for n in g.node_ids() {
            let node = g.node(n);
            let rms = match node.op_type.as_str() {
                "LayerNormalization" => false,
                "RMSNormalization" => true,
                _ => continue,
            };
            let x = node.input(0).expect("norm input");
            let ty = types.ty(x).expect("norm input type inferred");
            let rank = ty.shape.as_ref().map_or(0, |s| s.len()) as i64;
            let axis = match node.attr("axis") {
                Some(lnopt_ir::AttrValue::Int(a)) => *a,
                _ => -1,
            };
            let axis = if axis < 0 { axis + rank } else { axis };
            let tag = if rms { "rms" } else { "ln" };
            if axis < rank - 1 {
                kinds.insert(format!("{tag} over several axes"));
            }
            if ty.elem == lnopt_ir::DType::F16 {
                kinds.insert(format!("{tag} fp16"));
            }
            if g.producer_node(x)
                .is_some_and(|(p, _)| g.node(p).op_type == "Transpose")
            {
                kinds.insert(format!("{tag} channels-first (Transpose before)"));
            }
            if rank == 4 {
                kinds.insert(format!("{tag} rank 4"));
            }
        }
    }
    let want: BTreeSet<String> = [
        "ln over several axes",
        "rms over several axes",
        "ln fp16",
        "rms fp16",
        "ln channels-first (Transpose before)",
        "ln rank 4",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let missing: Vec<_> = want.difference(&kinds).collect();
    assert!(
        missing.is_empty(),
        "no fused fixture of kind {missing:?}; have {kinds:?}"
    );
}
