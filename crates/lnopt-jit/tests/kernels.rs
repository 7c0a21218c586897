//! Differential tests of the generated kernels against the reference interpreter, on graphs
//! built here with random shapes and data (proptest).

mod common;

use common::{declare, norm_model, NormCase};
use lnopt_ir::{AttrValue, Graph, Model, Node, Tensor};
use proptest::prelude::*;

fn check(model: &Model, inputs: &[Tensor], atol: f64, rtol: f64) -> Result<(), TestCaseError> {
    check_wide(model, inputs, atol, rtol, true)
}

/// [`check`] with the AVX-512 chain evaluator allowed (`wide`) or not.
fn check_wide(
    model: &Model,
    inputs: &[Tensor],
    atol: f64,
    rtol: f64,
    wide: bool,
) -> Result<(), TestCaseError> {
    let want =
        lnopt_interp::run_model(model, inputs).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let opts = lnopt_jit::Options {
        threads: 2,
        wide_chains: wide,
        ..lnopt_jit::Options::default()
    };
    let c = lnopt_jit::compile_with(model, &lnopt_jit::InputShapes::of(inputs), &opts)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let got = c
        .run(inputs)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        let e = common::compare(g, w, atol, rtol).map_err(TestCaseError::fail)?;
        prop_assert!(e <= 0.0, "output {} exceeds tolerance by {}", i, e);
    }
    Ok(())
}

fn data(n: usize, seed: u64, offset: f32, spread: f32) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = ((s >> 40) as f32) / (1u64 << 24) as f32 - 0.5;
            offset + spread * u
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn norm_kernels_match_interpreter(
        rms in any::<bool>(), rows in 1usize..40, hidden in 1usize..200, eps_exp in -12i32..-2,
        scale in any::<bool>(), bias in any::<bool>(), residual in any::<bool>(), stats in any::<bool>(),
        sum_used in any::<bool>(), seed in any::<u64>(), offset in prop_oneof![Just(0.0f32), Just(3.0), Just(1000.0)],
        spread in prop_oneof![Just(1.0f32), Just(1e-3), Just(20.0)],
    ) {
        let c = NormCase { rms, rows, hidden, eps: 10f32.powi(eps_exp), scale, bias, residual, stats, sum_used };
        let params = data(2 * hidden, seed ^ 7, 0.5, 1.0);
        let model = norm_model(&c, &params);
        let mut inputs = vec![Tensor::from_f32("x", vec![rows as i64, hidden as i64], &data(rows * hidden, seed, offset, spread))];
        if residual {
            inputs.push(Tensor::from_f32("r", vec![rows as i64, hidden as i64], &data(rows * hidden, seed ^ 1, 0.0, spread)));
        }
        // f32 statistics: with a large offset relative to the spread, cancellation costs digits
        // the f64 reference keeps, so the tolerance scales with offset/spread.
        // Cases beyond a condition of 2e4 lose all digits in any f32 implementation.
        let cond = ((offset.abs() + spread) / spread) as f64;
        prop_assume!(cond <= 2e4);
        check(&model, &inputs, 1e-4 + 1e-6 * cond, 1e-3)?;
    }
}

#[test]
fn norm_step_and_residual_are_fused_in_the_plan() {
    let c = NormCase {
        rms: false,
        rows: 4,
        hidden: 37,
        eps: 1e-5,
        scale: true,
        bias: true,
        residual: true,
        stats: true,
        sum_used: true,
    };
    let model = norm_model(&c, &data(74, 3, 0.0, 1.0));
    let cm = lnopt_jit::compile(
        &model,
        &lnopt_jit::InputShapes(vec![vec![4, 37], vec![4, 37]]),
    )
    .unwrap();
    let p = cm.plan_stats();
    assert_eq!((p.norm_steps, p.residual_folded), (1, 1));
    let x = Tensor::from_f32("x", vec![4, 37], &data(148, 1, 0.0, 1.0));
    let r = Tensor::from_f32("r", vec![4, 37], &data(148, 2, 0.0, 1.0));
    cm.run(&[x.clone(), r.clone()]).unwrap();
    assert_eq!(cm.kernel_stats().norm_kernels, 1);
    // A new row length re-specialises; the old kernel stays cached.
    let x2 = Tensor::from_f32("x", vec![2, 37], &data(74, 1, 0.0, 1.0));
    let r2 = Tensor::from_f32("r", vec![2, 37], &data(74, 2, 0.0, 1.0));
    cm.run(&[x2, r2]).unwrap();
    assert_eq!(
        cm.kernel_stats().norm_kernels,
        1,
        "same hidden size, same kernel"
    );
}

