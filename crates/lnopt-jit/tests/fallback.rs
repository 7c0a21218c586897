//! The JIT's interpreter fallback: nodes without a specialised step (or whose runtime function
//! declines their dtypes / attributes) run through the interpreter's op implementations, next
//! to the generated kernels, and give the interpreter's answers. Also the cases where the JIT's
//! own runtime functions used to give wrong answers.

mod common;

use common::*;
use lnopt_ir::{AttrValue, DType, Graph, Model, Node, Tensor, ValueId};

/// Runs `model` under both engines on `inputs`.
fn both(model: &Model, inputs: &[Tensor]) -> (Vec<Tensor>, Vec<Tensor>) {
    let want = lnopt_interp::run_model(model, inputs).expect("interpreter");
    let cm = lnopt_jit::compile(model, &lnopt_jit::InputShapes::of(inputs)).expect("compile");
    let got = cm.run(inputs).expect("jit run");
    (got, want)
}

/// Asserts the JIT's outputs equal the interpreter's within `atol` / `rtol` (0: identical).
fn assert_close(got: &[Tensor], want: &[Tensor], atol: f64, rtol: f64) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let e = compare(g, w, atol, rtol).unwrap_or_else(|e| panic!("output {i}: {e}"));
        assert!(e <= 0.0, "output {i} off by {e:e}");
    }
}

fn scalar(dtype: DType, bytes: Vec<u8>) -> Tensor {
    Tensor::from_bytes("", dtype, vec![], bytes).unwrap()
}

fn add(g: &mut Graph, node: Node, ins: &[ValueId], out: &str) -> ValueId {
    let o = g.value_by_name_or_new(out);
    g.add_node(node, ins.iter().map(|&v| Some(v)).collect(), vec![Some(o)])
        .unwrap();
    o
}

fn with_attr(op: &str, name: &str, attr: &str, v: AttrValue) -> Node {
    let mut n = Node::new(op, name);
    n.set_attr(attr, v);
    n
}

/// LayerNormalization (generated kernel) → Tile → Clip → Gelu (interpreter) → Mul + Add
/// (generated chain) → Round (interpreter): the plan keeps its specialised steps and the
/// outputs match the interpreter's.
#[test]
fn specialised_and_fallback_steps_mix() {
    let (rows, h) = (4usize, 16usize);
    let mut g = Graph::new("mix");
    let x = declare(&mut g, "x", &[rows as i64, h as i64]);
    g.add_input(x);
    let mut rnd = lcg(7);
    let scale: Vec<f32> = (0..h).map(|_| 1.0 + rnd()).collect();
    let bias: Vec<f32> = (0..h).map(|_| rnd()).collect();
    let s = g.add_initializer("scale", Tensor::from_f32("", vec![h as i64], &scale));
    let b = g.add_initializer("bias", Tensor::from_f32("", vec![h as i64], &bias));
    let ln = add(
        &mut g,
        with_attr(
            "LayerNormalization",
            "ln",
            "epsilon",
            AttrValue::Float(1e-5),
        ),
        &[x, s, b],
        "ln_out",
    );
    let reps = g.add_initializer("reps", Tensor::from_i64("", vec![2], &[1, 2]));
    let tiled = add(&mut g, Node::new("Tile", "tile"), &[ln, reps], "tiled");
    let lo = g.add_initializer("lo", Tensor::from_f32("", vec![], &[-0.75]));
    let hi = g.add_initializer("hi", Tensor::from_f32("", vec![], &[0.5]));
    let clipped = add(
        &mut g,
        Node::new("Clip", "clip"),
        &[tiled, lo, hi],
        "clipped",
    );
    let gelu = add(&mut g, Node::new("Gelu", "gelu"), &[clipped], "gelu");
    let three = g.add_initializer("three", Tensor::from_f32("", vec![], &[3.0]));
    let m = add(&mut g, Node::new("Mul", "mul"), &[gelu, three], "m");
    let a = add(&mut g, Node::new("Add", "add"), &[m, three], "a");
    let r = add(&mut g, Node::new("Round", "round"), &[a], "y");
    g.add_output(r);
    g.add_output(gelu);
    let model = Model::new(g, 20);
    let xs: Vec<f32> = (0..rows * h).map(|_| 4.0 * rnd()).collect();
    let inputs = [Tensor::from_f32("x", vec![rows as i64, h as i64], &xs)];
    let cm = lnopt_jit::compile(&model, &lnopt_jit::InputShapes::of(&inputs)).unwrap();
    let p = cm.plan_stats();
    assert_eq!((p.norm_steps, p.chain_steps), (1, 1), "{:?}", cm.steps());
    let ops: Vec<String> = cm.steps().into_iter().map(|s| s.1).collect();
    for op in ["Tile", "Clip", "Gelu", "Round"] {
        assert!(ops.iter().any(|o| o == op), "{op} missing from {ops:?}");
    }
    let got = cm.run(&inputs).unwrap();
    let want = lnopt_interp::run_model(&model, &inputs).unwrap();
    assert_eq!(got[0].dims, vec![rows as i64, 2 * h as i64]);
    // The kernel's f32 statistics differ from the interpreter's f64 ones by a few ulp; Round
    // of 3·gelu + 3 is then exact unless a value sits at a .5 boundary (none here).
    assert_close(&got, &want, 1e-5, 1e-5);
}

