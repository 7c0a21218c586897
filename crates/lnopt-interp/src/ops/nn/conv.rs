//! Convolutions over any number of spatial dims: `Conv` (groups, pads / auto_pad, strides,
//! dilations, bias) and `ConvTranspose` (also output_padding and output_shape).
//! Products accumulate in f64.

use super::attrs::{ints_len, Window};
use crate::arr::{checked_numel, Arr};
use crate::call::Call;
use crate::error::{bail, OpResult};

/// Checks X and W ranks and the group split; returns (N, C, spatial dims of X, group).
fn operands(c: &Call<'_>, x: &Arr, w: &Arr) -> OpResult<(usize, usize, Vec<usize>, usize)> {
    if x.rank() < 3 || w.rank() != x.rank() {
        bail!(
            "X {:?} and W {:?} must both be N x C x D1 ...",
            x.shape,
            w.shape
        );
    }
    if x.dtype != w.dtype {
        bail!("X is {} but W is {}", x.dtype, w.dtype);
    }
    let group = c.int("group", 1)?;
    if group < 1 || !x.shape[1].is_multiple_of(group as usize) {
        bail!(
            "group {group} does not divide {} input channels",
            x.shape[1]
        );
    }
    if let Some(ks) = c.ints("kernel_shape")? {
        let expect: Vec<i64> = w.shape[2..].iter().map(|&d| d as i64).collect();
        if ks != expect {
            bail!("kernel_shape {ks:?} differs from the weight's dims {expect:?}");
        }
    }
    Ok((
        x.shape[0],
        x.shape[1],
        x.shape[2..].to_vec(),
        group as usize,
    ))
}

/// The optional bias (input `slot`) of `m` output channels.
fn bias(c: &Call<'_>, slot: usize, m: usize) -> OpResult<Vec<f64>> {
    match c.opt_input(slot) {
        Some(b) if b.shape == [m] => Ok(b.to_f64()),
        Some(b) => bail!("B has shape {:?}, expected [{m}]", b.shape),
        None => Ok(vec![0.0; m]),
    }
}

/// `Conv`.
pub(crate) fn conv(c: &Call<'_>) -> OpResult<Arr> {
    let (x, w) = (c.input(0)?, c.input(1)?);
    let (n, ci, spatial, g) = operands(c, x, w)?;
    let (co, cig) = (w.shape[0], w.shape[1]);
    if !co.is_multiple_of(g) || cig * g != ci {
        bail!(
            "W {:?} does not fit {ci} input channels in {g} groups",
            w.shape
        );
    }
    let win = Window::from_attrs(c, &spatial, &w.shape[2..], true, false)?;
    let plane: usize = spatial.iter().product();
    let (taps, out_plane) = (win.taps(), win.out_len());
    let mut shape = vec![n, co];
    shape.extend(&win.output);
    let total = checked_numel(&shape)?;
    let b = bias(c, 2, co)?;
    let (xv, wv) = (x.to_f64(), w.to_f64());
    // For every (output position, tap) the input offset inside a plane, if inside.
    let mut coord = vec![0i64; spatial.len()];
    let mut at: Vec<Option<usize>> = Vec::with_capacity(out_plane * taps);
    for o in 0..out_plane {
        for k in 0..taps {
            win.coords(o, k, &mut coord);
            at.push(win.inside(&coord));
        }
    }
    let cog = co / g;
    let mut y = vec![0.0; total];
    for bn in 0..n {
        for oc in 0..co {
            let gi = oc / cog;
            for o in 0..out_plane {
                let mut s = b[oc];
                for icg in 0..cig {
                    let xb = (bn * ci + gi * cig + icg) * plane;
                    let wb = (oc * cig + icg) * taps;
                    for k in 0..taps {
                        if let Some(i) = at[o * taps + k] {
                            s += xv[xb + i] * wv[wb + k];
                        }
                    }
                }
                y[(bn * co + oc) * out_plane + o] = s;
            }
        }
    }
    Ok(Arr::from_f64(x.dtype, shape, y))
}

