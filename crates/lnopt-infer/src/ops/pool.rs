//! Sliding-window ops: Conv and its variants (ConvTranspose, ConvInteger, QLinearConv,
//! DeformConv), the pools (AveragePool, MaxPool, LpPool, their global forms, MaxRoiPool,
//! RoiAlign), MaxUnpool and Col2Im.

use super::{Ctx, Out};
use crate::dims::fixed_product;
use lnopt_ir::{DType, Dim, TensorType};

/// Rules for window ops; `Ok(None)` if `op` is not one of them.
pub(crate) fn infer(ctx: &Ctx, op: &str) -> Result<Option<Out>, String> {
    Ok(Some(match op {
        "Conv" => conv(ctx, 0, 1, ctx.dtype(0))?,
        "ConvInteger" => conv(ctx, 0, 1, DType::I32)?,
        "QLinearConv" => conv(ctx, 0, 3, ctx.dtype(7))?,
        "DeformConv" => conv(ctx, 0, 1, ctx.dtype(0))?,
        "ConvTranspose" => conv_transpose(ctx)?,
        "AveragePool" | "MaxPool" | "LpPool" => pool(ctx, op)?,
        "GlobalAveragePool" | "GlobalMaxPool" | "GlobalLpPool" => global_pool(ctx)?,
        "MaxRoiPool" => roi_pool(ctx)?,
        "RoiAlign" => roi_align(ctx)?,
        "MaxUnpool" => max_unpool(ctx)?,
        "Col2Im" => col2im(ctx)?,
        _ => return Ok(None),
    }))
}

/// How a window op pads (the `auto_pad` attribute).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AutoPad {
    /// Explicit `pads`.
    NotSet,
    /// No padding.
    Valid,
    /// Output size `ceil(in / stride)`; the pad split does not change the size.
    Same,
}

/// The window parameters shared by convolutions and pools, checked against the spatial rank.
struct Window {
    kernel: Vec<Option<i64>>,
    strides: Vec<i64>,
    dilations: Vec<i64>,
    pads: Vec<i64>,
    auto_pad: AutoPad,
    ceil: bool,
}

impl Window {
    /// Reads the attributes; `kernel` comes from `kernel_shape` or the weight's dims.
    fn read(ctx: &Ctx, sp: usize, kernel: Vec<Option<i64>>) -> Result<Window, String> {
        let list = |name: &str, default: i64, len: usize| -> Result<Vec<i64>, String> {
            let v = ctx.ints_attr(name)?.unwrap_or_else(|| vec![default; len]);
            if v.len() != len {
                return Err(format!(
                    "attribute '{name}' has {} values for {sp} spatial axes",
                    v.len()
                ));
            }
            Ok(v)
        };
        let strides = list("strides", 1, sp)?;
        let dilations = list("dilations", 1, sp)?;
        let pads = list("pads", 0, 2 * sp)?;
        if kernel.len() != sp {
            return Err(format!(
                "kernel has {} dims for {sp} spatial axes",
                kernel.len()
            ));
        }
        if strides.iter().chain(&dilations).any(|&v| v <= 0) {
            return Err("strides and dilations must be positive".into());
        }
        if kernel.iter().flatten().any(|&k| k <= 0) {
            return Err("kernel sizes must be positive".into());
        }
        let auto_pad = match ctx.str_attr("auto_pad", "NOTSET")?.as_str() {
            "NOTSET" | "" => AutoPad::NotSet,
            "VALID" => AutoPad::Valid,
            "SAME_UPPER" | "SAME_LOWER" => AutoPad::Same,
            other => return Err(format!("unknown auto_pad '{other}'")),
        };
        let ceil = ctx.int_attr("ceil_mode", 0)? != 0;
        Ok(Window {
            kernel,
            strides,
            dilations,
            pads,
            auto_pad,
            ceil,
        })
    }

    /// The extent of the dilated kernel on axis `i`.
    fn effective_kernel(&self, i: usize) -> Option<i64> {
        let k = self.kernel[i]?;
        (k - 1).checked_mul(self.dilations[i])?.checked_add(1)
    }

