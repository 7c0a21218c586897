//! MatMul (numpy semantics), Gemm and Conv (1-D / 2-D, groups, pads, strides, dilations).
//! Products accumulate in f64 (floats) or wrapping i64 (integers).

use crate::arr::{checked_numel, Arr, MAX_ELEMENTS};
use crate::call::Call;
use crate::error::{bail, OpResult};
use crate::index::{broadcast_index, broadcast_shapes};

/// `MatMul` with 1-D promotion and broadcast batch dims.
pub(crate) fn matmul(c: &Call<'_>) -> OpResult<Arr> {
    let (a, b) = (c.input(0)?, c.input(1)?);
    if a.dtype != b.dtype {
        bail!("operand dtypes differ: {} and {}", a.dtype, b.dtype);
    }
    if a.rank() == 0 || b.rank() == 0 {
        bail!("MatMul operands must have rank >= 1");
    }
    let mut ash = a.shape.clone();
    let mut bsh = b.shape.clone();
    let a1 = ash.len() == 1;
    let b1 = bsh.len() == 1;
    if a1 {
        ash.insert(0, 1);
    }
    if b1 {
        bsh.push(1);
    }
    let (m, k) = (ash[ash.len() - 2], ash[ash.len() - 1]);
    let (k2, n) = (bsh[bsh.len() - 2], bsh[bsh.len() - 1]);
    if k != k2 {
        bail!("inner dims differ: {:?} x {:?}", a.shape, b.shape);
    }
    let abatch = &ash[..ash.len() - 2];
    let bbatch = &bsh[..bsh.len() - 2];
    let batch = broadcast_shapes(&[abatch, bbatch])?;
    let ia = broadcast_index(abatch, &batch)?;
    let ib = broadcast_index(bbatch, &batch)?;
    let mut out_shape = batch.clone();
    out_shape.extend([m, n]);
    let total = checked_numel(&out_shape)?;
    let (av, bv) = (a.to_f64(), b.to_f64());
    let mut out = vec![0.0f64; total];
    for (bi, (&pa, &pb)) in ia.iter().zip(&ib).enumerate() {
        let (ao, bo, oo) = (pa * m * k, pb * k * n, bi * m * n);
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0;
                for p in 0..k {
                    s += av[ao + i * k + p] * bv[bo + p * n + j];
                }
                out[oo + i * n + j] = s;
            }
        }
    }
    // Drop the promoted dims.
    let mut shape = batch;
    if !a1 {
        shape.push(m);
    }
    if !b1 {
        shape.push(n);
    }
    Ok(Arr::from_f64(a.dtype, shape, out))
}

/// `Gemm`: `alpha * A' * B' + beta * C`, with `transA` / `transB` and unidirectional
/// broadcasting of the optional C.
pub(crate) fn gemm(c: &Call<'_>) -> OpResult<Arr> {
    let (a, b) = (c.input(0)?, c.input(1)?);
    if a.rank() != 2 || b.rank() != 2 {
        bail!("A and B must be 2-D, got {:?} and {:?}", a.shape, b.shape);
    }
    let ta = c.int("transA", 0)? != 0;
    let tb = c.int("transB", 0)? != 0;
    let alpha = c.float("alpha", 1.0)? as f64;
    let beta = c.float("beta", 1.0)? as f64;
    let (m, k) = if ta {
        (a.shape[1], a.shape[0])
    } else {
        (a.shape[0], a.shape[1])
    };
    let (k2, n) = if tb {
        (b.shape[1], b.shape[0])
    } else {
        (b.shape[0], b.shape[1])
    };
    if k != k2 {
        bail!(
            "inner dims differ: {:?} x {:?} (transA={ta}, transB={tb})",
            a.shape,
            b.shape
        );
    }
    let total = checked_numel(&[m, n])?;
    let (av, bv) = (a.to_f64(), b.to_f64());
    let at = |i: usize, p: usize| if ta { av[p * m + i] } else { av[i * k + p] };
    let bt = |p: usize, j: usize| if tb { bv[j * k + p] } else { bv[p * n + j] };
    let mut out = vec![0.0; total];
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0;
            for p in 0..k {
                s += at(i, p) * bt(p, j);
            }
            out[i * n + j] = alpha * s;
        }
    }
    if let Some(cc) = c.opt_input(2) {
        let idx = broadcast_index(&cc.shape, &[m, n])?;
        let cv = cc.to_f64();
        for (o, &i) in out.iter_mut().zip(&idx) {
            *o += beta * cv[i];
        }
    }
    Ok(Arr::from_f64(a.dtype, vec![m, n], out))
}

/// Reads an INTS attribute of length `len`, or `default` repeated.
fn ints_or(c: &Call<'_>, name: &str, len: usize, default: i64) -> OpResult<Vec<i64>> {
    match c.ints(name)? {
        Some(v) if v.len() == len => Ok(v),
        Some(v) => bail!("attribute '{name}' {v:?} must have {len} entries"),
        None => Ok(vec![default; len]),
    }
}