/// `ConvTranspose`: every input element scatters `x * w` to output position
/// `i * stride + k * dilation - pad_begin`.
pub(crate) fn conv_transpose(c: &Call<'_>) -> OpResult<Arr> {
    let (x, w) = (c.input(0)?, c.input(1)?);
    let (n, ci, spatial, g) = operands(c, x, w)?;
    let sp = spatial.len();
    if w.shape[0] != ci {
        bail!("W {:?} must have {ci} input channels first", w.shape);
    }
    let mg = w.shape[1];
    let co = mg * g;
    let cig = ci / g;
    let kernel = w.shape[2..].to_vec();
    let strides = ints_len(c, "strides", sp, 1, 1)?;
    let dil = ints_len(c, "dilations", sp, 1, 1)?;
    let adj = ints_len(c, "output_padding", sp, 0, 0)?;
    for i in 0..sp {
        if adj[i] >= strides[i].max(dil[i]) {
            bail!("output_padding {adj:?} must be smaller than the stride or dilation");
        }
    }
    let auto = c.string("auto_pad", "NOTSET")?;
    // Output length before padding is removed.
    let full: Vec<usize> = (0..sp)
        .map(|i| {
            strides[i] * (spatial[i].max(1) - 1) + adj[i] + (kernel[i].max(1) - 1) * dil[i] + 1
        })
        .collect();
    let mut pad_begin = vec![0i64; sp];
    let mut out = vec![0usize; sp];
    let out_shape_attr = c.ints("output_shape")?;
    let target: Option<Vec<usize>> = match &out_shape_attr {
        Some(os) => {
            if os.len() < sp {
                bail!("output_shape {os:?} must name {sp} spatial dims");
            }
            Some(crate::index::to_dims(&os[os.len() - sp..], "output_shape")?)
        }
        None if auto == "SAME_UPPER" || auto == "SAME_LOWER" => {
            Some(spatial.iter().zip(&strides).map(|(&d, &s)| d * s).collect())
        }
        None => None,
    };
    match target {
        Some(t) => {
            for i in 0..sp {
                let total = full[i] as i64 - t[i] as i64;
                pad_begin[i] = if total <= 0 {
                    // The output extends past the last input contribution: zeros at the end.
                    0
                } else if auto == "SAME_UPPER" {
                    total / 2
                } else if auto == "SAME_LOWER" {
                    total - total / 2
                } else if total % 2 == 0 {
                    total / 2
                } else {
                    bail!("output_shape {t:?} needs an odd total padding on dim {i}; the spec and ONNX Runtime split it differently");
                };
                out[i] = t[i];
            }
        }
        None => {
            let pads = match auto.as_str() {
                "NOTSET" | "" => ints_len(c, "pads", 2 * sp, 0, 0)?,
                "VALID" => vec![0; 2 * sp],
                a => bail!("unknown auto_pad '{a}'"),
            };
            for i in 0..sp {
                let removed = pads[i] + pads[sp + i];
                if removed >= full[i] {
                    bail!("pads {pads:?} remove the whole output on dim {i}");
                }
                pad_begin[i] = pads[i] as i64;
                out[i] = full[i] - removed;
            }
        }
    }
    let mut shape = vec![n, co];
    shape.extend(&out);
    let total = checked_numel(&shape)?;
    let b = bias(c, 2, co)?;
    let (xv, wv) = (x.to_f64(), w.to_f64());
    let plane: usize = spatial.iter().product();
    let taps: usize = kernel.iter().product();
    let out_plane: usize = out.iter().product();
    // For every (input position, tap): the output offset inside a plane, if inside.
    let mut at: Vec<Option<usize>> = Vec::with_capacity(plane * taps);
    for p in 0..plane {
        for k in 0..taps {
            let (mut pp, mut kk, mut idx, mut mul, mut ok) = (p, k, 0usize, 1usize, true);
            for d in (0..sp).rev() {
                let (id, kd) = (pp % spatial[d], kk % kernel[d]);
                pp /= spatial[d];
                kk /= kernel[d];
                let o = (id * strides[d] + kd * dil[d]) as i64 - pad_begin[d];
                if o < 0 || o >= out[d] as i64 {
                    ok = false;
                    break;
                }
                idx += o as usize * mul;
                mul *= out[d];
            }
            at.push(ok.then_some(idx));
        }
    }
    let mut y = vec![0.0; total];
    for bn in 0..n {
        for (oc, &bias_oc) in b.iter().enumerate() {
            let (gi, m) = (oc / mg, oc % mg);
            let yb = (bn * co + oc) * out_plane;
            y[yb..yb + out_plane].iter_mut().for_each(|v| *v = bias_oc);
            for icg in 0..cig {
                let ic = gi * cig + icg;
                let xb = (bn * ci + ic) * plane;
                let wb = (ic * mg + m) * taps;
                for p in 0..plane {
                    let xval = xv[xb + p];
                    for k in 0..taps {
                        if let Some(o) = at[p * taps + k] {
                            y[yb + o] += xval * wv[wb + k];
                        }
                    }
                }
            }
        }
    }
    Ok(Arr::from_f64(x.dtype, shape, y))
}

