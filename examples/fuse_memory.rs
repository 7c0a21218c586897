//! Peak memory of the fusion pass relative to the size of the graph it works on.
//!
//! Builds a synthetic BERT-like graph (`LAYERS` layers, hidden 768, weights shared), measures
//! the resident set before and after building it (= the graph's size), then fuses it and
//! reads the process's peak resident set (`VmHWM`). Prints the extra peak the pass needed as a
//! multiple of the graph's size. Linux only (reads /proc/self/status).
//!
//! `cargo run --release --example fuse_memory -- 2500` (≈100k nodes)

use lnopt_fuse::{fuse_graph, FuseOptions};
use lnopt_suite::synth::bert_like;

fn status_kib(key: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let layers: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2500);
    let before = status_kib("VmRSS:");
    let model = bert_like(layers, 768);
    let mut graph = model.graph;
    let built = status_kib("VmRSS:");
    let graph_kib = built.saturating_sub(before).max(1);
    let nodes = graph.node_count();
    let t = std::time::Instant::now();
    let report = fuse_graph(&mut graph, 14, &FuseOptions::default()).expect("fuses");
    let secs = t.elapsed().as_secs_f64();
    let peak = status_kib("VmHWM:");
    let extra = peak.saturating_sub(built);
    println!(
        "{nodes} nodes, {} fused, {:.3} s; graph {} KiB, peak during fusion +{} KiB = {:.2}x the graph",
        report.total_fused(),
        secs,
        graph_kib,
        extra,
        extra as f64 / graph_kib as f64
    );
}
