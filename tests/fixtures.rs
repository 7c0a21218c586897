//! Fixture regression suite: walks `fixtures/` for every folder holding a `model.onnx` and an
//! `expect.json`, and runs each case in several modes:
//!
//! 1. round trip: import → export → import → export is byte-identical, and the IR survives;
//! 2. reference: the interpreter on the original reproduces ONNX Runtime's `output_N.pb`;
//! 3. fused (standard target): the expected number of fused nodes, the golden dump
//!    (`fused.dump.txt`, re-blessed with `LNOPT_BLESS=1`), outputs still match, and a second
//!    run over the output changes nothing (byte-identical);
//! 4. fused for ONNX Runtime's private ops (`--target ort`): outputs still match;
//! 5. bad input: the expected error at the expected stage, naming the culprit, no output file.
//!
//! All cases run; failures are collected and printed together.

use lnopt::ir::{dump::dump_model, Graph, Model, Tensor};
use lnopt::reference::{compare, tolerance_for, Tolerance};
use lnopt::{Options, Target};
use serde_json::Value as Json;
use std::path::{Path, PathBuf};

fn fixtures_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn find_cases(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            if p.join("model.onnx").exists() && p.join("expect.json").exists() {
                out.push(p);
            } else {
                find_cases(&p, out);
            }
        }
    }
}

