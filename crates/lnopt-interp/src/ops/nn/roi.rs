//! `RoiAlign` (opsets 10 and 16): bilinear samples on a regular grid inside each region of
//! interest, averaged (`avg`) or maxed (`max`: the largest of each sample's four weighted
//! corner terms, as ONNX Runtime and the onnx reference define it) per output bin.

use crate::arr::{checked_numel, Arr};
use crate::call::Call;
use crate::error::{bail, OpResult};

/// The four corner indices and weights of a bilinear sample at `(y, x)`, or zeros when
/// the sample lies more than one pixel outside the map.
fn corners(h: usize, w: usize, y: f64, x: f64) -> [(usize, f64); 4] {
    if y < -1.0 || y > h as f64 || x < -1.0 || x > w as f64 {
        return [(0, 0.0); 4];
    }
    let (mut y, mut x) = (y.max(0.0), x.max(0.0));
    let (mut yl, mut xl) = (y as usize, x as usize);
    let (yh, xh);
    if yl >= h - 1 {
        yl = h - 1;
        yh = yl;
        y = yl as f64;
    } else {
        yh = yl + 1;
    }
    if xl >= w - 1 {
        xl = w - 1;
        xh = xl;
        x = xl as f64;
    } else {
        xh = xl + 1;
    }
    let (ly, lx) = (y - yl as f64, x - xl as f64);
    let (hy, hx) = (1.0 - ly, 1.0 - lx);
    [
        (yl * w + xl, hy * hx),
        (yl * w + xh, hy * lx),
        (yh * w + xl, ly * hx),
        (yh * w + xh, ly * lx),
    ]
}

/// Runs `RoiAlign`.
pub(crate) fn roi_align(c: &Call<'_>) -> OpResult<Arr> {
    let (x, rois, bidx) = (c.input(0)?, c.input(1)?, c.input(2)?);
    let xv = x.float_values("X")?;
    let rv = rois.to_f64();
    let bv = bidx.int_values("batch_indices")?;
    if x.rank() != 4 || rois.rank() != 2 || rois.shape[1] != 4 || bv.len() != rois.shape[0] {
        bail!(
            "X {:?}, rois {:?}, batch_indices {:?} do not fit",
            x.shape,
            rois.shape,
            bidx.shape
        );
    }
    let (n, ch, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
    if h == 0 || w == 0 {
        bail!("X has an empty spatial dim");
    }
    let default_ctm = if c.opset >= 16 {
        "half_pixel"
    } else {
        "output_half_pixel"
    };
    let half = match c
        .string("coordinate_transformation_mode", default_ctm)?
        .as_str()
    {
        "half_pixel" if c.opset >= 16 => true,
        "output_half_pixel" => false,
        m => bail!("unknown coordinate_transformation_mode '{m}'"),
    };
    let max = match c.string("mode", "avg")?.as_str() {
        "avg" => false,
        "max" => true,
        m => bail!("unknown mode '{m}'"),
    };
    let (ph, pw) = (c.int("output_height", 1)?, c.int("output_width", 1)?);
    let ratio = c.int("sampling_ratio", 0)?;
    if ph < 1 || pw < 1 || ratio < 0 {
        bail!("output_height / output_width must be positive, sampling_ratio >= 0");
    }
    let (ph, pw) = (ph as usize, pw as usize);
    let scale = c.float("spatial_scale", 1.0)? as f64;
    let nr = rois.shape[0];
    let shape = vec![nr, ch, ph, pw];
    let mut y = vec![0.0; checked_numel(&shape)?];
    let off = if half { 0.5 } else { 0.0 };
    for r in 0..nr {
        let bi = match usize::try_from(bv[r]) {
            Ok(b) if b < n => b,
            _ => bail!("batch index {} is outside [0, {n})", bv[r]),
        };
        let (x1, y1) = (rv[r * 4] * scale - off, rv[r * 4 + 1] * scale - off);
        let (x2, y2) = (rv[r * 4 + 2] * scale - off, rv[r * 4 + 3] * scale - off);
        let (mut rw, mut rh) = (x2 - x1, y2 - y1);
        if !half {
            rw = rw.max(1.0);
            rh = rh.max(1.0);
        }
        let (bh, bw) = (rh / ph as f64, rw / pw as f64);
        let gh = if ratio > 0 {
            ratio as usize
        } else {
            (rh / ph as f64).ceil().max(0.0) as usize
        };
        let gw = if ratio > 0 {
            ratio as usize
        } else {
            (rw / pw as f64).ceil().max(0.0) as usize
        };
        if gh.saturating_mul(gw) > 1 << 20 {
            bail!("sampling grid {gh}x{gw} is too large");
        }
        let count = (gh * gw).max(1) as f64;
        for py in 0..ph {
            for px in 0..pw {
                let mut samples = Vec::with_capacity(gh * gw);
                for iy in 0..gh {
                    let yy = y1 + py as f64 * bh + (iy as f64 + 0.5) * bh / gh as f64;
                    for ix in 0..gw {
                        let xx = x1 + px as f64 * bw + (ix as f64 + 0.5) * bw / gw as f64;
                        samples.push(corners(h, w, yy, xx));
                    }
                }
                for k in 0..ch {
                    let base = (bi * ch + k) * h * w;
                    let mut acc: Option<f64> = None;
                    let mut sum = 0.0;
                    for s in &samples {
                        if max {
                            let v = s
                                .iter()
                                .map(|&(i, wt)| wt * xv[base + i])
                                .fold(f64::NEG_INFINITY, f64::max);
                            acc = Some(acc.map_or(v, |a: f64| a.max(v)));
                        } else {
                            sum += s.iter().map(|&(i, wt)| wt * xv[base + i]).sum::<f64>();
                        }
                    }
                    y[((r * ch + k) * ph + py) * pw + px] =
                        if max { acc.unwrap_or(0.0) } else { sum / count };
                }
            }
        }
    }
    Ok(Arr::floats(x.dtype, shape, y))
}
