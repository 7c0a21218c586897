//! LayerNormalization / RMSNormalization as a plain Rust runtime function (any float dtype;
//! statistics in f64). The plan prefers generated kernels for f32/f16 and falls back here.

use super::bcast::{norm_axis, BIdx};
use super::Ctx;
use crate::error::{bail, OpResult};
use crate::value::{Data, Val};

/// Geometry of a normalisation: `rows` rows of `hidden` elements, plus the stats shape.
pub(crate) struct NormGeom {
    /// Rows (product of the dims before `axis`).
    pub rows: usize,
    /// Row length (product of the dims from `axis`).
    pub hidden: usize,
    /// Shape of Mean / InvStdDev outputs.
    pub stat_shape: Vec<usize>,
}

/// The geometry of normalising `x` from `axis`.
pub(crate) fn geometry(x: &Val, axis: i64) -> OpResult<NormGeom> {
    let a = norm_axis(axis, x.rank())?;
    let mut stat_shape = x.shape[..a].to_vec();
    stat_shape.extend(std::iter::repeat_n(1, x.rank() - a));
    Ok(NormGeom {
        rows: x.shape[..a].iter().product(),
        hidden: x.shape[a..].iter().product(),
        stat_shape,
    })
}

/// Expands a scale/bias to one value per element of the normalised row (broadcasting);
/// borrowed when the f32 parameter already holds exactly one value per element.
pub(crate) fn expand_param<'a>(
    p: &'a Val,
    x: &Val,
    axis: i64,
    what: &str,
) -> OpResult<std::borrow::Cow<'a, [f32]>> {
    let a = norm_axis(axis, x.rank())?;
    let row = &x.shape[a..];
    let b = super::bcast::broadcast2(&p.shape, row)?;
    if b != row {
        bail!(
            "{what} of shape {:?} does not broadcast to the normalised shape {row:?}",
            p.shape
        );
    }
    let n: usize = row.iter().product();
    if let (Data::F(v), lnopt_ir::DType::F32) = (&*p.data, p.dtype) {
        if v.len() == n {
            // Broadcasting to the row without changing the count: only leading 1s differ.
            return Ok(std::borrow::Cow::Borrowed(v.as_slice()));
        }
    }
    let idx = BIdx::new(&p.shape, row);
    let v = p.as_f64();
    Ok(std::borrow::Cow::Owned(
        (0..n).map(|i| v[idx.at(i)] as f32).collect(),
    ))
}

/// Runs the normalisation in Rust. Outputs: Y, then Mean and InvStdDev (LN) or InvStdDev
/// (RMS-style ops with a second output).
pub(crate) fn norm_op(c: &Ctx<'_>, rms: bool) -> OpResult<Vec<Val>> {
    let x = c.input(0)?;
    let axis = c.int("axis", -1)?;
    let eps = c.float("epsilon", 1e-5)? as f64;
    let g = geometry(x, axis)?;
    let scale = c
        .opt(1)
        .map(|s| expand_param(s, x, axis, "scale"))
        .transpose()?;
    let bias = if rms {
        None
    } else {
        c.opt(2)
            .map(|s| expand_param(s, x, axis, "bias"))
            .transpose()?
    };
    let xs = x.as_f64();
    let mut y = vec![0f64; xs.len()];
    let mut means = Vec::with_capacity(g.rows);
    let mut invs = Vec::with_capacity(g.rows);
    let h = g.hidden.max(1);
    for r in 0..g.rows {
        let row = &xs[r * g.hidden..(r + 1) * g.hidden];
        let mean = if rms {
            0.0
        } else {
            row.iter().sum::<f64>() / h as f64
        };
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / h as f64;
        let inv = 1.0 / (var + eps).sqrt();
        for (j, v) in row.iter().enumerate() {
            let mut o = (v - mean) * inv;
            if let Some(s) = &scale {
                o *= s[j] as f64;
            }
            if let Some(b) = &bias {
                o += b[j] as f64;
            }
            y[r * g.hidden + j] = o;
        }
        means.push(mean);
        invs.push(inv);
    }
    let dt = x.dtype;
    let yv = match &*x.data {
        Data::F(_) => Val::floats(
            dt,
            x.shape.clone(),
            y.into_iter().map(|v| v as f32).collect(),
        )?,
        Data::D(_) => Val::new(dt, x.shape.clone(), Data::D(y))?,
        _ => bail!("normalisation of {dt}"),
    };
    let stash = lnopt_ir::DType::from_onnx(c.int("stash_type", 1)? as i32);
    let stat = |v: Vec<f64>| -> OpResult<Val> {
        if stash == lnopt_ir::DType::F64 {
            Val::new(stash, g.stat_shape.clone(), Data::D(v))
        } else {
            Val::floats(
                stash,
                g.stat_shape.clone(),
                v.into_iter().map(|a| a as f32).collect(),
            )
        }
    };
    let mut outs = vec![yv];
    let nout = c.node.outputs.len();
    if rms {
        if nout > 1 {
            outs.push(stat(invs)?);
        }
    } else {
        if nout > 1 {
            outs.push(stat(means)?);
        }
        if nout > 2 {
            outs.push(stat(invs)?);
        }
    }
    Ok(outs)
}