fn count_norms(g: &Graph) -> (usize, usize) {
    let (mut ln, mut rms) = (0, 0);
    for n in g.node_ids() {
        let node = g.node(n);
        match node.op_type.as_str() {
            "LayerNormalization" => ln += 1,
            "RMSNormalization" | "SimplifiedLayerNormalization" => rms += 1,
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

/// Norm nodes of the main graph, its subgraphs and each local function body (once per body).
fn count_model_norms(m: &Model) -> (usize, usize) {
    let (mut ln, mut rms) = count_norms(&m.graph);
    for f in &m.functions {
        let (a, b) = count_norms(&f.body);
        ln += a;
        rms += b;
    }
    (ln, rms)
}

fn read_numbered(dir: &Path, prefix: &str) -> Vec<Tensor> {
    lnopt::reference::read_numbered(dir, prefix, &Default::default())
        .expect("reference tensors load")
}

/// Zero-filled inputs from the declared input types (symbolic or unknown dims as 1), for
/// cases that ship no test data.
fn zero_inputs(model: &Model) -> Vec<Tensor> {
    let g = &model.graph;
    g.inputs()
        .iter()
        .filter(|&&v| g.value(v).initializer.is_none())
        .filter_map(|&v| {
            let val = g.value(v);
            let ty = val.declared_tensor_type()?;
            let dims: Vec<i64> = ty
                .shape
                .as_ref()?
                .iter()
                .map(|d| d.fixed().unwrap_or(1))
                .collect();
            let n = lnopt::ir::numel(&dims)?;
            let bytes = vec![0u8; n * ty.elem.size_of()?];
            Tensor::from_bytes(val.name.clone(), ty.elem, dims, bytes).ok()
        })
        .collect()
}

/// The dtype's default tolerance, loosened (never tightened) by the case's `tolerance`.
fn tolerance(expect: &Json, t: &Tensor) -> Tolerance {
    let default = tolerance_for(t.dtype);
    let tol = &expect["tolerance"];
    default.max(Tolerance {
        atol: tol["atol"].as_f64().unwrap_or(default.atol),
        rtol: tol["rtol"].as_f64().unwrap_or(default.rtol),
    })
}

/// Compares outputs with the reference; returns the worst abs error or the first problem.
fn check_outputs(expect: &Json, got: &[Tensor], want: &[Tensor]) -> Result<f64, String> {
    if got.len() != want.len() {
        return Err(format!("{} outputs, {} expected", got.len(), want.len()));
    }
    let mut worst = 0.0f64;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let c = compare(g, w, tolerance(expect, w));
        if let Some(problem) = c.problem {
            return Err(format!("output {i}: {problem}"));
        }
        worst = worst.max(c.max_abs);
    }
    Ok(worst)
}

fn run_interp(model: &Model, inputs: &[Tensor]) -> Result<Vec<Tensor>, String> {
    lnopt::interp::run_model(model, inputs).map_err(|e| e.to_string())
}

/// Whether this run re-blesses the golden dumps: `LNOPT_BLESS=1` only. Unset means no; any
/// other value is an error (so `LNOPT_BLESS=0` cannot bless by accident).
fn bless_requested() -> Result<bool, String> {
    match std::env::var("LNOPT_BLESS") {
        Err(std::env::VarError::NotPresent) => Ok(false),
        Ok(v) if v == "1" => Ok(true),
        Ok(v) => Err(format!("LNOPT_BLESS must be 1 or unset, not '{v}'")),
        Err(e) => Err(format!("LNOPT_BLESS: {e}")),
    }
}

/// Compares `actual` with the golden file, or (when blessing) rewrites the file if it differs
/// and prints what it rewrote.
fn check_golden(path: &Path, actual: &str, bless: bool) -> Result<(), String> {
    if bless {
        let old = std::fs::read_to_string(path).ok();
        if old.as_deref() == Some(actual) {
            return Ok(());
        }
        std::fs::write(path, actual).map_err(|e| e.to_string())?;
        let changed = match &old {
            None => "new file".to_string(),
            Some(old) => {
                let (a, b): (Vec<_>, Vec<_>) = (old.lines().collect(), actual.lines().collect());
                let differ =
                    a.iter().zip(&b).filter(|(x, y)| x != y).count() + a.len().abs_diff(b.len());
                format!("{differ} line(s) changed")
            }
        };
        // Straight to the process's stderr: the test harness hides `println!` of passing tests.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "LNOPT_BLESS: rewrote {}: {changed}",
            path.display()
        );
        return Ok(());
    }
    let expected = std::fs::read_to_string(path)
        .map_err(|_| format!("missing golden {}; run with LNOPT_BLESS=1", path.display()))?;
    if expected != actual {
        let diff: Vec<String> = expected
            .lines()
            .zip(actual.lines())
            .filter(|(a, b)| a != b)
            .take(5)
            .map(|(a, b)| format!("    - {a}\n    + {b}"))
            .collect();
        return Err(format!(
            "golden {} differs (LNOPT_BLESS=1 to accept):\n{}",
            path.display(),
            diff.join("\n")
        ));
    }
    Ok(())
}

fn check_bad_case(case: &Path, expect: &Json) -> Result<(), String> {
    let stage = expect["error"]["stage"].as_str().unwrap_or("load");
    let needle = expect["error"]["contains"].as_str().unwrap_or("");
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let out = tmp.path().join("out.onnx");
    let err = match stage {
        "run" => {
            let model = lnopt::onnx::load(&case.join("model.onnx"), &Default::default())
                .map_err(|e| format!("expected to load for a run-stage error: {e}"))?;
            let mut inputs = read_numbered(&case.join("test_data_set_0"), "input");
            if inputs.is_empty() {
                inputs = zero_inputs(&model);
            }
            match lnopt::interp::run_model(&model, &inputs) {
                Ok(_) => return Err("expected a run error, ran fine".into()),
                Err(e) => e.to_string(),
            }
        }
        _ => match lnopt::optimize_file(&case.join("model.onnx"), &out, &Options::default()) {
            Ok(_) => return Err("expected a load error, optimised fine".into()),
            Err(e) => e.to_string(),
        },
    };
    if !err.to_lowercase().contains(&needle.to_lowercase()) {
        return Err(format!("error '{err}' does not mention '{needle}'"));
    }
    if out.exists() {
        return Err("an output file was left behind".into());
    }
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .map_err(|e| e.to_string())?
        .collect();
    if !leftovers.is_empty() {
        return Err(format!("{} temporary file(s) left behind", leftovers.len()));
    }
    Ok(())
}

fn check_case(case: &Path, bless: bool) -> Result<String, String> {
    let expect: Json = serde_json::from_str(
        &std::fs::read_to_string(case.join("expect.json")).map_err(|e| e.to_string())?,
    )
    .map_err(|e| format!("expect.json: {e}"))?;
    if !expect["error"].is_null() {
        check_bad_case(case, &expect)?;
        return Ok("bad input rejected".into());
    }
    let model_path = case.join("model.onnx");
    let limits = Default::default();
    let original = lnopt::onnx::load(&model_path, &limits).map_err(|e| format!("load: {e}"))?;

    // 1. round trip
    let bytes1 = lnopt::onnx::encode(&original).map_err(|e| format!("encode: {e}"))?;
    let again =
        lnopt::onnx::decode(&bytes1, Some(case), &limits).map_err(|e| format!("re-decode: {e}"))?;
    if dump_model(&again) != dump_model(&original) {
        return Err("IR changed over a round trip".into());
    }
    let bytes2 = lnopt::onnx::encode(&again).map_err(|e| e.to_string())?;
    if bytes1 != bytes2 {
        return Err("round trip is not byte-identical".into());
    }

    let data = case.join("test_data_set_0");
    let inputs = read_numbered(&data, "input");
    let want = read_numbered(&data, "output");
    let use_interp = expect["interp"].as_bool().unwrap_or(true) && !want.is_empty();

    // 2. reference
    let mut notes = Vec::new();
    if use_interp {
        let got = run_interp(&original, &inputs).map_err(|e| format!("interp (original): {e}"))?;
        let w = check_outputs(&expect, &got, &want).map_err(|e| format!("original vs ORT: {e}"))?;
        notes.push(format!("orig {w:.1e}"));
    }

    // 3. fused, standard target
    let mut fused = original.clone();
    let outcome = lnopt::optimize_model(&mut fused, &Options::default())
        .map_err(|e| format!("optimize: {e}"))?;
    let (ln, rms) = count_model_norms(&fused);
    let (ln0, rms0) = count_model_norms(&original);
    let want_ln = expect["fused"]["LayerNormalization"].as_u64().unwrap_or(0) as usize;
    let want_rms = expect["fused"]["RMSNormalization"].as_u64().unwrap_or(0) as usize;
    if (ln - ln0.min(ln), rms - rms0.min(rms)) != (want_ln, want_rms) {
        return Err(format!(
            "fused {} LayerNormalization + {} RMSNormalization, expected {want_ln} + {want_rms}\n{}",
            ln - ln0.min(ln),
            rms - rms0.min(rms),
            outcome.summary()
        ));
    }
    // The report tells the truth: it counts as fused exactly the nodes the graph gained.
    let reported = (
        outcome.report.fused_count(lnopt_fuse::NormKind::LayerNorm),
        outcome.report.fused_count(lnopt_fuse::NormKind::RmsNorm),
    );
    if reported != (want_ln, want_rms) {
        return Err(format!(
            "the report says {} LayerNormalization + {} RMSNormalization fused, the graph gained \
             {want_ln} + {want_rms}\n{}",
            reported.0,
            reported.1,
            outcome.summary()
        ));
    }
    let opset = fused.opset_version("").unwrap_or(1);
    if (ln > 0 && opset < 17) || (rms > 0 && opset < 23) {
        return Err(format!(
            "fused nodes need a newer opset than the output declares ({opset})"
        ));
    }
    check_golden(&case.join("fused.dump.txt"), &dump_model(&fused), bless)?;
    if use_interp {
        let got = run_interp(&fused, &inputs).map_err(|e| format!("interp (fused): {e}"))?;
        let w = check_outputs(&expect, &got, &want).map_err(|e| format!("fused vs ORT: {e}"))?;
        notes.push(format!("fused {w:.1e}"));
    }
    let out1 = lnopt::onnx::encode(&fused).map_err(|e| e.to_string())?;
    let mut refused = lnopt::onnx::decode(&out1, Some(case), &limits)
        .map_err(|e| format!("decode fused: {e}"))?;
    lnopt::optimize_model(&mut refused, &Options::default()).map_err(|e| e.to_string())?;
    if lnopt::onnx::encode(&refused).map_err(|e| e.to_string())? != out1 {
        return Err("not idempotent: optimising the output changed it".into());
    }

    // 4. ONNX Runtime's private forms
    if use_interp {
        let mut ort = original.clone();
        let opts = Options {
            target: Target::Ort,
            ..Options::default()
        };
        lnopt::optimize_model(&mut ort, &opts)
            .map_err(|e| format!("optimize --target ort: {e}"))?;
        let got = run_interp(&ort, &inputs).map_err(|e| format!("interp (ort target): {e}"))?;
        check_outputs(&expect, &got, &want).map_err(|e| format!("ort-target vs ORT: {e}"))?;
    }
    Ok(format!(
        "fused {ln}+{rms}; max abs err {}",
        notes.join(", ")
    ))
}

#[test]
fn every_fixture_case() {
    let bless = bless_requested().unwrap_or_else(|e| panic!("{e}"));
    let mut cases = Vec::new();
    find_cases(&fixtures_root(), &mut cases);
    // The fewest cases each group may have (its count when the floor was set): a fixture that
    // disappears fails the suite instead of silently shrinking it.
    for (group, least) in [
        ("bad", 13),
        ("fusion", 46),
        ("negative", 17),
        ("roundtrip", 42),
    ] {
        let n = cases
            .iter()
            .filter(|c| c.starts_with(fixtures_root().join(group)))
            .count();
        assert!(
            n >= least,
            "{group}: {n} fixture cases, expected at least {least}"
        );
    }
    let mut failures = Vec::new();
    for case in &cases {
        let name = case
            .strip_prefix(fixtures_root())
            .unwrap_or(case)
            .display()
            .to_string();
        match std::panic::catch_unwind(|| check_case(case, bless)) {
            Ok(Ok(note)) => println!("ok    {name}: {note}"),
            Ok(Err(e)) => {
                println!("FAIL  {name}: {e}");
                failures.push(name);
            }
            Err(_) => {
                println!("PANIC {name}");
                failures.push(name);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixture cases failed: {:?}",
        failures.len(),
        cases.len(),
        failures
    );
}