/// `CausalConvWithState`: depthwise causal 1-D convolution of `[B, C, L]` with weight
/// `[C, 1, k]`, the optional bias and the optional carried state `[B, C, k-1]` on the left;
/// optional SiLU (`activation` silu / swish). Outputs `[Y, present_state]` (the last k-1
/// positions of the padded input).
pub(crate) fn causal_conv_with_state(c: &Call<'_>) -> OpResult<Vec<Arr>> {
    let (x, w) = (c.input(0)?, c.input(1)?);
    let xv = x.float_values("input")?;
    if x.rank() != 3
        || w.rank() != 3
        || w.shape[0] != x.shape[1]
        || w.shape[1] != 1
        || w.shape[2] == 0
    {
        bail!(
            "input {:?} must be [B, C, L] and weight {:?} [C, 1, k]",
            x.shape,
            w.shape
        );
    }
    let (b, ch, l, k) = (x.shape[0], x.shape[1], x.shape[2], w.shape[2]);
    let wv = w.to_f64();
    let bias = bias(c, 2, ch)?;
    let past = match c.opt_input(3) {
        Some(p) if p.shape == [b, ch, k - 1] => p.to_f64(),
        Some(p) => bail!("past_state {:?} must be [{b}, {ch}, {}]", p.shape, k - 1),
        None => vec![0.0; b * ch * (k - 1)],
    };
    let silu = match c.string("activation", "none")?.as_str() {
        "none" => false,
        "silu" | "swish" => true,
        a => bail!("unknown activation '{a}'"),
    };
    let t = x.dtype;
    let pl = l + k - 1;
    let mut y = vec![0.0; b * ch * l];
    let mut state = vec![0.0; b * ch * (k - 1)];
    for bi in 0..b {
        for ci in 0..ch {
            let row = bi * ch + ci;
            let padded: Vec<f64> = past[row * (k - 1)..(row + 1) * (k - 1)]
                .iter()
                .chain(&xv[row * l..(row + 1) * l])
                .copied()
                .collect();
            for o in 0..l {
                let s: f64 = bias[ci] + (0..k).map(|j| padded[o + j] * wv[ci * k + j]).sum::<f64>();
                let s = crate::arr::round_float(t, s);
                y[row * l + o] = if silu { s / (1.0 + (-s).exp()) } else { s };
            }
            state[row * (k - 1)..(row + 1) * (k - 1)].copy_from_slice(&padded[pl - (k - 1)..]);
        }
    }
    let mut outs = vec![Arr::floats(t, vec![b, ch, l], y)];
    if c.n_outputs > 1 {
        outs.push(Arr::floats(t, vec![b, ch, k - 1], state));
    }
    Ok(outs)
}

/// Bilinear sample of the `h x w` plane `p` at `(y, x)`, zero outside.
fn bilinear_zero(p: &[f64], h: usize, w: usize, y: f64, x: f64) -> f64 {
    let (y0, x0) = (y.floor(), x.floor());
    let (ly, lx) = (y - y0, x - x0);
    let at = |yy: f64, xx: f64| -> f64 {
        if yy < 0.0 || xx < 0.0 || yy >= h as f64 || xx >= w as f64 {
            0.0
        } else {
            p[yy as usize * w + xx as usize]
        }
    };
    (1.0 - ly) * ((1.0 - lx) * at(y0, x0) + lx * at(y0, x0 + 1.0))
        + ly * ((1.0 - lx) * at(y0 + 1.0, x0) + lx * at(y0 + 1.0, x0 + 1.0))
}

