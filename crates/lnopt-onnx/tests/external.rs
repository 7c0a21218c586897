//! External data: save writes it to `OUT.data` beside the model, load maps it back, keep
//! mode references the input's files in place, and locations that escape the model folder or
//! point past the data are refused.

mod common;

use common::*;
use lnopt_ir::{ExternalRef, Model, Storage, Tensor};
use lnopt_onnx::{
    decode, encode, load, save, save_with, ExternalData, Limits, OnnxError, EXTERNAL_ALIGN,
};
use onnx_protobuf::ModelProto;
use protobuf::Message;
use std::path::Path;

fn external(name: &str, values: &[f32], location: &str) -> Tensor {
    let mut t = Tensor::from_f32(name, vec![values.len() as i64], values);
    t.storage = Storage::External(ExternalRef {
        location: location.into(),
        offset: 0,
        length: None,
        extra: Vec::new(),
    });
    t
}

fn model_with_external(location: &str) -> Model {
    let mut m = relu_model();
    m.graph
        .add_initializer("a", external("a", &[1.0, 2.0, 3.0], location));
    m.graph
        .add_initializer("b", external("b", &[4.0; 5], location));
    m
}

#[test]
fn save_writes_aligned_external_data_and_load_reads_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.onnx");
    let m = model_with_external("./weights.bin");
    save(&m, &path).unwrap();
    // The data goes to a file named after the output, never to the tensors' old location.
    assert!(!dir.path().join("weights.bin").exists());
    let data = std::fs::read(dir.path().join("m.onnx.data")).unwrap();
    assert_eq!(data.len() as u64, EXTERNAL_ALIGN + 20);
    assert_eq!(&data[..4], &1.0f32.to_le_bytes());
    assert_eq!(&data[EXTERNAL_ALIGN as usize..][..4], &4.0f32.to_le_bytes());
    let back = load(&path, &Limits::default()).unwrap();
    let b = back
        .graph
        .initializer(back.graph.find_value("b").unwrap())
        .unwrap();
    assert_eq!(b.to_f64_vec().unwrap(), vec![4.0; 5]);
    match &b.storage {
        Storage::External(r) => {
            assert_eq!(
                (r.location.as_str(), r.offset, r.length),
                ("m.onnx.data", EXTERNAL_ALIGN, Some(20))
            )
        }
        other => panic!("storage {other:?}"),
    }
    // Saving the loaded model again under the same name gives the same bytes (offsets are
    // deterministic; the mapped bytes are copied file to file).
    let dir2 = tempfile::tempdir().unwrap();
    let path2 = dir2.path().join("m.onnx");
    save(&back, &path2).unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        std::fs::read(&path2).unwrap()
    );
    assert_eq!(
        data,
        std::fs::read(dir2.path().join("m.onnx.data")).unwrap()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in ["m.onnx", "m.onnx.data"] {
            let mode = std::fs::metadata(dir.path().join(f))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o644, "{f}");
        }
    }
    // No temp files are left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn failed_save_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    // Keep mode cannot keep bytes that never came from a file.
    let m = model_with_external("weights.bin");
    let e = save_with(&m, &dir.path().join("m.onnx"), ExternalData::Keep).unwrap_err();
    assert!(
        matches!(e, OnnxError::External { ref tensor, .. } if tensor == "a"),
        "{e}"
    );
    assert!(e.to_string().contains("cannot be kept"), "{e}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// Writes a model with external tensors 'a' and 'b' in `dir/weights.bin` (the name most
/// export scripts use) and returns its path.
fn input_with_weights_bin(dir: &Path, a: &[f32]) -> std::path::PathBuf {
    let model = dir.join("model.onnx");
    let mut m = model_with_external("weights.bin");
    let mut data: Vec<u8> = a.iter().flat_map(|v| v.to_le_bytes()).collect();
    let b_offset = data.len() as u64;
    data.extend([4.0f32; 5].iter().flat_map(|v| v.to_le_bytes()));
    for (name, offset, len) in [("a", 0, b_offset), ("b", b_offset, 20)] {
        let id = m.graph.find_value(name).unwrap();
        let mut t = (**m.graph.initializer(id).unwrap()).clone();
        t.storage = Storage::External(ExternalRef {
            location: "weights.bin".into(),
            offset,
            length: Some(len),
            extra: Vec::new(),
        });
        m.graph.set_initializer(id, std::sync::Arc::new(t));
    }
    std::fs::write(dir.join("weights.bin"), &data).unwrap();
    std::fs::write(&model, encode(&m).unwrap()).unwrap();
    model
}

fn values_of(path: &Path, name: &str) -> Vec<f64> {
    let m = load(path, &Limits::default()).unwrap();
    let t = m
        .graph
        .initializer(m.graph.find_value(name).unwrap())
        .unwrap();
    t.to_f64_vec().unwrap()
}

#[test]
fn outputs_in_one_folder_never_share_or_clobber_a_data_file() {
    let (ina, inb, out) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let a = input_with_weights_bin(ina.path(), &[1.0, 2.0, 3.0]);
    let b = input_with_weights_bin(inb.path(), &[7.0, 8.0, 9.0]);
    // An unrelated file that happens to have the inputs' data-file name.
    let bystander = out.path().join("weights.bin");
    std::fs::write(&bystander, b"not lnopt's").unwrap();
    for (src, dst) in [(&a, "a.onnx"), (&b, "b.onnx")] {
        let m = load(src, &Limits::default()).unwrap();
        save(&m, &out.path().join(dst)).unwrap();
    }
    assert_eq!(std::fs::read(&bystander).unwrap(), b"not lnopt's");
    assert_eq!(
        values_of(&out.path().join("a.onnx"), "a"),
        vec![1.0, 2.0, 3.0]
    );
    assert_eq!(
        values_of(&out.path().join("b.onnx"), "a"),
        vec![7.0, 8.0, 9.0]
    );
    assert_eq!(values_of(&out.path().join("b.onnx"), "b"), vec![4.0; 5]);
    let mut names: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "a.onnx",
            "a.onnx.data",
            "b.onnx",
            "b.onnx.data",
            "weights.bin"
        ]
    );
}

