//! Acceptance: every corpus case runs under the JIT and matches the reference outputs
//! (ONNX Runtime / the ONNX reference implementation), as exported and after lnopt's fusion.
//! Needs ../shared/corpus beside the repository; the same checks on the repository's own fused
//! fixtures run without it (`fixtures.rs`).

mod common;

use common::*;
use std::path::Path;

/// The number of norm sites the case's `meta.json` expects (`num_norm_sites`), `None` when the
/// case has no meta.json and no norm in its name (the corpus_eval.py rule).
fn expected_sites(case: &Path, name: &str) -> Option<usize> {
    if let Ok(text) = std::fs::read_to_string(case.join("meta.json")) {
        let j: serde_json::Value = serde_json::from_str(&text).expect("meta.json parses");
        if let Some(n) = j["num_norm_sites"].as_u64() {
            return Some(n as usize);
        }
    }
    (name.contains("layer_normalization") || name.contains("rms_normalization")).then_some(1)
}

/// Norm nodes (LayerNormalization, RMSNormalization) in the main graph and subgraphs.
fn norm_nodes(g: &lnopt_ir::Graph) -> usize {
    g.node_ids()
        .map(|n| {
            let node = g.node(n);
            let own = matches!(
                node.op_type.as_str(),
                "LayerNormalization" | "RMSNormalization"
            ) as usize;
            own + node.subgraphs().map(norm_nodes).sum::<usize>()
        })
        .sum()
}

/// Fuses `model` in place; returns the number of sites fused. Fails when the model ends with
/// fewer norm nodes than the corpus expects (a "fused" run must run fused models).
fn fuse(model: &mut lnopt_ir::Model, case: &Path, name: &str) -> Result<usize, String> {
    let outcome = lnopt::optimize_model(model, &lnopt::Options::default())
        .map_err(|e| format!("optimize: {e}"))?;
    let nodes = norm_nodes(&model.graph);
    if let Some(want) = expected_sites(case, name) {
        if nodes < want {
            return Err(format!(
                "{nodes} norm nodes after fusion, {want} expected: {}",
                outcome.summary()
            ));
        }
    }
    Ok(outcome.report.total_fused())
}

fn run_group(group: &str, fused: bool) {
    let Some(root) = corpus() else {
        eprintln!("note: corpus not found beside the repository; test skipped");
        return;
    };
    let mut failures = Vec::new();
    let (mut ran, mut sites) = (0, 0);
    let all = cases(&root.join(group));
    assert!(!all.is_empty(), "no cases in {group}");
    for case in &all {
        let name = case
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let mut model = lnopt_onnx::load(&case.join("model.onnx"), &lnopt_onnx::Limits::default())
            .expect("model loads");
        if fused {
            match fuse(&mut model, case, &name) {
                Ok(n) => sites += n,
                Err(e) => {
                    failures.push(format!("{name}: {e}"));
                    continue;
                }
            }
        }
        let inputs = data(case, "input");
        let want = data(case, "output");
        let half = model_uses_half(&want);
        let (atol, rtol) = if half { (2e-2, 2e-2) } else { (1e-4, 1e-3) };
        let compiled = match lnopt_jit::compile(&model, &lnopt_jit::InputShapes::of(&inputs)) {
            Ok(c) => c,
            Err(e) => {
                failures.push(format!("{name}: compile: {e}"));
                continue;
            }
        };
        // The second run replays the shape-only steps recorded by the first.
        match compiled.run(&inputs).and_then(|_| compiled.run(&inputs)) {
            Ok(got) => {
                ran += 1;
                match compare_all(&got, &want, atol, rtol) {
                    Ok(e) if e <= 0.0 => {}
                    Ok(e) => failures.push(format!("{name}: off by {e:.3e} beyond tolerance")),
                    Err(e) => failures.push(format!("{name}: {e}")),
                }
            }
            Err(e) => failures.push(format!("{name}: run: {e}")),
        }
    }
    eprintln!(
        "{group} (fused: {fused}, {sites} sites fused): {ran} of {} cases ran, {} failures",
        all.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(ran, all.len(), "every case runs");
    if fused {
        assert!(sites > 0, "nothing was fused in {group}");
    }
}

fn model_uses_half(outs: &[lnopt_ir::Tensor]) -> bool {
    outs.iter()
        .any(|t| matches!(t.dtype, lnopt_ir::DType::F16 | lnopt_ir::DType::BF16))
}

#[test]
fn zoo_cases_match_reference() {
    run_group("zoo", false);
}

#[test]
fn fused_zoo_cases_match_reference() {
    run_group("zoo", true);
}

#[test]
fn fused_onnx_node_cases_match_reference() {
    run_group("onnx-node", true);
}

#[test]
fn bert_plan_uses_kernels() {
    let Some(root) = corpus() else {
        eprintln!("note: corpus not found; test skipped");
        return;
    };
    let case = root.join("zoo/b_bert");
    let mut model = lnopt_onnx::load(&case.join("model.onnx"), &lnopt_onnx::Limits::default())
        .expect("model loads");
    lnopt::optimize_model(&mut model, &lnopt::Options::default()).expect("fuses");
    let inputs = data(&case, "input");
    let c = lnopt_jit::compile(&model, &lnopt_jit::InputShapes::of(&inputs)).expect("compiles");
    let p = c.plan_stats();
    eprintln!("b_bert fused plan: {p:?}");
    assert!(
        p.norm_steps >= 2 && p.residual_folded >= 1 && p.chain_steps >= 1,
        "{p:?}"
    );
}

#[test]
fn onnx_node_cases_match_reference() {
    run_group("onnx-node", false);
}
