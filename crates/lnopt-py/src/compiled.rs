//! `Compiled`: a model prepared for lnopt's JIT, specialised (and cached) per input shapes.

use crate::lnopt_err;
use lnopt::ir::{DType, Model, Tensor};
use lnopt_jit::{CompiledModel, InputShapes};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// One input from Python: ONNX dtype code, dims, packed little-endian bytes.
type InputSpec<'py> = (i32, Vec<i64>, Bound<'py, PyBytes>);
/// One output to Python: name, ONNX dtype code, dims, packed little-endian bytes.
type OutputSpec<'py> = (String, i32, Vec<i64>, Bound<'py, PyByteArray>);

/// A model ready to run with the JIT. Code is generated per distinct set of input shapes
/// (the JIT specialises on them) and kept for later runs with the same shapes.
#[pyclass(frozen, module = "lnopt")]
pub struct Compiled {
    model: Model,
    inputs: Vec<String>,
    outputs: Vec<String>,
    by_shapes: Mutex<HashMap<Vec<Vec<usize>>, Arc<CompiledModel>>>,
}

impl Compiled {
    fn new(model: Model) -> PyResult<Compiled> {
        lnopt::validate(&model).map_err(lnopt_err)?;
        let g = &model.graph;
        let inputs = g
            .inputs()
            .iter()
            .filter(|&&v| g.value(v).initializer.is_none())
            .map(|&v| g.value(v).name.clone())
            .collect();
        let outputs = g
            .outputs()
            .iter()
            .map(|&v| g.value(v).name.clone())
            .collect();
        Ok(Compiled {
            model,
            inputs,
            outputs,
            by_shapes: Mutex::new(HashMap::new()),
        })
    }

    /// The code for `shapes`, compiled on first use.
    fn for_shapes(&self, shapes: Vec<Vec<usize>>) -> PyResult<Arc<CompiledModel>> {
        if shapes.len() != self.inputs.len() {
            return Err(PyValueError::new_err(format!(
                "{} input shapes given, the model has {} inputs ({})",
                shapes.len(),
                self.inputs.len(),
                self.inputs.join(", ")
            )));
        }
        let mut cache = self
            .by_shapes
            .lock()
            .map_err(|_| lnopt_err("a previous compile panicked"))?;
        if let Some(c) = cache.get(&shapes) {
            return Ok(c.clone());
        }
        let c = Arc::new(
            lnopt_jit::compile(&self.model, &InputShapes(shapes.clone())).map_err(lnopt_err)?,
        );
        cache.insert(shapes, c.clone());
        Ok(c)
    }
}

#[pymethods]
impl Compiled {
    /// Names of the model's runtime inputs (graph inputs that are not initializers), in order.
    #[getter]
    fn input_names(&self) -> Vec<String> {
        self.inputs.clone()
    }

    /// Names of the model's outputs, in order.
    #[getter]
    fn output_names(&self) -> Vec<String> {
        self.outputs.clone()
    }

    /// Compiles for `shapes` (one per runtime input, in order) now rather than at first run.
    fn prepare(&self, shapes: Vec<Vec<usize>>) -> PyResult<()> {
        self.for_shapes(shapes).map(|_| ())
    }

    /// Runs on `inputs` (one per runtime input, in order); returns every output.
    fn run<'py>(
        &self,
        py: Python<'py>,
        inputs: Vec<InputSpec<'py>>,
    ) -> PyResult<Vec<OutputSpec<'py>>> {
        let mut tensors = Vec::with_capacity(inputs.len());
        let mut shapes = Vec::with_capacity(inputs.len());
        for (i, (code, dims, data)) in inputs.iter().enumerate() {
            let name = self.inputs.get(i).cloned().unwrap_or_default();
            let shape = dims
                .iter()
                .map(|&d| usize::try_from(d))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| lnopt_err(format!("input '{name}': negative dim in {dims:?}")))?;
            shapes.push(shape);
            let t = Tensor::from_bytes(
                name,
                DType::from_onnx(*code),
                dims.clone(),
                data.as_bytes().to_vec(),
            )
            .map_err(lnopt_err)?;
            tensors.push(t);
        }
        let code = self.for_shapes(shapes)?;
        let outs = py.detach(|| code.run(&tensors)).map_err(lnopt_err)?;
        outs.iter()
            .enumerate()
            .map(|(i, t)| {
                let name = self.outputs.get(i).cloned().unwrap_or_default();
                let bytes = t.bytes().ok_or_else(|| {
                    lnopt_err(format!(
                        "output '{name}': {} tensors are not supported",
                        t.dtype
                    ))
                })?;
                Ok((
                    name,
                    t.dtype.onnx_code(),
                    t.dims.clone(),
                    PyByteArray::new(py, bytes),
                ))
            })
            .collect()
    }
}

/// Loads serialized ONNX `data` (no external data) for the JIT.
#[pyfunction]
pub fn compile_bytes(data: &[u8]) -> PyResult<Compiled> {
    let model =
        lnopt::onnx::decode(data, None, &lnopt::onnx::Limits::default()).map_err(lnopt_err)?;
    Compiled::new(model)
}

/// Loads the model file `path` (external data beside it) for the JIT.
#[pyfunction]
pub fn compile_file(path: PathBuf) -> PyResult<Compiled> {
    let model = lnopt::onnx::load(&path, &lnopt::onnx::Limits::default()).map_err(lnopt_err)?;
    Compiled::new(model)
}
