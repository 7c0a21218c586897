//! `Resize` (opsets 10-19: nearest / linear / cubic, every coordinate transformation,
//! nearest rounding mode, `antialias`, `exclude_outside`, `keep_aspect_ratio_policy`,
//! `axes`, `roi`) and `Upsample` (nearest with integer scales).
//!
//! Resizing is separable: each resized axis is interpolated in turn in f64 (an output
//! index maps to a source coordinate, then to weighted taps of clamped source indices), and
//! the result is rounded to X's dtype once at the end.

use crate::arr::{Arr, Buf};
use crate::call::Call;
use crate::error::{bail, OpResult};
use crate::index::{norm_axes, strides};

/// How one axis is resized.
struct AxisPlan {
    /// Input length.
    len_in: usize,
    /// Output length.
    len_out: usize,
    /// Scale factor used by the coordinate transformation.
    scale: f64,
    /// ROI start and end (fractions of the input), for `tf_crop_and_resize`.
    roi: (f64, f64),
}

/// Interpolation kernel of a node.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Nearest,
    Linear,
    Cubic,
}

/// Per output index of one axis: `(source index, weight)` taps, or `None` for the
/// extrapolation value.
type Taps = Vec<Option<Vec<(usize, f64)>>>;

struct Settings {
    mode: Mode,
    ctm: String,
    nearest: String,
    cubic_a: f64,
    antialias: bool,
    exclude_outside: bool,
}

/// Source coordinate of output index `y`, or `None` when tf_crop_and_resize extrapolates.
fn source_coord(s: &Settings, p: &AxisPlan, y: f64) -> OpResult<Option<f64>> {
    let (li, lo) = (p.len_in as f64, p.scale * p.len_in as f64);
    Ok(Some(match s.ctm.as_str() {
        "half_pixel" => (y + 0.5) / p.scale - 0.5,
        "half_pixel_symmetric" => {
            let adjustment = p.len_out as f64 / lo;
            let offset = li / 2.0 * (1.0 - adjustment);
            offset + (y + 0.5) / p.scale - 0.5
        }
        "pytorch_half_pixel" => {
            if p.len_out == 1 {
                0.0
            } else {
                (y + 0.5) / p.scale - 0.5
            }
        }
        "align_corners" => {
            if p.len_out == 1 {
                0.0
            } else {
                y * (li - 1.0) / (p.len_out as f64 - 1.0)
            }
        }
        "asymmetric" => y / p.scale,
        "tf_half_pixel_for_nn" => (y + 0.5) / p.scale,
        "tf_crop_and_resize" => {
            let (r0, r1) = p.roi;
            let x = if p.len_out == 1 {
                (r1 - r0) * (li - 1.0) / 2.0
            } else {
                y * (r1 - r0) * (li - 1.0) / (p.len_out as f64 - 1.0)
            } + r0 * (li - 1.0);
            if x < 0.0 || x > li - 1.0 {
                return Ok(None);
            }
            x
        }
        m => bail!("unknown coordinate_transformation_mode '{m}'"),
    }))
}

