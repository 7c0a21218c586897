//! Ops driven by index tensors or by data-dependent selections: GatherND, the Scatter
//! family, OneHot, TopK, NonZero, Compress, Unique, NonMaxSuppression.

use super::{Ctx, Out};
use crate::dims::{fixed_product, normalize_axis};
use crate::fold;
use lnopt_ir::{DType, Dim, TensorType};

/// Rules for index ops; `Ok(None)` if `op` is not one of them.
pub(crate) fn infer(ctx: &Ctx, op: &str) -> Result<Option<Out>, String> {
    Ok(Some(match op {
        "GatherND" => gather_nd(ctx)?,
        "ScatterND" | "ScatterElements" | "Scatter" | "TensorScatter" => {
            Out::of(ctx.dtype(0), ctx.shape(0).map(|s| s.to_vec()))
        }
        "OneHot" => one_hot(ctx)?,
        "TopK" => top_k(ctx)?,
        "NonZero" => match ctx.rank(0) {
            Some(r) => Out::of(
                DType::I64,
                Some(vec![Dim::Fixed(r as i64), ctx.fresh(0, 1)]),
            ),
            None => Out::of(DType::I64, Some(vec![Dim::Unknown, ctx.fresh(0, 1)])),
        },
        "Compress" => compress(ctx)?,
        "Unique" => unique(ctx)?,
        "NonMaxSuppression" => Out::of(DType::I64, Some(vec![ctx.fresh(0, 0), Dim::Fixed(3)])),
        _ => return Ok(None),
    }))
}

fn gather_nd(ctx: &Ctx) -> Result<Out, String> {
    let elem = ctx.dtype(0);
    let (Some(data), Some(idx)) = (ctx.shape(0), ctx.shape(1)) else {
        return Ok(Out::of(elem, None));
    };
    let b = usize::try_from(ctx.int_attr("batch_dims", 0)?).map_err(|_| "negative batch_dims")?;
    let Some(last) = idx.last() else {
        return Err("indices must have rank >= 1".into());
    };
    let Some(k) = last.fixed() else {
        return Ok(Out::of(elem, None));
    };
    let k = usize::try_from(k).map_err(|_| "negative index depth")?;
    if b >= idx.len() || b + k > data.len() {
        return Err(format!(
            "batch_dims {b} and index depth {k} do not fit data rank {} and indices rank {}",
            data.len(),
            idx.len()
        ));
    }
    let mut dims = idx[..idx.len() - 1].to_vec();
    dims.extend_from_slice(&data[b + k..]);
    Ok(Out::of(elem, Some(dims)))
}

/// The one integer held by a constant scalar or one-element input (integral floats too).
fn one_int(ctx: &Ctx, slot: usize) -> Option<i64> {
    let t = ctx.konst(slot)?;
    if t.dtype.is_float() {
        let v = fold::scalar_f64(t)?;
        return (v.fract() == 0.0 && v.abs() < 9.0e15).then_some(v as i64);
    }
    fold::scalar_int(t)
}

/// The size given by a scalar input: a constant, a symbolic element, or a fresh dim.
fn size_input(ctx: &Ctx, slot: usize, out_slot: usize, axis: usize) -> Dim {
    if let Some(v) = one_int(ctx, slot) {
        return Dim::Fixed(v);
    }
    match ctx.elems(slot) {
        Some([d]) if *d != Dim::Unknown => d.clone(),
        _ => ctx.fresh(out_slot, axis),
    }
}

fn one_hot(ctx: &Ctx) -> Result<Out, String> {
    let elem = ctx.dtype(2);
    let Some(idx) = ctx.shape(0) else {
        return Ok(Out::of(elem, None));
    };
    let rank = idx.len() + 1;
    let axis_attr = ctx.int_attr("axis", -1)?;
    let axis = normalize_axis(axis_attr, rank)
        .ok_or_else(|| format!("axis {axis_attr} out of range for output rank {rank}"))?;
    let depth = size_input(ctx, 1, 0, axis);
    if let Dim::Fixed(d) = depth {
        if d < 1 {
            return Err(format!("depth {d} must be positive"));
        }
    }
    let mut dims = idx.to_vec();
    dims.insert(axis, depth);
    Ok(Out::of(elem, Some(dims)))
}