    /// Output size on spatial axis `i` for input size `input`.
    fn out_dim(&self, i: usize, input: &Dim) -> Result<Dim, String> {
        let s = self.strides[i];
        let Some(ek) = self.effective_kernel(i) else {
            return Ok(Dim::Unknown);
        };
        let (pb, pe) = match self.auto_pad {
            AutoPad::NotSet => (self.pads[i], self.pads[i + self.strides.len()]),
            _ => (0, 0),
        };
        let Some(n) = input.fixed() else {
            // A stride-1 window whose padding exactly compensates the kernel keeps the size.
            let keeps = s == 1
                && match self.auto_pad {
                    AutoPad::Same => !self.ceil,
                    AutoPad::NotSet => pb.checked_add(pe) == Some(ek - 1),
                    AutoPad::Valid => ek == 1,
                };
            return Ok(if keeps { input.clone() } else { Dim::Unknown });
        };
        if self.auto_pad == AutoPad::Same {
            // ceil_mode with computed pads is not spelled out by the standard: no fact.
            return Ok(if self.ceil {
                Dim::Unknown
            } else {
                Dim::Fixed((n + s - 1) / s)
            });
        }
        let span = n
            .checked_add(pb)
            .and_then(|v| v.checked_add(pe))
            .and_then(|v| v.checked_sub(ek))
            .ok_or("window size overflow")?;
        if span < 0 {
            return Err(format!(
                "window of {ek} larger than the padded input ({n} + {pb} + {pe}) on spatial axis {i}"
            ));
        }
        let mut out = if self.ceil {
            (span + s - 1) / s + 1
        } else {
            span / s + 1
        };
        // With ceil_mode a last window that would start inside the end padding is dropped.
        if self.ceil && (out - 1) * s >= n + pb {
            out -= 1;
        }
        Ok(Dim::Fixed(out))
    }

    /// Output spatial dims for input spatial dims `xs`.
    fn out_dims(&self, xs: &[Dim]) -> Result<Vec<Dim>, String> {
        xs.iter()
            .enumerate()
            .map(|(i, d)| self.out_dim(i, d))
            .collect()
    }
}

/// Spatial rank of an N x C x D1.. input, checked to be at least 1.
fn spatial_rank(x: &[Dim], what: &str) -> Result<usize, String> {
    if x.len() < 3 {
        return Err(format!(
            "{what} must have rank >= 3 (N, C, spatial...), has rank {}",
            x.len()
        ));
    }
    Ok(x.len() - 2)
}

/// Kernel sizes from `kernel_shape`, or else from the spatial dims of input `w_slot`.
fn kernel_of(ctx: &Ctx, w_slot: usize, sp: usize) -> Result<Vec<Option<i64>>, String> {
    if let Some(k) = ctx.ints_attr("kernel_shape")? {
        return Ok(k.into_iter().map(Some).collect());
    }
    Ok(match ctx.shape(w_slot) {
        Some(w) if w.len() >= 2 => w[2..].iter().map(Dim::fixed).collect(),
        _ => vec![None; sp],
    })
}

/// Conv-like ops: X in `x_slot`, weights [M, C/group, k...] in `w_slot`; output dtype `elem`.
fn conv(ctx: &Ctx, x_slot: usize, w_slot: usize, elem: DType) -> Result<Out, String> {
    let Some(x) = ctx.shape(x_slot) else {
        return Ok(Out::of(
            elem,
            ctx.shape(w_slot).map(|w| vec![Dim::Unknown; w.len()]),
        ));
    };
    let sp = spatial_rank(x, "input X")?;
    let w = ctx.shape(w_slot);
    if let Some(w) = w {
        if w.len() != x.len() {
            return Err(format!(
                "input rank {} and weight rank {} differ",
                x.len(),
                w.len()
            ));
        }
    }
    let win = Window::read(ctx, sp, kernel_of(ctx, w_slot, sp)?)?;
    let mut dims = vec![x[0].clone(), w.map_or(Dim::Unknown, |w| w[0].clone())];
    dims.extend(win.out_dims(&x[2..])?);
    Ok(Out::of(elem, Some(dims)))
}

