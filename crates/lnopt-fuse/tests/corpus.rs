//! Acceptance over the external corpus (../shared/corpus beside the repo): per case, fused
//! sites vs meta.json (the pass lnopt runs: main graph, subgraphs, channels-first retry),
//! and original vs fused outputs through the reference interpreter.
//! Skipped (with a note) when the corpus is absent.

use lnopt_fuse::{fuse_graph_and_subgraphs, EmitTarget, FuseOptions};
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

/// `(num_norm_sites, max_fused, negative)` of a case: from meta.json (`max_fused` defaults to
/// `num_norm_sites`), or one site for an ONNX node test of a norm's expanded body.
fn expected(case: &Path) -> Option<(usize, usize, bool)> {
    let name = case.file_name()?.to_str()?;
    if let Ok(text) = std::fs::read_to_string(case.join("meta.json")) {
        let j: serde_json::Value = serde_json::from_str(&text).ok()?;
        let sites = j["num_norm_sites"].as_u64()? as usize;
        return Some((
            sites,
            j["max_fused"].as_u64().map_or(sites, |m| m as usize),
            j["negative"].as_bool().unwrap_or(false),
        ));
    }
    (name.contains("_expanded")).then_some((1, 1, false))
}

/// Norm nodes already in the model (native LayerNormalization and friends), main graph only.
fn native_norms(model: &Model) -> usize {
    let g = &model.graph;
    g.node_ids()
        .filter(|&n| {
            matches!(
                g.node(n).op_type.as_str(),
                "LayerNormalization" | "RMSNormalization" | "SimplifiedLayerNormalization"
            )
        })
        .count()
}

/// Compares original and fused outputs of one case; `Err` names the first difference.
fn same_outputs(a: &[lnopt_ir::Tensor], b: &[lnopt_ir::Tensor]) -> Result<(), String> {
    if a.len() != b.len() {
        return Err(format!(
            "{} outputs after fusion, {} before",
            b.len(),
            a.len()
        ));
    }
    for (x, y) in a.iter().zip(b) {
        if x.dims != y.dims || x.dtype != y.dtype {
            return Err(format!("output {} changed shape or dtype", x.name));
        }
        let (Some(xv), Some(yv)) = (x.to_f64_vec(), y.to_f64_vec()) else {
            if x.data != y.data {
                return Err(format!("output {} differs", x.name));
            }
            continue;
        };
        let tol = if x.dtype == lnopt_ir::DType::F16 {
            3e-2
        } else {
            1e-3
        };
        let bad = xv.iter().zip(&yv).position(|(p, q)| {
            let ok = p == q
                || (p.is_nan() && q.is_nan())
                || (p.is_finite() && q.is_finite() && (p - q).abs() <= tol * (1.0 + p.abs()));
            !ok
        });
        if let Some(i) = bad {
            return Err(format!(
                "output {} element {i}: {} before, {} after",
                x.name, xv[i], yv[i]
            ));
        }
    }
    Ok(())
}

/// `input_0.pb`, `input_1.pb`, … of a data set, until one is missing.
fn read_inputs(
    ds: &Path,
    limits: &lnopt_onnx::Limits,
) -> Result<Vec<lnopt_ir::Tensor>, lnopt_onnx::OnnxError> {
    (0..)
        .map(|i| ds.join(format!("input_{i}.pb")))
        .take_while(|p| p.is_file())
        .map(|p| lnopt_onnx::load_tensor(&p, limits))
        .collect()
}

#[test]
fn corpus_fusion_counts_and_outputs() {
    let Some(root) = corpus() else {
        eprintln!("note: ../shared/corpus absent, corpus test skipped");
        return;
    };
    let limits = lnopt_onnx::Limits::default();
    let (mut total_expected, mut total_fused) = (0usize, 0usize);
    let (mut over, mut errors, mut mismatches, mut lines) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut compared, mut cases_seen) = (0usize, 0usize);
    for case in cases(&root) {
        let name = case
            .file_name()
            .and_then(|s| s.to_str())
            .unwrap_or("?")
            .to_string();
        let Some((want, most, negative)) = expected(&case) else {
            continue;
        };
        cases_seen += 1;
        let model = match lnopt_onnx::load(&case.join("model.onnx"), &limits) {
            Ok(m) => m,
            Err(e) => {
                errors.push(format!("{name}: load failed: {e}"));
                continue;
            }
        };
        let opset = model.opset_version("").unwrap_or(1);
        let mut fused = model.clone();
        let opts = FuseOptions {
            target: EmitTarget::Ort,
            ..FuseOptions::default()
        };
        let report = match fuse_graph_and_subgraphs(&mut fused.graph, opset, &opts) {
            Ok(r) => r,
            Err(e) => {
                errors.push(format!("{name}: fusion error: {e}"));
                continue;
            }
        };
        if let Err(e) = fused.graph.verify() {
            errors.push(format!("{name}: fused graph invalid: {e}"));
            continue;
        }
        let got = report.total_fused();
        let native = native_norms(&model);
        let needed = want.saturating_sub(native);
        total_expected += needed;
        total_fused += got.min(needed);
        if got + native > most {
            over.push(format!(
                "{name}: {got} fused + {native} native, at most {most} expected (negative={negative})"
            ));
        }
        let reasons: Vec<String> = report
            .not_fused()
            .filter_map(|s| s.reason.clone())
            .collect();
        lines.push(format!(
            "{name}: {got}/{needed} {}",
            reasons.first().cloned().unwrap_or_default()
        ));
        if got == 0 {
            continue;
        }
        // Differential on the case's own inputs: every fused case must run both ways.
        let ds = case.join("test_data_set_0");
        let inputs = match read_inputs(&ds, &limits) {
            Ok(i) if !i.is_empty() => i,
            Ok(_) => {
                errors.push(format!("{name}: no test inputs to compare on"));
                continue;
            }
            Err(e) => {
                errors.push(format!("{name}: test inputs: {e}"));
                continue;
            }
        };
        let a = lnopt_interp::run_model(&model, &inputs);
        let b = lnopt_interp::run_model(&fused, &inputs);
        match (a, b) {
            (Ok(a), Ok(b)) => {
                compared += 1;
                if let Err(e) = same_outputs(&a, &b) {
                    mismatches.push(format!("{name}: {e}"));
                }
            }
            (Err(e), _) => errors.push(format!("{name}: original does not run: {e}")),
            (_, Err(e)) => errors.push(format!("{name}: fused model does not run: {e}")),
        }
    }
    eprintln!("{}", lines.join("\n"));
    eprintln!(
        "corpus: {cases_seen} cases, fused {total_fused} of {total_expected} expected sites, \
         {compared} compared; over-fused: {over:?}; errors: {errors:?}"
    );
    assert!(cases_seen > 0, "no corpus cases with expectations found");
    assert!(
        errors.is_empty(),
        "load / fusion / run errors:\n{}",
        errors.join("\n")
    );
    assert!(over.is_empty(), "over-fused:\n{}", over.join("\n"));
    assert!(
        mismatches.is_empty(),
        "wrong outputs after fusion:\n{}",
        mismatches.join("\n")
    );
    assert_eq!(
        total_fused, total_expected,
        "every expected site of zoo and onnx-node fuses (the README's coverage)"
    );
}
