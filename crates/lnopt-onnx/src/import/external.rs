//! Tensor data in files beside the model, refusing anything that leaves the model's folder.
//!
//! Each data file is opened and mapped read-only once per import; a tensor's [`Blob`] is a
//! window on that mapping, so its bytes are read from disk only when something looks at them
//! (a small constant during inference or fusion), and a writer can copy the range file to
//! file (see `export::external`).

use super::Importer;
use crate::OnnxError;
use lnopt_ir::{Blob, BlobOrigin, ExternalRef, SharedBytes, SourceFile};
use onnx_protobuf::TensorProto;
use std::fs::File;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// An external-data file opened by an import, with its read-only mapping.
pub(crate) struct MappedFile {
    source: Arc<SourceFile>,
    /// `None` for an empty file (nothing to map).
    map: Option<SharedBytes>,
    len: u64,
}

/// Opens and maps `canon` (a regular file).
fn map_file(canon: &Path) -> Result<MappedFile, String> {
    let file = File::open(canon).map_err(|e| format!("cannot open '{}': {e}", canon.display()))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot stat '{}': {e}", canon.display()))?;
    if !meta.is_file() {
        return Err("is not a regular file".into());
    }
    let len = meta.len();
    let map: Option<SharedBytes> = if len == 0 {
        None
    } else {
        // SAFETY: the mapping is read-only and lnopt never writes to a file it reads (outputs
        // are temp files renamed into place, which leaves a mapped file's data intact). A
        // file truncated by another process while lnopt runs is outside what lnopt can
        // guard against (docs/robustness.md); the same holds for every tool that maps data.
        let m = unsafe { memmap2::Mmap::map(&file) }
            .map_err(|e| format!("cannot map '{}': {e}", canon.display()))?;
        Some(Arc::new(m))
    };
    Ok(MappedFile {
        source: Arc::new(SourceFile {
            path: canon.to_path_buf(),
            file,
        }),
        map,
        len,
    })
}

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
        &mut self,
        tp: &TensorProto,
        expect_bytes: Option<u64>,
        place: &str,
    ) -> Result<(Blob, ExternalRef), OnnxError> {
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
        let (source, map, file_len) = {
            let m = self.mapped_file(&canon).map_err(err)?;
            (m.source.clone(), m.map.clone(), m.len)
        };
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
        let (start, len) = match (usize::try_from(r.offset), usize::try_from(length)) {
            (Ok(s), Ok(l)) => (s, l),
            _ => return Err(err("offset or length does not fit in memory".into())),
        };
        let origin = BlobOrigin {
            source,
            offset: r.offset,
        };
        let blob = match map {
            Some(m) => Blob::mapped(m, start, len, origin)
                .ok_or_else(|| err("the range is not inside the mapped file".into()))?,
            None => Blob::from(Vec::new()),
        };
        r.location = location;
        Ok((blob, r))
    }

    /// The mapping of `canon`, opened on first use.
    fn mapped_file(&mut self, canon: &Path) -> Result<&MappedFile, String> {
        if !self.mapped.contains_key(canon) {
            let m = map_file(canon)?;
            self.mapped.insert(canon.to_path_buf(), m);
        }
        Ok(&self.mapped[canon])
    }
}

/// The files mapped by one import, by canonical path.
pub(crate) type MappedFiles = std::collections::HashMap<PathBuf, MappedFile>;
