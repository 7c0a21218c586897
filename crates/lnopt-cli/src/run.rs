//! `lnopt run MODEL`: run a model and compare with reference outputs.

use crate::compare::{compare, tolerance_for};
use crate::inputs::{random_inputs, read_numbered};
use crate::{Engine, Failure, LimitArgs};
use clap::Args;
use std::collections::HashMap;
use std::path::PathBuf;

/// Arguments of `lnopt run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// The ONNX model to run.
    model: PathBuf,
    /// Folder with input_N.pb (and optionally output_N.pb to compare with).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Which executor runs the model.
    #[arg(long, value_enum, default_value_t = Engine::Interp)]
    engine: Engine,
    /// Fuse the model in memory first (standard target), then run the fused model.
    #[arg(long)]
    fuse: bool,
    /// Size of a symbolic dim for random inputs, as NAME=VALUE (repeatable).
    #[arg(long = "dim", value_name = "NAME=VALUE", value_parser = parse_dim)]
    dims: Vec<(String, i64)>,
    /// Size of symbolic or unknown dims not given with --dim.
    #[arg(long, default_value_t = 2)]
    default_dim: i64,
    /// Seed of the random inputs.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[command(flatten)]
    limits: LimitArgs,
}

fn parse_dim(s: &str) -> Result<(String, i64), String> {
    let (name, value) = s
        .split_once('=')
        .ok_or_else(|| format!("'{s}' is not NAME=VALUE"))?;
    let v: i64 = value
        .parse()
        .map_err(|_| format!("'{value}' in '{s}' is not a whole number"))?;
    if v < 0 {
        return Err(format!("dim '{name}' must not be negative"));
    }
    Ok((name.to_string(), v))
}

/// Runs `lnopt run`. Returns exit code 1 when an output differs from the reference.
pub fn run(a: &RunArgs) -> Result<u8, Failure> {
    let limits = a.limits.limits();
    let mut model = lnopt::onnx::load(&a.model, &limits).map_err(Failure::bad)?;
    if a.fuse {
        let outcome = lnopt::optimize_model(&mut model, &lnopt::Options::default())?;
        eprintln!("{}", outcome.summary());
    }
    let (inputs, expected) = match &a.data {
        Some(dir) => {
            if !dir.is_dir() {
                return Err(Failure::bad(format!(
                    "--data '{}' is not a folder",
                    dir.display()
                )));
            }
            (
                read_numbered(dir, "input", &limits)?,
                read_numbered(dir, "output", &limits)?,
            )
        }
        None => {
            let dims: HashMap<String, i64> = a.dims.iter().cloned().collect();
            (
                random_inputs(&model, &dims, a.default_dim, a.seed)?,
                Vec::new(),
            )
        }
    };
    let outputs = match a.engine {
        Engine::Interp => lnopt::interp::run_model(&model, &inputs).map_err(Failure::bad)?,
    };
    let names: Vec<String> = model
        .graph
        .outputs()
        .iter()
        .map(|&v| model.graph.value(v).name.clone())
        .collect();
    let mut mismatch = false;
    for (i, got) in outputs.iter().enumerate() {
        let name = names.get(i).map(String::as_str).unwrap_or("?");
        match expected.get(i) {
            Some(want) => {
                let c = compare(got, want, tolerance_for(want.dtype));
                let verdict = if c.ok { "ok" } else { "MISMATCH" };
                println!(
                    "output {i} '{name}': {} {:?}  max abs err {:.3e}  {verdict}{}",
                    got.dtype,
                    got.dims,
                    c.max_abs,
                    c.problem.map(|p| format!(" ({p})")).unwrap_or_default()
                );
                mismatch |= !c.ok;
            }
            None => println!("output {i} '{name}': {} {:?}", got.dtype, got.dims),
        }
    }
    if expected.len() > outputs.len() {
        println!(
            "reference has {} outputs, the model produced {}",
            expected.len(),
            outputs.len()
        );
        mismatch = true;
    }
    Ok(if mismatch { 1 } else { 0 })
}
