//! # lnopt-interp: the reference interpreter
//!
//! A plain, obviously-correct evaluator of lnopt's IR, used as the oracle of differential tests
//! (original graph vs fused graph, interpreter vs JIT). Clarity beats speed.
//!
//! Every value is held as a row-major array whose elements are widened to `f64` (float dtypes)
//! or `i64` (integer and bool dtypes); each op rounds its results back to its element type, so
//! f16/bf16/f32 ops behave as if computed in their own precision (reductions and dot products
//! accumulate in f64, a little more accurate than ONNX Runtime). Normalisations with
//! `stash_type = 1` compute in high precision and round once.
//!
//! - [`run_model`]: positional inputs, outputs in graph output order;
//! - [`run_graph`]: named inputs, named outputs;
//! - [`run_model_traced`]: every input and node output of the main graph by name;
//! - [`PreparedNode`]: one node on its own, for engines that run the ops they have no
//!   specialised code for through the interpreter's implementations.
//!
//! Unknown ops give [`InterpError::UnsupportedOp`]; invalid shapes, attributes or dtypes give
//! [`InterpError::Op`] naming the node. No input makes the interpreter panic, and no value may
//! exceed 2^27 elements.

#![warn(missing_docs)]

mod arr;
mod call;
mod error;
mod exec;
mod index;
mod node;
mod ops;

pub use error::InterpError;
pub use node::{Elements, OpContext, PreparedNode, Value, ValueError};

use arr::Arr;
use exec::{Exec, Frame};
use lnopt_ir::{Graph, Model, Tensor};
use std::collections::HashMap;
use std::rc::Rc;

/// Default-domain opset assumed when a model imports none.
const DEFAULT_OPSET: i64 = 23;

fn main_opset(model: &Model) -> i64 {
    model.opset_version("").unwrap_or(DEFAULT_OPSET)
}

/// Binds `inputs` positionally to the graph inputs that are not initializers.
fn bind_positional(
    graph: &Graph,
    inputs: &[Tensor],
) -> Result<HashMap<String, Rc<Arr>>, InterpError> {
    let names: Vec<&str> = graph
        .inputs()
        .iter()
        .map(|&v| graph.value(v))
        .filter(|v| v.initializer.is_none())
        .map(|v| v.name.as_str())
        .collect();
    if names.len() != inputs.len() {
        return Err(InterpError::Inputs {
            graph: graph.name.clone(),
            what: format!(
                "{} inputs given, the graph has {} ({})",
                inputs.len(),
                names.len(),
                names.join(", ")
            ),
        });
    }
    let mut bound = HashMap::new();
    for (name, t) in names.into_iter().zip(inputs) {
        bound.insert(name.to_string(), Rc::new(convert_input(graph, name, t)?));
    }
    Ok(bound)
}

fn convert_input(graph: &Graph, name: &str, t: &Tensor) -> Result<Arr, InterpError> {
    Arr::from_tensor(t).map_err(|e| InterpError::Inputs {
        graph: graph.name.clone(),
        what: format!("input '{name}': {}", exec::msg(&e)),
    })
}

fn top_frame(model: &Model) -> Frame<'static> {
    Frame {
        opset: main_opset(model),
        attrs: None,
        depth: 0,
    }
}

/// Runs the main graph. `inputs` bind positionally to the graph inputs that are not
/// initializers; outputs come in graph output order.
pub fn run_model(model: &Model, inputs: &[Tensor]) -> Result<Vec<Tensor>, InterpError> {
    let bound = bind_positional(&model.graph, inputs)?;
    let mut exec = Exec { model, trace: None };
    let outs = exec.run_graph(&model.graph, top_frame(model), None, bound, false)?;
    Ok(model
        .graph
        .outputs()
        .iter()
        .zip(outs)
        .map(|(&v, a)| a.to_tensor(&model.graph.value(v).name))
        .collect())
}

/// Runs `graph` (the main graph of `model`, or any graph using `model`'s opsets and local
/// functions) with named inputs; an input named like an initializer overrides it. Returns all
/// graph outputs by name in graph output order.
pub fn run_graph(
    model: &Model,
    graph: &Graph,
    inputs: &HashMap<String, Tensor>,
) -> Result<Vec<(String, Tensor)>, InterpError> {
    let mut bound = HashMap::new();
    for (name, t) in inputs {
        bound.insert(name.clone(), Rc::new(convert_input(graph, name, t)?));
    }
    let mut exec = Exec { model, trace: None };
    let outs = exec.run_graph(graph, top_frame(model), None, bound, false)?;
    Ok(graph
        .outputs()
        .iter()
        .zip(outs)
        .map(|(&v, a)| {
            let name = graph.value(v).name.clone();
            let t = a.to_tensor(&name);
            (name, t)
        })
        .collect())
}

/// Like [`run_model`] but returns every graph input and every node output of the main graph
/// by name (subgraph and function-body values are not included), for op-by-op comparison.
pub fn run_model_traced(
    model: &Model,
    inputs: &[Tensor],
) -> Result<HashMap<String, Tensor>, InterpError> {
    let bound = bind_positional(&model.graph, inputs)?;
    let mut exec = Exec {
        model,
        trace: Some(HashMap::new()),
    };
    exec.run_graph(&model.graph, top_frame(model), None, bound, false)?;
    Ok(exec.trace.unwrap_or_default())
}
