//! The `lnopt` command line as a library: [`run_cli`] is the whole command (the `lnopt` binary
//! and the Python package's `lnopt` script both call it), so every front end behaves the same.
//!
//! Exit codes: 0 success; 1 `run` found outputs that differ from the reference; 2 bad input,
//! bad usage or an I/O error (one message on stderr naming what and where).

mod bench;
mod engine;
mod inputs;
mod inspect;
pub mod optimize;
mod run;
mod source;

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::ffi::OsString;

const ABOUT: &str = "Fuse decomposed LayerNorm / RMSNorm in ONNX models into single nodes.";
const LONG_ABOUT: &str = "\
Fuse decomposed LayerNorm / RMSNorm in ONNX models into single nodes.

  lnopt MODEL -o OUT            import, fuse, export (OUT is written atomically)
  lnopt run MODEL --data DIR    run with the reference interpreter and compare with DIR/output_N.pb
  lnopt inspect MODEL           op histogram, opsets, inputs/outputs, weight sizes
  lnopt bench MODEL             compile time and latency (--engine jit|interp)

Every normalisation site found is reported on stderr: fused (as which op) or not fused, with the
reason. By default the output is standard ONNX: when a fusion needs a newer ai.onnx opset
(LayerNormalization 17, RMSNormalization 23) the model is upgraded if every op in it converts
safely, otherwise those sites are left alone and the blocking node is named. `--target ort`
emits ONNX Runtime's private ops at the model's own opset instead.

Exit codes: 0 success, 1 outputs differ from the reference (run), 2 bad input or usage.";

/// Command line of `lnopt`.
#[derive(Parser, Debug)]
#[command(name = "lnopt", version, about = ABOUT, long_about = LONG_ABOUT)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    optimize: optimize::OptimizeArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a model and compare its outputs with reference data.
    Run(run::RunArgs),
    /// Print a summary of a model.
    Inspect(inspect::InspectArgs),
    /// Time repeated runs of a model (compile time, median / min / max latency).
    Bench(bench::BenchArgs),
}

/// Limits that protect against hostile or broken files; raise them for huge models.
#[derive(Args, Debug, Clone)]
pub struct LimitArgs {
    /// Largest model file accepted, in MiB.
    #[arg(long, default_value_t = 8192, value_name = "MIB")]
    max_file_mib: u64,
    /// Largest tensor accepted, in MiB.
    #[arg(long, default_value_t = 8192, value_name = "MIB")]
    max_tensor_mib: u64,
    /// Most nodes accepted in one model.
    #[arg(long, default_value_t = 10_000_000)]
    max_nodes: usize,
    /// Deepest nesting of subgraphs accepted.
    #[arg(long, default_value_t = 64)]
    max_depth: usize,
}

impl LimitArgs {
    /// The library's limits for these flags.
    pub fn limits(&self) -> lnopt::onnx::Limits {
        lnopt::onnx::Limits {
            max_file_bytes: self.max_file_mib.saturating_mul(1 << 20),
            max_nodes: self.max_nodes,
            max_depth: self.max_depth,
            max_tensor_bytes: self.max_tensor_mib.saturating_mul(1 << 20),
        }
    }
}

/// Which executor runs a model.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// The plain reference interpreter (slow, obviously right).
    Interp,
    /// Native code generated with cranelift (fast).
    Jit,
}

/// A failure of a command: the message and the exit code.
#[derive(Debug)]
pub struct Failure {
    /// Exit code.
    pub code: u8,
    /// What to print.
    pub message: String,
}

impl Failure {
    /// Bad input, usage or I/O (exit 2).
    pub fn bad(message: impl std::fmt::Display) -> Failure {
        Failure {
            code: 2,
            message: message.to_string(),
        }
    }
}

impl From<lnopt::Error> for Failure {
    fn from(e: lnopt::Error) -> Failure {
        Failure::bad(e)
    }
}

/// Runs the `lnopt` command line on `args` (the program name first, as in `std::env::args_os`)
/// and returns its exit code. Usage errors, `--help` and `--version` are printed as clap prints
/// them; a failure prints one `lnopt: error: ...` line on stderr.
pub fn run_cli<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // Printing can only fail when stdout/stderr are closed; the exit code still tells.
            let _ = e.print();
            return u8::try_from(e.exit_code()).unwrap_or(2);
        }
    };
    let result = match cli.command {
        Some(Command::Run(a)) => run::run(&a),
        Some(Command::Inspect(a)) => inspect::inspect(&a),
        Some(Command::Bench(a)) => bench::bench(&a),
        None => optimize::optimize(&cli.optimize),
    };
    match result {
        Ok(code) => code,
        Err(f) => {
            eprintln!("lnopt: error: {}", f.message);
            f.code
        }
    }
}
