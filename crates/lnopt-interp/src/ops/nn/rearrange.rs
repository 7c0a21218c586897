//! Ops that move elements without arithmetic: Trilu, DepthToSpace and SpaceToDepth.

use crate::arr::Arr;
use crate::call::Call;
use crate::error::{bail, OpResult};

/// `Trilu`: keeps the upper (`upper` = 1, default) or lower triangle of the last two dims,
/// shifted by the optional diagonal offset `k`; other elements become zero.
pub(crate) fn trilu(c: &Call<'_>) -> OpResult<Arr> {
    let x = c.input(0)?;
    if x.rank() < 2 {
        bail!("input must have rank >= 2, got {:?}", x.shape);
    }
    let k = match c.opt_input(1) {
        Some(k) => k.scalar_i64("k")?,
        None => 0,
    };
    let upper = c.int("upper", 1)? != 0;
    let (m, n) = (x.shape[x.rank() - 2], x.shape[x.rank() - 1]);
    let idx: Vec<usize> = (0..x.len()).collect();
    let keep = |flat: usize| {
        let (i, j) = (
            ((flat / n.max(1)) % m.max(1)) as i64,
            (flat % n.max(1)) as i64,
        );
        if upper {
            j - i >= k
        } else {
            j - i <= k
        }
    };
    let mut y = x.gather_flat(x.shape.clone(), &idx);
    match &mut y.buf {
        crate::arr::Buf::F(v) => v.iter_mut().enumerate().for_each(|(f, e)| {
            if !keep(f) {
                *e = 0.0
            }
        }),
        crate::arr::Buf::I(v) => v.iter_mut().enumerate().for_each(|(f, e)| {
            if !keep(f) {
                *e = 0
            }
        }),
        crate::arr::Buf::S(_) => crate::error::bail!("string tensors are not supported here"),
    }
    Ok(y)
}

/// `DepthToSpace` (`DCR` default, or `CRD`) with `blocksize`.
pub(crate) fn depth_to_space(c: &Call<'_>) -> OpResult<Arr> {
    let x = c.input(0)?;
    if x.rank() != 4 {
        bail!("input must be 4-D, got {:?}", x.shape);
    }
    let b = block(c)?;
    let (n, ch, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
    if !ch.is_multiple_of(b * b) {
        bail!("channels {ch} are not divisible by blocksize^2 = {}", b * b);
    }
    let co = ch / (b * b);
    let crd = match c.string("mode", "DCR")?.as_str() {
        "DCR" => false,
        "CRD" => true,
        m => bail!("unknown mode '{m}'"),
    };
    let shape = vec![n, co, h * b, w * b];
    let mut idx = Vec::with_capacity(x.len());
    for bn in 0..n {
        for oc in 0..co {
            for oy in 0..h * b {
                for ox in 0..w * b {
                    let (y, by, xx, bx) = (oy / b, oy % b, ox / b, ox % b);
                    let ic = if crd {
                        oc * b * b + by * b + bx
                    } else {
                        (by * b + bx) * co + oc
                    };
                    idx.push(((bn * ch + ic) * h + y) * w + xx);
                }
            }
        }
    }
    Ok(x.gather_flat(shape, &idx))
}

/// `SpaceToDepth` with `blocksize`; from opset 28 `mode` CRD puts each input channel's
/// block together, DCR (the default, the only form before) puts each block offset together.
pub(crate) fn space_to_depth(c: &Call<'_>) -> OpResult<Arr> {
    let x = c.input(0)?;
    if x.rank() != 4 {
        bail!("input must be 4-D, got {:?}", x.shape);
    }
    let b = block(c)?;
    let (n, ch, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
    if !h.is_multiple_of(b) || !w.is_multiple_of(b) {
        bail!("spatial dims {h}x{w} are not divisible by blocksize {b}");
    }
    let crd = match c.string("mode", "DCR")?.as_str() {
        "DCR" => false,
        "CRD" if c.opset >= 28 => true,
        m => bail!("mode '{m}' is not defined at opset {}", c.opset),
    };
    let (oh, ow) = (h / b, w / b);
    let co = ch * b * b;
    let shape = vec![n, co, oh, ow];
    let mut idx = Vec::with_capacity(x.len());
    for bn in 0..n {
        for oc in 0..co {
            let (blk, ic) = if crd {
                (oc % (b * b), oc / (b * b))
            } else {
                (oc / ch, oc % ch)
            };
            let (by, bx) = (blk / b, blk % b);
            for oy in 0..oh {
                for ox in 0..ow {
                    idx.push(((bn * ch + ic) * h + oy * b + by) * w + ox * b + bx);
                }
            }
        }
    }
    Ok(x.gather_flat(shape, &idx))
}

fn block(c: &Call<'_>) -> OpResult<usize> {
    match c.opt_int("blocksize")? {
        Some(b) if (1..=4096).contains(&b) => Ok(b as usize),
        Some(b) => bail!("blocksize {b} is out of range"),
        None => bail!("blocksize is required"),
    }
}

/// `CenterCropPad`: each named axis (all by default) is centre-cropped or zero-padded to the
/// target length; the odd element of a crop or pad goes to the end.
pub(crate) fn center_crop_pad(c: &Call<'_>) -> OpResult<Arr> {
    let x = c.input(0)?;
    let target = crate::index::to_dims(c.input(1)?.int_values("shape")?, "shape")?;
    let axes = match c.ints("axes")? {
        Some(a) => crate::index::norm_axes(&a, x.rank())?,
        None => (0..x.rank()).collect(),
    };
    if axes.len() != target.len() {
        bail!(
            "shape names {} lengths for {} axes",
            target.len(),
            axes.len()
        );
    }
    let mut shape = x.shape.clone();
    // Per axis: offset added to an input index to get the output index (may be negative).
    let mut shift = vec![0i64; x.rank()];
    for (&a, &t) in axes.iter().zip(&target) {
        let d = x.shape[a];
        shift[a] = if t < d {
            -(((d - t) / 2) as i64)
        } else {
            ((t - d) / 2) as i64
        };
        shape[a] = t;
    }
    let n = crate::arr::checked_numel(&shape)?;
    let ost = crate::index::strides(&shape);
    let ist = crate::index::strides(&x.shape);
    let xv = x.to_f64();
    let mut y = vec![0.0; n];
    for (o, slot) in y.iter_mut().enumerate() {
        let mut src = 0usize;
        let mut inside = true;
        for d in 0..shape.len() {
            let i = (o / ost[d] % shape[d]) as i64 - shift[d];
            if i < 0 || i >= x.shape[d] as i64 {
                inside = false;
                break;
            }
            src += i as usize * ist[d];
        }
        if inside {
            *slot = xv[src];
        }
    }
    Ok(Arr::from_f64(x.dtype, shape, y))
}
