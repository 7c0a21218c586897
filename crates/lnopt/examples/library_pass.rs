//! Using lnopt as a library pass, three ways:
//!
//! 1. ONNX bytes in, ONNX bytes out (`optimize_bytes`);
//! 2. on lnopt's IR, for a compiler that imports ONNX itself (`optimize_model`);
//! 3. the egg rules inside another egg-based compiler's own runner (`fuse::rules()`).
//!
//! Run: `cargo run -p lnopt --example library_pass -- fixtures/fusion/ln_pytorch_canonical/model.onnx`

use lnopt::fuse::{rules, NormAnalysis, NormLang};
use lnopt::{optimize_bytes, optimize_model, Options};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fixtures/fusion/ln_pytorch_canonical/model.onnx".into());

    // 1. Bytes to bytes.
    let bytes = std::fs::read(&path)?;
    let (fused_bytes, outcome) = optimize_bytes(&bytes, &Options::default())?;
    println!(
        "bytes: {} -> {} bytes; {}",
        bytes.len(),
        fused_bytes.len(),
        outcome.summary()
    );

    // 2. On the IR: import, optimise, inspect the per-site report, export.
    let mut model = lnopt::onnx::decode(&bytes, None, &Options::default().limits)?;
    let outcome = optimize_model(&mut model, &Options::default())?;
    for site in &outcome.report.sites {
        match &site.fused_node {
            Some(node) => println!("IR: site at {} fused into {node}", site.anchor),
            None => println!(
                "IR: site at {} not fused: {}",
                site.anchor,
                site.reason.as_deref().unwrap_or("?")
            ),
        }
    }
    assert_eq!(
        lnopt::onnx::encode(&model)?,
        fused_bytes,
        "both paths agree"
    );

    // 3. The rules in a plain egg runner: `(x - mean x) / sqrt(var x + eps)` spelled with
    //    Mul(d, d) and Reciprocal meets the `ln` target once facts are known. Here the
    //    analysis has no facts about `%0` (no shapes), so the conditioned target rule
    //    stays off and only the algebra fires: the spellings still meet in one e-class.
    let expr: egg::RecExpr<NormLang> =
        "(div (sub %0 (mean %0 1)) (sqrt (add (mean (mul (sub %0 (mean %0 1)) (sub %0 (mean %0 1))) 1) %1)))"
            .parse()?;
    let runner = egg::Runner::<NormLang, NormAnalysis, ()>::default()
        .with_expr(&expr)
        .run(&rules());
    println!(
        "egg: {} rules, {} e-classes, {} e-nodes after saturation",
        rules().len(),
        runner.egraph.number_of_classes(),
        runner.egraph.total_number_of_nodes()
    );
    Ok(())
}
