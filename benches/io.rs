//! Decode + encode of the largest corpus model (or a synthetic one when ../shared/corpus is
//! absent), through lnopt-onnx.

use criterion::{criterion_group, criterion_main, Criterion};
use lnopt_ir::{Graph, Model, Node, Tensor};
use lnopt_onnx::{decode, encode, Limits};
use std::path::{Path, PathBuf};

/// The largest `model.onnx` of the corpus, if there is one.
fn largest_corpus_model() -> Option<PathBuf> {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus"));
    let mut best: Option<(u64, PathBuf)> = None;
    for suite in std::fs::read_dir(root).ok()?.flatten() {
        let Ok(cases) = std::fs::read_dir(suite.path()) else {
            continue;
        };
        for case in cases.flatten() {
            let p = case.path().join("model.onnx");
            if let Ok(meta) = std::fs::metadata(&p) {
                if best.as_ref().is_none_or(|(s, _)| meta.len() > *s) {
                    best = Some((meta.len(), p));
                }
            }
        }
    }
    best.map(|(_, p)| p)
}

/// A chain of 2000 Add nodes with a 64-float initializer each (about 0.5 MB).
fn synthetic() -> Vec<u8> {
    let mut g = Graph::new("synthetic");
    let mut x = g.value_by_name_or_new("x");
    g.add_input(x);
    for i in 0..2000 {
        let w = g.add_initializer(
            &format!("w{i}"),
            Tensor::from_f32("", vec![64], &[i as f32; 64]),
        );
        let y = g.value_by_name_or_new(&format!("y{i}"));
        g.add_node(
            Node::new("Add", format!("add{i}")),
            vec![Some(x), Some(w)],
            vec![Some(y)],
        )
        .expect("fresh names");
        x = y;
    }
    g.add_output(x);
    encode(&Model::new(g, 17)).expect("synthetic model encodes")
}

fn bench(c: &mut Criterion) {
    let (name, bytes, base) = match largest_corpus_model() {
        Some(p) => {
            let bytes = std::fs::read(&p).expect("corpus model readable");
            let base = p.parent().map(Path::to_path_buf);
            (p.display().to_string(), bytes, base)
        }
        None => {
            println!("note: corpus absent, benchmarking a synthetic model");
            ("synthetic".to_string(), synthetic(), None)
        }
    };
    println!("io bench model: {name} ({} bytes)", bytes.len());
    let limits = Limits::default();
    c.bench_function("decode+encode largest model", |b| {
        b.iter(|| {
            let m = decode(&bytes, base.as_deref(), &limits).expect("decodes");
            encode(&m).expect("encodes")
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
