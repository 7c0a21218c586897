//! Numerics of fusion on extreme inputs: the unfused model, the fused model (both through the
//! reference interpreter) and the fused model under the JIT, each compared with an f64
//! reference computed here. The policy these tests pin down is written in docs/numerics.md.

use lnopt::ir::{
    AttrValue, DType, Graph, Model, Node, Tensor, TensorType, ValueId, ValueInfo, ValueType,
};

const ROWS: usize = 4;
const H: usize = 64;

struct B {
    g: Graph,
    n: usize,
}

impl B {
    fn new(dtype: DType) -> (B, ValueId) {
        let mut g = Graph::new("numerics");
        let x = g.value_by_name_or_new("x");
        g.value_mut(x).info = Some(ValueInfo {
            ty: Some(ValueType::Tensor(TensorType::fixed(
                dtype,
                &[ROWS as i64, H as i64],
            ))),
            ..ValueInfo::default()
        });
        g.add_input(x);
        (B { g, n: 0 }, x)
    }

    fn op(&mut self, op: &str, ins: &[ValueId], attrs: &[(&str, AttrValue)]) -> ValueId {
        self.n += 1;
        let out = self.g.new_value(&format!("v{}", self.n));
        let mut node = Node::new(op, format!("{op}_{}", self.n));
        for (k, v) in attrs {
            node.set_attr(k, v.clone());
        }
        self.g
            .add_node(
                node,
                ins.iter().map(|&v| Some(v)).collect(),
                vec![Some(out)],
            )
            .expect("well formed");
        out
    }

    fn scalar(&mut self, v: f32) -> ValueId {
        self.n += 1;
        self.g
            .add_initializer(&format!("c{}", self.n), Tensor::from_f32("c", vec![], &[v]))
    }

    fn mean(&mut self, x: ValueId) -> ValueId {
        self.op("ReduceMean", &[x], &[("axes", AttrValue::Ints(vec![-1]))])
    }

    fn finish(mut self, y: ValueId) -> Model {
        self.g.add_output(y);
        Model::new(self.g, 13)
    }
}

/// LayerNorm without affine: central variance, or E[x²] - E[x]² when `ex2`.
fn layer_norm(ex2: bool, eps: f32) -> Model {
    let (mut b, x) = B::new(DType::F32);
    let m = b.mean(x);
    let d = b.op("Sub", &[x, m], &[]);
    let var = if ex2 {
        let x2 = b.op("Mul", &[x, x], &[]);
        let ex2 = b.mean(x2);
        let m2 = b.op("Mul", &[m, m], &[]);
        b.op("Sub", &[ex2, m2], &[])
    } else {
        let d2 = b.op("Mul", &[d, d], &[]);
        b.mean(d2)
    };
    let e = b.scalar(eps);
    let ve = b.op("Add", &[var, e], &[]);
    let s = b.op("Sqrt", &[ve], &[]);
    let y = b.op("Div", &[d, s], &[]);
    b.finish(y)
}

/// LLaMA-style RMSNorm on f16 with the statistics in f32 (Cast, Pow 2, mean, rsqrt, Cast back).
fn rms_norm_f16(eps: f32) -> Model {
    let (mut b, x) = B::new(DType::F16);
    let xf = b.op("Cast", &[x], &[("to", AttrValue::Int(1))]);
    let two = b.scalar(2.0);
    let sq = b.op("Pow", &[xf, two], &[]);
    let ms = b.mean(sq);
    let e = b.scalar(eps);
    let ve = b.op("Add", &[ms, e], &[]);
    let s = b.op("Sqrt", &[ve], &[]);
    let r = b.op("Reciprocal", &[s], &[]);
    let n = b.op("Mul", &[xf, r], &[]);
    let y = b.op("Cast", &[n], &[("to", AttrValue::Int(10))]);
    b.finish(y)
}

fn reference(rows: &[f64], rms: bool, eps: f64) -> Vec<f64> {
    rows.chunks(H)
        .flat_map(|r| {
            let mean = if rms {
                0.0
            } else {
                r.iter().sum::<f64>() / H as f64
            };
            let var = r.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / H as f64;
            let inv = 1.0 / (var + eps).sqrt();
            r.iter().map(move |v| (v - mean) * inv).collect::<Vec<_>>()
        })
        .collect()
}

