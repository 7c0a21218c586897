//! # lnopt-onnx: lossless ONNX import and export
//!
//! The only crate of lnopt that knows protobuf. [`decode`] turns ONNX bytes into an
//! [`lnopt_ir::Model`], checking everything a later pass relies on (IR version, types of
//! attributes, tensor sizes, graph structure, external data paths) and refusing hostile input
//! within [`Limits`] before allocating. [`encode`] writes the IR back; for an untouched model
//! `encode(decode(encode(decode(m))))` equals `encode(decode(m))` byte for byte.
//!
//! Fields the IR has no slot for are carried as protobuf unknown fields (`segment` of a
//! tensor, `quantization_annotation` of a graph) or serialized bytes (training info, sparse
//! tensors, non-tensor types).
//!
//! External data: [`load`] maps it read-only relative to the model's folder (a tensor's bytes
//! are read from disk only when looked at); [`save`] copies every external tensor into one
//! file named after the output, `OUT.data`, file to file, each at an offset aligned to
//! [`EXTERNAL_ALIGN`] bytes; [`save_with`] and [`ExternalData::Keep`] reference the input's
//! data files in place instead.

#![warn(missing_docs)]

mod attr_table;
mod error;
mod export;
mod import;
mod limits;
mod unknown;

pub use error::OnnxError;
pub use export::external::{data_file_name, ExternalData, ALIGN as EXTERNAL_ALIGN};
pub use limits::Limits;

use export::external::ExternalWriter;
use export::Exporter;
use import::Importer;
use lnopt_ir::{Model, Tensor};
use onnx_protobuf::{ModelProto, TensorProto};
use protobuf::{CodedInputStream, Message};
use std::io::Write;
use std::path::Path;

/// Reads a model file; external data is read relative to the file's folder.
pub fn load(path: &Path, limits: &Limits) -> Result<Model, OnnxError> {
    let bytes = read_limited(path, limits)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mp: ModelProto = parse(&bytes, limits, "model").map_err(|e| in_file(e, path))?;
    // The file's bytes are not needed once parsed: free them before the IR copies the
    // tensor data, so peak memory stays near twice the model's size.
    drop(bytes);
    Importer::new(limits, Some(dir))?
        .model(&mp)
        .map_err(|e| in_file(e, path))
}

/// Decodes model bytes. External data is read relative to `base_dir`; with no `base_dir` a
/// model with external data is refused.
pub fn decode(bytes: &[u8], base_dir: Option<&Path>, limits: &Limits) -> Result<Model, OnnxError> {
    check_size("<bytes>", bytes.len() as u64, limits)?;
    let mp: ModelProto = parse(bytes, limits, "model")?;
    Importer::new(limits, base_dir)?.model(&mp)
}

/// Encodes a model. Tensors with external storage are written as references only (see
/// [`save`] to write their data too). The bytes depend only on the IR.
pub fn encode(model: &Model) -> Result<Vec<u8>, OnnxError> {
    let mp = Exporter { external: None }.model(model)?;
    serialize(&mp, "model")
}

/// Writes a model atomically (temp file in the same folder, then rename). External tensors
/// go to `path` + `.data` ([`data_file_name`], also atomic), in export order, each aligned to
/// [`EXTERNAL_ALIGN`]; no other file is written. On error no new file is left.
pub fn save(model: &Model, path: &Path) -> Result<(), OnnxError> {
    save_with(model, path, ExternalData::Copy)
}

/// [`save`] with a choice of where external tensors go: [`ExternalData::Keep`] writes only
/// the model, referencing the input's data files in place, and refuses (naming the tensor) if
/// a tensor changed or the output's folder does not see the same files.
pub fn save_with(model: &Model, path: &Path, external: ExternalData) -> Result<(), OnnxError> {
    let dir = parent_dir(path);
    let mut writer = ExternalWriter::new(&dir, path, external);
    let mp = Exporter {
        external: Some(&mut writer),
    }
    .model(model)?;
    // Streamed into the file: no serialized copy of the whole model in memory.
    let tmp = write_temp_with(&dir, path, |w| {
        mp.write_to_writer(w)
            .map_err(|e| std::io::Error::other(e.to_string()))
    })?;
    drop(mp);
    writer.commit()?;
    tmp.persist(path)
        .map_err(|e| OnnxError::io(path, e.error))?;
    Ok(())
}

/// Decodes a `TensorProto` (the `.pb` files of ONNX test data). External data is refused.
pub fn decode_tensor(bytes: &[u8], limits: &Limits) -> Result<Tensor, OnnxError> {
    check_size("<bytes>", bytes.len() as u64, limits)?;
    let tp: TensorProto = parse(bytes, limits, "tensor")?;
    Importer::new(limits, None)?.tensor(&tp, "tensor file")
}