/// `y = Erf(x * a + b) * Sigmoid(x) - Tanh(x) / c + Relu(Neg(x))` with `a` per-row
/// broadcast, `b` full and `c` scalar.
fn chain_model(rows: usize, h: usize, cval: f32) -> Model {
    let mut g = Graph::new("chain");
    let x = declare(&mut g, "x", &[rows as i64, h as i64]);
    g.add_input(x);
    let a = declare(&mut g, "a", &[h as i64]);
    g.add_input(a);
    let b = declare(&mut g, "b", &[rows as i64, h as i64]);
    g.add_input(b);
    let c = g.add_initializer("c", Tensor::from_f32("", vec![], &[cval]));
    let v = |g: &mut Graph, op: &str, ins: Vec<lnopt_ir::ValueId>| {
        let o = g.new_value(op);
        g.add_node(
            Node::new(op, ""),
            ins.into_iter().map(Some).collect(),
            vec![Some(o)],
        )
        .unwrap();
        o
    };
    let t1 = v(&mut g, "Mul", vec![x, a]);
    let t2 = v(&mut g, "Add", vec![t1, b]);
    let t3 = v(&mut g, "Erf", vec![t2]);
    let s = v(&mut g, "Sigmoid", vec![x]);
    let t4 = v(&mut g, "Mul", vec![t3, s]);
    let th = v(&mut g, "Tanh", vec![x]);
    let t5 = v(&mut g, "Div", vec![th, c]);
    let t6 = v(&mut g, "Sub", vec![t4, t5]);
    let n = v(&mut g, "Neg", vec![x]);
    let r = v(&mut g, "Relu", vec![n]);
    let y = v(&mut g, "Add", vec![t6, r]);
    g.add_output(y);
    Model::new(g, 17)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn fused_chains_match_interpreter(rows in 1usize..30, h in 1usize..70, seed in any::<u64>(), cval in 0.5f32..4.0) {
        let model = chain_model(rows, h, cval);
        let inputs = vec![
            Tensor::from_f32("x", vec![rows as i64, h as i64], &data(rows * h, seed, 0.0, 6.0)),
            Tensor::from_f32("a", vec![h as i64], &data(h, seed ^ 1, 0.0, 2.0)),
            Tensor::from_f32("b", vec![rows as i64, h as i64], &data(rows * h, seed ^ 2, 0.0, 2.0)),
        ];
        // Error bound of the inline Erf/Tanh (< 2e-7 absolute), Sigmoid and f32 arithmetic;
        // both the AVX-512 evaluator (where the CPU has it) and the generated kernel.
        check_wide(&model, &inputs, 1e-5, 1e-5, true)?;
        check_wide(&model, &inputs, 1e-5, 1e-5, false)?;
    }
}

#[test]
fn chain_is_one_step() {
    let cm = lnopt_jit::compile(
        &chain_model(2, 8, 1.0),
        &lnopt_jit::InputShapes(vec![vec![2, 8], vec![8], vec![2, 8]]),
    )
    .unwrap();
    let p = cm.plan_stats();
    assert_eq!((p.chain_steps, p.chained_nodes, p.steps), (1, 11, 1));
}