/// `If` whose branches read values of the enclosing graph (one computed by a JIT step and also
/// read by an element-wise op, one a graph input): both branches give the interpreter's
/// (exact) results.
#[test]
fn if_branches_read_enclosing_values() {
    let branch = |name: &str, op: &str| {
        let mut b = Graph::new(name);
        let y = b.value_by_name_or_new("y");
        let x = b.value_by_name_or_new("x");
        let z = add(
            &mut b,
            Node::new(op, format!("{name}_op")),
            &[y, x],
            &format!("{name}_z"),
        );
        b.add_output(z);
        b
    };
    let mut g = Graph::new("if");
    let cond = g.value_by_name_or_new("cond");
    g.add_input(cond);
    let x = declare(&mut g, "x", &[3]);
    g.add_input(x);
    let y = add(&mut g, Node::new("Mul", "sq"), &[x, x], "y");
    let mut node = Node::new("If", "if");
    node.set_attr(
        "then_branch",
        AttrValue::Graph(Box::new(branch("then", "Add"))),
    );
    node.set_attr(
        "else_branch",
        AttrValue::Graph(Box::new(branch("else", "Sub"))),
    );
    let z = add(&mut g, node, &[cond], "z");
    g.add_output(z);
    // y also feeds an element-wise op: it may not disappear inside that op's chain, since
    // the branches read it.
    let w = add(&mut g, Node::new("Add", "w"), &[y, x], "w");
    g.add_output(w);
    let model = Model::new(g, 17);
    let xs = Tensor::from_f32("x", vec![3], &[1.5, -2.0, 3.0]);
    for (c, want) in [(1u8, [3.75f32, 2.0, 12.0]), (0, [0.75, 6.0, 6.0])] {
        let inputs = [scalar(DType::Bool, vec![c]), xs.clone()];
        let (got, interp) = both(&model, &inputs);
        assert_close(&got, &interp, 0.0, 0.0);
        assert_eq!(got[0], Tensor::from_f32("z", vec![3], &want), "cond {c}");
    }
}

/// `Loop` with a trip count, a loop-carried sum that adds an enclosing-scope value each
/// iteration, and a scan output: the interpreter's results.
#[test]
fn loop_with_carried_and_scan_outputs() {
    let mut body = Graph::new("body");
    let it = body.value_by_name_or_new("i");
    let cin = body.value_by_name_or_new("cond_in");
    let sin = body.value_by_name_or_new("s_in");
    for v in [it, cin, sin] {
        body.add_input(v);
    }
    let x = body.value_by_name_or_new("x");
    let cout = add(&mut body, Node::new("Identity", "keep"), &[cin], "cond_out");
    let sout = add(&mut body, Node::new("Add", "acc"), &[sin, x], "s_out");
    let scan = add(&mut body, Node::new("Identity", "scan"), &[sout], "scan");
    for v in [cout, sout, scan] {
        body.add_output(v);
    }
    let mut g = Graph::new("loop");
    let x = declare(&mut g, "x", &[2]);
    g.add_input(x);
    let trip = g.add_initializer("trip", Tensor::from_i64("", vec![], &[3]));
    let go = g.add_initializer("go", scalar(DType::Bool, vec![1]));
    let zero = g.add_initializer("zero", Tensor::from_f32("", vec![2], &[0.0, 0.0]));
    let mut node = Node::new("Loop", "loop");
    node.set_attr("body", AttrValue::Graph(Box::new(body)));
    let s = g.value_by_name_or_new("s");
    let sc = g.value_by_name_or_new("scans");
    g.add_node(
        node,
        vec![Some(trip), Some(go), Some(zero)],
        vec![Some(s), Some(sc)],
    )
    .unwrap();
    g.add_output(s);
    g.add_output(sc);
    let model = Model::new(g, 17);
    let inputs = [Tensor::from_f32("x", vec![2], &[0.5, -1.25])];
    let (got, want) = both(&model, &inputs);
    assert_close(&got, &want, 0.0, 0.0);
    assert_eq!(got[0], Tensor::from_f32("s", vec![2], &[1.5, -3.75]));
    assert_eq!(got[1].dims, vec![3, 2]);
}

fn mod_model(fmod: i64) -> Model {
    let mut g = Graph::new("mod");
    let a = g.value_by_name_or_new("a");
    let b = g.value_by_name_or_new("b");
    g.add_input(a);
    g.add_input(b);
    let y = add(
        &mut g,
        with_attr("Mod", "mod", "fmod", AttrValue::Int(fmod)),
        &[a, b],
        "y",
    );
    g.add_output(y);
    Model::new(g, 13)
}

