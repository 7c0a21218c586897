//! lnopt's shape rules against onnx.shape_inference and the runtimes, on small single-op
//! models (pools, convolutions, scatter/gather, OneHot, TopK, RNNs, Resize, quantization,
//! Einsum, ...). The models and `expect.json` are written by
//! `scripts/infer_check/gen_expect.py` (see its doc for what is recorded); this test needs
//! no Python.
//!
//! Per output: the dtype and rank must equal onnx's; every number onnx knows must be known
//! to lnopt, except where ONNX Runtime and onnx's reference implementation both produce
//! another size (then lnopt must give theirs: onnx 1.23's inference keeps a ceil_mode pool
//! window that starts in the end padding, the runtimes drop it); lnopt may state a number
//! onnx does not know only where the case lists it under `lnopt_more`, and never one the
//! runtimes contradict.

use lnopt_infer::infer_model;
use lnopt_ir::Dim;
use serde_json::Value;
use std::path::Path;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/onnx_cases");

/// The dims lnopt must (or may) give for one output dim.
fn check_dim(
    k: usize,
    got: &Dim,
    onnx: &Value,
    runtime: &Value,
    more: &Value,
) -> Result<(), String> {
    let (o, r) = (onnx.as_i64(), runtime.as_i64());
    let required = match (o, r) {
        (Some(o), Some(r)) if o != r => Some(r),
        (o, _) => o,
    };
    if let Some(n) = required {
        return match got {
            Dim::Fixed(v) if *v == n => Ok(()),
            _ => Err(format!("dim {k}: lnopt {got}, expected {n}")),
        };
    }
    if let Some(name) = more.as_str() {
        return match got {
            Dim::Symbol(s) if s == name => Ok(()),
            _ => Err(format!("dim {k}: lnopt {got}, expected the symbol {name}")),
        };
    }
    if let Dim::Fixed(v) = got {
        if more.as_i64() != Some(*v) {
            return Err(format!(
                "dim {k}: lnopt states {v}, which neither onnx nor the case's lnopt_more knows"
            ));
        }
        if r.is_some_and(|r| r != *v) {
            return Err(format!(
                "dim {k}: lnopt states {v}, the runtimes produce {r:?}"
            ));
        }
    } else if more.as_i64().is_some() {
        return Err(format!("dim {k}: lnopt {got}, expected {more}"));
    }
    Ok(())
}

fn check_case(name: &str, case: &Value) -> Result<usize, String> {
    let path = Path::new(DIR).join(format!("{name}.onnx"));
    let model = lnopt_onnx::load(&path, &lnopt_onnx::Limits::default())
        .map_err(|e| format!("load: {e}"))?;
    let types = infer_model(&model).map_err(|e| format!("inference failed: {e}"))?;
    let outputs = case["outputs"].as_object().ok_or("no outputs")?;
    let mut checked = 0;
    for (out, want) in outputs {
        let v = model
            .graph
            .find_value(out)
            .ok_or_else(|| format!("no value {out}"))?;
        let ty = types
            .ty(v)
            .ok_or_else(|| format!("{out}: lnopt has no type"))?;
        let dtype = want["dtype"].as_i64().ok_or("dtype")?;
        if i64::from(ty.elem.onnx_code()) != dtype {
            return Err(format!(
                "{out}: lnopt dtype {} ({ty}), onnx {dtype}",
                ty.elem
            ));
        }
        let Some(dims) = want["dims"].as_array() else {
            continue;
        };
        let shape = ty
            .shape
            .as_ref()
            .ok_or_else(|| format!("{out}: lnopt does not know the rank ({ty})"))?;
        if shape.len() != dims.len() {
            return Err(format!("{out}: lnopt {ty}, onnx rank {}", dims.len()));
        }
        for (k, (got, o)) in shape.iter().zip(dims).enumerate() {
            let r = &want["runtime"][k];
            let m = &case["lnopt_more"][out.as_str()][k];
            check_dim(k, got, o, r, m).map_err(|e| format!("{out} ({ty}): {e}"))?;
            checked += 1;
        }
    }
    Ok(checked)
}

#[test]
fn shape_rules_agree_with_onnx_and_the_runtimes() {
    let text = std::fs::read_to_string(Path::new(DIR).join("expect.json"))
        .expect("tests/data/onnx_cases/expect.json is committed");
    let cases: Value = serde_json::from_str(&text).expect("valid JSON");
    let cases = cases.as_object().expect("an object of cases");
    assert!(cases.len() >= 45, "only {} cases", cases.len());
    let mut failures = Vec::new();
    let mut dims = 0;
    for (name, case) in cases {
        match check_case(name, case) {
            Ok(n) => dims += n,
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    println!("{} cases, {dims} dims checked", cases.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The ceil_mode near miss on its own, so a regression names it: 6 inputs, kernel 2,
/// stride 2, end pad 1 gives 3 windows (the 4th would start in the padding), not 4.
#[test]
fn ceil_mode_pool_drops_a_window_starting_in_the_padding() {
    let text = std::fs::read_to_string(Path::new(DIR).join("expect.json")).expect("committed");
    let cases: Value = serde_json::from_str(&text).expect("valid JSON");
    let case = &cases["maxpool_ceil_drops_last"];
    assert_eq!(case["outputs"]["y"]["runtime"][2], 3);
    assert_eq!(
        case["outputs"]["y"]["dims"][2], 4,
        "onnx's inference (kept for the record)"
    );
    check_case("maxpool_ceil_drops_last", case).unwrap();
}
