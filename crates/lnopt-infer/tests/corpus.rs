//! Acceptance test against the shared corpus: every model is inferred and compared with the
//! shapes and dtypes ONNX Runtime actually produced (recorded by `scripts/corpus_shapes.py`
//! into `tests/data/corpus_shapes.json`). Skipped when ../shared/corpus is absent.

use lnopt_infer::infer_model;
use lnopt_ir::{DType, Dim};
use std::path::Path;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpus");
const SHAPES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/corpus_shapes.json");

#[test]
fn inferred_facts_match_onnxruntime_on_corpus() {
    let corpus = Path::new(CORPUS);
    if !corpus.is_dir() {
        println!("note: {CORPUS} absent, corpus test skipped");
        return;
    }
    let text = std::fs::read_to_string(SHAPES).expect("recorded shapes file is committed");
    let truth: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let cases = truth.as_object().expect("object of cases");
    let (mut total, mut known, mut fixed_checked) = (0usize, 0usize, 0usize);
    let mut wrong: Vec<String> = Vec::new();
    let mut uncovered: Vec<String> = Vec::new();
    for (case, values) in cases {
        let path = corpus.join(case).join("model.onnx");
        if !path.exists() {
            wrong.push(format!("{case}: listed in the truth file, model missing"));
            continue;
        }
        let model = match lnopt_onnx::load(&path, &lnopt_onnx::Limits::default()) {
            Ok(m) => m,
            Err(e) => {
                wrong.push(format!("{case}: load failed: {e}"));
                continue;
            }
        };
        let types = match infer_model(&model) {
            Ok(t) => t,
            Err(e) => {
                wrong.push(format!("{case}: inference failed: {e}"));
                continue;
            }
        };
        for (name, rec) in values.as_object().expect("object of values") {
            let dtype = DType::from_onnx(rec[0].as_i64().expect("dtype code") as i32);
            let dims: Vec<i64> = rec[1]
                .as_array()
                .expect("dims")
                .iter()
                .map(|d| d.as_i64().expect("dim"))
                .collect();
            total += 1;
            let ty = model.graph.find_value(name).and_then(|v| types.ty(v));
            let Some(ty) = ty else {
                uncovered.push(format!("{case}/{name}: no type"));
                continue;
            };
            if ty.elem != DType::Undefined && ty.elem != dtype {
                wrong.push(format!(
                    "{case}/{name}: dtype {} but actual {dtype}",
                    ty.elem
                ));
            }
            let Some(shape) = &ty.shape else {
                uncovered.push(format!("{case}/{name}: rank unknown ({ty})"));
                continue;
            };
            if shape.len() != dims.len() {
                wrong.push(format!("{case}/{name}: inferred {ty} but actual {dims:?}"));
                continue;
            }
            for (d, &actual) in shape.iter().zip(&dims) {
                if let Dim::Fixed(v) = d {
                    fixed_checked += 1;
                    if *v != actual {
                        wrong.push(format!("{case}/{name}: inferred {ty} but actual {dims:?}"));
                        break;
                    }
                }
            }
            if ty.elem != DType::Undefined && shape.iter().all(|d| *d != Dim::Unknown) {
                known += 1;
            } else {
                uncovered.push(format!("{case}/{name}: partial {ty}"));
            }
            if let Some(c) = model.graph.find_value(name).and_then(|v| types.constant(v)) {
                if c.dims != dims || c.dtype != dtype {
                    wrong.push(format!(
                        "{case}/{name}: constant of {:?} but actual {dims:?}",
                        c.dims
                    ));
                }
            }
        }
    }
    let coverage = known as f64 / total.max(1) as f64;
    println!(
        "corpus: {} cases, {total} values, {known} fully typed ({:.1} %), {fixed_checked} fixed dims checked",
        cases.len(),
        coverage * 100.0
    );
    if let Ok(p) = std::env::var("LNOPT_INFER_UNCOVERED") {
        let _ = std::fs::write(p, uncovered.join("\n"));
    }
    for u in uncovered.iter().take(10) {
        println!("  uncovered: {u}");
    }
    assert!(wrong.is_empty(), "wrong facts:\n{}", wrong.join("\n"));
    assert!(
        coverage > 0.95,
        "coverage {:.1} % is below 95 %",
        coverage * 100.0
    );
}
