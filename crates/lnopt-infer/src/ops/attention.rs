//! Attention-style ops of the newest opsets: Attention, RotaryEmbedding, LinearAttention,
//! CausalConvWithState, SwiGLU.

use super::{Ctx, Out};
use crate::dims::unify_dim;
use lnopt_ir::{DType, Dim, TensorType};

/// Rules for these ops; `Ok(None)` if `op` is not one of them.
pub(crate) fn infer(ctx: &Ctx, op: &str) -> Result<Option<Out>, String> {
    Ok(Some(match op {
        "Attention" => attention(ctx)?,
        "RotaryEmbedding" => Out::of(ctx.dtype(0), ctx.shape(0).map(|s| s.to_vec())),
        "LinearAttention" => linear_attention(ctx)?,
        "CausalConvWithState" => causal_conv(ctx)?,
        "SwiGLU" => {
            let shape = match (ctx.shape(0), ctx.shape(1)) {
                (Some(a), Some(b)) => {
                    if a.len() != b.len() {
                        return Err(format!("A has rank {} but B rank {}", a.len(), b.len()));
                    }
                    let dims = a
                        .iter()
                        .zip(b)
                        .map(|(x, y)| unify_dim(x, y))
                        .collect::<Option<Vec<_>>>()
                        .ok_or("A and B differ in shape")?;
                    Some(dims)
                }
                (Some(a), None) | (None, Some(a)) => Some(a.to_vec()),
                (None, None) => None,
            };
            Out::of(ctx.dtype(0), shape)
        }
        _ => return Ok(None),
    }))
}

/// `total / parts` when both are fixed and divide evenly.
fn per(total: &Dim, parts: Option<i64>) -> Dim {
    match (total.fixed(), parts) {
        (Some(t), Some(p)) if p > 0 && t % p == 0 => Dim::Fixed(t / p),
        _ => Dim::Unknown,
    }
}

/// Sum of two sizes (fixed only).
fn plus(a: &Dim, b: &Dim) -> Dim {
    match (a.fixed(), b.fixed()) {
        (Some(x), Some(y)) => x.checked_add(y).map_or(Dim::Unknown, Dim::Fixed),
        (Some(0), None) => b.clone(),
        (None, Some(0)) => a.clone(),
        _ => Dim::Unknown,
    }
}

fn positive_attr(ctx: &Ctx, name: &str) -> Result<Option<i64>, String> {
    Ok(ctx.node.attr_int(name)?.filter(|&v| v > 0))
}

/// Attention (opset 23+). Q/K/V are 4-D [B, heads, seq, head_size] or 3-D
/// [B, seq, heads * head_size] (with q_num_heads / kv_num_heads).
fn attention(ctx: &Ctx) -> Result<Out, String> {
    let (t1, t2) = (ctx.dtype(0), ctx.dtype(2));
    let q_heads_attr = positive_attr(ctx, "q_num_heads")?;
    let kv_heads_attr = positive_attr(ctx, "kv_num_heads")?;
    let q = ctx.shape(0);
    let k = ctx.shape(1);
    let v = ctx.shape(2);
    // Per input: (batch, heads, seq, head size).
    let split = |s: Option<&[Dim]>, heads: Option<i64>| -> Result<Option<[Dim; 4]>, String> {
        Ok(match s {
            Some([b, h, n, d]) => Some([b.clone(), h.clone(), n.clone(), d.clone()]),
            Some([b, n, hidden]) => Some([
                b.clone(),
                heads.map_or(Dim::Unknown, Dim::Fixed),
                n.clone(),
                per(hidden, heads),
            ]),
            Some(s) => {
                return Err(format!(
                    "Q, K and V must be 3-D or 4-D, found rank {}",
                    s.len()
                ))
            }
            None => None,
        })
    };
    let qs = split(q, q_heads_attr)?;
    let ks = split(k, kv_heads_attr)?;
    let vs = split(v, kv_heads_attr)?;
    let batch = qs.as_ref().map_or(Dim::Unknown, |q| q[0].clone());
    let q_heads = qs.as_ref().map_or(Dim::Unknown, |q| q[1].clone());
    let q_seq = qs.as_ref().map_or(Dim::Unknown, |q| q[2].clone());
    let kv_heads = ks
        .as_ref()
        .map(|k| k[1].clone())
        .or_else(|| vs.as_ref().map(|v| v[1].clone()))
        .unwrap_or(Dim::Unknown);
    let head = ks.as_ref().map_or(Dim::Unknown, |k| k[3].clone());
    let v_head = vs.as_ref().map_or(Dim::Unknown, |v| v[3].clone());
    let kv_seq = ks.as_ref().map_or(Dim::Unknown, |k| k[2].clone());
    let past_seq = if ctx.has(4) {
        match ctx.shape(4) {
            Some([_, _, p, _]) => p.clone(),
            Some(s) => return Err(format!("past_key must be 4-D, has rank {}", s.len())),
            None => Dim::Unknown,
        }
    } else {
        Dim::Fixed(0)
    };
    let total = plus(&past_seq, &kv_seq);
    let y = match q.map(|q| q.len()) {
        Some(4) => Some(vec![
            batch.clone(),
            q_heads.clone(),
            q_seq.clone(),
            v_head.clone(),
        ]),
        Some(_) => {
            let hidden = match (q_heads.fixed(), v_head.fixed()) {
                (Some(h), Some(d)) => h.checked_mul(d).map_or(Dim::Unknown, Dim::Fixed),
                _ => Dim::Unknown,
            };
            Some(vec![batch.clone(), q_seq.clone(), hidden])
        }
        None => None,
    };
    let ty = |elem: DType, shape: Vec<Dim>| {
        Some(TensorType {
            elem,
            shape: Some(shape),
        })
    };
    let types = vec![
        Some(TensorType { elem: t1, shape: y }),
        ty(
            t1,
            vec![batch.clone(), kv_heads.clone(), total.clone(), head],
        ),
        ty(t2, vec![batch.clone(), kv_heads, total.clone(), v_head]),
        ty(t1, vec![batch, q_heads, q_seq, total]),
    ];
    Ok(Out {
        types,
        ..Out::default()
    })
}

