//! Ops that make or reinterpret shapes: Constant, Shape, Size, ConstantOfShape, Range,
//! Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Expand, Tile.

use super::{fixed, tensor_attr, Ctx, Given, Out};
use crate::dims::{broadcast_shapes, fixed_product, normalize_axes, normalize_axis};
use crate::fold::{self, MAX_FOLD};
use lnopt_ir::{AttrValue, DType, Dim, Tensor, TensorData, TensorType};

/// Rules for shape ops; `Ok(None)` if `op` is not one of them.
pub(crate) fn infer(ctx: &Ctx, op: &str) -> Result<Option<Out>, String> {
    Ok(Some(match op {
        "Constant" => constant(ctx)?,
        "Shape" => shape_of(ctx)?,
        "Size" => size(ctx),
        "ConstantOfShape" => constant_of_shape(ctx)?,
        "Range" => range(ctx)?,
        "Reshape" => reshape(ctx)?,
        "Flatten" => flatten(ctx)?,
        "Squeeze" => squeeze(ctx)?,
        "Unsqueeze" => unsqueeze(ctx)?,
        "Transpose" => transpose(ctx)?,
        "Expand" => expand(ctx)?,
        "Tile" => tile(ctx)?,
        _ => return Ok(None),
    }))
}

fn constant(ctx: &Ctx) -> Result<Out, String> {
    let node = ctx.node;
    if let Some(t) = tensor_attr(node, "value")? {
        if t.data == TensorData::Strings(Vec::new()) || t.dtype.size_of().is_none() {
            return Ok(Out::one(TensorType::fixed(t.dtype, &t.dims)));
        }
        return Ok(Out::constant(t.clone()));
    }
    let scalar = |t: Option<Tensor>| -> Result<Out, String> {
        t.map(Out::constant)
            .ok_or_else(|| "Constant value does not fit its dtype".to_string())
    };
    let len = |n: usize| i64::try_from(n).map_err(|_| "Constant too large".to_string());
    match node.attributes.first().map(|a| (a.name.as_str(), &a.value)) {
        Some(("value_float", AttrValue::Float(v))) => {
            scalar(fold::from_floats(DType::F32, vec![], &[*v as f64]))
        }
        Some(("value_floats", AttrValue::Floats(v))) => {
            let vals: Vec<f64> = v.iter().map(|&x| x as f64).collect();
            if vals.len() > MAX_FOLD {
                return Ok(Out::one(TensorType::fixed(DType::F32, &[len(v.len())?])));
            }
            scalar(fold::from_floats(DType::F32, vec![len(v.len())?], &vals))
        }
        Some(("value_int", AttrValue::Int(v))) => {
            scalar(fold::from_ints(DType::I64, vec![], &[*v]))
        }
        Some(("value_ints", AttrValue::Ints(v))) => {
            if v.len() > MAX_FOLD {
                return Ok(Out::one(TensorType::fixed(DType::I64, &[len(v.len())?])));
            }
            scalar(fold::from_ints(DType::I64, vec![len(v.len())?], v))
        }
        Some(("value_string", AttrValue::String(_))) => {
            Ok(Out::one(TensorType::fixed(DType::String, &[])))
        }
        Some(("value_strings", AttrValue::Strings(v))) => {
            Ok(Out::one(TensorType::fixed(DType::String, &[len(v.len())?])))
        }
        _ => Ok(Out::unknown()),
    }
}

/// Clamps Shape's start/end the way the spec does.
fn clamp_index(v: i64, rank: i64) -> i64 {
    let v = if v < 0 { v.saturating_add(rank) } else { v };
    v.clamp(0, rank)
}

