//! `lnopt MODEL -o OUT` on a model with external weights, in both `--external-data` modes:
//! the outputs reproduce the fixture's ONNX Runtime reference outputs (`lnopt run --data`).

mod common;

use common::*;
use lnopt::ir::{ExternalRef, Storage};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const CASE: &str = "fusion/ln_pytorch_canonical";

/// The fixture with every initializer of more than 4 elements moved to external data,
/// saved as `dir/model.onnx` (data in `dir/model.onnx.data`).
fn externalised(dir: &Path) -> PathBuf {
    let src = fixture(CASE).join("model.onnx");
    let mut m = lnopt::onnx::load(&src, &Default::default()).unwrap();
    let mut moved = 0;
    let ids: Vec<_> = m.graph.value_ids().collect();
    for id in ids {
        let Some(t) = m.graph.initializer(id) else {
            continue;
        };
        if t.numel().unwrap_or(0) > 4 {
            let mut t = (**t).clone();
            t.storage = Storage::External(ExternalRef {
                location: "weights.bin".into(),
                ..ExternalRef::default()
            });
            m.graph.set_initializer(id, Arc::new(t));
            moved += 1;
        }
    }
    assert!(moved >= 2, "the fixture has gamma and beta");
    let path = dir.join("model.onnx");
    lnopt::onnx::save(&m, &path).unwrap();
    assert!(dir.join("model.onnx.data").exists());
    path
}

fn run_matches_reference(model: &Path) {
    let data = fixture(CASE).join("test_data_set_0");
    let o = lnopt(&["run", s(model), "--data", s(&data)]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains(" ok"), "{}", stdout(&o));
}

#[test]
fn keep_mode_writes_only_the_graph_and_matches_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let model = externalised(dir.path());
    let data_before = std::fs::read(dir.path().join("model.onnx.data")).unwrap();
    let out = dir.path().join("fused.onnx");
    let o = lnopt(&[s(&model), "-o", s(&out), "--external-data", "keep"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("fused 1 LayerNormalization"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.path().join("fused.onnx.data").exists());
    assert_eq!(
        std::fs::read(dir.path().join("model.onnx.data")).unwrap(),
        data_before
    );
    run_matches_reference(&out);
}

#[test]
fn copy_mode_writes_out_data_and_matches_the_reference() {
    let (dir, out_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let model = externalised(dir.path());
    let out = out_dir.path().join("fused.onnx");
    let o = lnopt(&[s(&model), "-o", s(&out)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(out_dir.path().join("fused.onnx.data").exists());
    run_matches_reference(&out);
}

#[test]
fn keep_mode_into_another_folder_fails_cleanly() {
    let (dir, out_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let model = externalised(dir.path());
    let out = out_dir.path().join("fused.onnx");
    let o = lnopt(&[s(&model), "-o", s(&out), "--external-data", "keep"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("input's folder"), "{}", stderr(&o));
    assert_eq!(std::fs::read_dir(out_dir.path()).unwrap().count(), 0);
}