#[test]
fn keep_mode_references_the_input_data_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let src = input_with_weights_bin(dir.path(), &[1.0, 2.0, 3.0]);
    let before = std::fs::read(dir.path().join("weights.bin")).unwrap();
    let m = load(&src, &Limits::default()).unwrap();
    let out = dir.path().join("fused.onnx");
    save_with(&m, &out, ExternalData::Keep).unwrap();
    assert!(!dir.path().join("fused.onnx.data").exists());
    assert_eq!(
        std::fs::read(dir.path().join("weights.bin")).unwrap(),
        before
    );
    // Same references as the input: the graph bytes are the input's.
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&src).unwrap());
    assert_eq!(values_of(&out, "a"), vec![1.0, 2.0, 3.0]);
}

#[test]
fn keep_mode_refuses_another_folder_and_changed_tensors() {
    let (dir, other) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let src = input_with_weights_bin(dir.path(), &[1.0, 2.0, 3.0]);
    let m = load(&src, &Limits::default()).unwrap();
    let e = save_with(&m, &other.path().join("fused.onnx"), ExternalData::Keep).unwrap_err();
    assert!(e.to_string().contains("input's folder"), "{e}");
    assert_eq!(std::fs::read_dir(other.path()).unwrap().count(), 0);

    let mut changed = m.clone();
    let id = changed.graph.find_value("b").unwrap();
    let storage = changed.graph.initializer(id).unwrap().storage.clone();
    let mut t = Tensor::from_f32("b", vec![5], &[5.0; 5]);
    t.storage = storage;
    changed.graph.set_initializer(id, std::sync::Arc::new(t));
    let out = dir.path().join("fused.onnx");
    let e = save_with(&changed, &out, ExternalData::Keep).unwrap_err();
    assert!(
        matches!(e, OnnxError::External { ref tensor, .. } if tensor == "b"),
        "{e}"
    );
    assert!(!out.exists());
    // Writing the model over its own data file is refused too.
    let e = save_with(&m, &dir.path().join("weights.bin"), ExternalData::Keep).unwrap_err();
    assert!(e.to_string().contains("its own data file"), "{e}");
}

