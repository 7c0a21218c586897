//! Helpers shared by the integration tests: loading backend-test folders and comparing tensors.

#![allow(dead_code)]

use lnopt_ir::{AttrValue, DType, Graph, Model, Node, Tensor, TensorType, ValueInfo, ValueType};
use std::path::{Path, PathBuf};

/// The shared corpus folder beside the repository, if present.
pub fn corpus() -> Option<PathBuf> {
    let p = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/corpus"
    ));
    p.is_dir().then_some(p)
}

/// The repository's fixtures folder.
pub fn fixtures() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures"))
}

/// Case folders (holding model.onnx) under `dir`, sorted.
pub fn cases(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.path())
                .filter(|p| p.join("model.onnx").is_file())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// `input_N.pb` or `output_N.pb` tensors of the first data set, in order.
pub fn data(case: &Path, kind: &str) -> Vec<Tensor> {
    let mut out = Vec::new();
    for i in 0.. {
        let p = case.join("test_data_set_0").join(format!("{kind}_{i}.pb"));
        if !p.is_file() {
            break;
        }
        out.push(
            lnopt_onnx::load_tensor(&p, &lnopt_onnx::Limits::default()).expect("test tensor loads"),
        );
    }
    out
}

/// Largest violation of |a-b| <= atol + rtol*|b| (0 when all close); Err on shape/dtype
/// mismatch, on NaN where the other side has none, and on an infinity the other side does not
/// have with the same sign.
pub fn compare(got: &Tensor, want: &Tensor, atol: f64, rtol: f64) -> Result<f64, String> {
    if got.dims != want.dims {
        return Err(format!("dims {:?} vs {:?}", got.dims, want.dims));
    }
    if got.dtype != want.dtype {
        return Err(format!("dtype {} vs {}", got.dtype, want.dtype));
    }
    let (Some(a), Some(b)) = (got.to_f64_vec(), want.to_f64_vec()) else {
        return Err("not numeric".into());
    };
    let mut worst = 0f64;
    for (x, y) in a.iter().zip(&b) {
        if x.is_nan() != y.is_nan() {
            return Err(format!("NaN mismatch {x} vs {y}"));
        }
        if x.is_nan() || x == y {
            continue;
        }
        if x.is_infinite() || y.is_infinite() {
            return Err(format!("infinity mismatch {x} vs {y}"));
        }
        let excess = (x - y).abs() - (atol + rtol * y.abs());
        worst = worst.max(excess);
    }
    Ok(worst)
}

/// Compares every output with [`compare`] after checking that there are as many outputs as
/// reference tensors; returns the largest tolerance violation (0 when all close).
pub fn compare_all(got: &[Tensor], want: &[Tensor], atol: f64, rtol: f64) -> Result<f64, String> {
    if got.len() != want.len() {
        return Err(format!("{} outputs, {} expected", got.len(), want.len()));
    }
    let mut worst = 0f64;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        worst = worst.max(compare(g, w, atol, rtol).map_err(|e| format!("output {i}: {e}"))?);
    }
    Ok(worst)
}

/// `|got - want| / (1 + |want|)`, infinite when one side is NaN or an infinity the other side
/// does not share (so a `max` over it can never drop a NaN).
pub fn rel_err(got: f64, want: f64) -> f64 {
    if got == want || (got.is_nan() && want.is_nan()) {
        0.0
    } else if !got.is_finite() || !want.is_finite() {
        f64::INFINITY
    } else {
        (got - want).abs() / (1.0 + want.abs())
    }
}

/// LayerNorm / RMSNorm of one row in f64, two-pass (the reference of the direct-kernel tests).
pub fn norm_ref(row: &[f32], g: &[f32], bias: &[f32], rms: bool, eps: f64) -> Vec<f64> {
    let h = row.len() as f64;
    let mean = if rms {
        0.0
    } else {
        row.iter().map(|&v| v as f64).sum::<f64>() / h
    };
    let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / h;
    let inv = 1.0 / (var + eps).sqrt();
    row.iter()
        .enumerate()
        .map(|(j, &v)| {
            let b = if rms { 0.0 } else { bias[j] as f64 };
            (v as f64 - mean) * inv * g[j] as f64 + b
        })
        .collect()
}

/// A deterministic stream of floats in [-0.5, 0.5) (64-bit LCG, top 24 bits).
pub fn lcg(seed: u64) -> impl FnMut() -> f32 {
    let mut s = seed;
    move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 40) as f32) / (1u64 << 24) as f32 - 0.5
    }
}

/// Declares `name` as an f32 value of shape `dims` in `g`.
pub fn declare(g: &mut Graph, name: &str, dims: &[i64]) -> lnopt_ir::ValueId {
    let v = g.value_by_name_or_new(name);
    g.value_mut(v).info = Some(ValueInfo {
        ty: Some(ValueType::Tensor(TensorType::fixed(DType::F32, dims))),
        ..ValueInfo::default()
    });
    v
}

/// A norm graph to build with [`norm_model`].
pub struct NormCase {
    pub rms: bool,
    pub rows: usize,
    pub hidden: usize,
    pub eps: f32,
    pub scale: bool,
    pub bias: bool,
    pub residual: bool,
    pub stats: bool,
    pub sum_used: bool,
}

/// `[Add(x, r) →] Norm(·, scale, bias)` with optional Mean/InvStdDev and Add outputs.
pub fn norm_model(c: &NormCase, params: &[f32]) -> Model {
    let mut g = Graph::new("t");
    let dims = [c.rows as i64, c.hidden as i64];
    let x = declare(&mut g, "x", &dims);
    g.add_input(x);
    let mut src = x;
    if c.residual {
        let r = declare(&mut g, "r", &dims);
        g.add_input(r);
        let s = g.value_by_name_or_new("s");
        g.add_node(
            Node::new("Add", "add"),
            vec![Some(x), Some(r)],
            vec![Some(s)],
        )
        .unwrap();
        src = s;
        if c.sum_used {
            g.add_output(s);
        }
    }
    let h = c.hidden;
    let sc = c
        .scale
        .then(|| g.add_initializer("scale", Tensor::from_f32("", vec![h as i64], &params[..h])));
    let bi = (c.bias && !c.rms).then(|| {
        g.add_initializer(
            "bias",
            Tensor::from_f32("", vec![h as i64], &params[h..2 * h]),
        )
    });
    let mut node = Node::new(
        if c.rms {
            "RMSNormalization"
        } else {
            "LayerNormalization"
        },
        "norm",
    );
    node.set_attr("epsilon", AttrValue::Float(c.eps));
    node.set_attr("axis", AttrValue::Int(-1));
    let y = g.value_by_name_or_new("y");
    let mut outs = vec![Some(y)];
    if c.stats && !c.rms {
        outs.push(Some(g.value_by_name_or_new("mean")));
        outs.push(Some(g.value_by_name_or_new("inv")));
    }
    // The scale input is required by both ops: use ones when the case has none.
    let sc = sc.or_else(|| {
        Some(g.add_initializer("ones", Tensor::from_f32("", vec![h as i64], &vec![1.0; h])))
    });
    g.add_node(node, vec![Some(src), sc, bi], outs.clone())
        .unwrap();
    for o in outs.into_iter().flatten() {
        g.add_output(o);
    }
    Model::new(g, 23)
}
