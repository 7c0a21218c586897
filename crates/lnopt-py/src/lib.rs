//! `lnopt._lnopt`: the Rust half of the `lnopt` Python package.
//!
//! Thin bindings over the library (`lnopt`), the JIT (`lnopt-jit`) and the command line
//! (`lnopt-cli`); the Python half (`python/lnopt/__init__.py`) converts onnx and numpy objects
//! to the plain bytes, dtype codes and dims these functions take. No logic of lnopt is
//! re-implemented here.

mod compiled;
mod report;

use lnopt::onnx::ExternalData;
use lnopt::{Options, Target};
use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::ffi::OsString;
use std::path::PathBuf;

pub use compiled::Compiled;
pub use report::{Report, Site};

create_exception!(
    _lnopt,
    LnoptError,
    PyValueError,
    "An error reported by lnopt: a model it refuses, bad input, or an I/O failure."
);

/// Wraps any lnopt error as a `LnoptError` carrying its message.
pub(crate) fn lnopt_err(e: impl std::fmt::Display) -> PyErr {
    LnoptError::new_err(e.to_string())
}

/// The library options for the Python keyword arguments.
fn options(target: &str, opset_upgrade: bool, fuse: bool) -> PyResult<Options> {
    let target = match target {
        "standard" => Target::Standard,
        "ort" => Target::Ort,
        other => {
            return Err(PyValueError::new_err(format!(
                "target must be 'standard' or 'ort', not '{other}'"
            )))
        }
    };
    Ok(Options {
        target,
        fuse,
        allow_opset_upgrade: opset_upgrade,
        ..Options::default()
    })
}

/// Optimises serialized ONNX `data` (no external data); returns the new bytes and the report.
#[pyfunction]
#[pyo3(signature = (data, target, opset_upgrade, fuse))]
fn optimize_bytes<'py>(
    py: Python<'py>,
    data: &[u8],
    target: &str,
    opset_upgrade: bool,
    fuse: bool,
) -> PyResult<(Bound<'py, PyBytes>, Report)> {
    let opts = options(target, opset_upgrade, fuse)?;
    let (bytes, outcome) = py
        .detach(|| lnopt::optimize_bytes(data, &opts))
        .map_err(lnopt_err)?;
    let report = Report::new(&outcome, "<bytes>".as_ref(), "<bytes>".as_ref());
    Ok((PyBytes::new(py, &bytes), report))
}

/// Optimises the model file `src` into `dst` (external data as the CLI handles it).
#[pyfunction]
#[pyo3(signature = (src, dst, target, opset_upgrade, fuse, external_data, force))]
#[allow(clippy::too_many_arguments)]
fn optimize_file(
    py: Python<'_>,
    src: PathBuf,
    dst: PathBuf,
    target: &str,
    opset_upgrade: bool,
    fuse: bool,
    external_data: &str,
    force: bool,
) -> PyResult<Report> {
    let mut opts = options(target, opset_upgrade, fuse)?;
    opts.external_data = match external_data {
        "copy" => ExternalData::Copy,
        "keep" => ExternalData::Keep,
        other => {
            return Err(PyValueError::new_err(format!(
                "external_data must be 'copy' or 'keep', not '{other}'"
            )))
        }
    };
    opts.overwrite_input = force;
    let outcome = py
        .detach(|| lnopt::optimize_file(&src, &dst, &opts))
        .map_err(lnopt_err)?;
    Ok(Report::new(&outcome, &src, &dst))
}

/// Runs the `lnopt` command line on `argv` (program name first); returns the exit code.
#[pyfunction]
fn run_cli(py: Python<'_>, argv: Vec<OsString>) -> u8 {
    py.detach(|| lnopt_cli::run_cli(argv))
}

/// The extension module.
#[pymodule]
fn _lnopt(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("LnoptError", m.py().get_type::<LnoptError>())?;
    m.add_class::<Report>()?;
    m.add_class::<Site>()?;
    m.add_class::<Compiled>()?;
    m.add_function(wrap_pyfunction!(optimize_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(optimize_file, m)?)?;
    m.add_function(wrap_pyfunction!(run_cli, m)?)?;
    m.add_function(wrap_pyfunction!(compiled::compile_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(compiled::compile_file, m)?)?;
    Ok(())
}
