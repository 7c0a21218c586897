//! Inputs found by `cargo fuzz run interp` (see fuzz/) that made the interpreter panic. Each
//! must now give an error naming the node, not a panic.

mod common;

use common::*;
use lnopt_interp::run_model;

/// fuzz/regressions/interp/slice_more_starts_than_rank: `Slice` (opset ≥ 10) with more
/// `starts` than the input has axes and no `axes` input indexed past the shape.
#[test]
fn slice_with_more_starts_than_rank_and_no_axes_is_an_error() {
    let m = one_node_model("Slice", "", vec![], &[true, true, true], 1, 13);
    let x = f32t(&[2], &[1.0, 2.0]);
    let starts = i64t(&[2], &[0, 0]);
    let ends = i64t(&[2], &[1, 1]);
    let e = run_model(&m, &[x, starts, ends]).unwrap_err().to_string();
    assert!(e.contains("the_node") && e.contains("rank 1"), "{e}");
}

/// fuzz/findings/interp_oom_gather_2p27_elements: a graph of a few nodes over tiny inputs
/// whose values, each within the per-value limit, together took > 2 GiB. Five Expands of a
/// scalar to 4096 x 4096 (2^24 elements each) must stop at the run's memory budget.
#[test]
fn many_large_values_hit_the_memory_budget_instead_of_allocating_gigabytes() {
    use lnopt_ir::{Graph, Model, Node, Tensor};
    let mut g = Graph::new("budget");
    let x = g.value_by_name_or_new("x");
    g.add_input(x);
    let shape = g.add_initializer("shape", Tensor::from_i64("shape", vec![2], &[4096, 4096]));
    let mut last = None;
    for i in 0..5 {
        let out = g.new_value(&format!("big{i}"));
        g.add_node(
            Node::new("Expand", format!("expand{i}")),
            vec![Some(x), Some(shape)],
            vec![Some(out)],
        )
        .unwrap();
        g.add_output(out);
        last = Some(out);
    }
    assert!(last.is_some());
    let m = Model::new(g, 13);
    let e = run_model(&m, &[f32t(&[], &[1.0])]).unwrap_err().to_string();
    assert!(e.contains("memory budget") && e.contains("expand"), "{e}");
}
