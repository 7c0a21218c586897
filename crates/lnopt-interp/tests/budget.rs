//! The interpreter's memory budget counts the computed values alive at once: a long chain of
//! large intermediates runs (each is freed after its last reader), while values that are all
//! alive together beyond the budget are refused, naming the node.

mod common;
use common::*;
use lnopt_interp::{run_model, InterpError};
use lnopt_ir::{Graph, Model, Node, ValueId};

/// 12 Relus in a chain; with `keep_all`, every intermediate is also a graph
/// output (so all stay alive).
fn chain(keep_all: bool) -> Model {
    let mut g = Graph::new("g");
    let x = g.value_by_name_or_new("x");
    g.add_input(x);
    let mut prev: ValueId = x;
    for i in 0..12 {
        let y = g.value_by_name_or_new(&format!("y{i}"));
        g.add_node(
            Node::new("Relu", format!("relu{i}")),
            vec![Some(prev)],
            vec![Some(y)],
        )
        .unwrap();
        if keep_all && i < 11 {
            g.add_output(y);
        }
        prev = y;
    }
    g.add_output(prev);
    Model::new(g, 18)
}

#[test]
fn a_long_chain_of_large_values_fits_once_each_is_freed() {
    // 12 values of 2^23 elements: 2^26.6 in total, above the 2^26 budget, but at most two
    // are alive at once.
    let n = 1usize << 23;
    let x = f32t(&[n as i64], &vec![-1.0; n]);
    let y = run_model(&chain(false), std::slice::from_ref(&x)).unwrap();
    assert_eq!(y.len(), 1);
    assert_eq!(y[0].dims, vec![n as i64]);
    // All twelve alive together (each is a graph output) exceed the budget.
    let e = run_model(&chain(true), &[x]).unwrap_err();
    assert!(
        matches!(&e, InterpError::Op { what, .. } if what.contains("memory budget")),
        "{e}"
    );
}