fn shape_of(ctx: &Ctx) -> Result<Out, String> {
    let Some(shape) = ctx.shape(0) else {
        return Ok(Out::of(DType::I64, Some(vec![Dim::Unknown])));
    };
    let rank = i64::try_from(shape.len()).map_err(|_| "rank too large")?;
    let (mut start, mut end) = (0, rank);
    if ctx.opset >= 15 {
        start = clamp_index(ctx.int_attr("start", 0)?, rank);
        end = clamp_index(ctx.int_attr("end", rank)?, rank);
    }
    let dims: Vec<Dim> = if start < end {
        shape[start as usize..end as usize].to_vec()
    } else {
        Vec::new()
    };
    let n = dims.len() as i64;
    let out = Out::of(DType::I64, Some(vec![Dim::Fixed(n)]));
    let values: Option<Vec<i64>> = dims.iter().map(Dim::fixed).collect();
    let folded = values.and_then(|v| fold::from_ints(DType::I64, vec![n], &v));
    Ok(out.with_const(folded).with_elems(Some(dims)))
}

fn size(ctx: &Ctx) -> Out {
    let out = Out::of(DType::I64, Some(Vec::new()));
    let n = ctx.shape(0).and_then(fixed_product);
    out.with_const(n.and_then(|n| fold::from_ints(DType::I64, vec![], &[n])))
}

/// Dims given by a 1-D shape input (ConstantOfShape, Expand, Tile's repeats, Reshape).
/// `Ok(None)` when not even the length is known.
fn shape_input(ctx: &Ctx, slot: usize) -> Result<Option<Vec<Dim>>, String> {
    if let Some(e) = ctx.elems(slot) {
        for d in e {
            if let Dim::Fixed(v) = d {
                if *v < -1 {
                    return Err(format!("shape input holds the negative value {v}"));
                }
            }
        }
        return Ok(Some(e.to_vec()));
    }
    match ctx.shape(slot) {
        Some([Dim::Fixed(n)]) if *n >= 0 && *n <= 64 => Ok(Some(vec![Dim::Unknown; *n as usize])),
        _ => Ok(None),
    }
}

fn constant_of_shape(ctx: &Ctx) -> Result<Out, String> {
    let value = tensor_attr(ctx.node, "value")?;
    let elem = value.map_or(DType::F32, |t| t.dtype);
    if let Some(t) = value {
        if t.numel() != Some(1) {
            return Err(format!(
                "'value' must have one element, has dims {:?}",
                t.dims
            ));
        }
    }
    let Some(dims) = shape_input(ctx, 0)? else {
        return Ok(Out::of(elem, None));
    };
    if dims.iter().any(|d| matches!(d, Dim::Fixed(v) if *v < 0)) {
        return Err(format!("negative dim in shape {dims:?}"));
    }
    let elems = match (dims.as_slice(), value.and_then(fold::scalar_int)) {
        ([Dim::Fixed(n)], Some(v)) if *n <= 64 => Some(vec![Dim::Fixed(v); *n as usize]),
        _ => None,
    };
    let out = Out::of(elem, Some(dims.clone())).with_elems(elems);
    let folded = dims
        .iter()
        .map(Dim::fixed)
        .collect::<Option<Vec<i64>>>()
        .and_then(|d| {
            let n = lnopt_ir::numel(&d)?;
            if n > MAX_FOLD {
                return None;
            }
            match value {
                Some(t) => fold::pick(t, d, &vec![0; n]),
                None => fold::from_floats(DType::F32, d, &vec![0.0; n]),
            }
        });
    Ok(out.with_const(folded))
}

