//! Fusion time (no weight I/O) on synthetic BERT-like stacks of 1, 12, 48 and 192 layers of
//! BERT-base shape (hidden 768) and a ~100k-node graph. The graph clone is made outside the
//! timed section; what is timed is shape inference + e-graph fusion + write-back.

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use lnopt_fuse::{fuse_graph, FuseOptions};
use lnopt_suite::synth::{bert_like, NODES_PER_LAYER};

fn fusion(c: &mut Criterion) {
    let mut group = c.benchmark_group("fuse_bert_like");
    group.sample_size(10);
    for layers in [1usize, 12, 48, 192, 100_000 / NODES_PER_LAYER] {
        let model = bert_like(layers, 768);
        let nodes = model.graph.node_count();
        group.throughput(Throughput::Elements(nodes as u64));
        group.bench_with_input(BenchmarkId::new("layers", layers), &model, |b, m| {
            b.iter_batched(
                || m.graph.clone(),
                |mut g| {
                    let report = fuse_graph(&mut g, 14, &FuseOptions::default()).expect("fuses");
                    assert_eq!(
                        report
                            .sites
                            .iter()
                            .filter(|s| s.fused_node.is_some())
                            .count(),
                        2 * layers
                    );
                    g
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, fusion);
criterion_main!(benches);
