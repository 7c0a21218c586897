//! External data: save writes it beside the model, load reads it back, and locations that
//! escape the model folder or point past the data are refused.

mod common;

use common::*;
use lnopt_ir::{ExternalRef, Model, Storage, Tensor};
use lnopt_onnx::{decode, encode, load, save, Limits, OnnxError, EXTERNAL_ALIGN};
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
    let data = std::fs::read(dir.path().join("weights.bin")).unwrap();
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
                ("weights.bin", EXTERNAL_ALIGN, Some(20))
            )
        }
        other => panic!("storage {other:?}"),
    }
    // Saving the loaded model again gives the same bytes (offsets are deterministic).
    let path2 = dir.path().join("m2.onnx");
    save(&back, &path2).unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        std::fs::read(&path2).unwrap()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in ["m.onnx", "weights.bin"] {
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
    assert_eq!(names.len(), 3, "{names:?}");
}

#[test]
fn failed_save_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let m = model_with_external("../outside.bin");
    let e = save(&m, &dir.path().join("m.onnx")).unwrap_err();
    assert!(matches!(e, OnnxError::External { .. }), "{e}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
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
