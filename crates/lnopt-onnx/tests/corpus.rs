//! The external acceptance corpus (skipped when ../shared/corpus is absent): every model loads,
//! the round-trip property holds, every test data tensor re-encodes identically.

use lnopt_ir::dump::dump_model;
use lnopt_onnx::{decode, decode_tensor, encode, encode_tensor, load, Limits};
use std::path::{Path, PathBuf};

fn corpus() -> Option<PathBuf> {
    let p = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/corpus"
    ));
    if p.is_dir() {
        Some(p.to_path_buf())
    } else {
        println!("note: corpus not found at {}, skipping", p.display());
        None
    }
}

fn cases(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for suite in std::fs::read_dir(root).unwrap().flatten() {
        if !suite.path().is_dir() {
            continue;
        }
        for case in std::fs::read_dir(suite.path()).unwrap().flatten() {
            if case.path().join("model.onnx").is_file() {
                out.push(case.path());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_corpus_model_round_trips() {
    let Some(root) = corpus() else { return };
    let cases = cases(&root);
    assert!(!cases.is_empty(), "corpus has no cases");
    let limits = Limits::default();
    for case in &cases {
        let path = case.join("model.onnx");
        let m1 = load(&path, &limits).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let b1 = encode(&m1).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let m2 =
            decode(&b1, Some(case), &limits).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(dump_model(&m1), dump_model(&m2), "{}", path.display());
        assert_eq!(m1, m2, "{}", path.display());
        let b2 = encode(&m2).unwrap();
        assert!(b1 == b2, "{}: encode is not a fixpoint", path.display());
        assert!(m1.graph.node_count() > 0, "{}", path.display());
    }
    println!("{} corpus models round-tripped", cases.len());
}

#[test]
fn every_corpus_test_tensor_re_encodes_identically() {
    let Some(root) = corpus() else { return };
    let limits = Limits::default();
    let mut n = 0;
    for case in cases(&root) {
        let dir = case.join("test_data_set_0");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().and_then(|s| s.to_str()) != Some("pb") {
                continue;
            }
            let bytes = std::fs::read(&p).unwrap();
            let t =
                decode_tensor(&bytes, &limits).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let again = encode_tensor(&t).unwrap();
            assert!(again == bytes, "{}: re-encoded tensor differs", p.display());
            n += 1;
        }
    }
    assert!(n > 0);
    println!("{n} test tensors re-encoded identically");
}
