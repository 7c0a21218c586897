//! Reading tensor data from files beside the model, refusing anything that leaves the model's
//! folder.

use super::Importer;
use crate::OnnxError;
use lnopt_ir::ExternalRef;
use onnx_protobuf::TensorProto;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path};
use std::sync::Arc;

/// Checks that `location` is a plain relative path that stays inside its folder; returns what
/// is wrong otherwise.
pub(crate) fn check_relative(location: &str) -> Result<(), String> {
    if location.is_empty() {
        return Err("the location is empty".into());
    }
    if location.starts_with('/') || location.starts_with('\\') {
        return Err("is an absolute path".into());
    }
    for c in Path::new(location).components() {
        match c {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => return Err("leaves the model folder ('..')".into()),
            Component::RootDir | Component::Prefix(_) => return Err("is an absolute path".into()),
        }
    }
    Ok(())
}

impl Importer<'_> {
    /// Reads the bytes of an EXTERNAL tensor.
    pub(super) fn external(
        &self,
        tp: &TensorProto,
        expect_bytes: Option<u64>,
        place: &str,
    ) -> Result<(Arc<[u8]>, ExternalRef), OnnxError> {
        let mut r = ExternalRef::default();
        let mut location = None;
        for e in &tp.external_data {
            match e.key.as_str() {
                "location" => location = Some(e.value.clone()),
                "offset" | "length" => {
                    let v: u64 = e.value.trim().parse().map_err(|_| OnnxError::External {
                        place: place.to_string(),
                        tensor: tp.name.clone(),
                        location: location.clone().unwrap_or_default(),
                        what: format!("{} '{}' is not a number", e.key, e.value),
                    })?;
                    if e.key == "offset" {
                        r.offset = v;
                    } else {
                        r.length = Some(v);
                    }
                }
                _ => r.extra.push((e.key.clone(), e.value.clone())),
            }
        }
        let location = location.unwrap_or_default();
        let err = |what: String| OnnxError::External {
            place: place.to_string(),
            tensor: tp.name.clone(),
            location: location.clone(),
            what,
        };
        check_relative(&location).map_err(err)?;
        let base = self.base_dir.as_ref().ok_or_else(|| {
            err("external data needs the model's folder, but the model was decoded from bytes with no base directory".into())
        })?;
        let full = base.join(&location);
        let canon = full
            .canonicalize()
            .map_err(|e| err(format!("cannot open '{}': {e}", full.display())))?;
        if !canon.starts_with(base) {
            return Err(err(format!(
                "resolves to '{}', outside the model folder '{}'",
                canon.display(),
                base.display()
            )));
        }
        let mut file = File::open(&canon)
            .map_err(|e| err(format!("cannot open '{}': {e}", canon.display())))?;
        let meta = file
            .metadata()
            .map_err(|e| err(format!("cannot stat '{}': {e}", canon.display())))?;
        if !meta.is_file() {
            return Err(err("is not a regular file".into()));
        }
        let file_len = meta.len();
        if r.offset > file_len {
            return Err(err(format!(
                "offset {} is past the end of the {file_len}-byte file",
                r.offset
            )));
        }
        let length = r.length.unwrap_or(file_len - r.offset);
        match r.offset.checked_add(length) {
            Some(end) if end <= file_len => {}
            _ => {
                return Err(err(format!(
                    "offset {} + length {length} is past the end of the {file_len}-byte file",
                    r.offset
                )))
            }
        }
        if let Some(b) = expect_bytes {
            if length != b {
                return Err(err(format!(
                    "length {length} but dims {:?} need {b} bytes",
                    tp.dims
                )));
            }
        }
        if length > self.limits.max_tensor_bytes {
            return Err(err(format!(
                "length {length} is more than the limit of {} bytes",
                self.limits.max_tensor_bytes
            )));
        }
        let len =
            usize::try_from(length).map_err(|_| err("length does not fit in memory".into()))?;
        file.seek(SeekFrom::Start(r.offset))
            .map_err(|e| err(format!("cannot seek: {e}")))?;
        let mut buf = vec![0u8; len];
        file.read_exact(&mut buf)
            .map_err(|e| err(format!("cannot read {length} bytes: {e}")))?;
        r.location = location;
        Ok((Arc::from(buf), r))
    }
}
