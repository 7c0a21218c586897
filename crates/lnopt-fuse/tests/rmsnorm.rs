//! Positive RMSNorm spellings.

mod common;
use common::*;
use lnopt_fuse::{EmitTarget, FuseOptions, NormKind};
use lnopt_ir::DType;

const H: i64 = 8;

fn rms_core(b: &mut B, x: lnopt_ir::ValueId, square: &str, norm: &str) -> lnopt_ir::ValueId {
    let sq = if square == "pow" {
        let two = b.scalar("two", 2.0);
        b.op("Pow", &[x, two], vec![])
    } else {
        b.op("Mul", &[x, x], vec![])
    };
    let m = b.mean(sq, &[-1]);
    let eps = b.scalar("eps", 1e-6);
    let a = b.op("Add", &[m, eps], vec![]);
    let s = b.op("Sqrt", &[a], vec![]);
    if norm == "div" {
        b.op("Div", &[x, s], vec![])
    } else {
        let r = b.op("Reciprocal", &[s], vec![]);
        b.op("Mul", &[x, r], vec![])
    }
}

#[test]
fn t5_form() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, &[2, 3, H]);
    let n = rms_core(&mut b, x, "pow", "div");
    let g = b.f32("w", &[H], &noise(H as usize, 4));
    let y = b.op("Mul", &[g, n], vec![]);
    b.output(y);
    let (f, r) = expect_fused(&b.g, 13, 0, 1);
    assert_eq!(f.node_count(), 1);
    assert_eq!(r.sites[0].needs_opset, Some(23));
}

#[test]
fn llama_fp16_with_casts() {
    let mut b = B::new();
    let x = b.input("x", DType::F16, &[2, 3, H]);
    let xf = b.cast(x, DType::F32);
    let n = rms_core(&mut b, xf, "pow", "recip");
    let n16 = b.cast(n, DType::F16);
    let g = b.f16("w", &[H], &[1.25; H as usize]);
    let y = b.op("Mul", &[g, n16], vec![]);
    b.output(y);
    let (f, _) = expect_fused(&b.g, 13, 0, 1);
    assert_eq!(f.node_count(), 1, "{}", lnopt_ir::dump::dump_graph(&f));
}

#[test]
fn gemma_one_plus_w() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, &[2, 3, H]);
    let n = rms_core(&mut b, x, "mul", "recip");
    let w = b.f32("w", &[H], &noise(H as usize, 6));
    let one = b.scalar("one", 1.0);
    let g = b.op("Add", &[one, w], vec![]);
    let y = b.op("Mul", &[n, g], vec![]);
    b.output(y);
    expect_fused(&b.g, 13, 0, 1);
}

#[test]
fn no_gamma() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, &[2, 3, H]);
    let n = rms_core(&mut b, x, "mul", "div");
    b.output(n);
    let (f, _) = expect_fused(&b.g, 13, 0, 1);
    assert_eq!(f.node_count(), 1);
}

#[test]
fn ort_target_emits_simplified_layer_norm() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, &[2, 3, H]);
    let n = rms_core(&mut b, x, "mul", "div");
    b.output(n);
    let opts = FuseOptions {
        target: EmitTarget::Ort,
        ..FuseOptions::default()
    };
    let (f, r) = fuse(&b.g, 13, &opts);
    assert_eq!(count(&f, "SimplifiedLayerNormalization"), 1);
    assert_eq!(r.sites[0].needs_opset, None);
}

#[test]
fn not_allowed_kind_is_reported() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, &[2, 3, H]);
    let n = rms_core(&mut b, x, "mul", "div");
    b.output(n);
    let opts = FuseOptions {
        allow_rms_norm: false,
        ..FuseOptions::default()
    };
    let (f, r) = fuse(&b.g, 13, &opts);
    assert_eq!(r.total_fused(), 0);
    assert_eq!(f.node_count(), b.g.node_count());
    let s = &r.sites[0];
    assert_eq!(s.kind, Some(NormKind::RmsNorm));
    assert!(
        s.reason
            .as_deref()
            .is_some_and(|t| t.contains("needs opset 23")),
        "{s:?}"
    );
}

#[test]
fn mixed_chain_ln_rms_ln() {
    let mut b = B::new();
    let x = b.input("x", DType::F32, &[2, 3, H]);
    let y1 = canonical_ln(&mut b, x, H, true, true);
    let w = b.f32("mm", &[H, H], &noise((H * H) as usize, 8));
    let h = b.op("MatMul", &[y1, w], vec![]);
    let r = rms_core(&mut b, h, "pow", "div");
    let s = b.op("Add", &[r, y1], vec![]);
    let m = b.mean(s, &[-1]);
    let d = b.op("Sub", &[s, m], vec![]);
    let p = b.op("Mul", &[d, d], vec![]);
    let v = b.mean(p, &[-1]);
    let e = b.scalar("e3", 1e-5);
    let a = b.op("Add", &[v, e], vec![]);
    let q = b.op("Sqrt", &[a], vec![]);
    let y = b.op("Div", &[d, q], vec![]);
    b.output(y);
    expect_fused(&b.g, 13, 2, 1);
}
