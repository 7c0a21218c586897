//! Indexing, bitwise, quantization, string and u64 cases beyond the ONNX node tests
//! (tests/data/misc, written by scripts/interp_cases/misc_cases.py from onnx's reference
//! evaluator or ONNX Runtime). Each case either matches its outputs exactly (NaN where NaN)
//! or, with a REFUSED file, must be refused with an error naming the node.

use lnopt_interp::InterpError;
use lnopt_ir::{Tensor, TensorData};
use lnopt_onnx::{load, load_tensor, Limits};
use std::path::Path;

fn tensors(dir: &Path, kind: &str) -> Vec<Tensor> {
    (0..)
        .map(|i| dir.join(format!("{kind}_{i}.pb")))
        .take_while(|p| p.exists())
        .map(|p| load_tensor(&p, &Limits::default()).unwrap())
        .collect()
}

/// Same dtype, dims and elements (floats bit-exact, NaN matching any NaN).
fn same(got: &Tensor, want: &Tensor) -> bool {
    if got.dtype != want.dtype || got.dims != want.dims {
        return false;
    }
    match (&got.data, &want.data) {
        (TensorData::Strings(a), TensorData::Strings(b)) => a == b,
        _ => match (
            got.to_f64_vec(),
            want.to_f64_vec(),
            got.to_i64_vec(),
            want.to_i64_vec(),
        ) {
            (_, _, Some(a), Some(b)) => a == b,
            (Some(a), Some(b), _, _) => a
                .iter()
                .zip(&b)
                .all(|(x, y)| x == y || (x.is_nan() && y.is_nan())),
            _ => got.data == want.data,
        },
    }
}

#[test]
fn misc_cases_match_the_reference_or_are_refused() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/misc");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 60,
        "only {} cases in {}",
        dirs.len(),
        root.display()
    );
    let mut failures = Vec::new();
    for d in &dirs {
        let name = d.file_name().unwrap().to_string_lossy().to_string();
        let model = load(&d.join("model.onnx"), &Limits::default()).unwrap();
        let got = lnopt_interp::run_model(&model, &tensors(d, "input"));
        if d.join("REFUSED").exists() {
            match got {
                Err(InterpError::Op { .. }) => {}
                other => failures.push(format!("{name}: expected a refusal, got {other:?}")),
            }
            continue;
        }
        let want = tensors(d, "output");
        match got {
            Ok(got) => {
                if got.len() < want.len() {
                    failures.push(format!("{name}: {} outputs", got.len()));
                }
                for (k, (g, w)) in got.iter().zip(&want).enumerate() {
                    if !same(g, w) {
                        failures.push(format!("{name} output {k}: got {g:?}, want {w:?}"));
                    }
                }
            }
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
