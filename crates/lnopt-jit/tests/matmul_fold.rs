//! MatMul with folded Transposes, bias Add and result Transpose: differential tests against
//! the reference interpreter over random shapes and foldings (proptest), plus checks of what
//! the plan folds and what it must leave alone.

mod common;

use lnopt_ir::ValueType;
use lnopt_ir::{AttrValue, DType, Graph, Model, Node, Tensor, TensorType, ValueId, ValueInfo};
use proptest::prelude::*;

/// How the bias after the product is given.
#[derive(Clone, Copy, Debug)]
enum Bias {
    None,
    /// Constant `[n]`.
    Row,
    /// Constant `[1, 1, n]`.
    Row3,
    /// Constant `[m, n]`: not a row, so the step must fall back to the original nodes.
    Full,
    /// A runtime input `[n]`: not constant, so it is not folded.
    Runtime,
}

#[derive(Clone, Debug)]
struct Case {
    b: usize,
    h: usize,
    m: usize,
    k: usize,
    n: usize,
    /// A arrives as [b, m, h, k] and is permuted to [b, h, m, k].
    ta: bool,
    /// B arrives as [b, n, h, k] and is permuted to [b, h, k, n]; with `b2d`, as [n, k] → [k, n].
    tb: bool,
    /// B has no batch dims ([k, n]): broadcast over the batch.
    b2d: bool,
    bias: Bias,
    /// The result [b, h, m, n] is permuted to [b, m, h, n].
    tout: bool,
    /// The Transpose of A is also a graph output (read twice: must not be folded).
    shared_ta: bool,
    /// B is an initializer (a weight): packed at compile time when it is 2-D.
    b_const: bool,
}

fn declare(g: &mut Graph, name: &str, dims: &[usize]) -> ValueId {
    let v = g.value_by_name_or_new(name);
    let dims: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
    g.value_mut(v).info = Some(ValueInfo {
        ty: Some(ValueType::Tensor(TensorType::fixed(DType::F32, &dims))),
        ..ValueInfo::default()
    });
    v
}

fn node(g: &mut Graph, op: &str, ins: Vec<ValueId>, perm: Option<&[i64]>) -> ValueId {
    let o = g.new_value(op);
    let mut n = Node::new(op, "");
    if let Some(p) = perm {
        n.set_attr("perm", AttrValue::Ints(p.to_vec()));
    }
    g.add_node(n, ins.into_iter().map(Some).collect(), vec![Some(o)])
        .unwrap();
    o
}

fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32) / (1u64 << 24) as f32 - 0.5
        })
        .collect()
}

/// The model and its runtime inputs.
fn build(c: &Case, seed: u64) -> (Model, Vec<Tensor>) {
    let mut g = Graph::new("mm");
    let mut inputs = Vec::new();
    let mut input = |g: &mut Graph, name: &str, dims: Vec<usize>, seed: u64| {
        let v = declare(g, name, &dims);
        g.add_input(v);
        let n = dims.iter().product();
        let d: Vec<i64> = dims.iter().map(|&x| x as i64).collect();
        inputs.push(Tensor::from_f32(name, d, &values(n, seed)));
        v
    };
    let a = if c.ta {
        let src = input(&mut g, "a", vec![c.b, c.m, c.h, c.k], seed);
        let t = node(&mut g, "Transpose", vec![src], Some(&[0, 2, 1, 3]));
        if c.shared_ta {
            g.add_output(t);
        }
        t
    } else {
        input(&mut g, "a", vec![c.b, c.h, c.m, c.k], seed)
    };
    let mut b_operand = |g: &mut Graph, dims: Vec<usize>| {
        if c.b_const {
            let n = dims.iter().product();
            let d: Vec<i64> = dims.iter().map(|&x| x as i64).collect();
            g.add_initializer("b", Tensor::from_f32("", d, &values(n, seed ^ 7)))
        } else {
            input(g, "b", dims, seed ^ 7)
        }
    };
    let bm = match (c.b2d, c.tb) {
        (true, true) => {
            let src = b_operand(&mut g, vec![c.n, c.k]);
            node(&mut g, "Transpose", vec![src], None)
        }
        (true, false) => b_operand(&mut g, vec![c.k, c.n]),
        (false, true) => {
            let src = b_operand(&mut g, vec![c.b, c.n, c.h, c.k]);
            node(&mut g, "Transpose", vec![src], Some(&[0, 2, 3, 1]))
        }
        (false, false) => b_operand(&mut g, vec![c.b, c.h, c.k, c.n]),
    };
    let mut y = node(&mut g, "MatMul", vec![a, bm], None);
    let bias_dims = match c.bias {
        Bias::None => None,
        Bias::Row | Bias::Runtime => Some(vec![c.n as i64]),
        Bias::Row3 => Some(vec![1, 1, c.n as i64]),
        Bias::Full => Some(vec![c.m as i64, c.n as i64]),
    };
    if let Some(dims) = bias_dims {
        let count = dims.iter().product::<i64>() as usize;
        let bias = if matches!(c.bias, Bias::Runtime) {
            input(&mut g, "bias", vec![c.n], seed ^ 11)
        } else {
            g.add_initializer(
                "bias",
                Tensor::from_f32("", dims, &values(count, seed ^ 13)),
            )
        };
        y = node(&mut g, "Add", vec![bias, y], None);
    }
    if c.tout {
        y = node(&mut g, "Transpose", vec![y], Some(&[0, 2, 1, 3]));
    }
    g.add_output(y);
    (Model::new(g, 17), inputs)
}

