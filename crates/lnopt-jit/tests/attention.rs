//! Attention blocks run as one step (`plan/attention.rs`, `steps/attention.rs`) must give
//! exactly what the same nodes give one by one: compared bit for bit with the step turned off,
//! on the spellings
//! exporters write (scale as Mul or Div, with and without a broadcast mask, PyTorch's
//! `Where(IsNaN(P), 0, P)` guard, heads split and merged by Transposes), with rows that span
//! several blocks, one and two threads. Near misses must not take the step, or must fall back
//! to the nodes at run time and still agree.

mod common;

use common::lcg;
use lnopt_ir::{AttrValue, Graph, Model, Node, Tensor, ValueId};

/// Which spelling to build.
#[derive(Clone, Copy, Debug)]
struct Spelling {
    /// Scale the scores by `Div(·, 8)` (else `Mul(0.125, ·)`).
    div: bool,
    /// Add a mask of shape `[B, 1, 1, T]`.
    mask: bool,
    /// The `Where(IsNaN(P), 0, P)` guard.
    nan_guard: bool,
    /// Softmax axis (the step needs the last).
    axis: i64,
    /// Also expose the probabilities as a graph output (the step must not absorb them).
    probs_out: bool,
    /// Give the mask one more leading dim than the scores (it broadcasts them up).
    mask_rank_up: bool,
    /// Scale Q and Kᵀ by `√c` after their head Transposes (as PyTorch's exporter does), not
    /// the scores.
    scale_heads: bool,
    /// The guard's IsNaN reads `Neg(P)`, not P (`Where(IsNaN(Neg(P)), 0, P)`): the same
    /// flags, but not the guard the step absorbs, and the Neg needs P itself.
    guard_of_neg: bool,
}

const PLAIN: Spelling = Spelling {
    div: false,
    mask: true,
    nan_guard: true,
    axis: -1,
    probs_out: false,
    mask_rank_up: false,
    scale_heads: false,
    guard_of_neg: false,
};

fn add(g: &mut Graph, op: &str, ins: &[ValueId], attrs: &[(&str, AttrValue)]) -> ValueId {
    let o = g.new_value(op);
    let mut n = Node::new(op, "");
    for (k, v) in attrs {
        n.set_attr(k, v.clone());
    }
    g.add_node(n, ins.iter().map(|&i| Some(i)).collect(), vec![Some(o)])
        .unwrap();
    o
}

