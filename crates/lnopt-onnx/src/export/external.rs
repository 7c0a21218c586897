//! Writing external tensor data when saving: one file per `location`, beside the model.
//!
//! Layout: tensors are appended in export order (main graph initializers first, then node
//! attributes in topological order, subgraphs, functions), each starting at an offset that is a
//! multiple of [`ALIGN`] (4096, a page, like `onnx`'s `align_offset`); gaps are zero bytes.
//! Locations are normalised (`./a/b.bin` -> `a/b.bin`) so one file is written once.

use crate::import::check_relative;
use lnopt_ir::ExternalRef;
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use tempfile::NamedTempFile;

/// Alignment of each tensor's offset in an external data file.
pub const ALIGN: u64 = 4096;

/// External files being written, each to a temp file in its final folder.
pub(crate) struct ExternalWriter {
    dir: PathBuf,
    model_file: PathBuf,
    files: Vec<(String, NamedTempFile, u64)>,
}

impl ExternalWriter {
    /// A writer placing files relative to `dir`; `model_file` is the model's own path (never
    /// overwritten by data).
    pub(crate) fn new(dir: &Path, model_file: &Path) -> ExternalWriter {
        ExternalWriter {
            dir: dir.to_path_buf(),
            model_file: model_file.to_path_buf(),
            files: Vec::new(),
        }
    }

    /// Appends `bytes` to the file of `r.location`; returns the reference to write.
    pub(crate) fn add(&mut self, r: &ExternalRef, bytes: &[u8]) -> Result<ExternalRef, String> {
        check_relative(&r.location)?;
        let norm: Vec<String> = Path::new(&r.location)
            .components()
            .filter_map(|c| match c {
                Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect();
        let location = norm.join("/");
        if location.is_empty() {
            return Err("the location names no file".into());
        }
        let target = self.dir.join(&location);
        if let Some(name) = self.model_file.file_name() {
            if target == self.dir.join(name) {
                return Err("the location is the model file itself".into());
            }
        }
        let idx = match self.files.iter().position(|(l, _, _)| *l == location) {
            Some(i) => i,
            None => {
                let parent = target.parent().unwrap_or(&self.dir).to_path_buf();
                std::fs::create_dir_all(&parent)
                    .map_err(|e| format!("cannot create folder '{}': {e}", parent.display()))?;
                let tmp = NamedTempFile::new_in(&parent).map_err(|e| {
                    format!("cannot create a temp file in '{}': {e}", parent.display())
                })?;
                crate::usual_permissions(tmp.as_file(), &target)
                    .map_err(|e| format!("cannot set permissions: {e}"))?;
                self.files.push((location.clone(), tmp, 0));
                self.files.len() - 1
            }
        };
        let (_, file, len) = &mut self.files[idx];
        let offset = len.div_ceil(ALIGN) * ALIGN;
        let pad = usize::try_from(offset - *len).unwrap_or(0);
        let f = file.as_file_mut();
        f.write_all(&vec![0u8; pad])
            .and_then(|_| f.write_all(bytes))
            .map_err(|e| format!("cannot write: {e}"))?;
        *len = offset + bytes.len() as u64;
        Ok(ExternalRef {
            location,
            offset,
            length: Some(bytes.len() as u64),
            extra: r.extra.clone(),
        })
    }

    /// Flushes every temp file and moves it to its final name.
    pub(crate) fn commit(self) -> Result<(), crate::OnnxError> {
        for (location, tmp, _) in self.files {
            let target = self.dir.join(&location);
            tmp.as_file()
                .sync_all()
                .map_err(|e| crate::OnnxError::io(&target, e))?;
            tmp.persist(&target)
                .map_err(|e| crate::OnnxError::io(&target, e.error))?;
        }
        Ok(())
    }
}