/// Writes a model whose tensor 'a' points at `location` with `offset`/`length`, plus a 12-byte
/// data file `data.bin`; returns the model path.
fn crafted(dir: &Path, location: &str, offset: u64, length: Option<u64>) -> std::path::PathBuf {
    std::fs::write(dir.join("data.bin"), [0u8; 12]).unwrap();
    let mut m = relu_model();
    let mut t = external("a", &[1.0, 2.0, 3.0], location);
    t.storage = Storage::External(ExternalRef {
        location: location.into(),
        offset,
        length,
        extra: vec![],
    });
    m.graph.add_initializer("a", t);
    let path = dir.join("m.onnx");
    std::fs::write(&path, encode(&m).unwrap()).unwrap();
    path
}

fn load_err(path: &Path) -> OnnxError {
    load(path, &Limits::default()).unwrap_err()
}

#[test]
fn external_data_in_the_folder_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = crafted(dir.path(), "data.bin", 0, Some(12));
    let m = load(&path, &Limits::default()).unwrap();
    let a = m
        .graph
        .initializer(m.graph.find_value("a").unwrap())
        .unwrap();
    assert_eq!(a.to_f64_vec().unwrap(), vec![0.0; 3]);
}

#[test]
fn absolute_location_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let abs = dir.path().join("data.bin");
    let path = crafted(dir.path(), abs.to_str().unwrap(), 0, None);
    let e = load_err(&path);
    assert!(
        matches!(e, OnnxError::External { ref tensor, .. } if tensor == "a"),
        "{e}"
    );
    assert!(e.to_string().contains("absolute"), "{e}");
}

#[test]
fn parent_dir_location_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(dir.path().join("data.bin"), [0u8; 12]).unwrap();
    let path = crafted(&sub, "../data.bin", 0, None);
    let e = load_err(&path);
    assert!(matches!(e, OnnxError::External { .. }), "{e}");
    assert!(e.to_string().contains("'..'"), "{e}");
}

#[cfg(unix)]
#[test]
fn symlink_leaving_the_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(dir.path().join("secret.bin"), [0u8; 12]).unwrap();
    std::os::unix::fs::symlink(dir.path().join("secret.bin"), sub.join("link.bin")).unwrap();
    let path = crafted(&sub, "link.bin", 0, None);
    let e = load_err(&path);
    assert!(matches!(e, OnnxError::External { .. }), "{e}");
    assert!(e.to_string().contains("outside the model folder"), "{e}");
}

#[test]
fn missing_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = crafted(dir.path(), "nope.bin", 0, None);
    let e = load_err(&path);
    assert!(
        matches!(e, OnnxError::External { ref location, .. } if location == "nope.bin"),
        "{e}"
    );
}

#[test]
fn offset_or_length_past_the_end_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = crafted(dir.path(), "data.bin", 100, None);
    let e = load_err(&path);
    assert!(e.to_string().contains("offset 100 is past the end"), "{e}");
    let path = crafted(dir.path(), "data.bin", 4, Some(12));
    let e = load_err(&path);
    assert!(e.to_string().contains("past the end"), "{e}");
}

#[test]
fn external_data_without_base_dir_is_refused() {
    let bytes = encode(&model_with_external("w.bin")).unwrap();
    let e = decode(&bytes, None, &Limits::default()).unwrap_err();
    assert!(matches!(e, OnnxError::External { .. }), "{e}");
    assert!(e.to_string().contains("no base directory"), "{e}");
    // The reference itself is written as ONNX expects.
    let mp = ModelProto::parse_from_bytes(&bytes).unwrap();
    assert_eq!(mp.graph.initializer[0].data_location.value(), 1);
}
