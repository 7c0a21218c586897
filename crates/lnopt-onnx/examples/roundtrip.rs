//! `cargo run -p lnopt-onnx --example roundtrip -- in.onnx out.onnx`: load a model and save it
//! again through lnopt's IR (useful to diff what import/export changes).

use lnopt_onnx::{load, save, Limits};
use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: roundtrip IN.onnx OUT.onnx");
        std::process::exit(2);
    }
    let result =
        load(Path::new(&args[1]), &Limits::default()).and_then(|m| save(&m, Path::new(&args[2])));
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
