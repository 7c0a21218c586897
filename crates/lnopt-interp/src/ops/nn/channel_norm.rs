//! Normalisations over channels or groups of an `N x C x ...` input: BatchNormalization
//! (inference, and training_mode's running statistics from opset 14), InstanceNormalization,
//! GroupNormalization, LpNormalization, MeanVarianceNormalization and LRN.

use crate::arr::{round_float, Arr};
use crate::call::Call;
use crate::error::{bail, OpResult};
use crate::index::{norm_axes, norm_axis};
use lnopt_ir::DType;

/// A per-channel parameter of `len` elements.
fn per_channel(a: &Arr, len: usize, what: &str) -> OpResult<Vec<f64>> {
    if a.len() != len || a.rank() != 1 {
        bail!("{what} must have shape [{len}], got {:?}", a.shape);
    }
    Ok(a.to_f64())
}

/// `(N, C, spatial size)` of an input of rank >= 2.
fn ncs(x: &Arr) -> OpResult<(usize, usize, usize)> {
    if x.rank() < 2 {
        bail!("input must be N x C x ..., got shape {:?}", x.shape);
    }
    Ok((x.shape[0], x.shape[1], x.shape[2..].iter().product()))
}

/// Mean and population variance of `v`.
fn moments(v: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let n = v.clone().count() as f64;
    let mean = v.clone().sum::<f64>() / n;
    let var = v.map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    (mean, var)
}

/// `BatchNormalization`.
pub(crate) fn batch_norm(c: &Call<'_>) -> OpResult<Vec<Arr>> {
    let x = c.input(0)?;
    let xv = x.float_values("X")?;
    let (n, ch, s) = ncs(x)?;
    let scale = per_channel(c.input(1)?, ch, "scale")?;
    let bias = per_channel(c.input(2)?, ch, "B")?;
    let in_mean = per_channel(c.input(3)?, ch, "input_mean")?;
    let in_var = per_channel(c.input(4)?, ch, "input_var")?;
    let eps = c.float("epsilon", 1e-5)? as f64;
    let momentum = c.float("momentum", 0.9)? as f64;
    if c.opset < 9 && c.int("spatial", 1)? == 0 {
        bail!("spatial = 0 (per-activation statistics) is not supported");
    }
    if c.opset < 7 && c.int("is_test", 0)? == 0 {
        bail!(
            "is_test = 0 (training) at opset {} is not supported",
            c.opset
        );
    }
    let training = c.opset >= 14 && c.int("training_mode", 0)? != 0;
    if !training && c.n_outputs > 1 {
        bail!(
            "{} outputs requested; only Y is defined outside training_mode",
            c.n_outputs
        );
    }
    let (mean, var) = if training {
        let mut m = vec![0.0; ch];
        let mut v = vec![0.0; ch];
        for k in 0..ch {
            let it =
                (0..n).flat_map(|b| xv[(b * ch + k) * s..(b * ch + k + 1) * s].iter().copied());
            (m[k], v[k]) = moments(it);
        }
        (m, v)
    } else {
        (in_mean.clone(), in_var.clone())
    };
    let mut y = vec![0.0; xv.len()];
    for b in 0..n {
        for k in 0..ch {
            let inv = 1.0 / (var[k] + eps).sqrt();
            for i in 0..s {
                let at = (b * ch + k) * s + i;
                y[at] = scale[k] * (xv[at] - mean[k]) * inv + bias[k];
            }
        }
    }
    let mut outs = vec![Arr::floats(x.dtype, x.shape.clone(), y)];
    if training {
        let mdt = c.input(3)?.dtype;
        let vdt = c.input(4)?.dtype;
        let run = |old: &[f64], new: &[f64]| -> Vec<f64> {
            old.iter()
                .zip(new)
                .map(|(&o, &v)| o * momentum + v * (1.0 - momentum))
                .collect()
        };
        outs.push(Arr::floats(mdt, vec![ch], run(&in_mean, &mean)));
        outs.push(Arr::floats(vdt, vec![ch], run(&in_var, &var)));
        outs.truncate(c.n_outputs.max(1));
    }
    Ok(outs)
}

/// `InstanceNormalization`: per (n, c) statistics over the spatial dims.
pub(crate) fn instance_norm(c: &Call<'_>) -> OpResult<Arr> {
    let x = c.input(0)?;
    let xv = x.float_values("input")?;
    let (n, ch, s) = ncs(x)?;
    let scale = per_channel(c.input(1)?, ch, "scale")?;
    let bias = per_channel(c.input(2)?, ch, "B")?;
    let eps = c.float("epsilon", 1e-5)? as f64;
    let mut y = vec![0.0; xv.len()];
    for b in 0..n {
        for k in 0..ch {
            let o = (b * ch + k) * s;
            let (mean, var) = moments(xv[o..o + s].iter().copied());
            let inv = 1.0 / (var + eps).sqrt();
            for i in o..o + s {
                y[i] = scale[k] * (xv[i] - mean) * inv + bias[k];
            }
        }
    }
    Ok(Arr::floats(x.dtype, x.shape.clone(), y))
}

