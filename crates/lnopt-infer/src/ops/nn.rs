//! Neural-network ops: MatMul, Gemm, the LayerNorm/RMSNorm family (ONNX and ORT contrib),
//! Einsum, and control flow (If/Loop/Scan from the subgraphs' declared types).

use super::{Ctx, Out};
use crate::dims::{broadcast_shapes, normalize_axis, unify_dim};
use lnopt_ir::{AttrValue, DType, Dim, Graph, TensorType};

/// Rules for nn ops in the default domain; `Ok(None)` if `op` is not one of them.
pub(crate) fn infer(ctx: &Ctx, op: &str) -> Result<Option<Out>, String> {
    Ok(Some(match op {
        "MatMul" => matmul_of(ctx, 0, 1)?,
        "Gemm" => gemm(ctx)?,
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
            // Body outputs: the condition, the carried values, then the scan outputs.
            let body = body_dtypes(ctx, "body");
            let types = (0..n)
                .map(|k| {
                    let elem = if k < n_carried {
                        ctx.dtype(k + 2)
                    } else {
                        body.get(k + 1).copied().unwrap_or(DType::Undefined)
                    };
                    Some(TensorType { elem, shape: None })
                })
                .collect();
            Out {
                types,
                ..Out::default()
            }
        }
        "Scan" => scan(ctx)?,
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

/// MatMul of inputs `sa` and `sb` (numpy rules; the output dtype is that of `sa`).
pub(crate) fn matmul_of(ctx: &Ctx, sa: usize, sb: usize) -> Result<Out, String> {
    let elem = ctx.dtype(sa);
    let (Some(a), Some(b)) = (ctx.shape(sa), ctx.shape(sb)) else {
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

/// Einsum: explicit (`->`) or implicit output, letter labels and `...` (broadcast) dims.
fn einsum(ctx: &Ctx) -> Result<Out, String> {
    let elem = ctx.dtype(0);
    let eq = ctx.str_attr("equation", "")?.replace(' ', "");
    if eq.is_empty() {
        return Err("Einsum without 'equation'".into());
    }
    let (lhs, rhs) = match eq.split_once("->") {
        Some((l, r)) => (l, Some(r)),
        None => (eq.as_str(), None),
    };
    let terms: Vec<&str> = lhs.split(',').collect();
    let mut label: std::collections::HashMap<char, Dim> = Default::default();
    let mut count: std::collections::BTreeMap<char, usize> = Default::default();
    let mut ellipsis: Option<Vec<Dim>> = Some(Vec::new());
    let mut has_ellipsis = false;
    for (i, term) in terms.iter().enumerate() {
        let (head, tail) = match term.split_once("...") {
            Some((h, t)) => {
                has_ellipsis = true;
                (h, Some(t))
            }
            None => (*term, None),
        };
        let letters: Vec<char> = head.chars().chain(tail.unwrap_or("").chars()).collect();
        if let Some(c) = letters.iter().find(|c| !c.is_ascii_alphabetic()) {
            return Err(format!("bad label '{c}' in '{eq}'"));
        }
        for &c in &letters {
            *count.entry(c).or_default() += 1;
        }
        let Some(shape) = ctx.shape(i) else {
            if tail.is_some() {
                ellipsis = None;
            }
            continue;
        };
        let n_ell = match tail {
            Some(_) => shape
                .len()
                .checked_sub(letters.len())
                .ok_or_else(|| format!("term '{term}' has more labels than input {i} has dims"))?,
            None if letters.len() == shape.len() => 0,
            None => {
                return Err(format!(
                    "term '{term}' does not match input {i} of rank {}",
                    shape.len()
                ))
            }
        };
        let h = head.chars().count();
        let labelled = shape[..h].iter().chain(&shape[h + n_ell..]);
        for (c, d) in letters.iter().zip(labelled) {
            let cur = label.entry(*c).or_insert(Dim::Unknown);
            // A label may broadcast against 1; keep the larger fact only when both agree.
            *cur = match (&*cur, d) {
                (Dim::Fixed(1), x) | (x, Dim::Fixed(1)) => x.clone(),
                _ => unify_dim(cur, d)
                    .ok_or_else(|| format!("label '{c}' has sizes {cur} and {d}"))?,
            };
        }
        if tail.is_some() {
            ellipsis = match ellipsis {
                Some(acc) => Some(
                    broadcast_shapes(&acc, &shape[h..h + n_ell])
                        .ok_or_else(|| format!("'...' dims of input {i} do not broadcast"))?,
                ),
                None => None,
            };
        }
    }
    let rhs: String = match rhs {
        Some(r) => r.to_string(),
        None => {
            let once: String = count
                .iter()
                .filter(|(_, &n)| n == 1)
                .map(|(c, _)| *c)
                .collect();
            if has_ellipsis {
                format!("...{once}")
            } else {
                once
            }
        }
    };
    let (head, tail) = match rhs.split_once("...") {
        Some((h, t)) => (h, Some(t)),
        None => (rhs.as_str(), None),
    };
    let dim_of = |c: char| -> Result<Dim, String> {
        if !count.contains_key(&c) {
            return Err(format!("output label '{c}' is not an input label"));
        }
        Ok(label.get(&c).cloned().unwrap_or(Dim::Unknown))
    };
    let mut dims = head.chars().map(dim_of).collect::<Result<Vec<_>, _>>()?;
    if let Some(t) = tail {
        let Some(e) = ellipsis else {
            return Ok(Out::of(elem, None));
        };
        dims.extend(e);
        dims.extend(t.chars().map(dim_of).collect::<Result<Vec<_>, _>>()?);
    }
    Ok(Out::of(elem, Some(dims)))
}

/// Scan (opset 9+): the final states, then the scan outputs. A final state has the type
/// its initial value and the body's declared output share (a scan of length 0 returns the
/// initial value); else only the dtype. A scan output is the body's declared per-step type
/// with the sequence length inserted at its `scan_output_axes` entry. Opset 8 (batched):
/// dtypes only.
fn scan(ctx: &Ctx) -> Result<Out, String> {
    let body: Vec<Option<TensorType>> = match ctx.node.attr("body") {
        Some(AttrValue::Graph(g)) => branch_types(g),
        _ => Vec::new(),
    };
    let n_out = ctx.n_out();
    let dtype_only = |k: usize| {
        Some(TensorType {
            elem: body
                .get(k)
                .cloned()
                .flatten()
                .map_or(DType::Undefined, |t| t.elem),
            shape: None,
        })
    };
    let n_scan_in = ctx.int_attr("num_scan_inputs", 0)?;
    let n_in = ctx.node.inputs().len();
    let n_states = usize::try_from(n_scan_in)
        .ok()
        .and_then(|k| n_in.checked_sub(k))
        .ok_or_else(|| format!("num_scan_inputs {n_scan_in} exceeds the {n_in} inputs"))?;
    if ctx.opset < 9 || n_states > n_out {
        return Ok(Out {
            types: (0..n_out).map(dtype_only).collect(),
            ..Out::default()
        });
    }
    let in_axes = ctx.ints_attr("scan_input_axes")?;
    let seq = match ctx.shape(n_states) {
        Some(x) => {
            let a = in_axes
                .as_ref()
                .and_then(|v| v.first().copied())
                .unwrap_or(0);
            normalize_axis(a, x.len()).map_or(Dim::Unknown, |a| x[a].clone())
        }
        None => Dim::Unknown,
    };
    let out_axes = ctx.ints_attr("scan_output_axes")?;
    let types = (0..n_out)
        .map(|k| {
            let declared = body.get(k).cloned().flatten();
            if k < n_states {
                return match (declared, ctx.ty(k)) {
                    (Some(b), Some(init)) if b == *init => Some(b),
                    _ => dtype_only(k),
                };
            }
            let Some(step) = declared else {
                return dtype_only(k);
            };
            let shape = step.shape.and_then(|mut s| {
                let j = k - n_states;
                let a = out_axes
                    .as_ref()
                    .and_then(|v| v.get(j).copied())
                    .unwrap_or(0);
                let a = normalize_axis(a, s.len() + 1)?;
                s.insert(a, seq.clone());
                Some(s)
            });
            Some(TensorType {
                elem: step.elem,
                shape,
            })
        })
        .collect();
    Ok(Out {
        types,
        ..Out::default()
    })
}

/// The declared dtypes of the outputs of subgraph attribute `name`.
fn body_dtypes(ctx: &Ctx, name: &str) -> Vec<DType> {
    match ctx.node.attr(name) {
        Some(AttrValue::Graph(g)) => branch_types(g)
            .into_iter()
            .map(|t| t.map_or(DType::Undefined, |t| t.elem))
            .collect(),
        _ => Vec::new(),
    }
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
