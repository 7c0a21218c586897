//! Whole-graph behaviour: the public entry points, control flow, local functions, errors.
mod common;
use common::*;
use lnopt_interp::{run_graph, run_model, run_model_traced, InterpError};
use lnopt_ir::{AttrValue, Function, Graph, Model, Node, OpsetImport};
use std::collections::HashMap;

/// x -> Add(x, c=[1,1]) -> t -> Mul(t, t) -> y, with c an initializer.
fn add_mul_model() -> Model {
    let mut g = Graph::new("g");
    let x = g.value_by_name_or_new("x");
    g.add_input(x);
    let c = g.add_initializer("c", f32t(&[2], &[1., 1.]));
    let t = g.value_by_name_or_new("t");
    let y = g.value_by_name_or_new("y");
    g.add_node(
        Node::new("Add", "add"),
        vec![Some(x), Some(c)],
        vec![Some(t)],
    )
    .unwrap();
    g.add_node(
        Node::new("Mul", "sq"),
        vec![Some(t), Some(t)],
        vec![Some(y)],
    )
    .unwrap();
    g.add_output(y);
    Model::new(g, 18)
}

#[test]
fn run_model_binds_non_initializer_inputs_positionally() {
    let y = run_model(&add_mul_model(), &[f32t(&[2], &[1., 2.])]).unwrap();
    assert_eq!(y[0].name, "y");
    close(&vals(&y[0]), &[4., 9.]);
}

#[test]
fn wrong_input_count_is_an_error() {
    let e = run_model(&add_mul_model(), &[]).unwrap_err();
    assert!(matches!(e, InterpError::Inputs { .. }), "{e}");
}

#[test]
fn traced_run_records_intermediates() {
    let t = run_model_traced(&add_mul_model(), &[f32t(&[2], &[1., 2.])]).unwrap();
    close(&vals(&t["t"]), &[2., 3.]);
    close(&vals(&t["y"]), &[4., 9.]);
    close(&vals(&t["x"]), &[1., 2.]);
}

#[test]
fn run_graph_takes_names_and_overrides_initializers() {
    let m = add_mul_model();
    let mut inputs = HashMap::new();
    inputs.insert("x".to_string(), f32t(&[2], &[1., 2.]));
    inputs.insert("c".to_string(), f32t(&[2], &[0., 0.]));
    let out = run_graph(&m, &m.graph, &inputs).unwrap();
    assert_eq!(out[0].0, "y");
    close(&vals(&out[0].1), &[1., 4.]);
}

#[test]
fn unknown_op_names_node_domain_and_op() {
    let m = one_node_model("FancyOp", "my.domain", vec![], &[true], 1, 18);
    let e = run_model(&m, &[f32t(&[1], &[1.])]).unwrap_err();
    match e {
        InterpError::UnsupportedOp { node, domain, op } => {
            assert_eq!(
                (node.as_str(), domain.as_str(), op.as_str()),
                ("the_node", "my.domain", "FancyOp")
            );
        }
        other => panic!("unexpected {other}"),
    }
}

/// A branch graph with no inputs whose single output is `Identity(outer)` or a constant.
fn branch(outer: &str, out: &str, constant: Option<f32>) -> Graph {
    let mut g = Graph::new(out);
    let o = g.value_by_name_or_new(out);
    match constant {
        Some(v) => {
            let mut n = Node::new("Constant", "k");
            n.set_attr("value", AttrValue::Tensor(f32t(&[1], &[v])));
            g.add_node(n, vec![], vec![Some(o)]).unwrap();
        }
        None => {
            let i = g.value_by_name_or_new(outer);
            g.add_node(Node::new("Identity", "id"), vec![Some(i)], vec![Some(o)])
                .unwrap();
        }
    }
    g.add_output(o);
    g
}

#[test]
fn if_runs_the_chosen_branch_reading_outer_values() {
    let mut g = Graph::new("main");
    let c = g.value_by_name_or_new("cond");
    let x = g.value_by_name_or_new("x");
    g.add_input(c);
    g.add_input(x);
    let y = g.value_by_name_or_new("y");
    let mut n = Node::new("If", "if");
    n.set_attr(
        "then_branch",
        AttrValue::Graph(Box::new(branch("x", "then_out", None))),
    );
    n.set_attr(
        "else_branch",
        AttrValue::Graph(Box::new(branch("x", "else_out", Some(-1.)))),
    );
    g.add_node(n, vec![Some(c)], vec![Some(y)]).unwrap();
    g.add_output(y);
    let m = Model::new(g, 18);
    let x = f32t(&[1], &[5.]);
    let yes = run_model(&m, &[boolt(&[], &[true]), x.clone()]).unwrap();
    close(&vals(&yes[0]), &[5.]);
    let no = run_model(&m, &[boolt(&[], &[false]), x]).unwrap();
    close(&vals(&no[0]), &[-1.]);
}

