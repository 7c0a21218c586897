//! Positive LayerNorm spellings: each must fuse into one LayerNormalization with the same
//! outputs (checked through the reference interpreter).

mod common;
use common::*;
use lnopt_fuse::{fuse_graph, FuseOptions, NormKind};
use lnopt_ir::{AttrValue, DType, Dim};

const H: i64 = 8;

fn x3(b: &mut B) -> lnopt_ir::ValueId {
    b.input("x", DType::F32, &[2, 3, H])
}

#[test]
fn canonical_pytorch_form() {
    let mut b = B::new();
    let x = x3(&mut b);
    let y = canonical_ln(&mut b, x, H, true, true);
    b.output(y);
    let (f, r) = expect_fused(&b.g, 13, 1, 0);
    assert_eq!(f.node_count(), 1, "only the fused node is left");
    let n = f.node_ids().next().expect("one node");
    let node = f.node(n);
    assert_eq!(node.inputs().len(), 3, "Scale and B absorbed");
    assert_eq!(node.output(0), Some(y), "Y keeps the final value id");
    assert_eq!(node.attr_int("axis"), Ok(Some(2)));
    assert_eq!(node.attr_float("epsilon"), Ok(Some(1e-5)));
    assert_eq!(r.sites[0].needs_opset, Some(17));
    assert!(r.sites[0].anchor.contains("ReduceMean"));
}

#[test]
fn running_on_own_output_changes_nothing() {
    let mut b = B::new();
    let x = x3(&mut b);
    let y = canonical_ln(&mut b, x, H, true, true);
    b.output(y);
    let (f, _) = fuse(&b.g, 13, &FuseOptions::default());
    let (f2, r2) = fuse(&f, 13, &FuseOptions::default());
    assert_eq!(r2.total_fused(), 0);
    assert_eq!(
        lnopt_ir::dump::dump_graph(&f),
        lnopt_ir::dump::dump_graph(&f2)
    );
}

#[test]
fn output_is_deterministic() {
    let mut b = B::new();
    let x = x3(&mut b);
    let y = canonical_ln(&mut b, x, H, true, true);
    b.output(y);
    let (f1, _) = fuse(&b.g, 13, &FuseOptions::default());
    let (f2, _) = fuse(&b.g, 13, &FuseOptions::default());
    assert_eq!(
        lnopt_ir::dump::dump_graph(&f1),
        lnopt_ir::dump::dump_graph(&f2)
    );
}

/// Builds LN with pluggable pieces.
struct Spelling {
    dup_sub: bool,
    square: &'static str, // "pow", "mul"
    norm: &'static str,   // "div", "recip", "one_div", "pow_neg_half", "pow_half"
    eps: &'static str,    // "scalar", "one", "111", "const_node"
    axes: Vec<i64>,
    swap: bool,
}

impl Default for Spelling {
    fn default() -> Self {
        Spelling {
            dup_sub: false,
            square: "pow",
            norm: "div",
            eps: "scalar",
            axes: vec![-1],
            swap: false,
        }
    }
}

fn build(s: &Spelling) -> B {
    let mut b = B::new();
    let x = x3(&mut b);
    let m = b.mean(x, &s.axes);
    let d = b.op("Sub", &[x, m], vec![]);
    let d2 = if s.dup_sub {
        b.op("Sub", &[x, m], vec![])
    } else {
        d
    };
    let sq = match s.square {
        "pow" => {
            let two = b.scalar("two", 2.0);
            b.op("Pow", &[d2, two], vec![])
        }
        _ => b.op("Mul", &[d2, d2], vec![]),
    };
    let v = b.mean(sq, &s.axes);
    let eps = match s.eps {
        "scalar" => b.scalar("eps", 1e-5),
        "one" => b.f32("eps", &[1], &[1e-5]),
        "111" => b.f32("eps", &[1, 1, 1], &[1e-5]),
        _ => b.op(
            "Constant",
            &[],
            vec![(
                "value",
                AttrValue::Tensor(lnopt_ir::Tensor::from_f32("", vec![], &[1e-5])),
            )],
        ),
    };
    let a = if s.swap {
        b.op("Add", &[eps, v], vec![])
    } else {
        b.op("Add", &[v, eps], vec![])
    };
    let y = match s.norm {
        "div" => {
            let sd = b.op("Sqrt", &[a], vec![]);
            b.op("Div", &[d, sd], vec![])
        }
        "recip" => {
            let sd = b.op("Sqrt", &[a], vec![]);
            let r = b.op("Reciprocal", &[sd], vec![]);
            if s.swap {
                b.op("Mul", &[r, d], vec![])
            } else {
                b.op("Mul", &[d, r], vec![])
            }
        }
        "one_div" => {
            let sd = b.op("Sqrt", &[a], vec![]);
            let one = b.scalar("one", 1.0);
            let r = b.op("Div", &[one, sd], vec![]);
            b.op("Mul", &[d, r], vec![])
        }
        "pow_neg_half" => {
            let e = b.scalar("mhalf", -0.5);
            let r = b.op("Pow", &[a, e], vec![]);
            b.op("Mul", &[d, r], vec![])
        }
        _ => {
            let e = b.scalar("half", 0.5);
            let sd = b.op("Pow", &[a, e], vec![]);
            b.op("Div", &[d, sd], vec![])
        }
    };
    let gv: Vec<f32> = (0..H).map(|i| 1.0 + 0.1 * i as f32).collect();
    let g = b.f32("gamma", &[H], &gv);
    let y = if s.swap {
        b.op("Mul", &[g, y], vec![])
    } else {
        b.op("Mul", &[y, g], vec![])
    };
    let bt = b.f32("beta", &[H], &[0.25; H as usize]);
    let y = if s.swap {
        b.op("Add", &[bt, y], vec![])
    } else {
        b.op("Add", &[y, bt], vec![])
    };
    b.output(y);
    b
}

