//! Pooling: MaxPool (with the Indices output), AveragePool, LpPool, their Global forms and
//! MaxUnpool, over any number of spatial dims of an `N x C x D1 x ... x Dn` input.

use super::attrs::{ints_len, Window};
use crate::arr::{checked_numel, Arr, Buf};
use crate::call::Call;
use crate::error::{bail, OpResult};
use lnopt_ir::DType;

/// Splits an `N x C x spatial...` shape.
fn split_nc(x: &Arr) -> OpResult<(usize, usize, Vec<usize>)> {
    if x.rank() < 3 {
        bail!("input must be N x C x D1 ..., got shape {:?}", x.shape);
    }
    Ok((x.shape[0], x.shape[1], x.shape[2..].to_vec()))
}

/// The pooling window of a MaxPool / AveragePool / LpPool node.
fn pool_window(c: &Call<'_>, spatial: &[usize], op: &str) -> OpResult<Window> {
    let kernel = ints_len(c, "kernel_shape", spatial.len(), 0, 1)
        .map_err(|_| format!("kernel_shape must name {} positive dims", spatial.len()))?;
    if c.ints("kernel_shape")?.is_none() {
        bail!("kernel_shape is required");
    }
    let (dil, ceil) = match op {
        "MaxPool" => (c.opset >= 10, c.opset >= 10),
        "AveragePool" => (c.opset >= 19, c.opset >= 10),
        _ => (c.opset >= 18, c.opset >= 18),
    };
    Window::from_attrs(c, spatial, &kernel, dil, ceil)
}

/// `MaxPool`: outputs `[Y]` or `[Y, Indices]` (flat indices into X, `storage_order` 1 =
/// column-major over the spatial dims).
pub(crate) fn max_pool(c: &Call<'_>) -> OpResult<Vec<Arr>> {
    let x = c.input(0)?;
    let (n, ch, spatial) = split_nc(x)?;
    let w = pool_window(c, &spatial, "MaxPool")?;
    let col_major = c.int("storage_order", 0)? != 0;
    let plane: usize = spatial.iter().product();
    let out_plane = w.out_len();
    let mut out_shape = vec![n, ch];
    out_shape.extend(&w.output);
    let total = checked_numel(&out_shape)?;
    let xv = x.to_f64();
    let mut y = vec![0.0; total];
    let mut idx = vec![0i64; total];
    let mut coord = vec![0i64; spatial.len()];
    for nc in 0..n * ch {
        let base = nc * plane;
        for o in 0..out_plane {
            let mut best: Option<(f64, usize)> = None;
            for k in 0..w.taps() {
                w.coords(o, k, &mut coord);
                if let Some(i) = w.inside(&coord) {
                    let v = xv[base + i];
                    if best.is_none_or(|(b, _)| v > b) {
                        best = Some((v, i));
                    }
                }
            }
            let (v, i) = match best {
                Some(b) => b,
                None => bail!("a pooling window holds no input element"),
            };
            let i = if col_major {
                // Re-linearise the spatial coordinates column-major.
                let mut rest = i;
                let mut cm = 0usize;
                let mut mul = 1usize;
                let mut coords = vec![0; spatial.len()];
                for d in (0..spatial.len()).rev() {
                    coords[d] = rest % spatial[d];
                    rest /= spatial[d];
                }
                for d in 0..spatial.len() {
                    cm += coords[d] * mul;
                    mul *= spatial[d];
                }
                cm
            } else {
                i
            };
            y[nc * out_plane + o] = v;
            idx[nc * out_plane + o] = (base + i) as i64;
        }
    }
    let mut outs = vec![match &x.buf {
        Buf::F(_) => Arr::floats(x.dtype, out_shape.clone(), y),
        Buf::I(_) => Arr::ints(
            x.dtype,
            out_shape.clone(),
            y.iter().map(|&v| v as i64).collect(),
        ),
        Buf::S(_) => crate::error::bail!("string tensors cannot be pooled"),
    }];
    if c.n_outputs > 1 {
        outs.push(Arr::ints(DType::I64, out_shape, idx));
    }
    Ok(outs)
}