fn compiled(model: &Model, inputs: &[Tensor], threads: usize) -> lnopt_jit::CompiledModel {
    let opts = lnopt_jit::Options {
        threads,
        ..lnopt_jit::Options::default()
    };
    lnopt_jit::compile_with(model, &lnopt_jit::InputShapes::of(inputs), &opts).unwrap()
}

fn check(c: &Case, seed: u64, threads: usize) -> Result<(), TestCaseError> {
    let (model, inputs) = build(c, seed);
    let want =
        lnopt_interp::run_model(&model, &inputs).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let got = compiled(&model, &inputs, threads)
        .run(&inputs)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        let e = common::compare(g, w, 1e-5, 1e-5).map_err(TestCaseError::fail)?;
        prop_assert!(
            e <= 0.0,
            "output {} of {:?} exceeds tolerance by {}",
            i,
            c,
            e
        );
    }
    Ok(())
}

fn bias_kind() -> impl Strategy<Value = Bias> {
    prop_oneof![
        Just(Bias::None),
        Just(Bias::Row),
        Just(Bias::Row3),
        Just(Bias::Full),
        Just(Bias::Runtime)
    ]
}

prop_compose! {
    fn case()(b in 1usize..3, h in 1usize..4, m in 1usize..20, k in 1usize..40, n in 1usize..24,
              ta: bool, tb: bool, b2d: bool, bias in bias_kind(), tout: bool, shared_ta: bool,
              b_const: bool)
              -> Case {
        Case { b, h, m, k, n, ta, tb, b2d, bias, tout, shared_ta, b_const }
    }
}

