//! Acceptance: every model of the shared corpus, run on its `test_data_set_0` inputs, must
//! reproduce the reference outputs (computed by ONNX Runtime) within tolerance. Skipped with a
//! note when the corpus folder is absent.

use lnopt_ir::{DType, Tensor};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn corpus_root() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/corpus"
    ))
}

/// Tolerance `(atol, rtol)` per dtype; `None` means exact.
fn tolerance(dt: DType) -> Option<(f64, f64)> {
    match dt {
        DType::F32 => Some((2e-4, 2e-3)),
        DType::F16 | DType::BF16 => Some((2e-2, 2e-2)),
        DType::F64 => Some((1e-7, 1e-7)),
        _ => None,
    }
}

/// Compares one output; `Err` says how it differs.
fn compare(got: &Tensor, want: &Tensor) -> Result<(), String> {
    if got.dtype != want.dtype {
        return Err(format!("dtype {} vs expected {}", got.dtype, want.dtype));
    }
    if got.dims != want.dims {
        return Err(format!("shape {:?} vs expected {:?}", got.dims, want.dims));
    }
    let (g, w) = match (got.to_f64_vec(), want.to_f64_vec()) {
        (Some(g), Some(w)) => (g, w),
        _ => return Err("non-numeric data".into()),
    };
    let tol = tolerance(got.dtype);
    let mut worst = 0.0f64;
    let mut bad = 0usize;
    for (&a, &b) in g.iter().zip(&w) {
        let ok = match tol {
            _ if a.is_nan() && b.is_nan() => true,
            _ if a == b => true,
            // NaN or an infinity against anything else is a mismatch.
            _ if !a.is_finite() || !b.is_finite() => false,
            Some((atol, rtol)) => (a - b).abs() <= atol + rtol * b.abs(),
            None => false,
        };
        if !ok {
            bad += 1;
            worst = if a.is_finite() && b.is_finite() {
                worst.max((a - b).abs())
            } else {
                f64::INFINITY
            };
        }
    }
    if bad > 0 {
        return Err(format!(
            "{bad} of {} elements differ, max |diff| {worst:e}",
            g.len()
        ));
    }
    Ok(())
}

fn numbered(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    (0..)
        .map(|i| dir.join(format!("{prefix}_{i}.pb")))
        .take_while(|p| p.exists())
        .collect()
}

/// Runs one case; `Err` describes the failure.
fn run_case(case: &Path) -> Result<(), String> {
    let limits = lnopt_onnx::Limits::default();
    let model =
        lnopt_onnx::load(&case.join("model.onnx"), &limits).map_err(|e| format!("load: {e}"))?;
    let data = case.join("test_data_set_0");
    let load_all = |prefix| -> Result<Vec<Tensor>, String> {
        numbered(&data, prefix)
            .iter()
            .map(|p| lnopt_onnx::load_tensor(p, &limits).map_err(|e| format!("{e}")))
            .collect()
    };
    let inputs = load_all("input")?;
    let expected = load_all("output")?;
    let got = lnopt_interp::run_model(&model, &inputs).map_err(|e| format!("run: {e}"))?;
    if got.len() != expected.len() {
        return Err(format!(
            "{} outputs, expected {}",
            got.len(),
            expected.len()
        ));
    }
    for (i, (g, w)) in got.iter().zip(&expected).enumerate() {
        compare(g, w).map_err(|e| format!("output {i} ('{}'): {e}", g.name))?;
    }
    Ok(())
}

#[test]
fn corpus_outputs_match_reference() {
    let root = corpus_root();
    if !root.exists() {
        println!("note: {} is absent; corpus test skipped", root.display());
        return;
    }
    let mut cases: Vec<PathBuf> = Vec::new();
    for set in ["zoo", "onnx-node"] {
        let Ok(rd) = std::fs::read_dir(root.join(set)) else {
            continue;
        };
        for e in rd.flatten() {
            if e.path().join("model.onnx").exists() {
                cases.push(e.path());
            }
        }
    }
    cases.sort();
    let mut failures = Vec::new();
    for case in &cases {
        let t = Instant::now();
        let r = run_case(case);
        let ms = t.elapsed().as_millis();
        let name = case
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match r {
            Ok(()) => println!("ok   {name} ({ms} ms)"),
            Err(e) => {
                println!("FAIL {name}: {e}");
                failures.push(format!("{name}: {e}"));
            }
        }
    }
    println!(
        "{} of {} corpus cases pass",
        cases.len() - failures.len(),
        cases.len()
    );
    assert!(!cases.is_empty(), "corpus folder has no cases");
    assert!(
        failures.is_empty(),
        "corpus failures:\n{}",
        failures.join("\n")
    );
}
