//! Normalisations: LayerNormalization (opset 17, also ORT's com.microsoft form),
//! RMSNormalization (opset 23) and ORT's SimplifiedLayerNormalization.
//!
//! Statistics are computed in f64 over the trailing axes `[axis, rank)`; the normalised
//! value is rounded to X's dtype before the scale (and bias) are applied in X's dtype, as
//! the ONNX function bodies do with `stash_type` then `CastLike`.

use crate::arr::{round_float, Arr};
use crate::call::Call;
use crate::error::{bail, OpResult};
use crate::index::{broadcast_index, norm_axis};
use lnopt_ir::DType;

/// Which normalisation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum NormKind {
    /// `(x - mean) / sqrt(var + eps)`.
    Layer,
    /// `x / sqrt(mean(x^2) + eps)`.
    Rms,
}

/// The statistics dtype named by `stash_type` (1 = f32 by default).
fn stash_dtype(c: &Call<'_>) -> OpResult<DType> {
    let code = c.int("stash_type", 1)?;
    let dt = DType::from_onnx(code as i32);
    if !dt.is_float() {
        bail!("stash_type {code} is not a float type");
    }
    Ok(dt)
}

/// Runs a normalisation. Outputs: Layer → `[Y, Mean, InvStdDev]`; Rms → `[Y]`, or
/// `[Y, InvStdDev]` when `with_inv_std` (SimplifiedLayerNormalization).
pub(crate) fn normalize(c: &Call<'_>, kind: NormKind, with_inv_std: bool) -> OpResult<Vec<Arr>> {
    let x = c.input(0)?;
    let scale = c.input(1)?;
    let bias = if kind == NormKind::Layer {
        c.opt_input(2)
    } else {
        None
    };
    let xv = x.float_values("X")?;
    let axis = norm_axis(c.int("axis", -1)?, x.rank())?;
    let eps = c.float("epsilon", 1e-5)? as f64;
    let stash = stash_dtype(c)?;
    let outer: usize = x.shape[..axis].iter().product();
    let inner: usize = x.shape[axis..].iter().product();
    let sv = scale.to_f64();
    let si = broadcast_index(&scale.shape, &x.shape).map_err(|_| {
        format!(
            "scale {:?} does not broadcast to X {:?}",
            scale.shape, x.shape
        )
    })?;
    let bias_parts = match bias {
        Some(b) => Some((
            b.to_f64(),
            broadcast_index(&b.shape, &x.shape)
                .map_err(|_| format!("bias {:?} does not broadcast to X {:?}", b.shape, x.shape))?,
        )),
        None => None,
    };
    let t = x.dtype;
    let mut y = vec![0.0; xv.len()];
    let mut means = Vec::with_capacity(outer);
    let mut inv_stds = Vec::with_capacity(outer);
    for o in 0..outer {
        let row = &xv[o * inner..(o + 1) * inner];
        let n = inner as f64;
        let mean = if kind == NormKind::Layer {
            row.iter().sum::<f64>() / n
        } else {
            0.0
        };
        let var = row.iter().map(|&v| (v - mean) * (v - mean)).sum::<f64>() / n;
        let inv_std = 1.0 / (var + eps).sqrt();
        means.push(mean);
        inv_stds.push(inv_std);
        for (k, &v) in row.iter().enumerate() {
            let at = o * inner + k;
            let normalized = round_float(t, round_float(stash, (v - mean) * inv_std));
            let mut r = round_float(t, normalized * sv[si[at]]);
            if let Some((bv, bi)) = &bias_parts {
                r = round_float(t, r + bv[bi[at]]);
            }
            y[at] = r;
        }
    }
    let mut stat_shape = x.shape[..axis].to_vec();
    stat_shape.extend(std::iter::repeat_n(1, x.rank() - axis));
    let mut outs = vec![Arr::floats(t, x.shape.clone(), y)];
    if kind == NormKind::Layer {
        outs.push(Arr::floats(stash, stat_shape.clone(), means));
        outs.push(Arr::floats(stash, stat_shape, inv_stds));
    } else if with_inv_std {
        outs.push(Arr::floats(stash, stat_shape, inv_stds));
    }
    Ok(outs)
}
