//! The graph's invariants: wiring kept in step by edits, verify() findings, deterministic
//! order and names, and the canonical dump.

use lnopt_ir::dump::dump_graph;
use lnopt_ir::{Graph, IrError, Node, Producer, Tensor};

/// x → A → a → B → b (output), with an initializer w read by B.
fn chain() -> Graph {
    let mut g = Graph::new("g");
    let x = g.value_by_name_or_new("x");
    g.add_input(x);
    let w = g.add_initializer("w", Tensor::from_f32("w", vec![], &[2.0]));
    let a = g.value_by_name_or_new("a");
    let b = g.value_by_name_or_new("b");
    g.add_node(Node::new("Neg", "A"), vec![Some(x)], vec![Some(a)])
        .unwrap();
    g.add_node(Node::new("Mul", "B"), vec![Some(a), Some(w)], vec![Some(b)])
        .unwrap();
    g.add_output(b);
    g
}

#[test]
fn edits_keep_uses_producers_and_edges_in_step() {
    let mut g = chain();
    let a = g.find_value("a").unwrap();
    let x = g.find_value("x").unwrap();
    assert_eq!(g.value(a).uses().len(), 1);
    assert_eq!(g.petgraph().edge_count(), 1);
    let (na, _) = g.producer_node(a).unwrap();
    g.replace_all_uses(a, x);
    assert!(g.value(a).uses().is_empty());
    assert_eq!(g.value(x).uses().len(), 2);
    assert_eq!(g.petgraph().edge_count(), 0, "B now reads a graph input");
    g.remove_node(na);
    assert_eq!(g.value(a).producer(), Producer::None);
    g.verify().unwrap();
    assert_eq!(g.node_count(), 1);
}

#[test]
fn a_new_producer_is_wired_to_existing_readers() {
    let mut g = chain();
    let a = g.find_value("a").unwrap();
    let x = g.find_value("x").unwrap();
    let (na, _) = g.producer_node(a).unwrap();
    g.remove_node(na);
    assert!(matches!(g.verify(), Err(IrError::MissingProducer { .. })));
    g.add_node(Node::new("Abs", "A2"), vec![Some(x)], vec![Some(a)])
        .unwrap();
    assert_eq!(g.petgraph().edge_count(), 1);
    g.verify().unwrap();
}

#[test]
fn verify_names_dangling_inputs_duplicates_and_cycles() {
    let mut g = Graph::new("bad");
    let ghost = g.value_by_name_or_new("ghost");
    let y = g.value_by_name_or_new("y");
    g.add_node(Node::new("Relu", "r"), vec![Some(ghost)], vec![Some(y)])
        .unwrap();
    g.add_output(y);
    let e = g.verify().unwrap_err();
    assert!(
        e.to_string().contains("ghost") && e.to_string().contains("'r'"),
        "{e}"
    );

    let e = g
        .add_node(Node::new("Relu", "r2"), vec![Some(y)], vec![Some(y)])
        .unwrap_err();
    assert!(matches!(e, IrError::DuplicateName { .. }), "{e}");

    let mut c = Graph::new("cycle");
    let p = c.value_by_name_or_new("p");
    let q = c.value_by_name_or_new("q");
    c.add_node(Node::new("Neg", "n1"), vec![Some(q)], vec![Some(p)])
        .unwrap();
    c.add_node(Node::new("Neg", "n2"), vec![Some(p)], vec![Some(q)])
        .unwrap();
    assert!(matches!(c.verify(), Err(IrError::Cycle { .. })));
}

#[test]
fn topological_order_keeps_insertion_order_when_it_is_valid() {
    let g = chain();
    let names: Vec<String> = g
        .topo_order()
        .unwrap()
        .into_iter()
        .map(|n| g.node(n).name.clone())
        .collect();
    assert_eq!(names, ["A", "B"]);
}

#[test]
fn new_value_names_are_unique_and_deterministic() {
    let mut g = chain();
    let names: Vec<String> = (0..4)
        .map(|_| {
            let v = g.new_value("a");
            g.value(v).name.clone()
        })
        .collect();
    assert_eq!(names, ["a_1", "a_2", "a_3", "a_4"]);
}

#[test]
fn dump_is_canonical() {
    let text = dump_graph(&chain());
    assert_eq!(
        text,
        "graph g\n  input %x: ?\n  init %w = f32[] [2.0]\n  %a = Neg(%x)\n  %b = Mul(%a, %w)\n  output %b: ?\n"
    );
}

#[test]
fn subgraphs_lists_graph_and_graphs_attributes_in_order() {
    use lnopt_ir::AttrValue;
    let mut node = Node::new("If", "if");
    node.set_attr(
        "then_branch",
        AttrValue::Graph(Box::new(Graph::new("then"))),
    );
    node.set_attr("axis", AttrValue::Int(0));
    node.set_attr(
        "bodies",
        AttrValue::Graphs(vec![Graph::new("b0"), Graph::new("b1")]),
    );
    let names: Vec<&str> = node.subgraphs().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["then", "b0", "b1"]);
}