#[test]
fn loop_carries_state_and_stacks_scan_outputs() {
    // body(i, cond, acc): acc' = acc + step (outer value); scan = acc'.
    let mut body = Graph::new("body");
    let i = body.value_by_name_or_new("i");
    let cin = body.value_by_name_or_new("cin");
    let acc = body.value_by_name_or_new("acc");
    for v in [i, cin, acc] {
        body.add_input(v);
    }
    let step = body.value_by_name_or_new("step");
    let cout = body.value_by_name_or_new("cout");
    let acc2 = body.value_by_name_or_new("acc2");
    let scan = body.value_by_name_or_new("scan");
    body.add_node(
        Node::new("Identity", "c"),
        vec![Some(cin)],
        vec![Some(cout)],
    )
    .unwrap();
    body.add_node(
        Node::new("Add", "a"),
        vec![Some(acc), Some(step)],
        vec![Some(acc2)],
    )
    .unwrap();
    body.add_node(
        Node::new("Identity", "s"),
        vec![Some(acc2)],
        vec![Some(scan)],
    )
    .unwrap();
    for v in [cout, acc2, scan] {
        body.add_output(v);
    }
    let mut g = Graph::new("main");
    let m_trip = g.value_by_name_or_new("M");
    let s = g.value_by_name_or_new("step");
    let a0 = g.value_by_name_or_new("a0");
    for v in [m_trip, s, a0] {
        g.add_input(v);
    }
    let fin = g.value_by_name_or_new("final");
    let all = g.value_by_name_or_new("all");
    let mut n = Node::new("Loop", "loop");
    n.set_attr("body", AttrValue::Graph(Box::new(body)));
    g.add_node(
        n,
        vec![Some(m_trip), None, Some(a0)],
        vec![Some(fin), Some(all)],
    )
    .unwrap();
    g.add_output(fin);
    g.add_output(all);
    let m = Model::new(g, 18);
    let out = run_model(&m, &[i64t(&[], &[3]), f32t(&[1], &[2.]), f32t(&[1], &[1.])]).unwrap();
    close(&vals(&out[0]), &[7.]);
    assert_eq!(out[1].dims, vec![3, 1]);
    close(&vals(&out[1]), &[3., 5., 7.]);
}

#[test]
fn local_function_call_resolves_attribute_references() {
    // Function Scaled(x) = Mul(x, Constant(value_float = @factor)), factor defaults to 2.
    let mut body = Graph::new("Scaled");
    let x = body.value_by_name_or_new("fx");
    body.add_input(x);
    let k = body.value_by_name_or_new("k");
    let y = body.value_by_name_or_new("fy");
    let mut c = Node::new("Constant", "k");
    c.set_attr(
        "value_float",
        AttrValue::Ref {
            ref_name: "factor".into(),
            type_code: 1,
        },
    );
    body.add_node(c, vec![], vec![Some(k)]).unwrap();
    body.add_node(Node::new("Mul", "m"), vec![Some(x), Some(k)], vec![Some(y)])
        .unwrap();
    body.add_output(y);
    let f = Function {
        name: "Scaled".into(),
        domain: "local".into(),
        overload: String::new(),
        inputs: vec!["fx".into()],
        outputs: vec!["fy".into()],
        attribute_names: vec![],
        attribute_defaults: vec![attr("factor", AttrValue::Float(2.))],
        body,
        opset_imports: vec![OpsetImport {
            domain: String::new(),
            version: 18,
        }],
        doc_string: String::new(),
        metadata: vec![],
        unknown: Default::default(),
    };
    let mut m = one_node_model("Scaled", "local", vec![], &[true], 1, 18);
    m.functions.push(f.clone());
    let y = run_model(&m, &[f32t(&[2], &[1., 2.])]).unwrap();
    close(&vals(&y[0]), &[2., 4.]);
    let mut m = one_node_model(
        "Scaled",
        "local",
        vec![attr("factor", AttrValue::Float(3.))],
        &[true],
        1,
        18,
    );
    m.functions.push(f);
    let y = run_model(&m, &[f32t(&[2], &[1., 2.])]).unwrap();
    close(&vals(&y[0]), &[3., 6.]);
}

/// An op, its attributes and inputs that together are invalid.
type BadCase = (
    &'static str,
    Vec<lnopt_ir::Attribute>,
    Vec<Option<lnopt_ir::Tensor>>,
);

#[test]
fn malformed_inputs_give_errors_not_panics() {
    // Wrong dtype for shape, rank mismatch, missing attribute, bad axis.
    let cases: Vec<BadCase> = vec![
        (
            "Reshape",
            vec![],
            vec![Some(f32t(&[2], &[1., 2.])), Some(f32t(&[1], &[2.]))],
        ),
        ("Concat", vec![], vec![Some(f32t(&[2], &[1., 2.]))]),
        (
            "Transpose",
            vec![attr("perm", AttrValue::Ints(vec![0, 0]))],
            vec![Some(f32t(&[1, 1], &[1.]))],
        ),
        (
            "Softmax",
            vec![attr("axis", AttrValue::Int(5))],
            vec![Some(f32t(&[2], &[1., 2.]))],
        ),
        ("Cast", vec![], vec![Some(f32t(&[1], &[1.]))]),
        (
            "Gemm",
            vec![],
            vec![Some(f32t(&[2], &[1., 2.])), Some(f32t(&[2], &[1., 2.]))],
        ),
        (
            "Conv",
            vec![],
            vec![
                Some(f32t(&[1, 1, 2], &[1., 2.])),
                Some(f32t(&[1, 1, 3], &[1., 1., 1.])),
            ],
        ),
        (
            "Range",
            vec![],
            vec![
                Some(i64t(&[], &[0])),
                Some(i64t(&[], &[5])),
                Some(i64t(&[], &[0])),
            ],
        ),
        (
            "Where",
            vec![],
            vec![
                Some(f32t(&[1], &[1.])),
                Some(f32t(&[1], &[1.])),
                Some(f32t(&[1], &[1.])),
            ],
        ),
        (
            "Split",
            vec![attr("split", AttrValue::Ints(vec![1, 1]))],
            vec![Some(f32t(&[3], &[1., 2., 3.]))],
        ),
    ];
    for (op, attrs, inputs) in cases {
        let r = run_op_at(op, 18, attrs, &inputs, if op == "Split" { 2 } else { 1 });
        let e = r.expect_err(op).to_string();
        assert!(e.contains("the_node"), "{op}: {e}");
    }
}