#[test]
fn unsupported_op_is_named() {
    let mut g = Graph::new("u");
    let x = declare(&mut g, "x", &[2]);
    g.add_input(x);
    let y = g.value_by_name_or_new("y");
    g.add_node(
        Node::new("NoSuchOnnxOp", "nms1"),
        vec![Some(x)],
        vec![Some(y)],
    )
    .unwrap();
    g.add_output(y);
    // Ops without a JIT step run through the interpreter, so an op neither knows compiles
    // and is refused when it runs, naming the node and the op.
    let cm =
        lnopt_jit::compile(&Model::new(g, 17), &lnopt_jit::InputShapes(vec![vec![2]])).unwrap();
    let e = cm
        .run(&[Tensor::from_f32("x", vec![2], &[1.0, 2.0])])
        .err()
        .unwrap();
    assert!(
        matches!(&e, lnopt_jit::JitError::Op { node, op, what }
            if node == "nms1" && op == "NoSuchOnnxOp" && what.contains("not supported")),
        "{e}"
    );
}

#[test]
fn wrong_input_count_and_bad_shape_are_errors() {
    let model = chain_model(2, 4, 1.0);
    let cm = lnopt_jit::compile(
        &model,
        &lnopt_jit::InputShapes(vec![vec![2, 4], vec![4], vec![2, 4]]),
    )
    .unwrap();
    assert!(matches!(cm.run(&[]), Err(lnopt_jit::JitError::Inputs(_))));
    let x = Tensor::from_f32("x", vec![2, 4], &[0.0; 8]);
    let a = Tensor::from_f32("a", vec![3], &[0.0; 3]);
    let e = cm.run(&[x.clone(), a, x]).err().unwrap();
    assert!(e.to_string().contains("broadcast"), "{e}");
}

/// Regression (fused LLaMA / GPT-2 / T5 under the JIT): the residual sum is also read by a node
/// that runs *before* the norm in plan order (`Cast(sum)` placed ahead of the norm). Folding
/// the Add into the norm's step would leave that reader without its input, so the Add must
/// stay a separate step and the outputs must match the interpreter.
#[test]
fn residual_read_before_the_norm_is_not_folded() {
    let mut g = Graph::new("early_reader");
    let dims = [3i64, 8];
    let x = declare(&mut g, "x", &dims);
    let r = declare(&mut g, "r", &dims);
    g.add_input(x);
    g.add_input(r);
    let sum = g.new_value("sum");
    let cast = g.new_value("cast");
    let y = g.new_value("y");
    let scale = g.add_initializer("scale", Tensor::from_f32("scale", vec![8], &[1.5; 8]));
    g.add_node(
        Node::new("Add", "add"),
        vec![Some(x), Some(r)],
        vec![Some(sum)],
    )
    .unwrap();
    let mut c = Node::new("Cast", "cast");
    c.set_attr("to", AttrValue::Int(1));
    g.add_node(c, vec![Some(sum)], vec![Some(cast)]).unwrap();
    let mut ln = Node::new("LayerNormalization", "ln");
    ln.set_attr("axis", AttrValue::Int(-1));
    g.add_node(ln, vec![Some(sum), Some(scale)], vec![Some(y)])
        .unwrap();
    g.add_output(y);
    g.add_output(cast);
    let model = Model::new(g, 17);
    let xs = Tensor::from_f32("x", vec![3, 8], &data(24, 5, 0.0, 1.0));
    let rs = Tensor::from_f32("r", vec![3, 8], &data(24, 6, 0.0, 1.0));
    check(&model, &[xs, rs], 1e-5, 1e-4).unwrap();
}

/// Specials (±0, ±inf, NaN) and a dense geometric sweep of ±x from 1e-30 up to `limit`, with
/// a length that is not a multiple of 4 (so the kernels' scalar tail runs too).
fn sweep(limit: f32) -> Vec<f32> {
    let mut xs: Vec<f32> = vec![0.0, -0.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN];
    let mut x = 1e-30f32;
    while x < limit {
        xs.push(x);
        xs.push(-x);
        x *= 1.0007;
    }
    if xs.len().is_multiple_of(4) {
        xs.push(0.3);
    }
    xs
}