/// `GroupNormalization`: statistics per (n, group). Opset 18 takes scale and bias per
/// group, opset 21 per channel (with `stash_type`).
pub(crate) fn group_norm(c: &Call<'_>) -> OpResult<Arr> {
    let x = c.input(0)?;
    let xv = x.float_values("X")?;
    let (n, ch, s) = ncs(x)?;
    let g = c.opt_int("num_groups")?.ok_or("num_groups is required")?;
    if g < 1 || !ch.is_multiple_of(g as usize) {
        bail!("num_groups {g} does not divide {ch} channels");
    }
    let g = g as usize;
    let per = if c.opset >= 21 { ch } else { g };
    let scale = per_channel(c.input(1)?, per, "scale")?;
    let bias = per_channel(c.input(2)?, per, "bias")?;
    let eps = c.float("epsilon", 1e-5)? as f64;
    let stash = if c.opset >= 21 {
        let dt = DType::from_onnx(c.int("stash_type", 1)? as i32);
        if !dt.is_float() {
            bail!("stash_type must name a float type");
        }
        dt
    } else {
        DType::F64
    };
    let cg = ch / g;
    let mut y = vec![0.0; xv.len()];
    for b in 0..n {
        for gi in 0..g {
            let o = (b * ch + gi * cg) * s;
            let len = cg * s;
            let (mean, var) = moments(xv[o..o + len].iter().copied());
            let inv = 1.0 / (var + eps).sqrt();
            for i in 0..len {
                let k = gi * cg + i / s;
                let p = if c.opset >= 21 { k } else { gi };
                let norm = round_float(x.dtype, round_float(stash, (xv[o + i] - mean) * inv));
                y[o + i] = scale[p] * norm + bias[p];
            }
        }
    }
    Ok(Arr::floats(x.dtype, x.shape.clone(), y))
}

/// `LpNormalization`: `x / ||x||_p` along `axis` (p is 1 or 2); 0 where the norm is 0.
pub(crate) fn lp_norm(c: &Call<'_>) -> OpResult<Arr> {
    let x = c.input(0)?;
    let xv = x.float_values("input")?;
    let a = norm_axis(c.int("axis", -1)?, x.rank())?;
    let p = c.int("p", 2)?;
    if p != 1 && p != 2 {
        bail!("p must be 1 or 2, got {p}");
    }
    let outer: usize = x.shape[..a].iter().product();
    let len = x.shape[a];
    let inner: usize = x.shape[a + 1..].iter().product();
    let mut y = vec![0.0; xv.len()];
    for o in 0..outer {
        for i in 0..inner {
            let at = |k: usize| (o * len + k) * inner + i;
            let norm = if p == 1 {
                (0..len).map(|k| xv[at(k)].abs()).sum::<f64>()
            } else {
                (0..len).map(|k| xv[at(k)] * xv[at(k)]).sum::<f64>().sqrt()
            };
            // A zero norm gives zeros (the spec's rule, not 0 / 0).
            for k in 0..len {
                y[at(k)] = if norm == 0.0 { 0.0 } else { xv[at(k)] / norm };
            }
        }
    }
    Ok(Arr::floats(x.dtype, x.shape.clone(), y))
}

/// `MeanVarianceNormalization`: `(x - mean) / (sqrt(var) + 1e-9)` over `axes`
/// (default `[0, 2, 3]`), as its function body.
pub(crate) fn mvn(c: &Call<'_>) -> OpResult<Arr> {
    let x = c.input(0)?;
    let xv = x.float_values("X")?;
    let axes = norm_axes(&c.ints("axes")?.unwrap_or(vec![0, 2, 3]), x.rank())?;
    let kept: Vec<usize> = (0..x.rank())
        .map(|i| if axes.contains(&i) { 1 } else { x.shape[i] })
        .collect();
    let dest = crate::index::broadcast_index(&kept, &x.shape)?;
    let groups: usize = kept.iter().product();
    let count = (xv.len() / groups.max(1)) as f64;
    let mut sum = vec![0.0; groups];
    let mut sq = vec![0.0; groups];
    for (&d, &v) in dest.iter().zip(xv) {
        sum[d] += v;
        sq[d] += v * v;
    }
    let t = x.dtype;
    // Each step of the body rounds to X's dtype.
    let mean: Vec<f64> = sum.iter().map(|s| round_float(t, s / count)).collect();
    let std: Vec<f64> = (0..groups)
        .map(|g| {
            let ex2 = round_float(t, sq[g] / count);
            let var = round_float(t, ex2 - round_float(t, mean[g] * mean[g]));
            round_float(t, round_float(t, var.sqrt()) + 1e-9)
        })
        .collect();
    let y = dest
        .iter()
        .zip(xv)
        .map(|(&d, &v)| round_float(t, v - mean[d]) / std[d])
        .collect();
    Ok(Arr::floats(t, x.shape.clone(), y))
}

/// `LRN` across channels: `x / (bias + alpha / size * sum of squares) ^ beta`.
pub(crate) fn lrn(c: &Call<'_>) -> OpResult<Arr> {
    let x = c.input(0)?;
    let xv = x.float_values("X")?;
    let (n, ch, s) = ncs(x)?;
    let size = c.opt_int("size")?.ok_or("size is required")?;
    if size < 1 {
        bail!("size must be positive, got {size}");
    }
    let alpha = c.float("alpha", 1e-4)? as f64;
    let beta = c.float("beta", 0.75)? as f64;
    let bias = c.float("bias", 1.0)? as f64;
    let lo = ((size - 1) / 2) as usize;
    let hi = (size as usize - 1).div_ceil(2);
    let mut y = vec![0.0; xv.len()];
    for b in 0..n {
        for k in 0..ch {
            let (from, to) = (k.saturating_sub(lo), (k + hi).min(ch - 1));
            for i in 0..s {
                let sq: f64 = (from..=to).map(|j| xv[(b * ch + j) * s + i].powi(2)).sum();
                let at = (b * ch + k) * s + i;
                y[at] = xv[at] / (bias + alpha / size as f64 * sq).powf(beta);
            }
        }
    }
    Ok(Arr::floats(x.dtype, x.shape.clone(), y))
}