fn ints(dtype: DType, v: &[i64]) -> Tensor {
    let bytes: Vec<u8> = match dtype {
        DType::I32 => v.iter().flat_map(|&x| (x as i32).to_le_bytes()).collect(),
        _ => v.iter().flat_map(|&x| x.to_le_bytes()).collect(),
    };
    Tensor::from_bytes("", dtype, vec![v.len() as i64], bytes).unwrap()
}

/// `Mod` on integers: `fmod = 1` keeps the dividend's sign (C fmod; the ONNX spec's
/// `test_mod_int64_fmod` example), `fmod = 0` the divisor's (Python). The JIT used to ignore
/// `fmod` for integers (-2 instead of 1 for 7 mod -3).
#[test]
fn integer_mod_follows_fmod() {
    let a = [-4, 7, 5, 4, -7, 8];
    let b = [2, -3, 8, -2, 3, 5];
    for dtype in [DType::I64, DType::I32] {
        for (fmod, want) in [(1, [0, 1, 5, 0, -1, 3]), (0, [0, -2, 5, 0, 2, 3])] {
            let model = mod_model(fmod);
            let inputs = [ints(dtype, &a), ints(dtype, &b)];
            let (got, interp) = both(&model, &inputs);
            assert_eq!(got, interp, "{dtype} fmod {fmod}");
            assert_eq!(
                got[0].to_i64_vec().unwrap(),
                want,
                "{dtype} fmod {fmod}: spec values"
            );
        }
    }
}

fn dropout_model(training: bool) -> Model {
    let mut g = Graph::new("drop");
    let x = declare(&mut g, "x", &[4]);
    g.add_input(x);
    let ratio = g.add_initializer("ratio", Tensor::from_f32("", vec![], &[0.5]));
    let t = g.add_initializer("training", scalar(DType::Bool, vec![training as u8]));
    let y = g.value_by_name_or_new("y");
    let mask = g.value_by_name_or_new("mask");
    g.add_node(
        Node::new("Dropout", "drop"),
        vec![Some(x), Some(ratio), Some(t)],
        vec![Some(y), Some(mask)],
    )
    .unwrap();
    g.add_output(y);
    g.add_output(mask);
    Model::new(g, 13)
}

/// `Dropout` with `training_mode` true is random: the JIT refuses it, naming the node (it used
/// to run it as an identity); in inference mode it is the identity with an all-true mask.
#[test]
fn dropout_in_training_mode_is_refused() {
    let inputs = [Tensor::from_f32("x", vec![4], &[1.0, 2.0, 3.0, 4.0])];
    let model = dropout_model(true);
    let cm = lnopt_jit::compile(&model, &lnopt_jit::InputShapes::of(&inputs)).unwrap();
    let e = cm
        .run(&inputs)
        .expect_err("training-mode Dropout must be refused");
    assert!(
        matches!(&e, lnopt_jit::JitError::Op { node, what, .. }
            if node == "drop" && what.contains("training")),
        "{e}"
    );
    let (got, want) = both(&dropout_model(false), &inputs);
    assert_eq!(got, want);
    assert_eq!(got[0].to_f64_vec().unwrap(), vec![1.0, 2.0, 3.0, 4.0]);
    assert_eq!(got[1].dtype, DType::Bool);
    assert_eq!(got[1].to_i64_vec().unwrap(), vec![1, 1, 1, 1]);
}

/// An integer ReduceSum beyond 2^53 is exact (the JIT's f64 accumulator declines integers and
/// the interpreter's integer reduction runs).
#[test]
fn integer_reduce_sum_is_exact() {
    let mut g = Graph::new("rs");
    let x = g.value_by_name_or_new("x");
    g.add_input(x);
    let y = add(
        &mut g,
        with_attr("ReduceSum", "sum", "keepdims", AttrValue::Int(0)),
        &[x],
        "y",
    );
    g.add_output(y);
    let model = Model::new(g, 13);
    let big = (1i64 << 60) + 1;
    let inputs = [Tensor::from_i64("x", vec![3], &[big, big, 3])];
    let (got, want) = both(&model, &inputs);
    assert_eq!(got, want);
    assert_eq!(got[0].to_i64_vec().unwrap(), vec![(1i64 << 61) + 5]);
}

/// `Pow(x, 0.5)` is not the chain's `Sqrt`: `pow(-inf, 0.5)` is +inf.
#[test]
fn pow_one_half_of_minus_infinity() {
    let mut g = Graph::new("pow");
    let x = declare(&mut g, "x", &[3]);
    g.add_input(x);
    let half = g.add_initializer("half", Tensor::from_f32("", vec![], &[0.5]));
    let y = add(&mut g, Node::new("Pow", "pow"), &[x, half], "y");
    g.add_output(y);
    let model = Model::new(g, 13);
    let inputs = [Tensor::from_f32(
        "x",
        vec![3],
        &[f32::NEG_INFINITY, 4.0, 0.25],
    )];
    let (got, want) = both(&model, &inputs);
    assert_eq!(got, want);
    assert_eq!(got[0].to_f64_vec().unwrap(), vec![f64::INFINITY, 2.0, 0.5]);
}
