//! Ops that rearrange elements between axes: `DepthToSpace`, `SpaceToDepth`, and
//! `CenterCropPad` (centre crop or zero pad per axis).

use crate::arr::{checked_numel, Arr, Buf};
use crate::call::Call;
use crate::error::{bail, OpResult};
use crate::index::{norm_axes, strides, to_dims};
use crate::ops::shape_ops::transpose_index;

/// `x` viewed as `view`, permuted by `perm`, then viewed as `out`.
fn permute(x: &Arr, view: &[usize], perm: &[usize], out: Vec<usize>) -> OpResult<Arr> {
    let (_, idx) = transpose_index(view, perm);
    x.gather_flat(x.shape.clone(), &idx).reshaped(out)
}

/// The 4-D shape and a block size above zero.
fn nchw_and_block(c: &Call<'_>, x: &Arr) -> OpResult<([usize; 4], usize)> {
    let [b, ch, h, w] = x.shape[..] else {
        bail!("input must be 4-D, has shape {:?}", x.shape);
    };
    let bs = match c.opt_int("blocksize")? {
        Some(v) if v >= 1 => v as usize,
        other => bail!("blocksize must be a positive integer, got {other:?}"),
    };
    Ok(([b, ch, h, w], bs))
}

/// `DepthToSpace` with `mode` DCR (default) or CRD.
pub(crate) fn depth_to_space(c: &Call<'_>) -> OpResult<Arr> {
    let x = c.input(0)?;
    let ([b, ch, h, w], bs) = nchw_and_block(c, x)?;
    if ch % (bs * bs) != 0 {
        bail!(
            "channels {ch} are not a multiple of blocksize^2 = {}",
            bs * bs
        );
    }
    let c2 = ch / (bs * bs);
    let out = vec![b, c2, h * bs, w * bs];
    match c.string("mode", "DCR")?.as_str() {
        "DCR" => permute(x, &[b, bs, bs, c2, h, w], &[0, 3, 4, 1, 5, 2], out),
        "CRD" => permute(x, &[b, c2, bs, bs, h, w], &[0, 1, 4, 2, 5, 3], out),
        other => bail!("unknown mode '{other}'"),
    }
}

/// `SpaceToDepth` with `mode` DCR (default) or CRD.
pub(crate) fn space_to_depth(c: &Call<'_>) -> OpResult<Arr> {
    let x = c.input(0)?;
    let ([b, ch, h, w], bs) = nchw_and_block(c, x)?;
    if h % bs != 0 || w % bs != 0 {
        bail!("spatial dims {h}x{w} are not multiples of blocksize {bs}");
    }
    let out = vec![b, ch * bs * bs, h / bs, w / bs];
    let view = [b, ch, h / bs, bs, w / bs, bs];
    match c.string("mode", "DCR")?.as_str() {
        "DCR" => permute(x, &view, &[0, 3, 5, 1, 2, 4], out),
        "CRD" => permute(x, &view, &[0, 1, 3, 5, 2, 4], out),
        other => bail!("unknown mode '{other}'"),
    }
}

/// `CenterCropPad(input, shape)` over `axes` (default all): each axis is cropped or
/// zero-padded to its target size around the centre (the odd element goes to the end when
/// cropping, to the end when padding).
pub(crate) fn center_crop_pad(c: &Call<'_>) -> OpResult<Arr> {
    let x = c.input(0)?;
    let target = to_dims(c.input(1)?.int_values("shape")?, "shape")?;
    let r = x.rank();
    let axes = match c.ints("axes")? {
        Some(a) => norm_axes(&a, r)?,
        None => (0..r).collect(),
    };
    if axes.len() != target.len() {
        bail!(
            "shape {target:?} has {} entries for axes {axes:?}",
            target.len()
        );
    }
    let mut out = x.shape.clone();
    // Per axis: output coordinate minus this gives the source coordinate (may be negative).
    let mut shift = vec![0i64; r];
    for (&a, &t) in axes.iter().zip(&target) {
        let d = x.shape[a];
        out[a] = t;
        shift[a] = if t <= d {
            -(((d - t) / 2) as i64)
        } else {
            ((t - d) / 2) as i64
        };
    }
    let n = checked_numel(&out)?;
    let (ost, ist) = (strides(&out), strides(&x.shape));
    let src: Vec<Option<usize>> = (0..n)
        .map(|p| {
            let mut pos = 0usize;
            for a in 0..r {
                let s = ((p / ost[a]) % out[a]) as i64 - shift[a];
                if s < 0 || s >= x.shape[a] as i64 {
                    return None;
                }
                pos += s as usize * ist[a];
            }
            Some(pos)
        })
        .collect();
    Ok(match &x.buf {
        Buf::F(v) => Arr::floats(
            x.dtype,
            out,
            src.iter().map(|s| s.map_or(0.0, |i| v[i])).collect(),
        ),
        Buf::I(v) => Arr::ints(
            x.dtype,
            out,
            src.iter().map(|s| s.map_or(0, |i| v[i])).collect(),
        ),
        Buf::S(v) => Arr::strings(
            out,
            src.iter()
                .map(|s| s.map_or(Vec::new(), |i| v[i].clone()))
                .collect(),
        ),
    })
}