/// `x [B, S, H·d]` split into heads for Q (from x) and K, V (inputs `[B, T, H·d]`), then
/// `Transpose(Softmax(Q·Kᵀ scaled [+ mask]) [guarded] · V)` merged back to `[B, S, H·d]`.
fn model(sp: Spelling, (b, s, t, h, d): (i64, i64, i64, i64, i64)) -> Model {
    let mut g = Graph::new("attention");
    let x = common::declare(&mut g, "x", &[b, s, h * d]);
    let kv = common::declare(&mut g, "kv", &[b, t, h * d]);
    g.add_input(x);
    g.add_input(kv);
    let split = |g: &mut Graph, v: ValueId, n: i64, name: &str| {
        let shape = g.add_initializer(name, Tensor::from_i64("", vec![4], &[b, n, h, d]));
        add(g, "Reshape", &[v, shape], &[])
    };
    let perm = |p: &[i64]| ("perm", AttrValue::Ints(p.to_vec()));
    let q4 = split(&mut g, x, s, "qs");
    let q = add(&mut g, "Transpose", &[q4], &[perm(&[0, 2, 1, 3])]);
    let k4 = split(&mut g, kv, t, "ks");
    let kt = add(&mut g, "Transpose", &[k4], &[perm(&[0, 2, 3, 1])]);
    let vsrc = add(&mut g, "Neg", &[kv], &[]);
    let v4 = split(&mut g, vsrc, t, "vs");
    let v = add(&mut g, "Transpose", &[v4], &[perm(&[0, 2, 1, 3])]);
    let (q, kt) = if sp.scale_heads {
        let c = g.add_initializer("root", Tensor::from_f32("", vec![1], &[0.353_553_38]));
        let qs = add(&mut g, "Mul", &[q, c], &[]);
        let ks = add(&mut g, "Mul", &[c, kt], &[]);
        (qs, ks)
    } else {
        (q, kt)
    };
    let scores = add(&mut g, "MatMul", &[q, kt], &[]);
    let scaled = if sp.scale_heads {
        scores
    } else if sp.div {
        let c = g.add_initializer("eight", Tensor::from_f32("", vec![], &[8.0]));
        add(&mut g, "Div", &[scores, c], &[])
    } else {
        let c = g.add_initializer("eighth", Tensor::from_f32("", vec![1], &[0.125]));
        add(&mut g, "Mul", &[c, scores], &[])
    };
    let logits = if sp.mask {
        let dims: Vec<i64> = if sp.mask_rank_up {
            vec![1, b, 1, 1, t]
        } else {
            vec![b, 1, 1, t]
        };
        let m = common::declare(&mut g, "mask", &dims);
        g.add_input(m);
        add(&mut g, "Add", &[m, scaled], &[])
    } else {
        scaled
    };
    let probs = add(
        &mut g,
        "Softmax",
        &[logits],
        &[("axis", AttrValue::Int(sp.axis))],
    );
    let guarded = if sp.nan_guard {
        let flagged = if sp.guard_of_neg {
            add(&mut g, "Neg", &[probs], &[])
        } else {
            probs
        };
        let nan = add(&mut g, "IsNaN", &[flagged], &[]);
        let zero = g.add_initializer("zero", Tensor::from_f32("", vec![], &[0.0]));
        add(&mut g, "Where", &[nan, zero, probs], &[])
    } else {
        probs
    };
    let ctx = add(&mut g, "MatMul", &[guarded, v], &[]);
    let merge: &[i64] = if sp.mask_rank_up {
        &[0, 1, 3, 2, 4]
    } else {
        &[0, 2, 1, 3]
    };
    let merged = add(&mut g, "Transpose", &[ctx], &[perm(merge)]);
    let shape = g.add_initializer("out_shape", Tensor::from_i64("", vec![3], &[b, s, h * d]));
    let y = add(&mut g, "Reshape", &[merged, shape], &[]);
    g.add_output(y);
    if sp.probs_out {
        g.add_output(probs);
    }
    Model::new(g, 17)
}

fn inputs(sp: Spelling, (b, s, t, h, d): (i64, i64, i64, i64, i64)) -> Vec<Tensor> {
    let mut r = lcg(11);
    let make = |name: &str, dims: Vec<i64>, scale: f32, r: &mut dyn FnMut() -> f32| {
        let n: i64 = dims.iter().product();
        let v: Vec<f32> = (0..n).map(|_| scale * r()).collect();
        Tensor::from_f32(name, dims, &v)
    };
    let mut ins = vec![
        make("x", vec![b, s, h * d], 4.0, &mut r),
        make("kv", vec![b, t, h * d], 4.0, &mut r),
    ];
    if sp.mask {
        let dims = if sp.mask_rank_up {
            vec![1, b, 1, 1, t]
        } else {
            vec![b, 1, 1, t]
        };
        // Masked-out keys as the exporters write them; the first batch element's rows fully
        // masked with -inf (their probabilities are NaN: the guard turns them to 0).
        let n: i64 = dims.iter().product();
        let vals: Vec<f32> = (0..n as usize)
            .map(|j| match j {
                j if j < t as usize => f32::NEG_INFINITY,
                j if j % t as usize >= t as usize - 2 => -10000.0,
                _ => r(),
            })
            .collect();
        let m = Tensor::from_f32("mask", dims, &vals);
        ins.push(m);
    }
    ins
}

