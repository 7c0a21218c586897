//! Sampling at computed coordinates: `GridSample` (nearest / linear / cubic over any number
//! of spatial dims, zeros / border / reflection padding, align_corners) and `AffineGrid`.

use crate::arr::{checked_numel, Arr};
use crate::call::Call;
use crate::error::{bail, OpResult};

/// Reflects `x` into `[lo, hi]` by its nearest border, repeatedly.
fn reflect(x: f64, lo: f64, hi: f64) -> f64 {
    let rng = hi - lo;
    if rng <= 0.0 {
        return lo;
    }
    if x < lo {
        let dx = lo - x;
        let n = (dx / rng).trunc();
        let r = dx - n * rng;
        if n as i64 % 2 == 0 {
            lo + r
        } else {
            hi - r
        }
    } else if x > hi {
        let dx = x - hi;
        let n = (dx / rng).trunc();
        let r = dx - n * rng;
        if n as i64 % 2 == 0 {
            hi - r
        } else {
            lo + r
        }
    } else {
        x
    }
}

fn cubic(x: f64) -> [f64; 4] {
    let a = -0.75;
    let x = x.abs();
    let c0 = ((a * (x + 1.0) - 5.0 * a) * (x + 1.0) + 8.0 * a) * (x + 1.0) - 4.0 * a;
    let c1 = ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    let c2 = ((a + 2.0) * (1.0 - x) - (a + 3.0)) * (1.0 - x) * (1.0 - x) + 1.0;
    let c3 = ((a * (2.0 - x) - 5.0 * a) * (2.0 - x) + 8.0 * a) * (2.0 - x) - 4.0 * a;
    [c0, c1, c2, c3]
}

/// `GridSample`.
pub(crate) fn grid_sample(c: &Call<'_>) -> OpResult<Arr> {
    let (x, grid) = (c.input(0)?, c.input(1)?);
    let xv = x.float_values("X")?;
    let gv = grid.to_f64();
    let sp = x.rank().saturating_sub(2);
    if sp == 0
        || grid.rank() != x.rank()
        || grid.shape[0] != x.shape[0]
        || grid.shape[x.rank() - 1] != sp
    {
        bail!("X {:?} and grid {:?} do not fit", x.shape, grid.shape);
    }
    if c.opset < 20 && sp != 2 {
        bail!("GridSample before opset 20 is 2-D only");
    }
    let mode = match c
        .string("mode", if c.opset >= 20 { "linear" } else { "bilinear" })?
        .as_str()
    {
        "nearest" => 0,
        "linear" | "bilinear" => 1,
        "cubic" | "bicubic" => 2,
        m => bail!("unknown mode '{m}'"),
    };
    let pad = c.string("padding_mode", "zeros")?;
    if !matches!(pad.as_str(), "zeros" | "border" | "reflection") {
        bail!("unknown padding_mode '{pad}'");
    }
    let align = c.int("align_corners", 0)? != 0;
    let (n, ch) = (x.shape[0], x.shape[1]);
    let dims = &x.shape[2..];
    let out_sp = &grid.shape[1..grid.rank() - 1];
    let out_plane: usize = out_sp.iter().product();
    let in_plane: usize = dims.iter().product();
    let mut shape = vec![n, ch];
    shape.extend(out_sp);
    let mut y = vec![0.0; checked_numel(&shape)?];
    let border: Vec<(f64, f64)> = dims
        .iter()
        .map(|&d| {
            if align {
                (0.0, d as f64 - 1.0)
            } else {
                (-0.5, d as f64 - 0.5)
            }
        })
        .collect();
    // Index along dim `d` after padding, or None for a zero.
    let fetch = |d: usize, i: i64| -> Option<usize> {
        let len = dims[d] as i64;
        match pad.as_str() {
            "zeros" => (0..len).contains(&i).then_some(i as usize),
            "border" => Some(i.clamp(0, len - 1) as usize),
            _ => Some(
                (reflect(i as f64, border[d].0, border[d].1) as i64).clamp(0, len - 1) as usize,
            ),
        }
    };
    for b in 0..n {
        for o in 0..out_plane {
            let g = &gv[(b * out_plane + o) * sp..(b * out_plane + o + 1) * sp];
            // Source coordinate per dim (the grid lists the last dim first).
            let mut coord = vec![0.0; sp];
            for d in 0..sp {
                let nv = g[sp - 1 - d];
                let len = dims[d] as f64;
                let mut v = if align {
                    (nv + 1.0) / 2.0 * (len - 1.0)
                } else {
                    ((nv + 1.0) * len - 1.0) / 2.0
                };
                v = crate::arr::round_float(lnopt_ir::DType::F32, v);
                if mode == 0 {
                    v = v.round_ties_even();
                }
                if v < border[d].0 || v > border[d].1 {
                    match pad.as_str() {
                        "border" => v = v.clamp(0.0, len - 1.0),
                        "reflection" => v = reflect(v, border[d].0, border[d].1),
                        _ => {}
                    }
                }
                coord[d] = v;
            }
            // Taps per dim: (index, weight).
            let taps: Vec<Vec<(i64, f64)>> = coord
                .iter()
                .map(|&v| match mode {
                    0 => vec![(v.trunc() as i64, 1.0)],
                    1 => {
                        let f = v.floor();
                        vec![(f as i64, 1.0 - (v - f)), (f as i64 + 1, v - f)]
                    }
                    _ => {
                        let f = v.floor();
                        let w = cubic(v - f);
                        (0..4).map(|k| (f as i64 - 1 + k as i64, w[k])).collect()
                    }
                })
                .collect();
            let combos: usize = taps.iter().map(|t| t.len()).product();
            for k in 0..ch {
                let base = (b * ch + k) * in_plane;
                let mut sum = 0.0;
                for combo in 0..combos {
                    let (mut rest, mut w, mut idx, mut zero) = (combo, 1.0, 0usize, false);
                    let mut picks = vec![(0i64, 0.0); sp];
                    for d in (0..sp).rev() {
                        picks[d] = taps[d][rest % taps[d].len()];
                        rest /= taps[d].len();
                    }
                    for d in 0..sp {
                        w *= picks[d].1;
                        match fetch(d, picks[d].0) {
                            Some(i) => idx = idx * dims[d] + i,
                            None => zero = true,
                        }
                    }
                    if !zero {
                        sum += w * xv[base + idx];
                    }
                }
                y[(b * ch + k) * out_plane + o] = sum;
            }
        }
    }
    Ok(Arr::floats(x.dtype, shape, y))
}