/// `AveragePool` (`count_include_pad`) and `LpPool` (`p`, when `lp` is `Some`).
pub(crate) fn avg_lp_pool(c: &Call<'_>, lp: bool) -> OpResult<Arr> {
    let x = c.input(0)?;
    let xv = x.float_values("X")?;
    let (n, ch, spatial) = split_nc(x)?;
    let w = pool_window(c, &spatial, if lp { "LpPool" } else { "AveragePool" })?;
    let include_pad = c.int("count_include_pad", 0)? != 0;
    let p = c.int("p", 2)? as f64;
    let plane: usize = spatial.iter().product();
    let out_plane = w.out_len();
    let mut out_shape = vec![n, ch];
    out_shape.extend(&w.output);
    let total = checked_numel(&out_shape)?;
    let mut y = vec![0.0; total];
    let mut coord = vec![0i64; spatial.len()];
    for nc in 0..n * ch {
        let base = nc * plane;
        for o in 0..out_plane {
            let (mut sum, mut count) = (0.0, 0usize);
            for k in 0..w.taps() {
                w.coords(o, k, &mut coord);
                match w.inside(&coord) {
                    Some(i) => {
                        let v = xv[base + i];
                        sum += if lp { v.abs().powf(p) } else { v };
                        count += 1;
                    }
                    None if include_pad && w.inside_padded(&coord) => count += 1,
                    None => {}
                }
            }
            y[nc * out_plane + o] = if lp {
                sum.powf(1.0 / p)
            } else {
                sum / count as f64
            };
        }
    }
    Ok(Arr::floats(x.dtype, out_shape, y))
}

/// `GlobalAveragePool`, `GlobalMaxPool` and `GlobalLpPool` over all spatial dims.
pub(crate) fn global_pool(c: &Call<'_>, op: &str) -> OpResult<Arr> {
    let x = c.input(0)?;
    let xv = x.float_values("X")?;
    let (n, ch, spatial) = split_nc(x)?;
    let plane: usize = spatial.iter().product();
    let p = c.int("p", 2)? as f64;
    let mut y = Vec::with_capacity(n * ch);
    for nc in 0..n * ch {
        let row = &xv[nc * plane..(nc + 1) * plane];
        y.push(match op {
            "GlobalMaxPool" => row.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            "GlobalLpPool" => row
                .iter()
                .map(|v| v.abs().powf(p))
                .sum::<f64>()
                .powf(1.0 / p),
            _ => row.iter().sum::<f64>() / plane as f64,
        });
    }
    let mut shape = vec![n, ch];
    shape.extend(std::iter::repeat_n(1, spatial.len()));
    Ok(Arr::floats(x.dtype, shape, y))
}

/// `MaxUnpool`: scatters X into zeros at the flat indices I of the un-pooled shape
/// (from kernel_shape, strides, pads); a larger optional output_shape holds that at its
/// origin, zeros elsewhere.
pub(crate) fn max_unpool(c: &Call<'_>) -> OpResult<Arr> {
    let x = c.input(0)?;
    let ind = c.input(1)?;
    let iv = ind.int_values("I")?;
    if ind.shape != x.shape {
        bail!("I {:?} must have X's shape {:?}", ind.shape, x.shape);
    }
    let (n, ch, spatial) = split_nc(x)?;
    let sp = spatial.len();
    let kernel = ints_len(c, "kernel_shape", sp, 0, 1)?;
    let strides = ints_len(c, "strides", sp, 1, 1)?;
    let pads = ints_len(c, "pads", 2 * sp, 0, 0)?;
    let mut inferred = vec![n, ch];
    for i in 0..sp {
        let d = ((spatial[i].max(1) - 1) * strides[i] + kernel[i])
            .checked_sub(pads[i] + pads[sp + i])
            .ok_or("pads exceed the un-pooled size")?;
        inferred.push(d);
    }
    // The indices address the inferred shape; a larger output_shape holds it at its origin.
    let shape: Vec<usize> = match c.opt_input(2) {
        Some(s) => crate::index::to_dims(s.int_values("output_shape")?, "output_shape")?,
        None => inferred.clone(),
    };
    if shape.len() != x.rank() || shape.iter().zip(&inferred).any(|(&s, &i)| s < i) {
        bail!("output shape {shape:?} is smaller than the un-pooled shape {inferred:?}");
    }
    let total = checked_numel(&shape)?;
    let n_inf = checked_numel(&inferred)?;
    let (ist, ost) = (
        crate::index::strides(&inferred),
        crate::index::strides(&shape),
    );
    let xv = x.to_f64();
    let mut y = vec![0.0; total];
    for (&i, &v) in iv.iter().zip(&xv) {
        let i = match usize::try_from(i) {
            Ok(i) if i < n_inf => i,
            _ => bail!("index {i} is outside the un-pooled shape {inferred:?}"),
        };
        let o: usize = (0..inferred.len())
            .map(|d| i / ist[d] % inferred[d] * ost[d])
            .sum();
        y[o] = v;
    }
    Ok(Arr::from_f64(x.dtype, shape, y))
}