#[test]
fn duplicate_sub() {
    expect_fused(
        &build(&Spelling {
            dup_sub: true,
            ..Default::default()
        })
        .g,
        13,
        1,
        0,
    );
}

#[test]
fn mul_d_d() {
    expect_fused(
        &build(&Spelling {
            square: "mul",
            ..Default::default()
        })
        .g,
        13,
        1,
        0,
    );
}

#[test]
fn reciprocal_sqrt() {
    expect_fused(
        &build(&Spelling {
            norm: "recip",
            ..Default::default()
        })
        .g,
        13,
        1,
        0,
    );
}

#[test]
fn one_div_sqrt() {
    expect_fused(
        &build(&Spelling {
            norm: "one_div",
            ..Default::default()
        })
        .g,
        13,
        1,
        0,
    );
}

#[test]
fn pow_minus_half() {
    expect_fused(
        &build(&Spelling {
            norm: "pow_neg_half",
            ..Default::default()
        })
        .g,
        13,
        1,
        0,
    );
}

#[test]
fn sqrt_as_pow_half() {
    expect_fused(
        &build(&Spelling {
            norm: "pow_half",
            ..Default::default()
        })
        .g,
        13,
        1,
        0,
    );
}

#[test]
fn eps_shapes_and_constant_node() {
    for eps in ["one", "111", "const_node"] {
        expect_fused(
            &build(&Spelling {
                eps,
                ..Default::default()
            })
            .g,
            13,
            1,
            0,
        );
    }
}

#[test]
fn positive_axes() {
    expect_fused(
        &build(&Spelling {
            axes: vec![2],
            ..Default::default()
        })
        .g,
        13,
        1,
        0,
    );
}

#[test]
fn commuted_operands() {
    expect_fused(
        &build(&Spelling {
            swap: true,
            norm: "recip",
            ..Default::default()
        })
        .g,
        13,
        1,
        0,
    );
}

#[test]
fn axes_as_input_opset18() {
    let mut b = B::new();
    let x = x3(&mut b);
    let ax = b.i64s("axes", &[-1]);
    let m = b.op("ReduceMean", &[x, ax], vec![]);
    let d = b.op("Sub", &[x, m], vec![]);
    let p = b.op("Mul", &[d, d], vec![]);
    let v = b.op("ReduceMean", &[p, ax], vec![]);
    let eps = b.scalar("eps", 1e-6);
    let a = b.op("Add", &[v, eps], vec![]);
    let s = b.op("Sqrt", &[a], vec![]);
    let y = b.op("Div", &[d, s], vec![]);
    b.output(y);
    let (f, _) = expect_fused(&b.g, 18, 1, 0);
    // no affine: a unit Scale initializer of the normalised shape
    let n = f
        .node_ids()
        .find(|&n| f.node(n).op_type == "LayerNormalization")
        .expect("fused");
    let scale = f.node(n).input(1).expect("scale");
    let t = f.initializer(scale).expect("unit scale is an initializer");
    assert_eq!(t.dims, vec![H]);
    assert!(t.to_f64_vec().expect("f32").iter().all(|&v| v == 1.0));
}