/// Outputs of the unfused model, the fused model (interpreter) and the fused model (JIT).
fn three_ways(model: &Model, x: &Tensor) -> [Vec<f64>; 3] {
    let mut fused = model.clone();
    let outcome = lnopt::optimize_model(&mut fused, &lnopt::Options::default()).expect("fuses");
    assert_eq!(outcome.report.total_fused(), 1, "{}", outcome.summary());
    let one = |outs: Vec<Tensor>| {
        assert_eq!(outs.len(), 1, "one output expected");
        outs[0].to_f64_vec().expect("numeric")
    };
    let run = |m: &Model| one(lnopt::interp::run_model(m, std::slice::from_ref(x)).expect("runs"));
    let jit = one(
        lnopt_jit::compile(&fused, &lnopt_jit::InputShapes::of(std::slice::from_ref(x)))
            .expect("compiles")
            .run(std::slice::from_ref(x))
            .expect("runs"),
    );
    [run(model), run(&fused), jit]
}

/// Largest absolute difference; infinite when the lengths differ, when one side is NaN and
/// the other is not, or when an infinity meets anything but the same infinity (a NaN output
/// can never pass as "error 0").
fn max_err(got: &[f64], want: &[f64]) -> f64 {
    if got.len() != want.len() {
        return f64::INFINITY;
    }
    got.iter()
        .zip(want)
        .map(|(a, b)| {
            if a == b || (a.is_nan() && b.is_nan()) {
                0.0
            } else if !a.is_finite() || !b.is_finite() {
                f64::INFINITY
            } else {
                (a - b).abs()
            }
        })
        .fold(0.0, f64::max)
}

#[test]
fn max_err_fails_on_nan_inf_and_length_mismatches() {
    assert_eq!(max_err(&[1.0, 2.0], &[1.0, 2.5]), 0.5);
    assert_eq!(max_err(&[f64::NAN, 1.0], &[f64::NAN, 1.0]), 0.0);
    assert_eq!(max_err(&[f64::INFINITY], &[f64::INFINITY]), 0.0);
    for (a, b) in [
        (f64::NAN, 1.0),
        (1.0, f64::NAN),
        (f64::INFINITY, 1.0),
        (1.0, f64::NEG_INFINITY),
        (f64::INFINITY, f64::NEG_INFINITY),
    ] {
        assert_eq!(max_err(&[0.0, a], &[0.0, b]), f64::INFINITY, "{a} vs {b}");
    }
    assert_eq!(max_err(&[1.0], &[1.0, 2.0]), f64::INFINITY);
}

/// Deterministic pseudo-normal noise in [-1, 1].
fn noise(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect()
}

fn f32_tensor(v: &[f64]) -> Tensor {
    let f: Vec<f32> = v.iter().map(|&x| x as f32).collect();
    Tensor::from_f32("x", vec![ROWS as i64, H as i64], &f)
}

#[test]
fn large_offset_central_variance_all_three_agree_with_f64() {
    let x: Vec<f64> = noise(ROWS * H, 1).iter().map(|v| 1000.0 + v).collect();
    let x32 = f32_tensor(&x);
    let want = reference(&x32.to_f64_vec().unwrap(), false, 1e-5);
    let [unfused, fused, jit] = three_ways(&layer_norm(false, 1e-5), &x32);
    // The input itself carries f32 rounding of 1000 + v (ulp 6e-5): every form loses about
    // that much relative to the f64 reference of the rounded input, none loses more.
    for (name, got, bound) in [
        ("unfused", &unfused, 5e-4),
        ("fused", &fused, 5e-4),
        ("jit", &jit, 5e-4),
    ] {
        let e = max_err(got, &want);
        eprintln!("central variance, offset 1000: {name} {e:.2e}");
        assert!(e < bound, "{name}: max error {e:.3e} >= {bound:.0e}");
    }
}

