//! JIT vs the reference interpreter on the repository's fixtures (roundtrip, fusion, negative
//! groups), on their test data: every fixture the interpreter runs (control flow and outer-scope
//! values included, through the JIT's interpreter fallback) runs under the JIT with the same
//! outputs.

mod common;

use common::*;

/// Fixtures using If / Loop, which the JIT runs through the interpreter's implementation.
const CONTROL_FLOW: &[&str] = &["if_outer_scope", "loop_counter", "ln_inside_if_branch"];

#[test]
fn fixtures_match_interpreter() {
    let mut failures = Vec::new();
    let mut ran = 0;
    let mut control_flow = 0;
    for group in ["roundtrip", "fusion", "negative"] {
        for case in cases(&fixtures().join(group)) {
            let name = case
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            let Ok(model) =
                lnopt_onnx::load(&case.join("model.onnx"), &lnopt_onnx::Limits::default())
            else {
                continue;
            };
            let inputs = data(&case, "input");
            if inputs.is_empty() && !model.graph.inputs().is_empty() {
                continue;
            }
            let Ok(want) = lnopt_interp::run_model(&model, &inputs) else {
                continue;
            };
            let got = lnopt_jit::compile(&model, &lnopt_jit::InputShapes::of(&inputs))
                .and_then(|c| c.run(&inputs));
            match got {
                Err(e) => failures.push(format!("{group}/{name}: {e}")),
                Ok(got) => {
                    ran += 1;
                    control_flow += CONTROL_FLOW.contains(&name.as_str()) as usize;
                    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                        let half = matches!(w.dtype, lnopt_ir::DType::F16 | lnopt_ir::DType::BF16);
                        let (atol, rtol) = if half { (1e-2, 1e-2) } else { (1e-4, 1e-3) };
                        match compare(g, w, atol, rtol) {
                            Ok(e) if e <= 0.0 => {}
                            Ok(e) => {
                                failures.push(format!("{group}/{name}: output {i} off by {e:.3e}"))
                            }
                            Err(e) => failures.push(format!("{group}/{name}: output {i}: {e}")),
                        }
                    }
                }
            }
        }
    }
    eprintln!("fixtures: {ran} ran under the JIT");
    assert!(ran > 50, "too few fixtures ran ({ran})");
    assert_eq!(
        control_flow,
        CONTROL_FLOW.len(),
        "every control-flow fixture runs"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