fn range(ctx: &Ctx) -> Result<Out, String> {
    let elem = ctx.dtype(0);
    let unknown_len = Out::of(elem, Some(vec![Dim::Unknown]));
    let (Some(s), Some(d)) = (ctx.konst(0), ctx.konst(2)) else {
        return Ok(unknown_len);
    };
    if elem.is_int() {
        let (Some(start), Some(delta)) = (fold::scalar_int(s), fold::scalar_int(d)) else {
            return Ok(unknown_len);
        };
        if delta == 0 {
            return Err("Range with delta 0".into());
        }
        let Some(limit) = ctx.konst(1).and_then(fold::scalar_int) else {
            // Range(0, n, 1) has n elements even when n is symbolic.
            return Ok(match ctx.elems(1) {
                Some([d]) if start == 0 && delta == 1 => Out::of(elem, Some(vec![d.clone()])),
                _ => unknown_len,
            });
        };
        let span = i128::from(limit) - i128::from(start);
        let step = i128::from(delta);
        let n = ((span + step - step.signum()) / step).max(0);
        let n = i64::try_from(n).map_err(|_| "Range too long")?;
        let out = Out::of(elem, Some(vec![Dim::Fixed(n)]));
        let folded = if (n as usize) <= MAX_FOLD {
            let vals: Vec<i64> = (0..n).map(|i| start + i * delta).collect();
            fold::from_ints(elem, vec![n], &vals)
        } else {
            None
        };
        return Ok(out.with_const(folded));
    }
    let (Some(start), Some(limit), Some(delta)) = (
        fold::scalar_f64(s),
        ctx.konst(1).and_then(fold::scalar_f64),
        fold::scalar_f64(d),
    ) else {
        return Ok(unknown_len);
    };
    if delta == 0.0 {
        return Err("Range with delta 0".into());
    }
    let n = ((limit - start) / delta).ceil().max(0.0);
    if !n.is_finite() || n > 1e15 {
        return Ok(unknown_len);
    }
    Ok(Out::of(elem, Some(vec![Dim::Fixed(n as i64)])))
}

/// Solves the `-1` of a Reshape: the size that makes `output` hold as many elements as
/// `input`, cancelling equal symbols. `None` when it cannot be proven.
fn solve_minus_one(input: &[Dim], others: &[Dim]) -> Option<Dim> {
    let mut in_syms: Vec<&str> = Vec::new();
    let mut in_prod = 1i64;
    for d in input {
        match d {
            Dim::Fixed(v) => in_prod = in_prod.checked_mul(*v)?,
            Dim::Symbol(s) => in_syms.push(s),
            Dim::Unknown => return None,
        }
    }
    let mut out_prod = 1i64;
    for d in others {
        match d {
            Dim::Fixed(v) => out_prod = out_prod.checked_mul(*v)?,
            Dim::Symbol(s) => {
                let pos = in_syms.iter().position(|x| x == s)?;
                in_syms.remove(pos);
            }
            Dim::Unknown => return None,
        }
    }
    if out_prod <= 0 || in_prod < 0 {
        return None;
    }
    match in_syms.as_slice() {
        [] if in_prod % out_prod == 0 => Some(Dim::Fixed(in_prod / out_prod)),
        [] => None,
        [s] if in_prod == out_prod => Some(Dim::Symbol(s.to_string())),
        _ => None,
    }
}

fn reshape(ctx: &Ctx) -> Result<Out, String> {
    let elem = ctx.dtype(0);
    let allowzero = ctx.opset >= 14 && ctx.int_attr("allowzero", 0)? != 0;
    let target = if ctx.opset < 5 {
        ctx.ints_attr("shape")?.map(|v| fixed(&v))
    } else {
        shape_input(ctx, 1)?
    };
    let Some(target) = target else {
        return Ok(Out::of(elem, None));
    };
    let input = ctx.shape(0);
    let mut out = Vec::with_capacity(target.len());
    let mut minus_one = None;
    let mut any_unknown = false;
    for (i, t) in target.iter().enumerate() {
        out.push(match t {
            Dim::Fixed(0) if !allowzero => match input {
                Some(s) => s.get(i).cloned().ok_or_else(|| {
                    format!("target dim {i} is 0 (copy) but input rank is {}", s.len())
                })?,
                None => Dim::Unknown,
            },
            Dim::Fixed(-1) => {
                if minus_one.replace(i).is_some() {
                    return Err(format!("target {target:?} has more than one -1"));
                }
                Dim::Unknown
            }
            Dim::Unknown => {
                any_unknown = true;
                Dim::Unknown
            }
            other => other.clone(),
        });
    }
    if let (Some(k), Some(inp), false) = (minus_one, input, any_unknown) {
        let mut others = out.clone();
        others.remove(k);
        if let Some(d) = solve_minus_one(inp, &others) {
            out[k] = d;
        }
    }
    if let (Some(a), Some(b)) = (input.and_then(fixed_product), fixed_product(&out)) {
        if a != b {
            return Err(format!("cannot reshape {} elements into {out:?}", a));
        }
    }
    Ok(reshaped(ctx, elem, out))
}