/// Runs the model with the attention step and the product folds allowed or not (the
/// reference runs every node on its own); returns the outputs' bit patterns, how many
/// attention steps the plan has and how many Transposes still run as steps.
fn run(
    model: &Model,
    inputs: &[Tensor],
    attention: bool,
    threads: usize,
) -> (Vec<Vec<u32>>, usize, usize) {
    let opts = lnopt_jit::Options {
        threads,
        fold_attention: attention,
        fold_matmul: attention,
        ..lnopt_jit::Options::default()
    };
    let cm = lnopt_jit::compile_with(model, &lnopt_jit::InputShapes::of(inputs), &opts).unwrap();
    let outs = cm.run(inputs).unwrap();
    let bits = outs
        .iter()
        .map(|o| {
            o.to_f64_vec()
                .unwrap()
                .iter()
                .map(|&v| (v as f32).to_bits())
                .collect()
        })
        .collect();
    let transposes = cm
        .steps()
        .iter()
        .filter(|(_, op)| op == "Transpose")
        .count();
    (bits, cm.plan_stats().attention_steps, transposes)
}

fn check(sp: Spelling, dims: (i64, i64, i64, i64, i64), want_steps: usize) {
    let m = model(sp, dims);
    let ins = inputs(sp, dims);
    let (reference, none, _) = run(&m, &ins, false, 1);
    assert_eq!(none, 0);
    for threads in [1, 2] {
        let (got, steps, transposes) = run(&m, &ins, true, threads);
        assert_eq!(steps, want_steps, "{sp:?} {dims:?}: attention steps");
        if want_steps == 1 {
            // Every head split and the merge read as strided views, the scaled ones too.
            assert_eq!(transposes, 0, "{sp:?} {dims:?}: Transposes left as steps");
        }
        for (o, (a, b)) in got.iter().zip(&reference).enumerate() {
            if let Some(i) = a.iter().zip(b).position(|(x, y)| x != y) {
                panic!(
                    "{sp:?} {dims:?} threads {threads}: output {o} element {i}: {:e} vs {:e}",
                    f32::from_bits(a[i]),
                    f32::from_bits(b[i])
                );
            }
        }
        // Fully masked rows give NaN probabilities unless guarded.
        let finite = got[0].iter().all(|&v| f32::from_bits(v).is_finite());
        assert_eq!(finite, sp.nan_guard || !sp.mask, "{sp:?}: finiteness");
    }
}

#[test]
fn the_step_matches_the_nodes_bit_for_bit() {
    // Small; and long enough for several row blocks and the threads (T = 700: 46 rows of
    // scores per 128 KiB block).
    for dims in [(2, 5, 7, 3, 4), (1, 300, 700, 2, 64)] {
        for div in [false, true] {
            for mask in [false, true] {
                for nan_guard in [false, true] {
                    let sp = Spelling {
                        div,
                        mask,
                        nan_guard,
                        ..PLAIN
                    };
                    check(sp, dims, 1);
                }
            }
        }
        check(
            Spelling {
                scale_heads: true,
                ..PLAIN
            },
            dims,
            1,
        );
    }
}

#[test]
fn near_misses_keep_the_nodes_results() {
    let dims = (2, 6, 9, 2, 8);
    // The probabilities are a graph output: nothing is absorbed.
    check(
        Spelling {
            probs_out: true,
            ..PLAIN
        },
        dims,
        0,
    );
    // The guard's IsNaN reads another value than P: P is needed as it is, nothing absorbed.
    check(
        Spelling {
            guard_of_neg: true,
            ..PLAIN
        },
        dims,
        0,
    );
    // A Softmax over the query axis, and a mask that raises the scores' rank: planned, but
    // the step runs the nodes when it sees the values.
    check(Spelling { axis: 2, ..PLAIN }, dims, 1);
    check(
        Spelling {
            mask_rank_up: true,
            ..PLAIN
        },
        dims,
        1,
    );
}