/// The taps of every output index of one axis.
fn plan_taps(s: &Settings, p: &AxisPlan) -> OpResult<Taps> {
    let fractional = (p.scale * p.len_in as f64 - p.len_out as f64).abs() > 1e-9;
    if fractional && matches!(s.ctm.as_str(), "align_corners" | "tf_crop_and_resize") {
        bail!(
            "{} with a scale whose output length {} is fractional: the spec divides by the integer length, the onnx reference by the fractional one",
            s.ctm,
            p.scale * p.len_in as f64
        );
    }
    let n_in = p.len_in as i64;
    let clamp = |i: i64| i.clamp(0, n_in - 1) as usize;
    let mut out = Vec::with_capacity(p.len_out);
    for y in 0..p.len_out {
        let Some(x) = source_coord(s, p, y as f64)? else {
            out.push(None);
            continue;
        };
        if s.mode == Mode::Nearest {
            let fl = x.floor();
            let frac = x - fl;
            let i = match s.nearest.as_str() {
                "round_prefer_floor" => {
                    if frac <= 0.5 {
                        fl
                    } else {
                        fl + 1.0
                    }
                }
                "round_prefer_ceil" => {
                    if frac < 0.5 {
                        fl
                    } else {
                        fl + 1.0
                    }
                }
                "floor" => fl,
                "ceil" => x.ceil(),
                m => bail!("unknown nearest_mode '{m}'"),
            };
            out.push(Some(vec![(clamp(i as i64), 1.0)]));
            continue;
        }
        // Taps start at ceil(x) - n/2; ratio in (0, 1] is x's distance from the tap before
        // ceil(x).
        let ceil = x.ceil();
        let ratio = x - (ceil - 1.0);
        let scale = p.scale.min(1.0);
        let coeffs: Vec<f64> = match (s.mode, s.antialias && p.scale < 1.0) {
            (Mode::Linear, false) => vec![1.0 - ratio, ratio],
            (Mode::Cubic, false) => {
                let a = s.cubic_a;
                let r = ratio;
                let q = 1.0 - r;
                vec![
                    ((a * (r + 1.0) - 5.0 * a) * (r + 1.0) + 8.0 * a) * (r + 1.0) - 4.0 * a,
                    ((a + 2.0) * r - (a + 3.0)) * r * r + 1.0,
                    ((a + 2.0) * q - (a + 3.0)) * q * q + 1.0,
                    ((a * (q + 1.0) - 5.0 * a) * (q + 1.0) + 8.0 * a) * (q + 1.0) - 4.0 * a,
                ]
            }
            (Mode::Linear, true) => {
                let start = (-1.0 / scale).floor() as i64 + 1;
                let c: Vec<f64> = (start..2 - start)
                    .map(|i| (1.0 - ((i as f64 - ratio) * scale).abs()).clamp(0.0, 1.0))
                    .collect();
                let sum: f64 = c.iter().sum();
                c.iter().map(|v| v / sum).collect()
            }
            (Mode::Cubic, true) => {
                let a = s.cubic_a;
                let k = |x: f64| {
                    let x = x.abs();
                    if x <= 1.0 {
                        (a + 2.0) * x * x * x - (a + 3.0) * x * x + 1.0
                    } else if x < 2.0 {
                        a * x * x * x - 5.0 * a * x * x + 8.0 * a * x - 4.0 * a
                    } else {
                        0.0
                    }
                };
                let start = (-2.0 / scale).floor() as i64 + 1;
                let c: Vec<f64> = (start..2 - start)
                    .map(|i| k(scale * (i as f64 - ratio)))
                    .collect();
                let sum: f64 = c.iter().sum();
                c.iter().map(|v| v / sum).collect()
            }
            (Mode::Nearest, _) => unreachable!("handled above"),
        };
        let n = coeffs.len() as i64;
        let base = ceil as i64 - n / 2;
        let mut taps: Vec<(i64, f64)> = coeffs
            .iter()
            .enumerate()
            .map(|(i, &w)| (base + i as i64, w))
            .collect();
        if s.exclude_outside {
            for t in taps.iter_mut() {
                if t.0 < 0 || t.0 >= n_in {
                    t.1 = 0.0;
                }
            }
            let sum: f64 = taps.iter().map(|t| t.1).sum();
            let sum = if sum == 0.0 { 1.0 } else { sum };
            taps.iter_mut().for_each(|t| t.1 /= sum);
        }
        out.push(Some(taps.into_iter().map(|(i, w)| (clamp(i), w)).collect()));
    }
    Ok(out)
}

/// Interpolates `v` (shape `shape`) along `axis` with `taps`.
fn apply_axis(v: &[f64], shape: &mut [usize], axis: usize, taps: &Taps, extra: f64) -> Vec<f64> {
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis + 1..].iter().product();
    let (li, lo) = (shape[axis], taps.len());
    let mut out = vec![0.0; outer * lo * inner];
    for o in 0..outer {
        for (y, t) in taps.iter().enumerate() {
            for i in 0..inner {
                out[(o * lo + y) * inner + i] = match t {
                    None => extra,
                    Some(t) => t
                        .iter()
                        .map(|&(s, w)| w * v[(o * li + s) * inner + i])
                        .sum(),
                };
            }
        }
    }
    shape[axis] = lo;
    out
}