#[test]
fn last_two_axes_with_2d_gamma() {
    let mut b = B::new();
    let x = x3(&mut b);
    let m = b.mean(x, &[-2, -1]);
    let d = b.op("Sub", &[x, m], vec![]);
    let p = b.op("Mul", &[d, d], vec![]);
    let v = b.mean(p, &[-2, -1]);
    let eps = b.scalar("eps", 1e-5);
    let a = b.op("Add", &[v, eps], vec![]);
    let s = b.op("Sqrt", &[a], vec![]);
    let y = b.op("Div", &[d, s], vec![]);
    let gv = noise(3 * H as usize, 5);
    let g = b.f32("gamma", &[3, H], &gv);
    let y = b.op("Mul", &[y, g], vec![]);
    b.output(y);
    let (f, _) = expect_fused(&b.g, 13, 1, 0);
    let n = f
        .node_ids()
        .find(|&n| f.node(n).op_type == "LayerNormalization")
        .expect("fused");
    assert_eq!(f.node(n).attr_int("axis"), Ok(Some(1)));
    assert_eq!(f.node_count(), 1);
}

#[test]
fn gamma_1h_becomes_normalised_initializer() {
    let mut b = B::new();
    let x = x3(&mut b);
    let y = canonical_ln(&mut b, x, H, false, false);
    let g = b.f32("g1h", &[1, H], &noise(H as usize, 3));
    let y = b.op("Mul", &[y, g], vec![]);
    b.output(y);
    let (f, _) = expect_fused(&b.g, 13, 1, 0);
    assert_eq!(f.node_count(), 1);
}

#[test]
fn no_beta_and_no_affine() {
    for (g, bt) in [(true, false), (false, false)] {
        let mut b = B::new();
        let x = x3(&mut b);
        let y = canonical_ln(&mut b, x, H, g, bt);
        b.output(y);
        let (f, _) = expect_fused(&b.g, 13, 1, 0);
        assert_eq!(f.node_count(), 1);
    }
}

#[test]
fn variance_as_moments() {
    let mut b = B::new();
    let x = x3(&mut b);
    let m = b.mean(x, &[-1]);
    let xx = b.op("Mul", &[x, x], vec![]);
    let ex2 = b.mean(xx, &[-1]);
    let mm = b.op("Mul", &[m, m], vec![]);
    let v = b.op("Sub", &[ex2, mm], vec![]);
    let eps = b.scalar("eps", 1e-5);
    let a = b.op("Add", &[v, eps], vec![]);
    let s = b.op("Sqrt", &[a], vec![]);
    let d = b.op("Sub", &[x, m], vec![]);
    let y = b.op("Div", &[d, s], vec![]);
    b.output(y);
    expect_fused(&b.g, 13, 1, 0);
}

#[test]
fn tf2onnx_keras_form() {
    let mut b = B::new();
    let x = x3(&mut b);
    let m = b.mean(x, &[-1]);
    let d = b.op("Sub", &[x, m], vec![]);
    let sq = b.op("Mul", &[d, d], vec![]);
    let v = b.mean(sq, &[-1]);
    let eps = b.scalar("eps", 1e-3);
    let a = b.op("Add", &[v, eps], vec![]);
    let s = b.op("Sqrt", &[a], vec![]);
    let r = b.op("Reciprocal", &[s], vec![]);
    let g = b.f32("gamma", &[H], &noise(H as usize, 9));
    let sc = b.op("Mul", &[r, g], vec![]);
    let xs = b.op("Mul", &[x, sc], vec![]);
    let ms = b.op("Mul", &[m, sc], vec![]);
    let bt = b.f32("beta", &[H], &noise(H as usize, 10));
    let bm = b.op("Sub", &[bt, ms], vec![]);
    let y = b.op("Add", &[xs, bm], vec![]);
    b.output(y);
    let (f, _) = expect_fused(&b.g, 13, 1, 0);
    assert_eq!(f.node_count(), 1);
}

#[test]
fn adaln_non_constant_gamma_keeps_affine() {
    let mut b = B::new();
    let x = x3(&mut b);
    let g = b.input("scale", DType::F32, &[2, 1, H]);
    let sh = b.input("shift", DType::F32, &[2, 1, H]);
    let y = canonical_ln(&mut b, x, H, false, false);
    let y = b.op("Mul", &[y, g], vec![]);
    let y = b.op("Add", &[y, sh], vec![]);
    b.output(y);
    let (f, _) = expect_fused(&b.g, 13, 1, 0);
    assert_eq!(count(&f, "Mul"), 1);
    assert_eq!(count(&f, "Add"), 1);
}

#[test]
fn non_constant_gamma_of_normalised_shape_is_absorbed() {
    let mut b = B::new();
    let x = x3(&mut b);
    let g = b.input("w", DType::F32, &[H]);
    let y = canonical_ln(&mut b, x, H, false, false);
    let y = b.op("Mul", &[g, y], vec![]);
    b.output(y);
    let (f, _) = expect_fused(&b.g, 13, 1, 0);
    assert_eq!(f.node_count(), 1);
}