fn conv_transpose(ctx: &Ctx) -> Result<Out, String> {
    let elem = ctx.dtype(0);
    let Some(x) = ctx.shape(0) else {
        return Ok(Out::of(
            elem,
            ctx.shape(1).map(|w| vec![Dim::Unknown; w.len()]),
        ));
    };
    let sp = spatial_rank(x, "input X")?;
    let w = ctx.shape(1);
    if let Some(w) = w {
        if w.len() != x.len() {
            return Err(format!(
                "input rank {} and weight rank {} differ",
                x.len(),
                w.len()
            ));
        }
    }
    let group = ctx.int_attr("group", 1)?;
    if group <= 0 {
        return Err(format!("group {group} must be positive"));
    }
    let win = Window::read(ctx, sp, kernel_of(ctx, 1, sp)?)?;
    let out_pad = ctx
        .ints_attr("output_padding")?
        .unwrap_or_else(|| vec![0; sp]);
    if out_pad.len() != sp {
        return Err(format!(
            "output_padding has {} values for {sp} spatial axes",
            out_pad.len()
        ));
    }
    let channels = match w.map(|w| &w[1]) {
        Some(Dim::Fixed(m)) => m.checked_mul(group).map_or(Dim::Unknown, Dim::Fixed),
        Some(d) if group == 1 => d.clone(),
        _ => Dim::Unknown,
    };
    let mut dims = vec![x[0].clone(), channels];
    if let Some(shape) = ctx.ints_attr("output_shape")? {
        // Spatial sizes, or (as ONNX Runtime also accepts) N, C and the spatial sizes.
        let spatial = match shape.len() {
            n if n == sp => &shape[..],
            n if n == sp + 2 => &shape[2..],
            n => return Err(format!("output_shape has {n} values for {sp} spatial axes")),
        };
        if spatial.iter().any(|&v| v < 0) {
            return Err(format!("negative output_shape {shape:?}"));
        }
        dims.extend(spatial.iter().map(|&v| Dim::Fixed(v)));
        return Ok(Out::of(elem, Some(dims)));
    }
    for i in 0..sp {
        let (Some(n), Some(ek)) = (x[i + 2].fixed(), win.effective_kernel(i)) else {
            dims.push(Dim::Unknown);
            continue;
        };
        let s = win.strides[i];
        let v = match win.auto_pad {
            // The standard and ONNX Runtime agree (in * stride) only in this case.
            AutoPad::Same if out_pad[i] == 0 && ek >= s => n.checked_mul(s),
            AutoPad::Same => None,
            AutoPad::Valid | AutoPad::NotSet => {
                let (pb, pe) = if win.auto_pad == AutoPad::Valid {
                    (0, 0)
                } else {
                    (win.pads[i], win.pads[i + sp])
                };
                s.checked_mul(n - 1)
                    .and_then(|v| v.checked_add(out_pad[i]))
                    .and_then(|v| v.checked_add(ek))
                    .and_then(|v| v.checked_sub(pb))
                    .and_then(|v| v.checked_sub(pe))
            }
        };
        match v {
            Some(v) if v < 0 => {
                return Err(format!("output size {v} on spatial axis {i} is negative"))
            }
            Some(v) => dims.push(Dim::Fixed(v)),
            None => dims.push(Dim::Unknown),
        }
    }
    Ok(Out::of(elem, Some(dims)))
}

fn pool(ctx: &Ctx, op: &str) -> Result<Out, String> {
    let elem = ctx.dtype(0);
    let n_out = ctx.n_out();
    let with_indices = |y: Out| -> Out {
        let mut y = y;
        if op == "MaxPool" && n_out > 1 {
            let shape = y.types.first().cloned().flatten().and_then(|t| t.shape);
            y.types.push(Some(TensorType {
                elem: DType::I64,
                shape,
            }));
        }
        y
    };
    let Some(x) = ctx.shape(0) else {
        return Ok(with_indices(Out::of(elem, None)));
    };
    let sp = spatial_rank(x, "input X")?;
    let kernel = ctx
        .ints_attr("kernel_shape")?
        .ok_or("attribute 'kernel_shape' is required")?;
    let win = Window::read(ctx, sp, kernel.into_iter().map(Some).collect())?;
    let mut dims = x[..2].to_vec();
    dims.extend(win.out_dims(&x[2..])?);
    Ok(with_indices(Out::of(elem, Some(dims))))
}

fn global_pool(ctx: &Ctx) -> Result<Out, String> {
    let elem = ctx.dtype(0);
    let Some(x) = ctx.shape(0) else {
        return Ok(Out::of(elem, None));
    };
    if x.len() < 2 {
        return Err(format!("input must have rank >= 2, has rank {}", x.len()));
    }
    let mut dims = x[..2].to_vec();
    dims.extend(std::iter::repeat_n(Dim::Fixed(1), x.len() - 2));
    Ok(Out::of(elem, Some(dims)))
}