/// `DeformConv` (2-D): each kernel tap samples X bilinearly (zeros outside) at its regular
/// position plus the learned `offset`, optionally scaled by `mask`; `group`,
/// `offset_group`, pads, strides, dilations and bias as in Conv.
pub(crate) fn deform_conv(c: &Call<'_>) -> OpResult<Arr> {
    let (x, w, off) = (c.input(0)?, c.input(1)?, c.input(2)?);
    if x.rank() != 4 {
        bail!(
            "only 2-D DeformConv is supported, X has shape {:?}",
            x.shape
        );
    }
    let (n, ci, spatial, g) = operands(c, x, w)?;
    let (co, cig) = (w.shape[0], w.shape[1]);
    if !co.is_multiple_of(g) || cig * g != ci {
        bail!(
            "W {:?} does not fit {ci} input channels in {g} groups",
            w.shape
        );
    }
    let og = c.int("offset_group", 1)?;
    if og < 1 || !ci.is_multiple_of(og as usize) {
        bail!("offset_group {og} does not divide {ci} input channels");
    }
    let og = og as usize;
    let win = Window::from_attrs(c, &spatial, &w.shape[2..], true, false)?;
    let (ih, iw) = (spatial[0], spatial[1]);
    let (kh, kw) = (w.shape[2], w.shape[3]);
    let (oh, ow) = (win.output[0], win.output[1]);
    if off.shape != [n, og * kh * kw * 2, oh, ow] {
        bail!(
            "offset {:?} must be [{n}, {}, {oh}, {ow}]",
            off.shape,
            og * kh * kw * 2
        );
    }
    let mask = match c.opt_input(4) {
        Some(m) if m.shape == [n, og * kh * kw, oh, ow] => Some(m.to_f64()),
        Some(m) => bail!(
            "mask {:?} must be [{n}, {}, {oh}, {ow}]",
            m.shape,
            og * kh * kw
        ),
        None => None,
    };
    let b = bias(c, 3, co)?;
    let (xv, wv, ov) = (x.to_f64(), w.to_f64(), off.to_f64());
    let (cog, cpo) = (co / g, ci / og);
    let mut y = vec![0.0; checked_numel(&[n, co, oh, ow])?];
    for bn in 0..n {
        for oc in 0..co {
            let gi = oc / cog;
            for i in 0..oh {
                for j in 0..ow {
                    let mut s = b[oc];
                    for icg in 0..cig {
                        let ic = gi * cig + icg;
                        let o = ic / cpo;
                        let plane = &xv[(bn * ci + ic) * ih * iw..(bn * ci + ic + 1) * ih * iw];
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let tap = ky * kw + kx;
                                let oat = |comp: usize| {
                                    ov[(((bn * og + o) * kh * kw + tap) * 2 + comp) * oh * ow
                                        + i * ow
                                        + j]
                                };
                                let yy = (i * win.strides[0] + ky * win.dilations[0]) as f64
                                    - win.pad_begin[0] as f64
                                    + oat(0);
                                let xx = (j * win.strides[1] + kx * win.dilations[1]) as f64
                                    - win.pad_begin[1] as f64
                                    + oat(1);
                                let m = mask.as_ref().map_or(1.0, |m| {
                                    m[((bn * og + o) * kh * kw + tap) * oh * ow + i * ow + j]
                                });
                                s += bilinear_zero(plane, ih, iw, yy, xx)
                                    * wv[((oc * cig + icg) * kh + ky) * kw + kx]
                                    * m;
                            }
                        }
                    }
                    y[((bn * co + oc) * oh + i) * ow + j] = s;
                }
            }
        }
    }
    Ok(Arr::from_f64(x.dtype, vec![n, co, oh, ow], y))
}
