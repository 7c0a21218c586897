//! The facade's error type: one variant per layer that can fail.

/// Anything that can go wrong in an lnopt pass.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading, validating or writing ONNX failed.
    #[error(transparent)]
    Onnx(#[from] lnopt_onnx::OnnxError),
    /// The fusion pass failed.
    #[error(transparent)]
    Fuse(#[from] lnopt_fuse::FuseError),
    /// Converting the model's opset failed.
    #[error(transparent)]
    Opset(#[from] lnopt_opset::OpsetError),
    /// The reference interpreter failed.
    #[error(transparent)]
    Interp(#[from] lnopt_interp::InterpError),
    /// The model cannot be reasoned about (missing opset import, broken type constraints).
    #[error("invalid model: {0}")]
    Invalid(#[from] crate::InvalidModel),
    /// The output's folder does not exist.
    #[error("cannot write the output: folder '{0}' does not exist")]
    OutputFolder(String),
    /// The output path names the input file.
    #[error("output '{0}' is the input model; choose another path (or pass --force)")]
    OutputIsInput(String),
    /// The output's data file (`OUT.data`) would replace the input model.
    #[error("the output's data file '{0}' is the input model; choose another output path")]
    DataFileIsInput(String),
}
