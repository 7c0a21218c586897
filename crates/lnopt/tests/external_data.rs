//! `optimize_file` with external weights: every output owns its data file (`OUT.data`), no
//! other file is written, keep mode references the input's data in place, and invalid models
//! are refused without leaving anything behind.

mod common;

use common::Builder;
use lnopt::ir::{
    DType, ExternalRef, Graph, Model, Node, Storage, Tensor, TensorType, ValueInfo, ValueType,
};
use lnopt::onnx::{ExternalData, Limits};
use lnopt::{optimize_file, Options};
use std::path::{Path, PathBuf};

/// A decomposed LayerNorm over `[2, 8]` at opset 17 whose γ and β (seeded by `seed`) are
/// stored in `dir/weights.bin`; returns the model's path.
fn write_input(dir: &Path, seed: f32) -> PathBuf {
    let (mut b, x) = Builder::with_input(&[2, 8]);
    let gamma: Vec<f32> = (0..8).map(|i| seed + i as f32 * 0.25).collect();
    let beta: Vec<f32> = (0..8).map(|i| seed * 0.5 - i as f32 * 0.125).collect();
    let mut data = Vec::new();
    let mut external = |name: &str, vals: &[f32]| {
        let offset = data.len() as u64;
        data.extend(vals.iter().flat_map(|v| v.to_le_bytes()));
        let mut t = Tensor::from_f32(name, vec![vals.len() as i64], vals);
        t.storage = Storage::External(ExternalRef {
            location: "weights.bin".into(),
            offset,
            length: Some(4 * vals.len() as u64),
            extra: Vec::new(),
        });
        t
    };
    let gm = b.g.add_initializer("gamma", external("gamma", &gamma));
    let bt = b.g.add_initializer("beta", external("beta", &beta));
    let y = b.layer_norm(x);
    let ys = b.op("Mul", &[y, gm], false);
    let yb = b.op("Add", &[ys, bt], false);
    b.g.add_output(yb);
    let model = Model::new(b.g, 13);
    std::fs::write(dir.join("weights.bin"), &data).unwrap();
    let path = dir.join("model.onnx");
    std::fs::write(&path, lnopt::onnx::encode(&model).unwrap()).unwrap();
    path
}

fn input() -> Tensor {
    let x: Vec<f32> = (0..16).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
    Tensor::from_f32("x", vec![2, 8], &x)
}

fn run(path: &Path) -> Vec<f64> {
    let m = lnopt::onnx::load(path, &Limits::default()).unwrap();
    let out = lnopt::interp::run_model(&m, &[input()]).unwrap();
    assert_eq!(out.len(), 1);
    out[0].to_f64_vec().unwrap()
}

fn fused_count(path: &Path) -> usize {
    let m = lnopt::onnx::load(path, &Limits::default()).unwrap();
    m.graph
        .node_ids()
        .filter(|&n| m.graph.node(n).op_type == "LayerNormalization")
        .count()
}

fn assert_close(got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g - w).abs() <= 1e-5 + 1e-4 * w.abs(),
            "{got:?} vs {want:?}"
        );
    }
}

#[test]
fn two_inputs_with_the_same_data_file_name_keep_their_own_weights() {
    let (a_dir, b_dir, out) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let a = write_input(a_dir.path(), 1.0);
    let b = write_input(b_dir.path(), -2.0);
    let (want_a, want_b) = (run(&a), run(&b));
    assert!(want_a.iter().zip(&want_b).any(|(x, y)| (x - y).abs() > 0.1));
    let bystander = out.path().join("weights.bin");
    std::fs::write(&bystander, b"someone else's file").unwrap();
    let (out_a, out_b) = (out.path().join("a.onnx"), out.path().join("b.onnx"));
    for (src, dst) in [(&a, &out_a), (&b, &out_b)] {
        let o = optimize_file(src, dst, &Options::default()).unwrap();
        assert_eq!(o.report.total_fused(), 1, "{}", o.summary());
    }
    assert_eq!(std::fs::read(&bystander).unwrap(), b"someone else's file");
    assert_eq!((fused_count(&out_a), fused_count(&out_b)), (1, 1));
    assert_close(&run(&out_a), &want_a);
    assert_close(&run(&out_b), &want_b);
    assert!(out.path().join("a.onnx.data").exists());
    assert!(out.path().join("b.onnx.data").exists());
}

#[test]
fn keep_mode_writes_no_data_and_runs_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let src = write_input(dir.path(), 0.5);
    let want = run(&src);
    let out = dir.path().join("fused.onnx");
    let options = Options {
        external_data: ExternalData::Keep,
        ..Options::default()
    };
    optimize_file(&src, &out, &options).unwrap();
    assert!(!dir.path().join("fused.onnx.data").exists());
    assert_eq!(fused_count(&out), 1);
    assert_close(&run(&out), &want);
    // The same in another folder is refused, and leaves nothing there.
    let other = tempfile::tempdir().unwrap();
    let e = optimize_file(&src, &other.path().join("fused.onnx"), &options).unwrap_err();
    assert!(e.to_string().contains("gamma"), "{e}");
    assert_eq!(std::fs::read_dir(other.path()).unwrap().count(), 0);
}

#[test]
fn an_output_whose_data_file_is_the_input_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let src = write_input(dir.path(), 0.5);
    let renamed = dir.path().join("m.onnx.data");
    std::fs::rename(&src, &renamed).unwrap();
    let before = std::fs::read(&renamed).unwrap();
    let e = optimize_file(&renamed, &dir.path().join("m.onnx"), &Options::default()).unwrap_err();
    assert!(matches!(e, lnopt::Error::DataFileIsInput(_)), "{e}");
    assert_eq!(std::fs::read(&renamed).unwrap(), before);
    assert!(!dir.path().join("m.onnx").exists());
}

#[test]
fn invalid_models_are_refused_naming_the_culprit() {
    // No ai.onnx import.
    let mut m = lnopt::onnx::load(
        &write_input(tempfile::tempdir().unwrap().path(), 1.0),
        &Limits::default(),
    )
    .unwrap();
    m.opset_imports.retain(|o| !o.domain.is_empty());
    let e = lnopt::validate(&m).unwrap_err();
    assert!(e.to_string().contains("ReduceMean_1"), "{e}");
    // A type variable bound to two types.
    let mut g = Graph::new("m");
    let a = g.value_by_name_or_new("a");
    let h = g.value_by_name_or_new("h");
    for (v, dt) in [(a, DType::F32), (h, DType::F16)] {
        g.value_mut(v).info = Some(ValueInfo {
            ty: Some(ValueType::Tensor(TensorType::fixed(dt, &[4]))),
            ..ValueInfo::default()
        });
        g.add_input(v);
    }
    let y = g.new_value("y");
    g.add_node(
        Node::new("Add", "mixed"),
        vec![Some(a), Some(h)],
        vec![Some(y)],
    )
    .unwrap();
    g.add_output(y);
    let mut m = Model::new(g, 14);
    let e = lnopt::optimize_model(&mut m, &Options::default()).unwrap_err();
    assert!(e.to_string().contains("'mixed' (Add)"), "{e}");
}
