//! Writing external tensor data when saving.
//!
//! Two policies ([`ExternalData`]):
//! - **Copy** (default): every external tensor of the output goes to one file named after the
//!   output, `OUT.data` (the PyTorch exporter's convention), so two outputs in one folder never
//!   share a data file and no other file is ever written. Tensors are appended in export order
//!   (main graph initializers first, then node attributes in topological order, subgraphs,
//!   functions), each at an offset that is a multiple of [`ALIGN`] (4096, a page, like `onnx`'s
//!   `align_offset`); gaps are zero bytes. Bytes still mapped from an input file are copied
//!   file to file by the kernel (`copy_file_range` where the platform has it), never read into
//!   memory. The file is a temp file until [`ExternalWriter::commit`].
//! - **Keep**: no data is written; each external tensor keeps its reference to the input's
//!   data file, which must be the very file range the tensor was read from, seen from the
//!   output's folder (so the output must be in the input's folder and the tensor unchanged).

use lnopt_ir::{Blob, ExternalRef};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use tempfile::NamedTempFile;

/// Alignment of each tensor's offset in an external data file.
pub const ALIGN: u64 = 4096;

/// Where a saved model's external tensors go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExternalData {
    /// Copy them into `OUT.data` beside the output (the only data file written).
    #[default]
    Copy,
    /// Reference the input's data files in place (no copy); only for tensors that are
    /// unchanged and an output in the input's folder.
    Keep,
}

/// The data file being written in copy mode.
struct DataFile {
    name: String,
    tmp: NamedTempFile,
    len: u64,
}

/// External data of one save.
pub(crate) struct ExternalWriter {
    dir: PathBuf,
    model_file: PathBuf,
    mode: ExternalData,
    file: Option<DataFile>,
}

/// The data file name of an output model: its file name with `.data` appended.
pub fn data_file_name(model_file: &Path) -> Option<String> {
    let name = model_file.file_name()?.to_str()?;
    Some(format!("{name}.data"))
}

impl ExternalWriter {
    /// A writer for the model saved at `model_file` in `dir`.
    pub(crate) fn new(dir: &Path, model_file: &Path, mode: ExternalData) -> ExternalWriter {
        ExternalWriter {
            dir: dir.to_path_buf(),
            model_file: model_file.to_path_buf(),
            mode,
            file: None,
        }
    }

    /// Stores `bytes` of a tensor whose input reference was `r`; returns the reference to
    /// write, or what is wrong.
    pub(crate) fn add(&mut self, r: &ExternalRef, bytes: &Blob) -> Result<ExternalRef, String> {
        match self.mode {
            ExternalData::Keep => self.keep(r, bytes),
            ExternalData::Copy => self.copy(r, bytes),
        }
    }

    /// Keep mode: the reference is written unchanged if it still names the bytes' origin.
    fn keep(&self, r: &ExternalRef, bytes: &Blob) -> Result<ExternalRef, String> {
        let Some(origin) = bytes.origin() else {
            return Err(
                "its data changed (it is no longer the input's file range), so it cannot be kept in place; use external data 'copy'"
                    .into(),
            );
        };
        let at = self.dir.join(&r.location);
        if self
            .model_file
            .file_name()
            .is_some_and(|n| at == self.dir.join(n))
        {
            return Err(format!(
                "the output model would replace its own data file '{}'",
                r.location
            ));
        }
        let seen = at.canonicalize().ok();
        if seen.as_deref() != Some(origin.path()) {
            return Err(format!(
                "its data lives in '{}', which the output's folder '{}' does not reach as '{}'; keep mode needs the output in the input's folder (or use external data 'copy')",
                origin.path().display(),
                self.dir.display(),
                r.location
            ));
        }
        if origin.offset != r.offset || r.length.is_some_and(|l| l != bytes.len() as u64) {
            return Err(format!(
                "its data changed (now {} bytes at offset {} of '{}'), so it cannot be kept in place; use external data 'copy'",
                bytes.len(),
                origin.offset,
                r.location
            ));
        }
        Ok(r.clone())
    }

    /// Copy mode: appends the bytes to `OUT.data`.
    fn copy(&mut self, r: &ExternalRef, bytes: &Blob) -> Result<ExternalRef, String> {
        if self.file.is_none() {
            let name = data_file_name(&self.model_file)
                .ok_or("the output path has no file name to name its data file after")?;
            let target = self.dir.join(&name);
            let tmp = NamedTempFile::new_in(&self.dir).map_err(|e| {
                format!("cannot create a temp file in '{}': {e}", self.dir.display())
            })?;
            crate::usual_permissions(tmp.as_file(), &target)
                .map_err(|e| format!("cannot set permissions: {e}"))?;
            self.file = Some(DataFile { name, tmp, len: 0 });
        }
        let Some(df) = self.file.as_mut() else {
            return Err("no data file".into());
        };
        let offset = df.len.div_ceil(ALIGN) * ALIGN;
        let pad = usize::try_from(offset - df.len).unwrap_or(0);
        let out = df.tmp.as_file_mut();
        out.write_all(&vec![0u8; pad])
            .map_err(|e| format!("cannot write: {e}"))?;
        let n = bytes.len() as u64;
        match bytes.origin() {
            Some(origin) => copy_range(&origin.source.file, origin.offset, n, out)
                .map_err(|e| format!("cannot copy from '{}': {e}", origin.path().display()))?,
            None => out
                .write_all(bytes)
                .map_err(|e| format!("cannot write: {e}"))?,
        }
        df.len = offset + n;
        // Other keys (a checksum) stay valid: the bytes are the same. Import keeps location,
        // offset and length out of `extra`.
        Ok(ExternalRef {
            location: df.name.clone(),
            offset,
            length: Some(n),
            extra: r.extra.clone(),
        })
    }

    /// Syncs the data file and moves it to its final name (`OUT.data`).
    pub(crate) fn commit(self) -> Result<(), crate::OnnxError> {
        if let Some(df) = self.file {
            let target = self.dir.join(&df.name);
            df.tmp
                .as_file()
                .sync_all()
                .map_err(|e| crate::OnnxError::io(&target, e))?;
            df.tmp
                .persist(&target)
                .map_err(|e| crate::OnnxError::io(&target, e.error))?;
        }
        Ok(())
    }
}

/// Copies `len` bytes at `offset` of `src` to the end of `dst`, file to file (std's copy
/// uses the kernel's `copy_file_range`/`sendfile` for files where available).
fn copy_range(
    src: &std::fs::File,
    offset: u64,
    len: u64,
    dst: &mut std::fs::File,
) -> std::io::Result<()> {
    use std::io::Read;
    let mut src = src;
    src.seek(SeekFrom::Start(offset))?;
    let copied = std::io::copy(&mut src.take(len), dst)?;
    if copied != len {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("the file ended after {copied} of {len} bytes"),
        ));
    }
    Ok(())
}
