//! Neural-network ops: MatMul, Gemm, Conv, the normalisations (ONNX and ORT contrib),
//! Einsum, and control flow (If/Loop: declared branch types only).

use super::{Ctx, Out};
use crate::dims::{broadcast_shapes, normalize_axis, unify_dim};
use lnopt_ir::{AttrValue, DType, Dim, Graph, TensorType};

/// Rules for nn ops in the default domain; `Ok(None)` if `op` is not one of them.
pub(crate) fn infer(ctx: &Ctx, op: &str) -> Result<Option<Out>, String> {
    Ok(Some(match op {
        "MatMul" => matmul(ctx)?,
        "Gemm" => gemm(ctx)?,
        "Conv" => conv(ctx)?,
        "LayerNormalization" | "SimplifiedLayerNormalization" => layer_norm(ctx, 0)?,
        "RMSNormalization" => {
            check_norm_axis(ctx)?;
            Out::of(ctx.dtype(0), ctx.shape(0).map(|s| s.to_vec()))
        }
        "Einsum" => einsum(ctx)?,
        "If" => if_op(ctx),
        "Loop" => {
            let n = ctx.node.outputs().len();
            let n_carried = ctx.node.inputs().len().saturating_sub(2);
            let types = (0..n)
                .map(|k| {
                    (k < n_carried).then(|| TensorType {
                        elem: ctx.dtype(k + 2),
                        shape: None,
                    })
                })
                .collect();
            Out {
                types,
                ..Out::default()
            }
        }
        _ => return Ok(None),
    }))
}

/// Rules for `com.microsoft` ops.
pub(crate) fn microsoft(ctx: &Ctx, op: &str) -> Result<Out, String> {
    let same = || Out::of(ctx.dtype(0), ctx.shape(0).map(|s| s.to_vec()));
    Ok(match op {
        "LayerNormalization" | "SimplifiedLayerNormalization" => layer_norm(ctx, 0)?,
        "SkipLayerNormalization" | "SkipSimplifiedLayerNormalization" => {
            let mut out = same();
            let n = ctx.node.outputs().len();
            out.types.resize(n, None);
            if n > 3 {
                out.types[3] = out.types[0].clone();
            }
            out
        }
        "Gelu" | "FastGelu" | "BiasGelu" | "QuickGelu" => same(),
        _ => Out::unknown(),
    })
}

fn check_norm_axis(ctx: &Ctx) -> Result<Option<usize>, String> {
    let axis = ctx.int_attr("axis", -1)?;
    match ctx.shape(0) {
        Some(s) => normalize_axis(axis, s.len())
            .map(Some)
            .ok_or_else(|| format!("axis {axis} out of range for rank {}", s.len())),
        None => Ok(None),
    }
}

/// LayerNormalization (and ORT's SimplifiedLayerNormalization): Y like X; the saved
/// statistics (Mean, InvStdDev / inv_std_var) are X[:axis] + [1]*(rank-axis) in stash_type.
fn layer_norm(ctx: &Ctx, _first_stat: usize) -> Result<Out, String> {
    let axis = check_norm_axis(ctx)?;
    let stash = ctx.int_attr("stash_type", 1)?;
    let stash = DType::from_onnx(i32::try_from(stash).map_err(|_| "bad stash_type")?);
    let stat_shape = match (ctx.shape(0), axis) {
        (Some(s), Some(a)) => {
            let mut d = s[..a].to_vec();
            d.extend(std::iter::repeat_n(Dim::Fixed(1), s.len() - a));
            Some(d)
        }
        _ => None,
    };
    let stat = TensorType {
        elem: stash,
        shape: stat_shape,
    };
    let n = ctx.node.outputs().len().max(1);
    let mut types = vec![Some(TensorType {
        elem: ctx.dtype(0),
        shape: ctx.shape(0).map(|s| s.to_vec()),
    })];
    types.extend((1..n).map(|_| Some(stat.clone())));
    Ok(Out {
        types,
        ..Out::default()
    })
}

fn matmul(ctx: &Ctx) -> Result<Out, String> {
    let elem = ctx.dtype(0);
    let (Some(a), Some(b)) = (ctx.shape(0), ctx.shape(1)) else {
        return Ok(Out::of(elem, None));
    };
    if a.is_empty() || b.is_empty() {
        return Err("MatMul of a scalar".into());
    }
    let ka = &a[a.len() - 1];
    let kb = if b.len() == 1 { &b[0] } else { &b[b.len() - 2] };
    unify_dim(ka, kb).ok_or_else(|| format!("inner dims differ: {ka} vs {kb}"))?;
    let batch_a = if a.len() > 2 {
        &a[..a.len() - 2]
    } else {
        &[][..]
    };
    let batch_b = if b.len() > 2 {
        &b[..b.len() - 2]
    } else {
        &[][..]
    };
    let mut dims = broadcast_shapes(batch_a, batch_b)
        .ok_or_else(|| format!("batch dims cannot broadcast: {a:?} vs {b:?}"))?;
    if a.len() >= 2 {
        dims.push(a[a.len() - 2].clone());
    }
    if b.len() >= 2 {
        dims.push(b[b.len() - 1].clone());
    }
    Ok(Out::of(elem, Some(dims)))
}

