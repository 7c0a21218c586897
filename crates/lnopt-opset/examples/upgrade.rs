//! `cargo run -p lnopt-opset --example upgrade -- IN.onnx OUT.onnx OPSET`: upgrades a model's
//! ai.onnx opset and saves it, or prints the blockers. For checking the crate against
//! onnx.checker and ONNX Runtime from outside.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, input, output, opset] = args.as_slice() else {
        eprintln!("usage: upgrade IN.onnx OUT.onnx OPSET");
        return ExitCode::from(2);
    };
    let Ok(to) = opset.parse::<i64>() else {
        eprintln!("OPSET must be an integer");
        return ExitCode::from(2);
    };
    let limits = lnopt_onnx::Limits::default();
    let mut model = match lnopt_onnx::load(Path::new(input), &limits) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    match lnopt_opset::upgrade(&mut model, to) {
        Ok(r) => {
            for (node, what) in &r.converted {
                println!("{node}: {what}");
            }
        }
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(3);
        }
    }
    if let Err(e) = lnopt_onnx::save(&model, Path::new(output)) {
        eprintln!("{e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
