//! Spellings that must never fuse, each with its reason.

mod common;
use common::*;
use lnopt_fuse::{FuseOptions, NormKind};
use lnopt_ir::{AttrValue, DType};

const H: i64 = 8;

/// LN with knobs for the negative variants.
fn ln(
    b: &mut B,
    axes1: &[i64],
    axes2: &[i64],
    exp: f32,
    keepdims0: bool,
    eps_input: bool,
    reversed_sub: bool,
) -> lnopt_ir::ValueId {
    let x = b.input("x", DType::F32, &[4, 6, H]);
    let m = if keepdims0 {
        b.op(
            "ReduceMean",
            &[x],
            vec![
                ("axes", AttrValue::Ints(axes1.to_vec())),
                ("keepdims", AttrValue::Int(0)),
            ],
        )
    } else {
        b.mean(x, axes1)
    };
    let d = if reversed_sub {
        b.op("Sub", &[m, x], vec![])
    } else {
        b.op("Sub", &[x, m], vec![])
    };
    let e = b.scalar("exp", exp);
    let p = b.op("Pow", &[d, e], vec![]);
    let v = b.mean(p, axes2);
    let eps = if eps_input {
        b.input("eps", DType::F32, &[])
    } else {
        b.scalar("eps", 1e-5)
    };
    let a = b.op("Add", &[v, eps], vec![]);
    let s = b.op("Sqrt", &[a], vec![]);
    let y = b.op("Div", &[d, s], vec![]);
    b.output(y);
    y
}

#[test]
fn non_trailing_axis() {
    let mut b = B::new();
    ln(&mut b, &[1], &[1], 2.0, false, false, false);
    expect_not_fused(&b.g, 13, "are not trailing for rank 3");
}

#[test]
fn mismatched_axes() {
    let mut b = B::new();
    ln(&mut b, &[-1], &[-2], 2.0, false, false, false);
    expect_not_fused(&b.g, 13, "not trailing");
}

#[test]
fn mismatched_trailing_axes() {
    let mut b = B::new();
    ln(&mut b, &[-1], &[-2, -1], 2.0, false, false, false);
    expect_not_fused(&b.g, 13, "different axes");
}

#[test]
fn keepdims_zero() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, &[H, H]);
    let m = b.op(
        "ReduceMean",
        &[x],
        vec![
            ("axes", AttrValue::Ints(vec![-1])),
            ("keepdims", AttrValue::Int(0)),
        ],
    );
    let d = b.op("Sub", &[x, m], vec![]);
    let p = b.op("Mul", &[d, d], vec![]);
    let v = b.mean(p, &[-1]);
    let eps = b.scalar("eps", 1e-5);
    let a = b.op("Add", &[v, eps], vec![]);
    let s = b.op("Sqrt", &[a], vec![]);
    let y = b.op("Div", &[d, s], vec![]);
    b.output(y);
    expect_not_fused(&b.g, 13, "keepdims=0");
}

#[test]
fn pow_three() {
    let mut b = B::new();
    ln(&mut b, &[-1], &[-1], 3.0, false, false, false);
    expect_not_fused(&b.g, 13, "Pow exponent 3");
}

/// An exponent a hair away from 2 is not 2: no tolerance in the exponent check (2.0001 in f32
/// is 2.00009990; an "almost 2" rule would fuse a different function).
#[test]
fn pow_exponent_near_two_is_not_two() {
    for exp in [2.0001f32, 1.9999, 2.0 + f32::EPSILON * 2.0] {
        let mut b = B::new();
        ln(&mut b, &[-1], &[-1], exp, false, false, false);
        expect_not_fused(&b.g, 13, "Pow exponent");
    }
}

/// The same for the RMS spelling `x / Pow(mean(Pow(x, 2)) + eps, 0.5)`: neither exponent may
/// be approximately right.
#[test]
fn rms_pow_exponents_near_two_and_half_are_not_exact() {
    for (sq, root) in [(2.0001f32, 0.5f32), (2.0, 0.5001), (2.0, 0.4999)] {
        let mut b = B::new();
        let x = b.input("x", DType::F32, &[4, 6, H]);
        let e2 = b.scalar("sq", sq);
        let p = b.op("Pow", &[x, e2], vec![]);
        let v = b.mean(p, &[-1]);
        let eps = b.scalar("eps", 1e-6);
        let a = b.op("Add", &[v, eps], vec![]);
        let half = b.scalar("root", root);
        let s = b.op("Pow", &[a, half], vec![]);
        let y = b.op("Div", &[x, s], vec![]);
        b.output(y);
        let (f, r) = fuse(&b.g, 13, &FuseOptions::default());
        assert_eq!(r.total_fused(), 0, "Pow {sq} / Pow {root} fused: {r:#?}");
        assert_eq!(
            count(&f, "RMSNormalization") + count(&f, "LayerNormalization"),
            0
        );
    }
}