#[test]
fn fp16_with_casts_maps_to_stash_type() {
    let mut b = B::new();
    let x = b.input("x", DType::F16, &[2, 3, H]);
    let xf = b.cast(x, DType::F32);
    let y = canonical_ln(&mut b, xf, H, false, false);
    let y = b.cast(y, DType::F16);
    let g = b.f16("gamma16", &[H], &[1.5; H as usize]);
    let y = b.op("Mul", &[y, g], vec![]);
    let bt = b.f16("beta16", &[H], &[0.5; H as usize]);
    let y = b.op("Add", &[y, bt], vec![]);
    b.output(y);
    let (f, _) = expect_fused(&b.g, 13, 1, 0);
    assert_eq!(
        f.node_count(),
        1,
        "casts gone: {}",
        lnopt_ir::dump::dump_graph(&f)
    );
    let n = f.node_ids().next().expect("node");
    assert_eq!(f.node(n).input(0), Some(x));
    assert_eq!(f.node(n).attr_int("stash_type"), Ok(Some(1)));
}

#[test]
fn noop_cast_is_ignored() {
    let mut b = B::new();
    let x = x3(&mut b);
    let xc = b.cast(x, DType::F32);
    let y = canonical_ln(&mut b, xc, H, true, true);
    b.output(y);
    expect_fused(&b.g, 13, 1, 0);
}

#[test]
fn two_norms_over_one_input_shared_mean() {
    let mut b = B::new();
    let x = x3(&mut b);
    let m = b.mean(x, &[-1]);
    let d = b.op("Sub", &[x, m], vec![]);
    let p = b.op("Mul", &[d, d], vec![]);
    let v = b.mean(p, &[-1]);
    let eps = b.scalar("eps", 1e-5);
    let a = b.op("Add", &[v, eps], vec![]);
    let s = b.op("Sqrt", &[a], vec![]);
    let n = b.op("Div", &[d, s], vec![]);
    let g1 = b.f32("g1", &[H], &noise(H as usize, 1));
    let g2 = b.f32("g2", &[H], &noise(H as usize, 2));
    let y1 = b.op("Mul", &[n, g1], vec![]);
    let y2 = b.op("Mul", &[n, g2], vec![]);
    b.output(y1);
    b.output(y2);
    let (f, r) = expect_fused(&b.g, 13, 2, 0);
    assert_eq!(f.node_count(), 2);
    assert_eq!(r.sites.len(), 2);
}

#[test]
fn two_norms_over_one_input_separate_stats() {
    let mut b = B::new();
    let x = x3(&mut b);
    let y1 = canonical_ln(&mut b, x, H, false, false);
    let m = b.mean(x, &[-1]);
    let d = b.op("Sub", &[x, m], vec![]);
    let p = b.op("Mul", &[d, d], vec![]);
    let v = b.mean(p, &[-1]);
    let eps = b.scalar("eps2", 1e-3);
    let a = b.op("Add", &[v, eps], vec![]);
    let s = b.op("Sqrt", &[a], vec![]);
    let y2 = b.op("Div", &[d, s], vec![]);
    b.output(y1);
    b.output(y2);
    expect_fused(&b.g, 13, 2, 0);
}

#[test]
fn symbolic_batch_dims() {
    let mut b = B::new();
    let x = b.input_dims(
        "x",
        DType::F32,
        vec![
            Dim::Symbol("batch".into()),
            Dim::Symbol("seq".into()),
            Dim::Fixed(H),
        ],
    );
    let y = canonical_ln(&mut b, x, H, true, true);
    b.output(y);
    let (f, r) = fuse(&b.g, 13, &FuseOptions::default());
    assert_eq!(r.fused_count(NormKind::LayerNorm), 1, "{r:#?}");
    assert_eq!(f.node_count(), 1);
}

#[test]
fn mean_graph_output_is_fed_from_mean_output() {
    let mut b = B::new();
    let x = x3(&mut b);
    let y = canonical_ln(&mut b, x, H, true, true);
    b.output(y);
    let m = b.g.find_value("/n1/ReduceMean_out").expect("mean value");
    b.output(m);
    let (f, _) = expect_fused(&b.g, 13, 1, 0);
    assert_eq!(f.node_count(), 1);
    let n = f.node_ids().next().expect("node");
    assert_eq!(f.node(n).output(1), Some(m));
}

#[test]
fn stacked_layers_all_fuse() {
    let mut b = B::new();
    let mut x = x3(&mut b);
    for _ in 0..40 {
        let y = canonical_ln(&mut b, x, H, true, true);
        x = b.op("Add", &[y, x], vec![]);
    }
    b.output(x);
    let mut g = b.g.clone();
    let r = fuse_graph(&mut g, 13, &FuseOptions::default()).expect("runs");
    let bad: Vec<_> = r.not_fused().collect();
    assert_eq!(r.fused_count(NormKind::LayerNorm), 40, "{bad:#?}");
    differential(&b.g, 13, 1e-3);
}