/// Runs the chain of unary `ops` over `xs` under the JIT, checking it compiled to one chain
/// step, and returns the f32 results; `wide` allows the AVX-512 evaluator (used when the CPU
/// has it), otherwise the generated 128-bit kernel runs.
fn run_unary_chain(name: &str, ops: &[&str], xs: &[f32], wide: bool) -> Vec<f32> {
    let n = xs.len();
    let mut g = Graph::new(name);
    let xv = declare(&mut g, "x", &[n as i64]);
    g.add_input(xv);
    let mut cur = xv;
    for &op in ops {
        let o = g.new_value(op);
        g.add_node(Node::new(op, ""), vec![Some(cur)], vec![Some(o)])
            .unwrap();
        cur = o;
    }
    g.add_output(cur);
    let opts = lnopt_jit::Options {
        wide_chains: wide,
        ..lnopt_jit::Options::default()
    };
    let cm = lnopt_jit::compile_with(
        &Model::new(g, 17),
        &lnopt_jit::InputShapes(vec![vec![n]]),
        &opts,
    )
    .unwrap();
    assert_eq!(cm.plan_stats().chain_steps, 1);
    let out = cm
        .run(&[Tensor::from_f32("x", vec![n as i64], xs)])
        .unwrap();
    out[0]
        .bytes()
        .unwrap()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// `Neg(Tanh(Neg(x)))` = tanh(x) exactly, as one chain kernel: the inline tanh (vector and
/// scalar tail) against f64 tanh over a dense sweep, within 4 ulp; signs of zero, infinities
/// and NaN right.
/// The largest distance in ulp seen between results and their references, and where.
#[derive(Default)]
struct WorstUlp {
    ulp: i64,
    at: f32,
}

impl WorstUlp {
    /// Records `got` against `want` for input `x`.
    fn see(&mut self, x: f32, got: f32, want: f32) {
        let d = (got.to_bits() as i64 - want.to_bits() as i64).abs();
        if d > self.ulp {
            *self = WorstUlp { ulp: d, at: x };
        }
    }
}

#[test]
fn chain_tanh_within_a_few_ulp() {
    let xs = sweep(30.0);
    for wide in [true, false] {
        let got = run_unary_chain("tanh", &["Neg", "Tanh", "Neg"], &xs, wide);
        let mut worst = WorstUlp::default();
        for (&x, &y) in xs.iter().zip(&got) {
            let want = (x as f64).tanh() as f32;
            if x.is_nan() {
                assert!(y.is_nan(), "tanh(NaN) = {y}");
                continue;
            }
            assert_eq!(
                y.is_sign_negative(),
                want.is_sign_negative(),
                "tanh({x}) = {y}"
            );
            worst.see(x, y, want);
        }
        assert!(
            worst.ulp <= 4,
            "wide {wide}: {} ulp at x = {}",
            worst.ulp,
            worst.at
        );
    }
}

/// `Neg(Erf(Neg(x)))` = erf(x) as one chain kernel: the inline erf against f64 erf (libm)
/// over a dense sweep, within 3e-7 absolute and 4 ulp below |x| = 1; signs, inf, NaN right.
#[test]
fn chain_erf_close_to_reference() {
    let xs = sweep(10.0);
    for wide in [true, false] {
        let got = run_unary_chain("erf", &["Neg", "Erf", "Neg"], &xs, wide);
        let (mut worst_abs, mut worst_ulp) = (0f64, WorstUlp::default());
        for (&x, &y) in xs.iter().zip(&got) {
            if x.is_nan() {
                assert!(y.is_nan(), "erf(NaN) = {y}");
                continue;
            }
            let want = libm::erf(x as f64);
            assert_eq!(y.is_sign_negative(), x.is_sign_negative(), "erf({x}) = {y}");
            worst_abs = worst_abs.max((y as f64 - want).abs());
            if x.abs() < 1.0 {
                worst_ulp.see(x, y, want as f32);
            }
        }
        assert!(
            worst_abs <= 3e-7,
            "wide {wide}: worst absolute error {worst_abs:e}"
        );
        assert!(
            worst_ulp.ulp <= 4,
            "worst error below |x| = 1: {} ulp at x = {}",
            worst_ulp.ulp,
            worst_ulp.at
        );
    }
}

/// A residual that broadcasts (`[1, s, h]` position table onto `[b, s, h]`) cannot be folded
/// into the kernel: the Add runs on its own and the kernel on its result, matching the
/// interpreter, with and without the sum also being a graph output.
#[test]
fn broadcast_residual_runs_add_then_kernel() {
    for sum_used in [false, true] {
        let (b, s, h) = (2usize, 3usize, 8usize);
        let mut g = Graph::new("bres");
        let x = declare(&mut g, "x", &[b as i64, s as i64, h as i64]);
        g.add_input(x);
        let r = declare(&mut g, "r", &[1, s as i64, h as i64]);
        g.add_input(r);
        let sum = g.value_by_name_or_new("sum");
        g.add_node(
            Node::new("Add", "add"),
            vec![Some(x), Some(r)],
            vec![Some(sum)],
        )
        .unwrap();
        let sc = g.add_initializer(
            "scale",
            Tensor::from_f32("", vec![h as i64], &data(h, 9, 1.0, 0.5)),
        );
        let bi = g.add_initializer(
            "bias",
            Tensor::from_f32("", vec![h as i64], &data(h, 8, 0.0, 0.5)),
        );
        let y = g.value_by_name_or_new("y");
        let mut node = Node::new("LayerNormalization", "norm");
        node.set_attr("axis", AttrValue::Int(-1));
        g.add_node(node, vec![Some(sum), Some(sc), Some(bi)], vec![Some(y)])
            .unwrap();
        g.add_output(y);
        if sum_used {
            g.add_output(sum);
        }
        let model = Model::new(g, 17);
        let inputs = vec![
            Tensor::from_f32(
                "x",
                vec![b as i64, s as i64, h as i64],
                &data(b * s * h, 1, 0.5, 4.0),
            ),
            Tensor::from_f32("r", vec![1, s as i64, h as i64], &data(s * h, 2, 0.0, 4.0)),
        ];
        check(&model, &inputs, 1e-5, 1e-4).unwrap();
        let cm = lnopt_jit::compile(&model, &lnopt_jit::InputShapes::of(&inputs)).unwrap();
        assert_eq!(cm.plan_stats().norm_steps, 1);
        cm.run(&inputs).unwrap();
        // The generated kernel ran (the runtime-function fallback compiles none).
        assert_eq!(cm.kernel_stats().norm_kernels, 1);
    }
}

/// `Neg(Neg(Sigmoid(x)))` = sigmoid(x) as one chain kernel, against f64 `1 / (1 + e^-x)`:
/// within 4 ulp wherever the result is a normal f32 (x > -87), tiny beyond; NaN propagates.
#[test]
fn chain_sigmoid_within_a_few_ulp() {
    let xs = sweep(120.0);
    for wide in [true, false] {
        let got = run_unary_chain("sigmoid", &["Sigmoid", "Neg", "Neg"], &xs, wide);
        let mut worst = WorstUlp::default();
        for (&x, &y) in xs.iter().zip(&got) {
            if x.is_nan() {
                assert!(y.is_nan(), "sigmoid(NaN) = {y}");
                continue;
            }
            let want = (1.0 / (1.0 + (-(x as f64)).exp())) as f32;
            if x < -87.0 {
                assert!((0.0..2e-38).contains(&y), "sigmoid({x}) = {y}");
                continue;
            }
            worst.see(x, y, want);
        }
        assert!(
            worst.ulp <= 4,
            "wide {wide}: {} ulp at x = {}",
            worst.ulp,
            worst.at
        );
    }
}

/// A chain input that is a trailing block of the output (`[1, 1, s, d]` onto `[b, h, s, d]`,
/// like rotary cos/sin tables) runs in the generated kernel as a repeated row and matches
/// the interpreter; with two different block lengths the chain falls back and still matches.
#[test]
fn chain_with_trailing_block_inputs() {
    for (cdims, ddims, kernel) in [
        (vec![1i64, 1, 4, 5], vec![1i64, 5], false),
        (vec![1, 1, 4, 5], vec![1, 1, 4, 5], true),
        (vec![3, 4, 5], vec![], true),
    ] {
        let mut g = Graph::new("block");
        let x = declare(&mut g, "x", &[2, 3, 4, 5]);
        g.add_input(x);
        let c = declare(&mut g, "c", &cdims);
        g.add_input(c);
        let d = declare(&mut g, "d", &ddims);
        g.add_input(d);
        let m = g.new_value("m");
        g.add_node(Node::new("Mul", ""), vec![Some(x), Some(c)], vec![Some(m)])
            .unwrap();
        let y = g.new_value("y");
        g.add_node(Node::new("Sub", ""), vec![Some(m), Some(d)], vec![Some(y)])
            .unwrap();
        g.add_output(y);
        let model = Model::new(g, 17);
        let n = |dims: &[i64]| dims.iter().product::<i64>() as usize;
        let inputs = vec![
            Tensor::from_f32("x", vec![2, 3, 4, 5], &data(120, 3, 0.0, 4.0)),
            Tensor::from_f32("c", cdims.clone(), &data(n(&cdims), 4, 1.0, 2.0)),
            Tensor::from_f32("d", ddims.clone(), &data(n(&ddims), 5, 0.0, 2.0)),
        ];
        check(&model, &inputs, 1e-6, 1e-6).unwrap();
        let cm = lnopt_jit::compile(&model, &lnopt_jit::InputShapes::of(&inputs)).unwrap();
        assert_eq!(cm.plan_stats().chain_steps, 1);
        cm.run(&inputs).unwrap();
        let ran = cm.kernel_stats().chain_kernels == 1;
        assert_eq!(ran, kernel, "c {cdims:?} d {ddims:?}");
    }
}

/// The norm kernels have two row loops, chosen by the size of the call: a pipelined one
/// (output of row r with the statistics of row r+1) below 24 MiB of input + output and a
/// per-row two-pass one above. Both, on 1 and 2 threads, against f64, on rows with a large
/// common offset, rows whose first element is an outlier (the exact-variance fallback) and a
/// row length that leaves vector and scalar tails (1000 = 62·16 + 2·4 + 0, 1003 adds 3), and
/// rows of 4096 (the large-call loop prefetches their output).
#[test]
fn direct_norm_kernels_small_and_large_calls_match_f64() {
    for (h, rows) in [(1003usize, 5usize), (1000, 3200), (4096, 800)] {
        let mut x = data(rows * h, 7, 0.0, 4.0);
        for r in 0..rows {
            match r % 3 {
                0 => x[r * h..(r + 1) * h].iter_mut().for_each(|v| *v += 1000.0),
                1 => x[r * h] = 500.0,
                _ => {}
            }
        }
        let g = data(h, 8, 1.0, 0.5);
        let bias = data(h, 9, 0.0, 0.5);
        for rms in [false, true] {
            let k =
                lnopt_jit::NormKernel::compile(lnopt_jit::NormKey::affine(rms, h, 1e-5)).unwrap();
            for threads in [1, 2] {
                let mut y = vec![f32::NAN; rows * h];
                k.run(&x, &g, &bias, &mut y, threads).unwrap();
                let mut worst = 0f64;
                for r in (0..rows).filter(|r| r % 97 < 4 || *r + 2 >= rows) {
                    let want = common::norm_ref(&x[r * h..(r + 1) * h], &g, &bias, rms, 1e-5);
                    for (j, w) in want.iter().enumerate() {
                        let got = y[r * h + j] as f64;
                        assert!(got.is_finite(), "rows {rows} row {r} col {j}: {got}");
                        worst = worst.max((got - w).abs() / (1.0 + w.abs()));
                    }
                }
                assert!(
                    worst < 2e-4,
                    "h {h} rows {rows} rms {rms} threads {threads}: rel err {worst:e}"
                );
            }
        }
    }
}

/// The large-call row loop (above 24 MiB of input + output per call: 3200 rows of 1003 floats
/// on one thread) with everything a norm step can fold in: the residual Add (its sum also an
/// output), Mean / InvStdDev outputs, scale and bias; LayerNorm and RMSNorm against the
/// interpreter.
#[test]
fn large_norm_with_residual_and_stats_matches_interpreter() {
    let (rows, hidden) = (3200usize, 1003usize);
    for rms in [false, true] {
        let c = NormCase {
            rms,
            rows,
            hidden,
            eps: 1e-5,
            scale: true,
            bias: true,
            residual: true,
            stats: true,
            sum_used: true,
        };
        let model = norm_model(&c, &data(2 * hidden, 11, 0.5, 1.0));
        let dims = vec![rows as i64, hidden as i64];
        let inputs = vec![
            Tensor::from_f32("x", dims.clone(), &data(rows * hidden, 12, 3.0, 1.0)),
            Tensor::from_f32("r", dims, &data(rows * hidden, 13, 0.0, 1.0)),
        ];
        let want = lnopt_interp::run_model(&model, &inputs).unwrap();
        let opts = lnopt_jit::Options {
            threads: 1,
            ..lnopt_jit::Options::default()
        };
        let cm =
            lnopt_jit::compile_with(&model, &lnopt_jit::InputShapes::of(&inputs), &opts).unwrap();
        assert_eq!(cm.plan_stats().residual_folded, 1);
        let got = cm.run(&inputs).unwrap();
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            let e = common::compare(g, w, 1e-4, 1e-3).unwrap();
            assert!(e <= 0.0, "rms {rms}: output {i} exceeds tolerance by {e}");
        }
    }
}