fn gemm(ctx: &Ctx) -> Result<Out, String> {
    let elem = ctx.dtype(0);
    let (Some(a), Some(b)) = (ctx.shape(0), ctx.shape(1)) else {
        return Ok(Out::of(elem, Some(vec![Dim::Unknown; 2])));
    };
    let ([a0, a1], [b0, b1]) = (a, b) else {
        return Err("Gemm inputs must be 2-D".into());
    };
    let (m, ka) = if ctx.int_attr("transA", 0)? != 0 {
        (a1, a0)
    } else {
        (a0, a1)
    };
    let (kb, n) = if ctx.int_attr("transB", 0)? != 0 {
        (b1, b0)
    } else {
        (b0, b1)
    };
    unify_dim(ka, kb).ok_or_else(|| format!("inner dims differ: {ka} vs {kb}"))?;
    Ok(Out::of(elem, Some(vec![m.clone(), n.clone()])))
}

fn conv(ctx: &Ctx) -> Result<Out, String> {
    let elem = ctx.dtype(0);
    let (Some(x), Some(w)) = (ctx.shape(0), ctx.shape(1)) else {
        return Ok(Out::of(
            elem,
            ctx.shape(0).map(|s| vec![Dim::Unknown; s.len()]),
        ));
    };
    if x.len() < 3 || w.len() != x.len() {
        return Err(format!(
            "Conv input rank {} and weight rank {} do not fit",
            x.len(),
            w.len()
        ));
    }
    let sp = x.len() - 2;
    let kernel: Vec<Dim> = match ctx.ints_attr("kernel_shape")? {
        Some(k) => super::fixed(&k),
        None => w[2..].to_vec(),
    };
    let list = |name: &str, default: i64, len: usize| -> Result<Vec<i64>, String> {
        Ok(ctx.ints_attr(name)?.unwrap_or_else(|| vec![default; len]))
    };
    let strides = list("strides", 1, sp)?;
    let dil = list("dilations", 1, sp)?;
    let pads = list("pads", 0, 2 * sp)?;
    if kernel.len() != sp || strides.len() != sp || dil.len() != sp || pads.len() != 2 * sp {
        return Err("Conv attribute lengths do not match the spatial rank".into());
    }
    if strides.iter().chain(&dil).any(|&v| v <= 0) {
        return Err("Conv strides and dilations must be positive".into());
    }
    let auto_pad = match ctx.node.attr("auto_pad") {
        Some(AttrValue::String(s)) => String::from_utf8_lossy(s).into_owned(),
        _ => "NOTSET".into(),
    };
    let mut dims = vec![x[0].clone(), w[0].clone()];
    for i in 0..sp {
        let (Some(n), Some(k)) = (x[i + 2].fixed(), kernel[i].fixed()) else {
            dims.push(Dim::Unknown);
            continue;
        };
        let s = strides[i];
        let v = match auto_pad.as_str() {
            "SAME_UPPER" | "SAME_LOWER" => (n + s - 1) / s,
            "VALID" => (n - dil[i] * (k - 1) - 1) / s + 1,
            _ => {
                let eff = n + pads[i] + pads[i + sp] - dil[i] * (k - 1) - 1;
                if eff < 0 {
                    return Err(format!(
                        "kernel larger than padded input on spatial axis {i}"
                    ));
                }
                eff / s + 1
            }
        };
        dims.push(Dim::Fixed(v));
    }
    Ok(Out::of(elem, Some(dims)))
}

/// Einsum with an explicit `->` output and letter labels only (no ellipsis).
fn einsum(ctx: &Ctx) -> Result<Out, String> {
    let elem = ctx.dtype(0);
    let eq = match ctx.node.attr("equation") {
        Some(AttrValue::String(s)) => String::from_utf8_lossy(s).replace(' ', ""),
        _ => return Err("Einsum without 'equation'".into()),
    };
    let Some((lhs, rhs)) = eq.split_once("->") else {
        return Ok(Out::of(elem, None));
    };
    if eq.contains('.') {
        return Ok(Out::of(elem, None));
    }
    let mut label: std::collections::HashMap<char, Dim> = Default::default();
    for (i, term) in lhs.split(',').enumerate() {
        let Some(shape) = ctx.shape(i) else { continue };
        if term.chars().count() != shape.len() {
            return Err(format!(
                "term '{term}' does not match input {i} of rank {}",
                shape.len()
            ));
        }
        for (c, d) in term.chars().zip(shape) {
            let cur = label.entry(c).or_insert(Dim::Unknown);
            // A label may broadcast against 1; keep the larger fact only when both agree.
            *cur = match (&*cur, d) {
                (Dim::Fixed(1), x) | (x, Dim::Fixed(1)) => x.clone(),
                _ => unify_dim(cur, d)
                    .ok_or_else(|| format!("label '{c}' has sizes {cur} and {d}"))?,
            };
        }
    }
    let dims = rhs
        .chars()
        .map(|c| label.get(&c).cloned().unwrap_or(Dim::Unknown))
        .collect();
    Ok(Out::of(elem, Some(dims)))
}

fn branch_types(g: &Graph) -> Vec<Option<TensorType>> {
    g.outputs()
        .iter()
        .map(|&o| g.value(o).declared_tensor_type().cloned())
        .collect()
}

/// If: an output's type when both branches declare the same type (or the same dtype).
fn if_op(ctx: &Ctx) -> Out {
    let (Some(AttrValue::Graph(t)), Some(AttrValue::Graph(e))) =
        (ctx.node.attr("then_branch"), ctx.node.attr("else_branch"))
    else {
        return Out::unknown();
    };
    let (tt, et) = (branch_types(t), branch_types(e));
    let types = tt
        .iter()
        .zip(&et)
        .map(|(a, b)| match (a, b) {
            (Some(a), Some(b)) if a == b => Some(a.clone()),
            (Some(a), Some(b)) if a.elem == b.elem => Some(TensorType {
                elem: a.elem,
                shape: None,
            }),
            _ => None,
        })
        .collect();
    Out {
        types,
        ..Out::default()
    }
}
