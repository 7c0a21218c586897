//! Image-shaped ops: Resize, Upsample, DepthToSpace, SpaceToDepth, GridSample, AffineGrid,
//! CenterCropPad, ImageDecoder.

use super::{Ctx, Out};
use crate::dims::{normalize_axes, normalize_axis};
use crate::fold;
use lnopt_ir::{DType, Dim};

/// Rules for image ops; `Ok(None)` if `op` is not one of them.
pub(crate) fn infer(ctx: &Ctx, op: &str) -> Result<Option<Out>, String> {
    Ok(Some(match op {
        "Resize" => resize(ctx)?,
        "Upsample" => upsample(ctx)?,
        "DepthToSpace" => block_move(ctx, true)?,
        "SpaceToDepth" => block_move(ctx, false)?,
        "GridSample" => grid_sample(ctx)?,
        "AffineGrid" => affine_grid(ctx)?,
        "CenterCropPad" => center_crop_pad(ctx)?,
        "ImageDecoder" => {
            let c = match ctx.str_attr("pixel_format", "RGB")?.as_str() {
                "Grayscale" => 1,
                _ => 3,
            };
            Out::of(
                DType::U8,
                Some(vec![ctx.fresh(0, 0), ctx.fresh(0, 1), Dim::Fixed(c)]),
            )
        }
        _ => return Ok(None),
    }))
}

/// `floor(n * scale)` when computing it in f32 (as runtimes do) and in f64 agree.
fn scaled(n: i64, scale: f64) -> Option<i64> {
    if !(scale.is_finite() && scale > 0.0) {
        return None;
    }
    let wide = (n as f64 * scale).floor();
    let narrow = ((n as f32) * (scale as f32)).floor() as f64;
    (wide == narrow && (0.0..9.0e15).contains(&wide)).then_some(wide as i64)
}

/// Output dim for input dim `d` scaled by `scale`.
fn scale_dim(d: &Dim, scale: f64) -> Dim {
    match d {
        _ if scale == 1.0 => d.clone(),
        Dim::Fixed(n) => scaled(*n, scale).map_or(Dim::Unknown, Dim::Fixed),
        _ => Dim::Unknown,
    }
}

/// A float vector input that is present and not an empty placeholder.
fn given(ctx: &Ctx, slot: usize) -> bool {
    ctx.has(slot)
        && !matches!(ctx.shape(slot), Some([Dim::Fixed(0)]))
        && ctx.konst(slot).is_none_or(|t| t.numel() != Some(0))
}

fn resize(ctx: &Ctx) -> Result<Out, String> {
    let elem = ctx.dtype(0);
    let (scales_slot, sizes_slot) = if ctx.opset < 11 {
        (1, usize::MAX)
    } else {
        (2, 3)
    };
    let x = ctx.shape(0);
    let axes: Option<Vec<i64>> = if ctx.opset >= 18 {
        ctx.ints_attr("axes")?
    } else {
        None
    };
    let rank = x.map(|s| s.len());
    let Some(rank) = rank else {
        return Ok(Out::of(elem, None));
    };
    let axes: Vec<usize> = match &axes {
        Some(a) => {
            normalize_axes(a, rank).ok_or_else(|| format!("bad axes {a:?} for rank {rank}"))?;
            a.iter()
                .map(|&v| normalize_axis(v, rank))
                .collect::<Option<_>>()
                .ok_or("bad axes")?
        }
        None => (0..rank).collect(),
    };
    let x = x.unwrap_or_default();
    let mut dims = x.to_vec();
    if sizes_slot != usize::MAX && given(ctx, sizes_slot) {
        let policy = ctx.str_attr("keep_aspect_ratio_policy", "stretch")?;
        let sizes = ctx.elems(sizes_slot);
        if let Some(s) = sizes {
            if s.len() != axes.len() {
                return Err(format!("{} sizes for {} axes", s.len(), axes.len()));
            }
        }
        for (k, &a) in axes.iter().enumerate() {
            dims[a] = match (sizes, policy.as_str()) {
                (Some(s), "stretch") if s[k] != Dim::Unknown => s[k].clone(),
                // Sizes computed at run time.
                (_, "stretch") => ctx.fresh(0, a),
                // Sizes reduced to keep the aspect ratio: rounding not reproduced here.
                _ => Dim::Unknown,
            };
        }
        return Ok(Out::of(elem, Some(dims)));
    }
    let scales: Option<Vec<f64>> = if given(ctx, scales_slot) {
        match ctx.konst(scales_slot).and_then(fold::floats) {
            Some(v) => Some(v),
            None => {
                for &a in &axes {
                    dims[a] = ctx.fresh(0, a);
                }
                return Ok(Out::of(elem, Some(dims)));
            }
        }
    } else {
        return Err("Resize needs scales or sizes".into());
    };
    let scales = scales.unwrap_or_default();
    if scales.len() != axes.len() {
        return Err(format!("{} scales for {} axes", scales.len(), axes.len()));
    }
    let crop =
        ctx.str_attr("coordinate_transformation_mode", "half_pixel")? == "tf_crop_and_resize";
    for (k, &a) in axes.iter().enumerate() {
        dims[a] = if crop {
            Dim::Unknown
        } else {
            scale_dim(&x[a], scales[k])
        };
    }
    Ok(Out::of(elem, Some(dims)))
}

