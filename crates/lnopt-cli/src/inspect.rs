//! `lnopt inspect MODEL`: op histogram, opsets, inputs/outputs, weights; with `--types`,
//! every value's dtype and shape as lnopt-infer infers them.

use crate::{Failure, LimitArgs};
use clap::Args;
use lnopt::ir::{Graph, Storage, ValueType};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Arguments of `lnopt inspect`.
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// The ONNX model to describe.
    model: PathBuf,
    /// Also print every value of the main graph with its inferred dtype and shape
    /// (one `name<TAB>type` line each, in value order; `?` for an unknown type).
    #[arg(long)]
    types: bool,
    #[command(flatten)]
    limits: LimitArgs,
}

fn count_ops(g: &Graph, hist: &mut BTreeMap<String, usize>) {
    for n in g.node_ids() {
        let node = g.node(n);
        let key = if node.domain.is_empty() {
            node.op_type.clone()
        } else {
            format!("{}::{}", node.domain, node.op_type)
        };
        *hist.entry(key).or_default() += 1;
        for sg in node.subgraphs() {
            count_ops(sg, hist);
        }
    }
}

fn type_str(t: Option<&ValueType>) -> String {
    match t {
        Some(ValueType::Tensor(t)) => t.to_string(),
        Some(ValueType::Opaque(_)) => "(non-tensor type)".into(),
        None => "?".into(),
    }
}

/// Runs `lnopt inspect`.
pub fn inspect(a: &InspectArgs) -> Result<u8, Failure> {
    let model = lnopt::onnx::load(&a.model, &a.limits.limits()).map_err(Failure::bad)?;
    let g = &model.graph;
    println!("model: {}", a.model.display());
    println!(
        "ir_version {}  producer '{}' {}",
        model.ir_version, model.producer_name, model.producer_version
    );
    let opsets: Vec<String> = model
        .opset_imports
        .iter()
        .map(|o| {
            let d = if o.domain.is_empty() {
                "ai.onnx"
            } else {
                &o.domain
            };
            format!("{d} {}", o.version)
        })
        .collect();
    println!("opsets: {}", opsets.join(", "));
    for &v in g.inputs() {
        let val = g.value(v);
        if val.initializer.is_none() {
            println!(
                "input  {}: {}",
                val.name,
                type_str(val.info.as_ref().and_then(|i| i.ty.as_ref()))
            );
        }
    }
    for &v in g.outputs() {
        let val = g.value(v);
        println!(
            "output {}: {}",
            val.name,
            type_str(val.info.as_ref().and_then(|i| i.ty.as_ref()))
        );
    }
    let (mut inline, mut external) = (0usize, 0usize);
    for &v in &g.initializers {
        if let Some(t) = g.initializer(v) {
            let n = t.bytes().map(|b| b.len()).unwrap_or(0);
            match t.storage {
                Storage::External(_) => external += n,
                _ => inline += n,
            }
        }
    }
    println!(
        "initializers: {}  ({} bytes inline, {} bytes external)",
        g.initializers.len(),
        inline,
        external
    );
    let mut hist = BTreeMap::new();
    count_ops(g, &mut hist);
    let total: usize = hist.values().sum();
    println!(
        "nodes: {total} (incl. subgraphs)  local functions: {}",
        model.functions.len()
    );
    let mut rows: Vec<_> = hist.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    for (op, n) in rows {
        println!("  {n:6}  {op}");
    }
    if a.types {
        print_types(&model)?;
    }
    Ok(0)
}

/// Prints the inferred type of every value of the main graph (`lnopt inspect --types`).
fn print_types(model: &lnopt::ir::Model) -> Result<(), Failure> {
    let types = lnopt::infer::infer_model(model).map_err(Failure::bad)?;
    let g = &model.graph;
    println!("types: {} values", g.value_count());
    for v in g.value_ids() {
        let ty = types.ty(v).map_or("?".to_string(), |t| t.to_string());
        println!("  {}\t{ty}", g.value(v).name);
    }
    Ok(())
}
