//! # lnopt — fuse decomposed LayerNorm / RMSNorm in ONNX models
//!
//! The library pass behind the `lnopt` command, for compilers that want it inside their own
//! pipeline. Three entry points, from the outside in:
//!
//! - [`optimize_file`]: read a model, fuse, write the result atomically (external data too);
//! - [`optimize_bytes`]: ONNX bytes in, ONNX bytes out (models without external data);
//! - [`optimize_model`]: on lnopt's IR ([`ir::Model`]), for callers that import ONNX themselves.
//!
//! The e-graph language, analysis and rules are re-exported as [`fuse`] so another egg-based
//! compiler can include them in its own rule set.
//!
//! ```no_run
//! let outcome = lnopt::optimize_file(
//!     std::path::Path::new("model.onnx"),
//!     std::path::Path::new("fused.onnx"),
//!     &lnopt::Options::default(),
//! )?;
//! eprintln!("{}", outcome.summary());
//! # Ok::<(), lnopt::Error>(())
//! ```

#![warn(missing_docs)]

mod cleanup;
mod error;
mod policy;
pub mod reference;
mod validate;

pub use error::Error;
pub use lnopt_fuse as fuse;
pub use lnopt_infer as infer;
pub use lnopt_interp as interp;
pub use lnopt_ir as ir;
pub use lnopt_onnx as onnx;
pub use lnopt_opset as opset;
pub use lnopt_schema as schema;
pub use policy::{optimize_model, Options, Outcome, Target};
pub use validate::{validate, InvalidModel};

use std::path::Path;

/// Decodes ONNX `bytes`, optimises, and encodes the result. Models with external data need
/// [`optimize_file`] (their data lives beside the file).
pub fn optimize_bytes(bytes: &[u8], options: &Options) -> Result<(Vec<u8>, Outcome), Error> {
    let mut model = lnopt_onnx::decode(bytes, None, &options.limits)?;
    let outcome = optimize_model(&mut model, options)?;
    Ok((lnopt_onnx::encode(&model)?, outcome))
}

/// Loads `input`, optimises, and writes `output` atomically (a temp file renamed into place;
/// nothing is left behind on error). External tensors go to `output` + `.data`, or stay in
/// the input's data files with [`onnx::ExternalData::Keep`]; no other file is written.
/// Refuses `output` that is the same file as `input` unless `options.overwrite_input` is set,
/// and an output whose data file would be the input model.
pub fn optimize_file(input: &Path, output: &Path, options: &Options) -> Result<Outcome, Error> {
    if !options.overwrite_input && same_file(input, output) {
        return Err(Error::OutputIsInput(output.display().to_string()));
    }
    if let Some(name) = lnopt_onnx::data_file_name(output) {
        let data = output.with_file_name(name);
        if same_file(input, &data) {
            return Err(Error::DataFileIsInput(data.display().to_string()));
        }
    }
    if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.is_dir() {
            return Err(Error::OutputFolder(parent.display().to_string()));
        }
    }
    let mut model = lnopt_onnx::load(input, &options.limits)?;
    let outcome = optimize_model(&mut model, options)?;
    lnopt_onnx::save_with(&model, output, options.external_data)?;
    Ok(outcome)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}