prop_compose! {
    /// Several column panels and row blocks per product, and inner dimensions past 768 (two
    /// passes of the product kernels).
    fn wide_case()(b in 1usize..3, h in 1usize..3, m in prop_oneof![Just(12usize), Just(24), 60usize..80],
                   k in prop_oneof![1usize..70, 760usize..780], n in 60usize..80, ta: bool, tb: bool,
                   b2d: bool, bias in bias_kind(), tout: bool, b_const: bool) -> Case {
        Case { b, h, m, k, n, ta, tb, b2d, bias, tout, shared_ta: false, b_const }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn folded_matmuls_match_interpreter(c in case(), seed in any::<u64>(), threads in 1usize..3) {
        check(&c, seed, threads)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn wide_folded_matmuls_match_interpreter(c in wide_case(), seed in any::<u64>(), threads in 1usize..3) {
        check(&c, seed, threads)?;
    }
}

/// A large batch of products takes the multi-threaded path (split over batch elements).
#[test]
fn large_batched_product_matches_interpreter_on_two_threads() {
    let c = Case {
        b: 2,
        h: 8,
        m: 64,
        k: 64,
        n: 64,
        ta: true,
        tb: true,
        b2d: false,
        bias: Bias::Row,
        tout: true,
        shared_ta: false,
        b_const: false,
    };
    check(&c, 5, 2).unwrap();
    check(
        &Case {
            b2d: true,
            b_const: true,
            ..c
        },
        6,
        2,
    )
    .unwrap();
}

fn base_case() -> Case {
    Case {
        b: 1,
        h: 2,
        m: 3,
        k: 4,
        n: 5,
        ta: true,
        tb: true,
        b2d: false,
        bias: Bias::Row,
        tout: true,
        shared_ta: false,
        b_const: false,
    }
}

/// Everything around an attention-style product folds into one step.
#[test]
fn transposes_and_bias_fold_into_one_step() {
    let (model, inputs) = build(&base_case(), 1);
    let p = compiled(&model, &inputs, 1).plan_stats();
    assert_eq!((p.steps, p.matmul_folds), (1, 1));
}

/// A Transpose read by another consumer (here a graph output), a runtime bias and a
/// disabled option stay as separate steps.
#[test]
fn shared_transpose_runtime_bias_and_option_off_are_not_folded() {
    let shared = Case {
        shared_ta: true,
        ..base_case()
    };
    let (model, inputs) = build(&shared, 1);
    // Transpose(A) stays; Transpose(B), bias and the result Transpose fold.
    assert_eq!(compiled(&model, &inputs, 1).plan_stats().steps, 2);

    let runtime = Case {
        bias: Bias::Runtime,
        ..base_case()
    };
    let (model, inputs) = build(&runtime, 1);
    // The Add with a runtime bias and the result Transpose after it stay.
    assert_eq!(compiled(&model, &inputs, 1).plan_stats().steps, 3);

    let (model, inputs) = build(&base_case(), 1);
    let opts = lnopt_jit::Options {
        fold_matmul: false,
        ..lnopt_jit::Options::default()
    };
    let cm = lnopt_jit::compile_with(&model, &lnopt_jit::InputShapes::of(&inputs), &opts).unwrap();
    assert_eq!(
        (cm.plan_stats().steps, cm.plan_stats().matmul_folds),
        (5, 0)
    );
}

/// A plain MatMul by a 2-D weight becomes a product step (its weight packed at compile time),
/// and so does a Gemm by a weight with alpha = beta = 1 and an untransposed A.
#[test]
fn products_by_weights_are_steps() {
    let (model, inputs) = build(
        &Case {
            ta: false,
            tb: false,
            b2d: true,
            bias: Bias::None,
            tout: false,
            b_const: true,
            ..base_case()
        },
        1,
    );
    let p = compiled(&model, &inputs, 1).plan_stats();
    assert_eq!((p.steps, p.matmul_folds), (1, 1));
}

/// `Gemm` with a constant B (transB 0/1), C absent / a row / a full matrix / one element,
/// alpha or beta ≠ 1 and transA = 1 (the last three run as the plain op), against the
/// interpreter; the planned ones are product steps.
#[test]
fn gemm_by_weights_matches_interpreter() {
    // A square B (k = n) too: packed the wrong way round it would still fit the product.
    for &(m, k, n) in &[(3usize, 4usize, 5usize), (6, 8, 8), (70, 770, 40)] {
        for trans_b in [0i64, 1] {
            for c_dims in [
                None,
                Some(vec![n as i64]),
                Some(vec![1, n as i64]),
                Some(vec![m as i64, n as i64]),
                Some(vec![1]),
            ] {
                for (alpha, beta, trans_a) in [
                    (1.0f32, 1.0f32, 0i64),
                    (0.5, 1.0, 0),
                    (1.0, 2.0, 0),
                    (1.0, 1.0, 1),
                ] {
                    let mut g = Graph::new("gemm");
                    let a_dims = if trans_a == 1 { [k, m] } else { [m, k] };
                    let a = declare(&mut g, "a", &a_dims);
                    g.add_input(a);
                    let b_dims = if trans_b == 1 {
                        vec![n as i64, k as i64]
                    } else {
                        vec![k as i64, n as i64]
                    };
                    let b = g.add_initializer("b", Tensor::from_f32("", b_dims, &values(k * n, 3)));
                    let mut ins = vec![Some(a), Some(b)];
                    let planned = alpha == 1.0 && beta == 1.0 && trans_a == 0;
                    if let Some(d) = &c_dims {
                        let cnt = d.iter().product::<i64>() as usize;
                        ins.push(Some(g.add_initializer(
                            "c",
                            Tensor::from_f32("", d.clone(), &values(cnt, 5)),
                        )));
                    }
                    let o = g.new_value("y");
                    let mut node = Node::new("Gemm", "");
                    node.set_attr("transA", AttrValue::Int(trans_a));
                    node.set_attr("transB", AttrValue::Int(trans_b));
                    node.set_attr("alpha", AttrValue::Float(alpha));
                    node.set_attr("beta", AttrValue::Float(beta));
                    g.add_node(node, ins, vec![Some(o)]).unwrap();
                    g.add_output(o);
                    let model = Model::new(g, 13);
                    let inputs = vec![Tensor::from_f32(
                        "a",
                        a_dims.iter().map(|&d| d as i64).collect(),
                        &values(m * k, 9),
                    )];
                    let cm = compiled(&model, &inputs, 2);
                    let what = format!("{m}x{k}x{n} transB {trans_b} C {c_dims:?} alpha {alpha} beta {beta} transA {trans_a}");
                    assert_eq!(cm.plan_stats().matmul_folds, usize::from(planned), "{what}");
                    let want = lnopt_interp::run_model(&model, &inputs).unwrap();
                    let got = cm.run(&inputs).unwrap();
                    let e = common::compare_all(&got, &want, 1e-5, 1e-5).unwrap();
                    assert!(e <= 0.0, "{what}: exceeds tolerance by {e}");
                }
            }
        }
    }
}

/// An `Identity` of a constant is evaluated at compile time, so the bias behind it still
/// folds (PyTorch exports share weights through Identity nodes).
#[test]
fn bias_behind_identity_of_a_constant_folds() {
    let mut g = Graph::new("id");
    let a = declare(&mut g, "a", &[3, 4]);
    g.add_input(a);
    let w = g.add_initializer("w", Tensor::from_f32("", vec![4, 2], &values(8, 3)));
    let b0 = g.add_initializer("b0", Tensor::from_f32("", vec![2], &[0.5, -1.0]));
    let b = node(&mut g, "Identity", vec![b0], None);
    let y = node(&mut g, "MatMul", vec![a, w], None);
    let z = node(&mut g, "Add", vec![y, b], None);
    g.add_output(z);
    let model = Model::new(g, 17);
    let inputs = vec![Tensor::from_f32("a", vec![3, 4], &values(12, 9))];
    let cm = compiled(&model, &inputs, 1);
    assert_eq!(
        (cm.plan_stats().steps, cm.plan_stats().matmul_folds),
        (1, 1)
    );
    let want = lnopt_interp::run_model(&model, &inputs).unwrap();
    let got = cm.run(&inputs).unwrap();
    assert!(common::compare_all(&got, &want, 1e-6, 1e-6).unwrap() <= 0.0);
}

/// A folded result Transpose that moves the last axis writes the output with a column stride
/// other than 1, so the bias is written element by element: `Transpose(x·W + bias, [0, 1, 3, 2])`
/// with a batch of products (one thread each) and with one product split across two threads.
#[test]
fn bias_under_a_last_axis_transpose_matches_interpreter() {
    for (b, h, m) in [(2usize, 4usize, 64usize), (1, 1, 200)] {
        let (k, n) = (96usize, 128usize);
        let mut g = Graph::new("mm_bias_t");
        let x = declare(&mut g, "x", &[b, h, m, k]);
        g.add_input(x);
        let w = g.add_initializer(
            "w",
            Tensor::from_f32("", vec![k as i64, n as i64], &values(k * n, 3)),
        );
        let bias = g.add_initializer("bias", Tensor::from_f32("", vec![n as i64], &values(n, 5)));
        let y = node(&mut g, "MatMul", vec![x, w], None);
        let y = node(&mut g, "Add", vec![y, bias], None);
        let y = node(&mut g, "Transpose", vec![y], Some(&[0, 1, 3, 2]));
        g.add_output(y);
        let model = Model::new(g, 17);
        let inputs = vec![Tensor::from_f32(
            "x",
            vec![b as i64, h as i64, m as i64, k as i64],
            &values(b * h * m * k, 9),
        )];
        let want = lnopt_interp::run_model(&model, &inputs).unwrap();
        for threads in [1, 2] {
            let cm = compiled(&model, &inputs, threads);
            assert_eq!(cm.plan_stats().matmul_folds, 1);
            let got = cm.run(&inputs).unwrap();
            let e = common::compare(&got[0], &want[0], 1e-5, 1e-5).unwrap();
            assert!(e <= 0.0, "({b}, {h}, {m}) threads {threads}: off by {e}");
        }
    }
}
