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