/// The channel dim of a 4-D X and the row count of a 2-D rois input (`width` columns).
fn roi_dims(ctx: &Ctx, width: i64) -> Result<(Dim, Dim), String> {
    let c = match ctx.shape(0) {
        Some(x) if x.len() == 4 => x[1].clone(),
        Some(x) => return Err(format!("X must be 4-D, has rank {}", x.len())),
        None => Dim::Unknown,
    };
    let rois = match ctx.shape(1) {
        Some([n, w]) => {
            if matches!(w, Dim::Fixed(v) if *v != width) {
                return Err(format!(
                    "rois must be [num_rois, {width}], found [{n}, {w}]"
                ));
            }
            n.clone()
        }
        Some(r) => return Err(format!("rois must be 2-D, has rank {}", r.len())),
        None => Dim::Unknown,
    };
    Ok((c, rois))
}

fn roi_pool(ctx: &Ctx) -> Result<Out, String> {
    let (c, rois) = roi_dims(ctx, 5)?;
    let pooled = ctx
        .ints_attr("pooled_shape")?
        .ok_or("attribute 'pooled_shape' is required")?;
    let [h, w] = pooled[..] else {
        return Err(format!("pooled_shape {pooled:?} must have two values"));
    };
    Ok(Out::of(
        ctx.dtype(0),
        Some(vec![rois, c, Dim::Fixed(h), Dim::Fixed(w)]),
    ))
}

fn roi_align(ctx: &Ctx) -> Result<Out, String> {
    let (c, rois) = roi_dims(ctx, 4)?;
    let rois = match (rois, ctx.shape(2)) {
        (Dim::Unknown, Some([n])) => n.clone(),
        (r, _) => r,
    };
    let h = ctx.int_attr("output_height", 1)?;
    let w = ctx.int_attr("output_width", 1)?;
    Ok(Out::of(
        ctx.dtype(0),
        Some(vec![rois, c, Dim::Fixed(h), Dim::Fixed(w)]),
    ))
}

fn max_unpool(ctx: &Ctx) -> Result<Out, String> {
    let elem = ctx.dtype(0);
    if ctx.has(2) {
        let dims = ctx
            .elems(2)
            .map(|e| e.to_vec())
            .or_else(|| match ctx.shape(2) {
                Some([Dim::Fixed(n)]) if (0..=64).contains(n) => {
                    Some(vec![Dim::Unknown; *n as usize])
                }
                _ => None,
            });
        return Ok(Out::of(elem, dims));
    }
    let Some(x) = ctx.shape(0) else {
        return Ok(Out::of(elem, None));
    };
    let sp = spatial_rank(x, "input X")?;
    let kernel = ctx
        .ints_attr("kernel_shape")?
        .ok_or("attribute 'kernel_shape' is required")?;
    let win = Window::read(ctx, sp, kernel.into_iter().map(Some).collect())?;
    let mut dims = x[..2].to_vec();
    for i in 0..sp {
        dims.push(match (x[i + 2].fixed(), win.kernel[i]) {
            (Some(n), Some(k)) => win.strides[i]
                .checked_mul(n - 1)
                .and_then(|v| v.checked_add(k))
                .and_then(|v| v.checked_sub(win.pads[i]))
                .and_then(|v| v.checked_sub(win.pads[i + sp]))
                .map_or(Dim::Unknown, Dim::Fixed),
            _ => Dim::Unknown,
        });
    }
    Ok(Out::of(elem, Some(dims)))
}

fn col2im(ctx: &Ctx) -> Result<Out, String> {
    let elem = ctx.dtype(0);
    let image = ctx
        .elems(1)
        .map(|e| e.to_vec())
        .or_else(|| match ctx.shape(1) {
            Some([Dim::Fixed(n)]) if (0..=64).contains(n) => Some(vec![Dim::Unknown; *n as usize]),
            _ => None,
        });
    let Some(image) = image else {
        return Ok(Out::of(elem, None));
    };
    let (n, c) = match ctx.shape(0) {
        Some([n, cb, _]) => {
            let block = ctx.ints(2).map(|b| super::fixed(&b));
            let c = match (cb.fixed(), block.as_deref().and_then(fixed_product)) {
                (Some(cb), Some(b)) if b > 0 && cb % b == 0 => Dim::Fixed(cb / b),
                (Some(cb), Some(b)) => {
                    return Err(format!(
                        "input dim 1 ({cb}) is not a multiple of the block size {b}"
                    ))
                }
                _ => Dim::Unknown,
            };
            (n.clone(), c)
        }
        Some(s) => return Err(format!("input must be 3-D, has rank {}", s.len())),
        None => (Dim::Unknown, Dim::Unknown),
    };
    let mut dims = vec![n, c];
    dims.extend(image);
    Ok(Out::of(elem, Some(dims)))
}