fn upsample(ctx: &Ctx) -> Result<Out, String> {
    let elem = ctx.dtype(0);
    let Some(x) = ctx.shape(0) else {
        return Ok(Out::of(elem, None));
    };
    let scales: Option<Vec<f64>> = if ctx.opset >= 9 {
        ctx.konst(1).and_then(fold::floats)
    } else {
        ctx.floats_attr("scales")?
            .map(|v| v.iter().map(|&f| f as f64).collect())
    };
    let Some(scales) = scales else {
        let dims = (0..x.len()).map(|a| ctx.fresh(0, a)).collect();
        return Ok(Out::of(elem, Some(dims)));
    };
    if scales.len() != x.len() {
        return Err(format!("{} scales for rank {}", scales.len(), x.len()));
    }
    let dims = x
        .iter()
        .zip(&scales)
        .map(|(d, &s)| scale_dim(d, s))
        .collect();
    Ok(Out::of(elem, Some(dims)))
}

/// DepthToSpace (`to_space`) and SpaceToDepth on N x C x H x W.
fn block_move(ctx: &Ctx, to_space: bool) -> Result<Out, String> {
    let elem = ctx.dtype(0);
    let b = ctx
        .node
        .attr_int("blocksize")?
        .ok_or("attribute 'blocksize' is required")?;
    if b <= 0 {
        return Err(format!("blocksize {b} must be positive"));
    }
    let Some(x) = ctx.shape(0) else {
        return Ok(Out::of(elem, Some(vec![Dim::Unknown; 4])));
    };
    let [n, c, h, w] = x else {
        return Err(format!("input must be 4-D, has rank {}", x.len()));
    };
    let bb = b * b;
    let mul = |d: &Dim, f: i64| match d.fixed() {
        Some(v) => v.checked_mul(f).map_or(Dim::Unknown, Dim::Fixed),
        None if f == 1 => d.clone(),
        None => Dim::Unknown,
    };
    let div = |d: &Dim, f: i64| -> Result<Dim, String> {
        Ok(match d.fixed() {
            Some(v) if v % f == 0 => Dim::Fixed(v / f),
            Some(v) => return Err(format!("dim {v} is not a multiple of {f}")),
            None if f == 1 => d.clone(),
            None => Dim::Unknown,
        })
    };
    let dims = if to_space {
        vec![n.clone(), div(c, bb)?, mul(h, b), mul(w, b)]
    } else {
        vec![n.clone(), mul(c, bb), div(h, b)?, div(w, b)?]
    };
    Ok(Out::of(elem, Some(dims)))
}

fn grid_sample(ctx: &Ctx) -> Result<Out, String> {
    let elem = ctx.dtype(0);
    let (x, grid) = (ctx.shape(0), ctx.shape(1));
    let rank = x.map(|s| s.len()).or(grid.map(|g| g.len()));
    let Some(rank) = rank else {
        return Ok(Out::of(elem, None));
    };
    if rank < 3 {
        return Err(format!("input must have rank >= 3, has {rank}"));
    }
    let n = x.map(|s| s[0].clone()).or(grid.map(|g| g[0].clone()));
    let c = x.map_or(Dim::Unknown, |s| s[1].clone());
    let mut dims = vec![n.unwrap_or(Dim::Unknown), c];
    match grid {
        Some(g) if g.len() == rank => dims.extend_from_slice(&g[1..rank - 1]),
        Some(g) => return Err(format!("grid has rank {} but X has rank {rank}", g.len())),
        None => dims.extend(std::iter::repeat_n(Dim::Unknown, rank - 2)),
    }
    Ok(Out::of(elem, Some(dims)))
}

fn affine_grid(ctx: &Ctx) -> Result<Out, String> {
    let elem = ctx.dtype(0);
    let size = ctx
        .elems(1)
        .map(|e| e.to_vec())
        .or_else(|| match ctx.shape(1) {
            Some([Dim::Fixed(n)]) if (4..=5).contains(n) => Some(vec![Dim::Unknown; *n as usize]),
            _ => None,
        });
    let Some(size) = size else {
        return Ok(Out::of(elem, None));
    };
    let (n, spatial) = match size.as_slice() {
        [n, _, rest @ ..] if (2..=3).contains(&rest.len()) => (n.clone(), rest.to_vec()),
        _ => return Err(format!("size must have 4 or 5 values, has {}", size.len())),
    };
    let mut dims = vec![n];
    let r = spatial.len() as i64;
    dims.extend(spatial);
    dims.push(Dim::Fixed(r));
    Ok(Out::of(elem, Some(dims)))
}

fn center_crop_pad(ctx: &Ctx) -> Result<Out, String> {
    let elem = ctx.dtype(0);
    let Some(x) = ctx.shape(0) else {
        return Ok(Out::of(elem, None));
    };
    let rank = x.len();
    let axes: Vec<usize> = match ctx.ints_attr("axes")? {
        Some(a) => {
            normalize_axes(&a, rank).ok_or_else(|| format!("bad axes {a:?} for rank {rank}"))?;
            a.iter()
                .map(|&v| normalize_axis(v, rank))
                .collect::<Option<_>>()
                .ok_or("bad axes")?
        }
        None => (0..rank).collect(),
    };
    let shape = ctx.elems(1);
    if let Some(s) = shape {
        if s.len() != axes.len() {
            return Err(format!("{} sizes for {} axes", s.len(), axes.len()));
        }
    }
    let mut dims = x.to_vec();
    for (k, &a) in axes.iter().enumerate() {
        dims[a] = match shape {
            Some(s) if s[k] != Dim::Unknown => s[k].clone(),
            _ => ctx.fresh(0, a),
        };
    }
    Ok(Out::of(elem, Some(dims)))
}