#[test]
fn eps_not_constant() {
    let mut b = B::new();
    ln(&mut b, &[-1], &[-1], 2.0, false, true, false);
    expect_not_fused(&b.g, 13, "not a constant");
}

#[test]
fn reversed_sub() {
    let mut b = B::new();
    ln(&mut b, &[-1], &[-1], 2.0, false, false, true);
    expect_not_fused(&b.g, 13, "reversed operands");
}

#[test]
fn mean_of_another_tensor() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, &[4, 6, H]);
    let z = b.input("z", DType::F32, &[4, 6, H]);
    let m = b.mean(z, &[-1]);
    let d = b.op("Sub", &[x, m], vec![]);
    let p = b.op("Mul", &[d, d], vec![]);
    let v = b.mean(p, &[-1]);
    let eps = b.scalar("eps", 1e-5);
    let a = b.op("Add", &[v, eps], vec![]);
    let s = b.op("Sqrt", &[a], vec![]);
    let y = b.op("Div", &[d, s], vec![]);
    b.output(y);
    let (f, r) = fuse(&b.g, 13, &FuseOptions::default());
    assert_eq!(r.total_fused(), 0, "{r:#?}");
    assert_eq!(f.node_count(), b.g.node_count());
}

#[test]
fn div_without_sqrt() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, &[4, 6, H]);
    let m = b.mean(x, &[-1]);
    let d = b.op("Sub", &[x, m], vec![]);
    let p = b.op("Mul", &[d, d], vec![]);
    let v = b.mean(p, &[-1]);
    let eps = b.scalar("eps", 1e-5);
    let a = b.op("Add", &[v, eps], vec![]);
    let y = b.op("Div", &[d, a], vec![]);
    b.output(y);
    expect_not_fused(&b.g, 13, "without a square root");
}

#[test]
fn variance_used_elsewhere() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, &[4, 6, H]);
    let m = b.mean(x, &[-1]);
    let d = b.op("Sub", &[x, m], vec![]);
    let p = b.op("Mul", &[d, d], vec![]);
    let v = b.mean(p, &[-1]);
    let eps = b.scalar("eps", 1e-5);
    let a = b.op("Add", &[v, eps], vec![]);
    let s = b.op("Sqrt", &[a], vec![]);
    let y = b.op("Div", &[d, s], vec![]);
    b.output(y);
    let t = b.op("Tanh", &[v], vec![]);
    b.output(t);
    expect_not_fused(&b.g, 13, "intermediate");
}

#[test]
fn gamma_broadcasting_beyond_normalised_axes_is_not_absorbed() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, &[4, 6, H]);
    let y = canonical_ln(&mut b, x, H, false, false);
    let g = b.f32("g", &[6, H], &noise(6 * H as usize, 3));
    let y = b.op("Mul", &[y, g], vec![]);
    b.output(y);
    let (f, _) = expect_fused(&b.g, 13, 1, 0);
    assert_eq!(count(&f, "Mul"), 1, "γ [S,H] must stay a Mul");
}

#[test]
fn f16_statistics_narrowed_inside_do_not_fuse_as_stash() {
    // mean computed on an f16 copy of an f32 input, centred in f32: different tensors.
    let mut b = B::new();
    let x = b.input("x", DType::F32, &[4, 6, H]);
    let x16 = b.cast(x, DType::F16);
    let m16 = b.mean(x16, &[-1]);
    let m = b.cast(m16, DType::F32);
    let d = b.op("Sub", &[x, m], vec![]);
    let p = b.op("Mul", &[d, d], vec![]);
    let v = b.mean(p, &[-1]);
    let eps = b.scalar("eps", 1e-5);
    let a = b.op("Add", &[v, eps], vec![]);
    let s = b.op("Sqrt", &[a], vec![]);
    let y = b.op("Div", &[d, s], vec![]);
    b.output(y);
    let (_, r) = fuse(&b.g, 13, &FuseOptions::default());
    assert_eq!(r.fused_count(NormKind::LayerNorm), 0, "{r:#?}");
}