/// A lone element-wise op (no neighbour to chain with) still runs as a generated loop, and
/// gives the interpreter's result, with a scalar and with a broadcast row operand.
#[test]
fn lone_elementwise_ops_run_as_one_node_chains() {
    for (op, second) in [
        ("Relu", None),
        ("Mul", Some(vec![1i64])),
        ("Sub", Some(vec![5])),
    ] {
        let mut g = Graph::new("lone");
        let x = declare(&mut g, "x", &[3, 5]);
        g.add_input(x);
        let mut ins = vec![Some(x)];
        if let Some(dims) = &second {
            let n = dims.iter().product::<i64>() as usize;
            ins.push(Some(g.add_initializer(
                "k",
                Tensor::from_f32("", dims.clone(), &data(n, 3, 0.5, 1.0)),
            )));
        }
        let y = g.value_by_name_or_new("y");
        g.add_node(Node::new(op, "n"), ins, vec![Some(y)]).unwrap();
        g.add_output(y);
        let model = Model::new(g, 17);
        let inputs = vec![Tensor::from_f32("x", vec![3, 5], &data(15, 9, 0.0, 4.0))];
        let cm = lnopt_jit::compile(&model, &lnopt_jit::InputShapes::of(&inputs)).unwrap();
        let p = cm.plan_stats();
        assert_eq!((p.steps, p.chain_steps, p.chained_nodes), (1, 1, 1), "{op}");
        check(&model, &inputs, 0.0, 0.0).unwrap();
    }
}

