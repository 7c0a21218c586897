//! Acceptance: every corpus case runs under the JIT and matches the reference outputs
//! (ONNX Runtime / the ONNX reference implementation). Skipped when ../shared is absent.

mod common;

use common::*;

fn run_group(group: &str, fused: bool) {
    let Some(root) = corpus() else {
        eprintln!("note: corpus not found beside the repository; test skipped");
        return;
    };
    let mut failures = Vec::new();
    let mut ran = 0;
    for case in cases(&root.join(group)) {
        let name = case
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let model = lnopt_onnx::load(&case.join("model.onnx"), &lnopt_onnx::Limits::default())
            .expect("model loads");
        let inputs = data(&case, "input");
        let want = data(&case, "output");
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
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    match compare(g, w, atol, rtol) {
                        Ok(e) if e <= 0.0 => {}
                        Ok(e) => failures.push(format!(
                            "{name}: output {i} off by {e:.3e} beyond tolerance"
                        )),
                        Err(e) => failures.push(format!("{name}: output {i}: {e}")),
                    }
                }
            }
            Err(e) => failures.push(format!("{name}: run: {e}")),
        }
    }
    eprintln!(
        "{group} (fused: {fused}): {ran} cases ran, {} failures",
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
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