/// `AffineGrid`: `theta` `[N, 2, 3]` (2-D) or `[N, 3, 4]` (3-D) applied to the normalised
/// base grid of `size` `[N, C, (D,) H, W]`; output `[N, (D,) H, W, 2 or 3]` (x first).
pub(crate) fn affine_grid(c: &Call<'_>) -> OpResult<Arr> {
    let theta = c.input(0)?;
    let tv = theta.float_values("theta")?;
    let size = crate::index::to_dims(c.input(1)?.int_values("size")?, "size")?;
    let sp = size.len().saturating_sub(2);
    if !(sp == 2 || sp == 3) || theta.shape != [size[0], sp, sp + 1] {
        bail!("theta {:?} does not fit size {size:?}", theta.shape);
    }
    let align = c.int("align_corners", 0)? != 0;
    let n = size[0];
    let sdims = &size[2..];
    let lin = |i: usize, len: usize| -> f64 {
        if align {
            if len <= 1 {
                0.0
            } else {
                -1.0 + 2.0 * i as f64 / (len as f64 - 1.0)
            }
        } else {
            (2.0 * i as f64 + 1.0) / len as f64 - 1.0
        }
    };
    let plane: usize = sdims.iter().product();
    let mut shape = vec![n];
    shape.extend(sdims);
    shape.push(sp);
    let mut y = vec![0.0; checked_numel(&shape)?];
    for b in 0..n {
        let th = &tv[b * sp * (sp + 1)..(b + 1) * sp * (sp + 1)];
        for p in 0..plane {
            // Coordinates per spatial dim, then reversed to (x, y[, z]).
            let mut rest = p;
            let mut base = vec![0.0; sp];
            for d in (0..sp).rev() {
                base[d] = lin(rest % sdims[d], sdims[d]);
                rest /= sdims[d];
            }
            let mut xyz: Vec<f64> = base.iter().rev().copied().collect();
            xyz.push(1.0);
            for r in 0..sp {
                y[(b * plane + p) * sp + r] = (0..=sp).map(|k| th[r * (sp + 1) + k] * xyz[k]).sum();
            }
        }
    }
    Ok(Arr::floats(theta.dtype, shape, y))
}