/// `Conv` for 1-D and 2-D inputs (`N x C x [H x] W`), with `group`, `pads` / `auto_pad`,
/// `strides`, `dilations` and the optional bias.
pub(crate) fn conv(c: &Call<'_>) -> OpResult<Arr> {
    let (x, w) = (c.input(0)?, c.input(1)?);
    let sp = x.rank().saturating_sub(2);
    if !(1..=2).contains(&sp) || w.rank() != x.rank() {
        bail!(
            "only 1-D and 2-D Conv are supported: X {:?}, W {:?}",
            x.shape,
            w.shape
        );
    }
    // View 1-D as 2-D with H = 1.
    let (xs, ws) = if sp == 1 {
        (
            vec![x.shape[0], x.shape[1], 1, x.shape[2]],
            vec![w.shape[0], w.shape[1], 1, w.shape[2]],
        )
    } else {
        (x.shape.clone(), w.shape.clone())
    };
    let lift = |v: Vec<i64>, fill: i64| -> Vec<i64> {
        if sp == 1 {
            vec![fill, v[0]]
        } else {
            v
        }
    };
    let strides = lift(ints_or(c, "strides", sp, 1)?, 1);
    let dil = lift(ints_or(c, "dilations", sp, 1)?, 1);
    if let Some(ks) = c.ints("kernel_shape")? {
        let expect: Vec<i64> = w.shape[2..].iter().map(|&d| d as i64).collect();
        if ks != expect {
            bail!("kernel_shape {ks:?} differs from weight dims {expect:?}");
        }
    }
    let group = c.int("group", 1)?;
    let (n, ci, h, wd) = (xs[0], xs[1], xs[2], xs[3]);
    let (co, cig, kh, kw) = (ws[0], ws[1], ws[2], ws[3]);
    if group < 1 || ci % group as usize != 0 || co % group as usize != 0 {
        bail!("group {group} does not divide channels {ci} in / {co} out");
    }
    let g = group as usize;
    if cig != ci / g {
        bail!(
            "weight has {cig} input channels per group, expected {}",
            ci / g
        );
    }
    if strides.iter().chain(&dil).any(|&s| s < 1) {
        bail!("strides and dilations must be positive");
    }
    let (sh, sw) = (strides[0] as usize, strides[1] as usize);
    let (dh, dw) = (dil[0] as usize, dil[1] as usize);
    let ekh = kh.saturating_sub(1).saturating_mul(dh).saturating_add(1);
    let ekw = kw.saturating_sub(1).saturating_mul(dw).saturating_add(1);
    if ekh.max(ekw).max(sh).max(sw) > MAX_ELEMENTS {
        bail!("dilated kernel or stride too large: strides {strides:?}, dilations {dil:?}");
    }
    let auto = c.string("auto_pad", "NOTSET")?;
    // pads as [top, left, bottom, right] in 2-D terms.
    let pads: [i64; 4] = match auto.as_str() {
        "NOTSET" => {
            let p = ints_or(c, "pads", 2 * sp, 0)?;
            if sp == 1 {
                [0, p[0], 0, p[1]]
            } else {
                [p[0], p[1], p[2], p[3]]
            }
        }
        "VALID" => [0; 4],
        "SAME_UPPER" | "SAME_LOWER" => {
            let same = |len: usize, s: usize, ek: usize| -> (i64, i64) {
                let out = len.div_ceil(s);
                let total = ((out.saturating_sub(1)) * s + ek).saturating_sub(len) as i64;
                if auto == "SAME_UPPER" {
                    (total / 2, total - total / 2)
                } else {
                    (total - total / 2, total / 2)
                }
            };
            let (t, b) = same(h, sh, ekh);
            let (l, r) = same(wd, sw, ekw);
            [t, l, b, r]
        }
        other => bail!("unknown auto_pad '{other}'"),
    };
    if pads.iter().any(|&p| p < 0) {
        bail!("negative pads {pads:?}");
    }
    let ph = (h as i64).saturating_add(pads[0]).saturating_add(pads[2]);
    let pw = (wd as i64).saturating_add(pads[1]).saturating_add(pads[3]);
    if pads.iter().any(|&p| p > MAX_ELEMENTS as i64) || ph < ekh as i64 || pw < ekw as i64 {
        bail!("kernel {kh}x{kw} (dilated) larger than padded input {ph}x{pw}");
    }
    let oh = ((ph - ekh as i64) as usize) / sh + 1;
    let ow = ((pw - ekw as i64) as usize) / sw + 1;
    let total = checked_numel(&[n, co, oh, ow])?;
    let bias = match c.opt_input(2) {
        Some(b) if b.len() == co => b.to_f64(),
        Some(b) => bail!("bias has shape {:?}, expected [{co}]", b.shape),
        None => vec![0.0; co],
    };
    let (xv, wv) = (x.to_f64(), w.to_f64());
    let mut out = vec![0.0; total];
    let cog = co / g;
    for b in 0..n {
        for oc in 0..co {
            let gi = oc / cog;
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut s = bias[oc];
                    for icg in 0..cig {
                        let ic = gi * cig + icg;
                        for ky in 0..kh {
                            let iy = (oy * sh + ky * dh) as i64 - pads[0];
                            if iy < 0 || iy >= h as i64 {
                                continue;
                            }
                            for kx in 0..kw {
                                let ix = (ox * sw + kx * dw) as i64 - pads[1];
                                if ix < 0 || ix >= wd as i64 {
                                    continue;
                                }
                                let xi = ((b * ci + ic) * h + iy as usize) * wd + ix as usize;
                                let wi = ((oc * cig + icg) * kh + ky) * kw + kx;
                                s += xv[xi] * wv[wi];
                            }
                        }
                    }
                    out[((b * co + oc) * oh + oy) * ow + ox] = s;
                }
            }
        }
    }
    let shape = if sp == 1 {
        vec![n, co, ow]
    } else {
        vec![n, co, oh, ow]
    };
    Ok(Arr::from_f64(x.dtype, shape, out))
}