/// Encodes a tensor as a `TensorProto`.
pub fn encode_tensor(t: &Tensor) -> Result<Vec<u8>, OnnxError> {
    let tp = Exporter { external: None }.tensor(t, "tensor")?;
    serialize(&tp, "tensor")
}

/// Reads a `TensorProto` file; external data is read relative to its folder.
pub fn load_tensor(path: &Path, limits: &Limits) -> Result<Tensor, OnnxError> {
    let bytes = read_limited(path, limits)?;
    let tp: TensorProto = parse(&bytes, limits, "tensor").map_err(|e| in_file(e, path))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let place = format!("'{}'", path.display());
    Importer::new(limits, Some(dir))?.tensor(&tp, &place)
}

/// Writes a tensor as a `TensorProto` file, atomically.
pub fn save_tensor(t: &Tensor, path: &Path) -> Result<(), OnnxError> {
    let bytes = encode_tensor(t)?;
    let dir = parent_dir(path);
    let tmp = write_temp(&dir, path, &bytes)?;
    tmp.persist(path)
        .map_err(|e| OnnxError::io(path, e.error))?;
    Ok(())
}

fn parent_dir(path: &Path) -> std::path::PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    }
}

fn check_size(what: &str, size: u64, limits: &Limits) -> Result<(), OnnxError> {
    if size > limits.max_file_bytes {
        return Err(OnnxError::FileTooLarge {
            path: what.to_string(),
            size,
            max: limits.max_file_bytes,
        });
    }
    Ok(())
}

/// Reads a file after checking its size against the limit.
fn read_limited(path: &Path, limits: &Limits) -> Result<Vec<u8>, OnnxError> {
    let meta = std::fs::metadata(path).map_err(|e| OnnxError::io(path, e))?;
    check_size(&path.display().to_string(), meta.len(), limits)?;
    std::fs::read(path).map_err(|e| OnnxError::io(path, e))
}

/// Names the file in protobuf errors, which otherwise do not say where they came from.
fn in_file(e: OnnxError, path: &Path) -> OnnxError {
    match e {
        OnnxError::Protobuf { what, message } => OnnxError::Protobuf {
            what,
            message: format!("'{}': {message}", path.display()),
        },
        other => other,
    }
}

/// Parses a whole message with the recursion limit derived from `limits`.
fn parse<M: Message>(bytes: &[u8], limits: &Limits, what: &'static str) -> Result<M, OnnxError> {
    let err = |e: protobuf::Error| {
        let message = e.to_string();
        // The decoder's own recursion limit fires first for nesting far past `max_depth`
        // (subgraphs or nested types): report it as nesting, not as corruption.
        if message.contains("recursion limit") {
            OnnxError::TooDeep {
                place: format!("{what} (protobuf message nesting)"),
                max: limits.max_depth,
            }
        } else {
            OnnxError::Protobuf { what, message }
        }
    };
    let mut is = CodedInputStream::from_bytes(bytes);
    is.set_recursion_limit(limits.protobuf_recursion());
    let mut m = M::new();
    m.merge_from(&mut is).map_err(err)?;
    is.check_eof().map_err(err)?;
    Ok(m)
}

fn serialize(m: &impl Message, what: &str) -> Result<Vec<u8>, OnnxError> {
    m.write_to_bytes()
        .map_err(|e| OnnxError::invalid(what, format!("cannot serialize: {e}")))
}

/// Writes `bytes` to a synced temp file in `dir` (deleted if dropped before `persist`).
fn write_temp(dir: &Path, path: &Path, bytes: &[u8]) -> Result<tempfile::NamedTempFile, OnnxError> {
    write_temp_with(dir, path, |w| w.write_all(bytes))
}

/// Like [`write_temp`], with the content produced by `fill` through a buffered writer.
fn write_temp_with(
    dir: &Path,
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<tempfile::NamedTempFile, OnnxError> {
    let tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| OnnxError::io(dir, e))?;
    usual_permissions(tmp.as_file(), path).map_err(|e| OnnxError::io(path, e))?;
    {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, tmp.as_file());
        fill(&mut w)
            .and_then(|_| w.flush())
            .map_err(|e| OnnxError::io(path, e))?;
    }
    tmp.as_file()
        .sync_all()
        .map_err(|e| OnnxError::io(path, e))?;
    Ok(tmp)
}

/// Gives a temp file (created private, 0600) the permissions of the file it will replace, or
/// the usual 0644 for a new file, so saved models are readable like any other file.
pub(crate) fn usual_permissions(file: &std::fs::File, target: &Path) -> std::io::Result<()> {
    let perms = match std::fs::metadata(target) {
        Ok(m) => m.permissions(),
        Err(_) => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::Permissions::from_mode(0o644)
            }
            #[cfg(not(unix))]
            {
                return Ok(());
            }
        }
    };
    file.set_permissions(perms)
}
