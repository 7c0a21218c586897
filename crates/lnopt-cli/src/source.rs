//! Arguments shared by `run` and `bench`: which model, which inputs, fused or not.

use crate::inputs::random_inputs;
use crate::{Engine, Failure, LimitArgs};
use clap::Args;
use lnopt::ir::{Model, Tensor};
use lnopt::reference::read_numbered;
use std::collections::HashMap;
use std::path::PathBuf;

/// A model and the inputs to run it on.
#[derive(Args, Debug)]
pub struct SourceArgs {
    /// The ONNX model.
    pub model: PathBuf,
    /// Folder with input_N.pb (and optionally output_N.pb to compare with).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Which executor runs the model.
    #[arg(long, value_enum, default_value_t = Engine::Interp)]
    pub engine: Engine,
    /// Worker threads of the JIT (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Fuse the model in memory first (standard target), then run the fused model.
    #[arg(long)]
    pub fuse: bool,
    /// Size of a symbolic dim for random inputs, as NAME=VALUE (repeatable).
    #[arg(long = "dim", value_name = "NAME=VALUE", value_parser = parse_dim)]
    pub dims: Vec<(String, i64)>,
    /// Size of symbolic or unknown dims not given with --dim.
    #[arg(long, default_value_t = 2)]
    pub default_dim: i64,
    /// Seed of the random inputs.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub limits: LimitArgs,
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

/// What `load` returns: the model (fused if asked), its inputs, and reference outputs.
pub struct Loaded {
    /// The model to run.
    pub model: Model,
    /// Inputs, from `--data` or random.
    pub inputs: Vec<Tensor>,
    /// Reference outputs from `--data` (empty when none).
    pub expected: Vec<Tensor>,
}

impl SourceArgs {
    /// Loads the model (fusing it when `--fuse`) and its inputs.
    pub fn load(&self) -> Result<Loaded, Failure> {
        let limits = self.limits.limits();
        let mut model = lnopt::onnx::load(&self.model, &limits).map_err(Failure::bad)?;
        if self.fuse {
            let outcome = lnopt::optimize_model(&mut model, &lnopt::Options::default())?;
            eprintln!("{}", outcome.summary());
        }
        let (inputs, expected) = match &self.data {
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
                let dims: HashMap<String, i64> = self.dims.iter().cloned().collect();
                (
                    random_inputs(&model, &dims, self.default_dim, self.seed)?,
                    Vec::new(),
                )
            }
        };
        Ok(Loaded {
            model,
            inputs,
            expected,
        })
    }
}
