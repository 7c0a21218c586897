//! `lnopt run MODEL`: run a model and compare with reference outputs.

use crate::engine::Executor;
use crate::source::SourceArgs;
use crate::Failure;
use clap::Args;
use lnopt::reference::{compare, tolerance_for};

/// Arguments of `lnopt run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    source: SourceArgs,
}

/// Runs `lnopt run`. Returns exit code 1 when an output differs from the reference.
pub fn run(a: &RunArgs) -> Result<u8, Failure> {
    let loaded = a.source.load()?;
    let (exec, _) = Executor::prepare(
        a.source.engine,
        &loaded.model,
        &loaded.inputs,
        a.source.threads,
    )?;
    let outputs = exec.run(&loaded.inputs)?;
    let names: Vec<String> = loaded
        .model
        .graph
        .outputs()
        .iter()
        .map(|&v| loaded.model.graph.value(v).name.clone())
        .collect();
    let mut mismatch = false;
    for (i, got) in outputs.iter().enumerate() {
        let name = names.get(i).map(String::as_str).unwrap_or("?");
        match loaded.expected.get(i) {
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
    if loaded.expected.len() > outputs.len() {
        println!(
            "reference has {} outputs, the model produced {}",
            loaded.expected.len(),
            outputs.len()
        );
        mismatch = true;
    }
    Ok(if mismatch { 1 } else { 0 })
}