/// A float input of `slot` that may be absent or empty.
fn opt_floats(c: &Call<'_>, slot: usize) -> Option<Vec<f64>> {
    c.opt_input(slot)
        .filter(|a| a.len() > 0)
        .map(|a| a.to_f64())
}

/// `Resize`.
pub(crate) fn resize(c: &Call<'_>) -> OpResult<Arr> {
    let x = c.input(0)?;
    let r = x.rank();
    let (roi, scales, sizes) = if c.opset >= 11 {
        let sizes = match c.opt_input(3).filter(|a| a.len() > 0) {
            Some(a) => Some(a.int_values("sizes")?.to_vec()),
            None => None,
        };
        (opt_floats(c, 1), opt_floats(c, 2), sizes)
    } else {
        (None, opt_floats(c, 1), None)
    };
    let axes = match c.ints("axes")? {
        Some(a) if c.opset >= 18 => norm_axes(&a, r)?,
        _ => (0..r).collect(),
    };
    let na = axes.len();
    let mode = match c.string("mode", "nearest")?.as_str() {
        "nearest" => Mode::Nearest,
        "linear" | "bilinear" => Mode::Linear,
        "cubic" | "bicubic" if c.opset >= 11 => Mode::Cubic,
        m => bail!("unknown mode '{m}'"),
    };
    let s = Settings {
        mode,
        ctm: if c.opset >= 11 {
            c.string("coordinate_transformation_mode", "half_pixel")?
        } else {
            "asymmetric".into()
        },
        nearest: if c.opset >= 11 {
            c.string("nearest_mode", "round_prefer_floor")?
        } else {
            "floor".into()
        },
        cubic_a: c.float("cubic_coeff_a", -0.75)? as f64,
        antialias: c.int("antialias", 0)? != 0,
        exclude_outside: c.int("exclude_outside", 0)? != 0,
    };
    if s.antialias && mode == Mode::Nearest {
        bail!("antialias is not defined for nearest mode");
    }
    if c.opset < 11
        && scales
            .as_ref()
            .is_some_and(|sc| sc.iter().any(|&v| v < 1.0))
    {
        bail!("opset-10 Resize with a downsampling scale has no exact definition here");
    }
    if !x.is_float() && mode != Mode::Nearest {
        bail!(
            "linear / cubic interpolation of {} is not supported",
            x.dtype
        );
    }
    let extra = c.float("extrapolation_value", 0.0)? as f64;
    // Per resized axis: scale and output length.
    let mut plan: Vec<(usize, f64, usize)> = Vec::with_capacity(na);
    match (scales, sizes) {
        (Some(sc), None) => {
            if sc.len() != na {
                bail!("scales has {} entries for {na} axes", sc.len());
            }
            for (k, &a) in axes.iter().enumerate() {
                if sc[k].is_nan() || sc[k] <= 0.0 {
                    bail!("scales must be positive, got {sc:?}");
                }
                plan.push((a, sc[k], (sc[k] * x.shape[a] as f64) as usize));
            }
        }
        (None, Some(sz)) => {
            if sz.len() != na {
                bail!("sizes has {} entries for {na} axes", sz.len());
            }
            let dims = crate::index::to_dims(&sz, "sizes")?;
            let ratio: Vec<f64> = axes
                .iter()
                .zip(&dims)
                .map(|(&a, &d)| d as f64 / x.shape[a] as f64)
                .collect();
            match c.string("keep_aspect_ratio_policy", "stretch")?.as_str() {
                "stretch" => {
                    for (k, &a) in axes.iter().enumerate() {
                        plan.push((a, ratio[k], dims[k]));
                    }
                }
                p @ ("not_larger" | "not_smaller") => {
                    let sc = if p == "not_larger" {
                        ratio.iter().copied().fold(f64::INFINITY, f64::min)
                    } else {
                        ratio.iter().copied().fold(f64::NEG_INFINITY, f64::max)
                    };
                    for &a in &axes {
                        plan.push((a, sc, (sc * x.shape[a] as f64 + 0.5) as usize));
                    }
                }
                p => bail!("unknown keep_aspect_ratio_policy '{p}'"),
            }
        }
        (Some(_), Some(_)) => bail!("only one of scales and sizes may be given"),
        (None, None) => bail!("one of scales and sizes is required"),
    }
    let roi = match roi {
        Some(v) if s.ctm == "tf_crop_and_resize" => {
            if v.len() != 2 * na {
                bail!("roi has {} entries, expected {}", v.len(), 2 * na);
            }
            v
        }
        _ if s.ctm == "tf_crop_and_resize" => bail!("tf_crop_and_resize needs roi"),
        _ => [vec![0.0; na], vec![1.0; na]].concat(),
    };
    let default_roi = (0..na).all(|k| roi[k] == 0.0 && roi[na + k] == 1.0);
    if s.ctm == "tf_crop_and_resize" && !default_roi && c.opt_input(2).is_some_and(|a| a.len() > 0)
    {
        bail!("tf_crop_and_resize with scales: the spec sizes the output by the roi, the onnx reference does not");
    }
    let mut shape = x.shape.clone();
    let mut v = x.to_f64();
    for (k, &(axis, scale, len_out)) in plan.iter().enumerate() {
        let p = AxisPlan {
            len_in: shape[axis],
            len_out,
            scale,
            roi: (roi[k], roi[na + k]),
        };
        let identity = (scale - 1.0).abs() < 1e-9
            && len_out == shape[axis]
            && (s.ctm != "tf_crop_and_resize" || (p.roi.0 == 0.0 && p.roi.1 == 1.0));
        if identity {
            continue;
        }
        if p.len_in == 0 {
            bail!("cannot resize an empty axis {axis}");
        }
        crate::arr::checked_numel(&{
            let mut s2 = shape.clone();
            s2[axis] = len_out;
            s2
        })?;
        let taps = plan_taps(&s, &p)?;
        v = apply_axis(&v, &mut shape, axis, &taps, extra);
    }
    Ok(match &x.buf {
        Buf::F(_) => Arr::floats(x.dtype, shape, v),
        Buf::I(_) => Arr::ints(x.dtype, shape, v.iter().map(|&f| f as i64).collect()),
        Buf::S(_) => crate::error::bail!("string tensors cannot be resized"),
    })
}