fn top_k(ctx: &Ctx) -> Result<Out, String> {
    let elem = ctx.dtype(0);
    let two = |shape: Option<Vec<Dim>>| Out {
        types: vec![
            Some(TensorType {
                elem,
                shape: shape.clone(),
            }),
            Some(TensorType {
                elem: DType::I64,
                shape,
            }),
        ],
        ..Out::default()
    };
    let Some(x) = ctx.shape(0) else {
        return Ok(two(None));
    };
    let axis_attr = ctx.int_attr("axis", -1)?;
    let axis = normalize_axis(axis_attr, x.len())
        .ok_or_else(|| format!("axis {axis_attr} out of range for rank {}", x.len()))?;
    let k = if ctx.opset < 10 {
        Dim::Fixed(ctx.node.attr_int("k")?.ok_or("attribute 'k' is required")?)
    } else {
        size_input(ctx, 1, 0, axis)
    };
    if let (Dim::Fixed(k), Some(n)) = (&k, x[axis].fixed()) {
        if *k < 0 || *k > n {
            return Err(format!("k {k} out of range for an axis of size {n}"));
        }
    }
    let mut dims = x.to_vec();
    dims[axis] = k;
    Ok(two(Some(dims)))
}

fn compress(ctx: &Ctx) -> Result<Out, String> {
    let elem = ctx.dtype(0);
    let Some(axis_attr) = ctx.node.attr_int("axis")? else {
        return Ok(Out::of(elem, Some(vec![ctx.fresh(0, 0)])));
    };
    let Some(x) = ctx.shape(0) else {
        return Ok(Out::of(elem, None));
    };
    let axis = normalize_axis(axis_attr, x.len())
        .ok_or_else(|| format!("axis {axis_attr} out of range for rank {}", x.len()))?;
    let mut dims = x.to_vec();
    dims[axis] = ctx.fresh(0, axis);
    Ok(Out::of(elem, Some(dims)))
}

fn unique(ctx: &Ctx) -> Result<Out, String> {
    let elem = ctx.dtype(0);
    let x = ctx.shape(0);
    let axis = match ctx.node.attr_int("axis")? {
        None => None,
        Some(a) => match x {
            Some(x) => Some(
                normalize_axis(a, x.len())
                    .ok_or_else(|| format!("axis {a} out of range for rank {}", x.len()))?,
            ),
            None => {
                return Ok(Out {
                    types: vec![Some(TensorType { elem, shape: None })],
                    ..Out::default()
                })
            }
        },
    };
    // One fresh size, the number of unique elements (or slices), shared by Y, indices and
    // counts.
    let u = ctx.fresh(0, axis.unwrap_or(0));
    let (y, inverse) = match (axis, x) {
        (None, x) => (
            vec![u.clone()],
            x.map(|x| match x {
                [d] => d.clone(),
                _ => fixed_product(x).map_or(Dim::Unknown, Dim::Fixed),
            }),
        ),
        (Some(a), x) => {
            let mut y = x.map(|x| x.to_vec()).unwrap_or_default();
            let inverse = y.get(a).cloned();
            if let Some(d) = y.get_mut(a) {
                *d = u.clone();
            }
            (y, inverse)
        }
    };
    let i64_of = |d: Option<Dim>| {
        Some(TensorType {
            elem: DType::I64,
            shape: d.map(|d| vec![d]),
        })
    };
    Ok(Out {
        types: vec![
            Some(TensorType {
                elem,
                shape: Some(y),
            }),
            i64_of(Some(u.clone())),
            i64_of(inverse),
            i64_of(Some(u)),
        ],
        ..Out::default()
    })
}