/// A Conv whose weights have an empty kernel dim does not panic (fuzz finding: `kh - 1`
/// underflowed): the JIT's Conv refuses it, naming the problem, and the node then gets the
/// interpreter's verdict, whatever that is.
#[test]
fn conv_with_an_empty_kernel_gets_the_interpreters_verdict() {
    let mut g = Graph::new("conv");
    let x = declare(&mut g, "x", &[1, 1, 4]);
    g.add_input(x);
    let w = g.add_initializer("w", Tensor::from_f32("", vec![1, 1, 0], &[]));
    let y = g.value_by_name_or_new("y");
    g.add_node(
        Node::new("Conv", "c"),
        vec![Some(x), Some(w)],
        vec![Some(y)],
    )
    .unwrap();
    g.add_output(y);
    let model = Model::new(g, 17);
    let inputs = vec![Tensor::from_f32("x", vec![1, 1, 4], &[1.0, 2.0, 3.0, 4.0])];
    let cm = lnopt_jit::compile(&model, &lnopt_jit::InputShapes::of(&inputs)).unwrap();
    match (cm.run(&inputs), lnopt_interp::run_model(&model, &inputs)) {
        (Ok(got), Ok(want)) => assert_eq!(got, want),
        (Err(e), Err(_)) => {
            let e = e.to_string();
            assert!(e.contains("empty kernel") && e.contains("'c'"), "{e}");
        }
        (got, want) => panic!("JIT {got:?} but interpreter {want:?}"),
    }
}
