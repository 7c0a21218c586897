//! Blockers, all-or-nothing behaviour, other domains, subgraphs and local functions.

mod common;
use common::*;
use lnopt_ir::dump::dump_model;
use lnopt_ir::{AttrValue, DType, Function, Graph, Node, OpsetImport, Tensor};
use lnopt_opset::{upgrade, upgrade_blockers, OpsetError};

fn reduce_mean_graph(name: &str, x_is_input: bool) -> Graph {
    let mut g = Graph::new(name);
    let x = g.value_by_name_or_new("x");
    if x_is_input {
        g.add_input(x);
    }
    let y = g.value_by_name_or_new(&format!("{name}_y"));
    let mut n = Node::new("ReduceMean", format!("{name}_rm"));
    n.set_attr("axes", ints(&[-1]));
    g.add_node(n, vec![Some(x)], vec![Some(y)]).unwrap();
    g.add_output(y);
    g
}

#[test]
fn one_blocker_leaves_the_whole_model_unchanged() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, Some(&[1, 1, 2, 2]));
    let (_, r) = b.node(
        "ReduceMean",
        "rm",
        &[Some(x)],
        1,
        vec![("axes", ints(&[-1]))],
    );
    let s = b.init(
        "scales",
        Tensor::from_f32("", vec![4], &[1.0, 1.0, 2.0, 2.0]),
    );
    let (_, u) = b.node("Upsample", "up", &[Some(x), Some(s)], 1, vec![]);
    b.output(r[0]);
    b.output(u[0]);
    let mut m = b.model(9);
    let before = dump_model(&m);
    let blockers = upgrade_blockers(&m, 13);
    assert_eq!(blockers.len(), 1);
    assert_eq!(
        (blockers[0].node.as_str(), blockers[0].op_type.as_str()),
        ("up", "Upsample")
    );
    match upgrade(&mut m, 13) {
        Err(OpsetError::Blocked {
            to: 13,
            blockers: b2,
        }) => assert_eq!(b2, blockers),
        other => panic!("expected Blocked, got {other:?}"),
    }
    assert_eq!(dump_model(&m), before, "model must be unchanged on error");
    assert_eq!(m.opset_version(""), Some(9));
}

#[test]
fn unknown_and_not_yet_defined_default_ops_block() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, Some(&[2, 4]));
    let (_, a) = b.node("NotAnOnnxOp", "weird", &[Some(x)], 1, vec![]);
    let (_, l) = b.node("LayerNormalization", "ln", &[Some(a[0])], 1, vec![]);
    b.output(l[0]);
    let m = b.model(14);
    let bl = upgrade_blockers(&m, 17);
    let names: Vec<&str> = bl.iter().map(|b| b.node.as_str()).collect();
    assert_eq!(names, vec!["weird", "ln"]);
    assert!(bl[1].reason.contains("17"), "{}", bl[1].reason);
}

#[test]
fn other_domains_are_untouched() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, Some(&[2, 4]));
    let (id, o) = b.node(
        "ReduceMean",
        "ms_rm",
        &[Some(x)],
        1,
        vec![("axes", ints(&[-1]))],
    );
    b.g.node_mut(id).domain = "com.example".into();
    b.output(o[0]);
    let mut m = b.model(13);
    m.opset_imports.push(OpsetImport {
        domain: "com.example".into(),
        version: 1,
    });
    let r = upgrade(&mut m, 18).unwrap();
    assert!(r.converted.is_empty());
    let n = find(&m.graph, "ReduceMean");
    assert_eq!(m.graph.node(n).attr_ints("axes"), Ok(Some(&[-1][..])));
    assert_eq!(m.opset_version("com.example"), Some(1));
}

#[test]
fn subgraph_nodes_are_converted() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, Some(&[2, 4]));
    let c = b.input("c", DType::Bool, Some(&[]));
    let (_, o) = b.node(
        "If",
        "if",
        &[Some(c)],
        1,
        vec![
            (
                "then_branch",
                AttrValue::Graph(Box::new(reduce_mean_graph("then", false))),
            ),
            (
                "else_branch",
                AttrValue::Graph(Box::new(reduce_mean_graph("else", false))),
            ),
        ],
    );
    let _ = x;
    b.output(o[0]);
    let mut m = b.model(13);
    let r = upgrade(&mut m, 18).unwrap();
    assert_eq!(r.converted.len(), 2);
    assert!(r.converted[0].0.starts_with("if/"), "{:?}", r.converted);
    let n = find(&m.graph, "If");
    for branch in ["then_branch", "else_branch"] {
        let Some(AttrValue::Graph(sg)) = m.graph.node(n).attr(branch) else {
            panic!("{branch} lost")
        };
        let rm = find(sg, "ReduceMean");
        assert_eq!(const_input(sg, rm, 1), Some(vec![-1]));
        sg.verify_in_scope(&["x"]).unwrap();
    }
}

#[test]
fn function_bodies_use_constant_nodes_and_bump_their_import() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, Some(&[2, 4]));
    let (id, o) = b.node("MyMean", "call", &[Some(x)], 1, vec![]);
    b.g.node_mut(id).domain = "local".into();
    b.output(o[0]);
    let mut m = b.model(13);
    m.opset_imports.push(OpsetImport {
        domain: "local".into(),
        version: 1,
    });
    let body = reduce_mean_graph("body", true);
    m.functions.push(Function {
        name: "MyMean".into(),
        domain: "local".into(),
        overload: String::new(),
        inputs: vec!["x".into()],
        outputs: vec!["body_y".into()],
        attribute_names: vec![],
        attribute_defaults: vec![],
        body,
        opset_imports: vec![OpsetImport {
            domain: String::new(),
            version: 13,
        }],
        doc_string: String::new(),
        metadata: vec![],
        unknown: Default::default(),
    });
    let before = m.clone();
    let r = upgrade(&mut m, 18).unwrap();
    assert_eq!(r.converted.len(), 1);
    let f = &m.functions[0];
    assert_eq!(f.opset_imports[0].version, 18);
    assert!(
        f.body.initializers.is_empty(),
        "functions cannot hold initializers"
    );
    let rm = find(&f.body, "ReduceMean");
    let axes = f.body.node(rm).input(1).expect("axes input");
    let (cn, _) = f.body.producer_node(axes).expect("produced by a node");
    assert_eq!(f.body.node(cn).op_type, "Constant");
    same_outputs(&before, &m, &[data(&[2, 4], 21)]);
}

#[test]
fn bad_targets_are_errors() {
    let mut m = B::new().model(14);
    assert!(matches!(
        upgrade(&mut m, 13),
        Err(OpsetError::Downgrade { from: 14, to: 13 })
    ));
    assert!(matches!(
        upgrade(&mut m, 99),
        Err(OpsetError::UnsupportedTarget { .. })
    ));
    assert!(!upgrade_blockers(&m, 13).is_empty());
    let r = upgrade(&mut m, 14).unwrap();
    assert!(r.converted.is_empty());
    assert_eq!(m.ir_version, 7, "a no-op upgrade leaves ir_version alone");
}