#[test]
fn ex2_minus_mean2_is_less_stable_than_the_fused_kernel() {
    // E[x²] - E[x]² cancels catastrophically for a large offset; the fused node computes a
    // central variance and is far closer to the truth. This is why fused results may differ
    // from the decomposed ones by more than rounding — in the fused node's favour.
    let x: Vec<f64> = noise(ROWS * H, 2).iter().map(|v| 300.0 + v).collect();
    let x32 = f32_tensor(&x);
    let want = reference(&x32.to_f64_vec().unwrap(), false, 1e-5);
    let [unfused, fused, jit] = three_ways(&layer_norm(true, 1e-5), &x32);
    let (eu, ef, ej) = (
        max_err(&unfused, &want),
        max_err(&fused, &want),
        max_err(&jit, &want),
    );
    eprintln!("E[x²]-E[x]², offset 300: unfused {eu:.2e}  fused {ef:.2e}  jit {ej:.2e}");
    assert!(ef < 1e-3 && ej < 1e-3, "fused {ef:.3e}, jit {ej:.3e}");
    assert!(
        ef <= eu,
        "fused ({ef:.3e}) must not be worse than unfused ({eu:.3e})"
    );
    assert!(
        eu > 1e-3,
        "the decomposed E[x²]-E[x]² is expected to lose digits here ({eu:.3e})"
    );
}

#[test]
fn tiny_variance_is_dominated_by_eps_in_every_form() {
    let x: Vec<f64> = noise(ROWS * H, 3).iter().map(|v| 0.25 + 1e-4 * v).collect();
    let x32 = f32_tensor(&x);
    let want = reference(&x32.to_f64_vec().unwrap(), false, 1e-5);
    let [unfused, fused, jit] = three_ways(&layer_norm(false, 1e-5), &x32);
    for (name, got) in [("unfused", &unfused), ("fused", &fused), ("jit", &jit)] {
        let e = max_err(got, &want);
        eprintln!("tiny variance: {name} {e:.2e}");
        assert!(e < 1e-4, "{name}: max error {e:.3e}");
    }
    // eps matters here: the outputs are far from unit variance.
    assert!(want.iter().all(|v| v.abs() < 0.1));
}

#[test]
fn fp16_values_whose_squares_overflow_half_stay_finite() {
    // 30 000² overflows f16 (max 65 504) but the statistics run in f32 (stash_type = 1).
    let x: Vec<f64> = noise(ROWS * H, 4).iter().map(|v| 30000.0 * v).collect();
    let h: Vec<u8> = x
        .iter()
        .flat_map(|&v| half::f16::from_f64(v).to_le_bytes())
        .collect();
    let x16 = Tensor::from_bytes("x", DType::F16, vec![ROWS as i64, H as i64], h).unwrap();
    let want = reference(&x16.to_f64_vec().unwrap(), true, 1e-6);
    let [unfused, fused, jit] = three_ways(&rms_norm_f16(1e-6), &x16);
    for (name, got) in [("unfused", &unfused), ("fused", &fused), ("jit", &jit)] {
        assert!(
            got.iter().all(|v| v.is_finite()),
            "{name}: non-finite output"
        );
        let e = max_err(got, &want);
        eprintln!("f16 |x| up to 3e4: {name} {e:.2e}");
        assert!(e < 2e-2, "{name}: max error {e:.3e} (f16 output)");
    }
}

#[test]
fn nan_and_inf_propagate_to_their_own_rows_only() {
    let mut x: Vec<f64> = noise(ROWS * H, 5);
    x[3] = f64::NAN; // row 0
    x[H + 7] = f64::INFINITY; // row 1
    let x32 = f32_tensor(&x);
    let [unfused, fused, jit] = three_ways(&layer_norm(false, 1e-5), &x32);
    for (name, got) in [("unfused", &unfused), ("fused", &fused), ("jit", &jit)] {
        assert!(got[..H].iter().all(|v| v.is_nan()), "{name}: NaN row");
        assert!(
            got[H..2 * H].iter().all(|v| v.is_nan()),
            "{name}: Inf row (inf - inf)"
        );
        assert!(
            got[2 * H..].iter().all(|v| v.is_finite()),
            "{name}: clean rows stay finite"
        );
    }
    assert!(max_err(&fused[2 * H..], &unfused[2 * H..]) < 1e-5);
    assert!(max_err(&jit[2 * H..], &unfused[2 * H..]) < 1e-5);
}
