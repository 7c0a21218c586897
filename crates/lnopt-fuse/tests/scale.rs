//! Scaling: time of the pass on stacked residual layers (run with `--ignored --nocapture` in
//! release to measure; the default run only checks a small stack finishes and fuses all).

mod common;
use common::*;
use lnopt_fuse::{fuse_graph, FuseOptions, NormKind};
use lnopt_ir::DType;
use std::time::Instant;

const H: i64 = 16;

fn stack(layers: usize) -> lnopt_ir::Graph {
    let mut b = B::new();
    let mut x = b.input("x", DType::F32, &[2, 4, H]);
    let w = b.f32("w", &[H, H], &noise((H * H) as usize, 1));
    for _ in 0..layers {
        let y = canonical_ln(&mut b, x, H, true, true);
        let h = b.op("MatMul", &[y, w], vec![]);
        x = b.op("Add", &[h, x], vec![]);
    }
    b.output(x);
    b.g
}

fn time(layers: usize) -> (usize, f64) {
    let mut g = stack(layers);
    let nodes = g.node_count();
    let t = Instant::now();
    let r = fuse_graph(&mut g, 13, &FuseOptions::default()).expect("runs");
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(r.fused_count(NormKind::LayerNorm), layers);
    (nodes, secs)
}

#[test]
fn small_stack_fuses_every_layer() {
    time(24);
}

#[test]
#[ignore]
fn measure_growth() {
    for layers in [24, 1000, 4000, 8400] {
        let (n, s) = time(layers);
        eprintln!(
            "{layers} layers, {n} nodes: {:.1} ms ({:.2} us/node)",
            s * 1e3,
            s * 1e6 / n as f64
        );
    }
}