/// Output of a pure reshape (Reshape, Flatten, Squeeze, Unsqueeze): the type, plus the
/// folded constant and symbolic elements of the input carried over.
fn reshaped(ctx: &Ctx, elem: DType, dims: Vec<Dim>) -> Out {
    let folded = match (ctx.konst(0), fixed_product(&dims)) {
        (Some(t), Some(_)) => dims
            .iter()
            .map(Dim::fixed)
            .collect::<Option<Vec<i64>>>()
            .and_then(|d| {
                let mut t = t.clone();
                if lnopt_ir::numel(&d)? > MAX_FOLD || t.numel()? != lnopt_ir::numel(&d)? {
                    return None;
                }
                t.dims = d;
                t.name = String::new();
                Some(t)
            }),
        _ => None,
    };
    let elems = if dims.len() <= 1 {
        ctx.elems(0).map(|e| e.to_vec())
    } else {
        None
    };
    Out::of(elem, Some(dims))
        .with_const(folded)
        .with_elems(elems)
}

/// Product of a run of dims: fixed if all are fixed, the dim itself if there is one.
fn product_dim(dims: &[Dim]) -> Dim {
    match dims {
        [] => Dim::Fixed(1),
        [d] => d.clone(),
        _ => fixed_product(dims).map_or(Dim::Unknown, Dim::Fixed),
    }
}

fn flatten(ctx: &Ctx) -> Result<Out, String> {
    let elem = ctx.dtype(0);
    let Some(shape) = ctx.shape(0) else {
        return Ok(Out::of(elem, Some(vec![Dim::Unknown, Dim::Unknown])));
    };
    let axis = ctx.int_attr("axis", 1)?;
    let r = shape.len() as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if !(0..=r).contains(&a) {
        return Err(format!("axis {axis} out of range for rank {r}"));
    }
    let (head, tail) = shape.split_at(a as usize);
    Ok(reshaped(
        ctx,
        elem,
        vec![product_dim(head), product_dim(tail)],
    ))
}

fn squeeze(ctx: &Ctx) -> Result<Out, String> {
    let elem = ctx.dtype(0);
    let axes = ctx.ints_attr_or_input("axes", 1, 13)?;
    let Some(shape) = ctx.shape(0) else {
        return Ok(Out::of(elem, None));
    };
    let out = match axes {
        Given::Unknown => return Ok(Out::of(elem, None)),
        Given::Absent => {
            if shape.iter().any(|d| d.fixed().is_none()) {
                return Ok(Out::of(elem, None));
            }
            shape
                .iter()
                .filter(|d| **d != Dim::Fixed(1))
                .cloned()
                .collect()
        }
        Given::Known(axes) => {
            let axes = normalize_axes(&axes, shape.len())
                .ok_or_else(|| format!("bad axes {axes:?} for rank {}", shape.len()))?;
            for &a in &axes {
                if let Dim::Fixed(v) = shape[a] {
                    if v != 1 {
                        return Err(format!("cannot squeeze axis {a} of size {v}"));
                    }
                }
            }
            shape
                .iter()
                .enumerate()
                .filter(|(i, _)| !axes.contains(i))
                .map(|(_, d)| d.clone())
                .collect()
        }
    };
    Ok(reshaped(ctx, elem, out))
}