/// LinearAttention (opset 27): output [B, T, q_heads * d_v]; present_state
/// [B, kv_heads, d_k, d_v].
fn linear_attention(ctx: &Ctx) -> Result<Out, String> {
    let elem = ctx.dtype(0);
    let q_heads = positive_attr(ctx, "q_num_heads")?;
    let kv_heads = positive_attr(ctx, "kv_num_heads")?;
    let (b, t) = match ctx.shape(0) {
        Some([b, t, _]) => (b.clone(), t.clone()),
        Some(s) => return Err(format!("query must be 3-D, has rank {}", s.len())),
        None => (Dim::Unknown, Dim::Unknown),
    };
    let dk = match ctx.shape(1) {
        Some([_, _, h]) => per(h, kv_heads),
        _ => Dim::Unknown,
    };
    let dv = match ctx.shape(2) {
        Some([_, _, h]) => per(h, kv_heads),
        _ => Dim::Unknown,
    };
    let out_hidden = match (q_heads, dv.fixed()) {
        (Some(h), Some(d)) => h.checked_mul(d).map_or(Dim::Unknown, Dim::Fixed),
        _ => Dim::Unknown,
    };
    let state_elem = if ctx.has(3) { ctx.dtype(3) } else { elem };
    Ok(Out {
        types: vec![
            Some(TensorType {
                elem,
                shape: Some(vec![b.clone(), t, out_hidden]),
            }),
            Some(TensorType {
                elem: state_elem,
                shape: Some(vec![b, kv_heads.map_or(Dim::Unknown, Dim::Fixed), dk, dv]),
            }),
        ],
        ..Out::default()
    })
}

/// CausalConvWithState (opset 27): output like input [B, C, L]; present_state [B, C, k - 1].
fn causal_conv(ctx: &Ctx) -> Result<Out, String> {
    let elem = ctx.dtype(0);
    let x = ctx.shape(0);
    let (b, c) = match x {
        Some([b, c, _]) => (b.clone(), c.clone()),
        Some(s) => return Err(format!("input must be 3-D, has rank {}", s.len())),
        None => (Dim::Unknown, Dim::Unknown),
    };
    let keep = match ctx.shape(1) {
        Some([_, _, Dim::Fixed(k)]) if *k >= 1 => Dim::Fixed(k - 1),
        _ => Dim::Unknown,
    };
    Ok(Out {
        types: vec![
            Some(TensorType {
                elem,
                shape: x.map(|s| s.to_vec()),
            }),
            Some(TensorType {
                elem,
                shape: Some(vec![b, c, keep]),
            }),
        ],
        ..Out::default()
    })
}
