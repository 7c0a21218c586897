//! Acceptance over the external corpus (../shared/corpus beside the repo): per case, fused
//! sites vs meta.json, and original vs fused outputs through the reference interpreter.
//! Skipped (with a note) when the corpus is absent.

use lnopt_fuse::{fuse_graph, EmitTarget, FuseOptions};
use lnopt_ir::Model;
use std::path::{Path, PathBuf};

fn corpus() -> Option<PathBuf> {
    let p = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/corpus"
    ))
    .to_path_buf();
    p.is_dir().then_some(p)
}

fn cases(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for group in ["zoo", "onnx-node"] {
        let Ok(rd) = std::fs::read_dir(root.join(group)) else {
            continue;
        };
        let mut v: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.join("model.onnx").is_file())
            .collect();
        v.sort();
        out.extend(v);
    }
    out
}

fn expected(case: &Path) -> Option<(usize, bool)> {
    let name = case.file_name()?.to_str()?;
    if let Ok(text) = std::fs::read_to_string(case.join("meta.json")) {
        let j: serde_json::Value = serde_json::from_str(&text).ok()?;
        return Some((
            j["num_norm_sites"].as_u64()? as usize,
            j["negative"].as_bool().unwrap_or(false),
        ));
    }
    (name.contains("_expanded")).then_some((1, false))
}

#[test]
fn corpus_fusion_counts_and_outputs() {
    let Some(root) = corpus() else {
        eprintln!("note: ../shared/corpus absent, corpus test skipped");
        return;
    };
    let limits = lnopt_onnx::Limits::default();
    let (mut total_expected, mut total_fused, mut over) = (0usize, 0usize, Vec::new());
    let mut lines = Vec::new();
    let mut mismatches = Vec::new();
    for case in cases(&root) {
        let name = case
            .file_name()
            .and_then(|s| s.to_str())
            .unwrap_or("?")
            .to_string();
        let Some((want, negative)) = expected(&case) else {
            continue;
        };
        let Ok(model) = lnopt_onnx::load(&case.join("model.onnx"), &limits) else {
            lines.push(format!("{name}: load failed"));
            continue;
        };
        let opset = model.opset_version("").unwrap_or(1);
        let mut fused = model.clone();
        let opts = FuseOptions {
            target: EmitTarget::Ort,
            ..FuseOptions::default()
        };
        let report = match fuse_graph(&mut fused.graph, opset, &opts) {
            Ok(r) => r,
            Err(e) => {
                lines.push(format!("{name}: error {e}"));
                continue;
            }
        };
        fused
            .graph
            .verify()
            .unwrap_or_else(|e| panic!("{name}: fused graph invalid: {e}"));
        let got = report.total_fused();
        total_expected += want;
        total_fused += got.min(want);
        if got > want {
            over.push(format!(
                "{name}: {got} fused, {want} expected (negative={negative})"
            ));
        }
        let reasons: Vec<String> = report
            .not_fused()
            .filter_map(|s| s.reason.clone())
            .collect();
        lines.push(format!(
            "{name}: {got}/{want} {}",
            reasons.first().cloned().unwrap_or_default()
        ));
        // Differential on the case's own inputs.
        let ds = case.join("test_data_set_0");
        let mut inputs = Vec::new();
        for i in 0.. {
            let p = ds.join(format!("input_{i}.pb"));
            if !p.is_file() {
                break;
            }
            match lnopt_onnx::load_tensor(&p, &limits) {
                Ok(t) => inputs.push(t),
                Err(_) => break,
            }
        }
        if inputs.is_empty() || got == 0 {
            continue;
        }
        let a = lnopt_interp::run_model(&model, &inputs);
        let b = lnopt_interp::run_model(&Model { ..fused }, &inputs);
        if let (Ok(a), Ok(b)) = (a, b) {
            for (x, y) in a.iter().zip(&b) {
                let (Some(xv), Some(yv)) = (x.to_f64_vec(), y.to_f64_vec()) else {
                    continue;
                };
                let tol = if x.dtype == lnopt_ir::DType::F16 {
                    3e-2
                } else {
                    1e-3
                };
                let bad = x.dims != y.dims
                    || xv.iter().zip(&yv).any(|(p, q)| {
                        (p - q).abs() > tol * (1.0 + p.abs()) && !(p.is_nan() && q.is_nan())
                    });
                if bad {
                    mismatches.push(format!("{name}: output {} differs", x.name));
                }
            }
        }
    }
    eprintln!("{}", lines.join("\n"));
    eprintln!(
        "corpus: fused {total_fused} of {total_expected} expected sites; over-fused: {over:?}"
    );
    assert!(
        mismatches.is_empty(),
        "wrong outputs after fusion: {mismatches:#?}"
    );
}