fn unsqueeze(ctx: &Ctx) -> Result<Out, String> {
    let elem = ctx.dtype(0);
    let axes = match ctx.ints_attr_or_input("axes", 1, 13)? {
        Given::Known(a) => a,
        Given::Absent => return Err("Unsqueeze without axes".into()),
        Given::Unknown => {
            // Axes are unique, so the rank grows by their number even when they are unknown.
            let shape = match (ctx.shape(0), ctx.shape(1)) {
                (Some(x), Some([Dim::Fixed(k)])) if (0..=64).contains(k) => {
                    Some(vec![Dim::Unknown; x.len() + *k as usize])
                }
                _ => None,
            };
            return Ok(Out::of(elem, shape));
        }
    };
    let Some(shape) = ctx.shape(0) else {
        return Ok(Out::of(elem, None));
    };
    let rank = shape.len() + axes.len();
    let axes = normalize_axes(&axes, rank)
        .ok_or_else(|| format!("bad axes {axes:?} for output rank {rank}"))?;
    let mut rest = shape.iter();
    let out = (0..rank)
        .map(|i| {
            if axes.contains(&i) {
                Some(Dim::Fixed(1))
            } else {
                rest.next().cloned()
            }
        })
        .collect::<Option<Vec<Dim>>>()
        .ok_or("axes do not fit the input rank")?;
    Ok(reshaped(ctx, elem, out))
}

fn transpose(ctx: &Ctx) -> Result<Out, String> {
    let elem = ctx.dtype(0);
    let Some(shape) = ctx.shape(0) else {
        return Ok(Out::of(elem, None));
    };
    let perm: Vec<usize> = match ctx.ints_attr("perm")? {
        None => (0..shape.len()).rev().collect(),
        Some(p) => {
            let n = normalize_axes(&p, shape.len());
            if p.len() != shape.len() || n.is_none() {
                return Err(format!(
                    "perm {p:?} is not a permutation of rank {}",
                    shape.len()
                ));
            }
            p.iter()
                .map(|&a| normalize_axis(a, shape.len()))
                .collect::<Option<Vec<usize>>>()
                .ok_or("bad perm")?
        }
    };
    let dims = perm.iter().map(|&a| shape[a].clone()).collect();
    let folded = match ctx.konst(0) {
        Some(t) if shape.len() <= 1 => Some(t.clone()),
        _ => None,
    };
    Ok(Out::of(elem, Some(dims)).with_const(folded))
}

fn expand(ctx: &Ctx) -> Result<Out, String> {
    let elem = ctx.dtype(0);
    let (Some(shape), Some(target)) = (ctx.shape(0), shape_input(ctx, 1)?) else {
        return Ok(Out::of(elem, None));
    };
    if target.iter().any(|d| matches!(d, Dim::Fixed(v) if *v < 0)) {
        return Err(format!("negative dim in Expand target {target:?}"));
    }
    let dims = broadcast_shapes(shape, &target)
        .ok_or_else(|| format!("cannot expand {shape:?} to {target:?}"))?;
    let folded = match ctx.konst(0) {
        Some(t) => dims
            .iter()
            .map(Dim::fixed)
            .collect::<Option<Vec<i64>>>()
            .and_then(|d| fold::pick(t, d.clone(), &fold::broadcast_map(&t.dims, &d)?)),
        None => None,
    };
    Ok(Out::of(elem, Some(dims)).with_const(folded))
}

fn tile(ctx: &Ctx) -> Result<Out, String> {
    let elem = ctx.dtype(0);
    let Some(shape) = ctx.shape(0) else {
        return Ok(Out::of(elem, None));
    };
    let Some(reps) = ctx.ints(1) else {
        return Ok(Out::of(elem, Some(vec![Dim::Unknown; shape.len()])));
    };
    if reps.len() != shape.len() || reps.iter().any(|&r| r < 0) {
        return Err(format!("repeats {reps:?} do not fit rank {}", shape.len()));
    }
    let dims = shape
        .iter()
        .zip(&reps)
        .map(|(d, &r)| match (d, r) {
            (_, 1) => d.clone(),
            (Dim::Fixed(v), r) => v.checked_mul(r).map_or(Dim::Unknown, Dim::Fixed),
            _ => Dim::Unknown,
        })
        .collect();
    Ok(Out::of(elem, Some(dims)))
}