/// `Upsample` (opsets 7-9, deprecated): nearest neighbour with integer scales.
pub(crate) fn upsample(c: &Call<'_>) -> OpResult<Arr> {
    let x = c.input(0)?;
    let scales: Vec<f64> = match c.opt_input(1) {
        Some(s) => s.to_f64(),
        None => super::attrs::floats(c, "scales")?
            .ok_or("scales is required")?
            .iter()
            .map(|&v| v as f64)
            .collect(),
    };
    if c.string("mode", "nearest")? != "nearest" {
        bail!("only nearest Upsample is supported");
    }
    if scales.len() != x.rank() || scales.iter().any(|&s| s < 1.0 || s.fract() != 0.0) {
        bail!("scales {scales:?} must be integers >= 1, one per dim");
    }
    let shape: Vec<usize> = x
        .shape
        .iter()
        .zip(&scales)
        .map(|(&d, &s)| d * s as usize)
        .collect();
    let n = crate::arr::checked_numel(&shape)?;
    let st = strides(&x.shape);
    let ost = strides(&shape);
    let idx: Vec<usize> = (0..n)
        .map(|o| {
            (0..shape.len())
                .map(|d| (o / ost[d] % shape[d]) / scales[d] as usize * st[d])
                .sum()
        })
        .collect();
    Ok(x.gather_flat(shape, &idx))
}
