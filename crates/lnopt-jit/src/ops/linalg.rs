//! MatMul, Gemm and Conv through the `gemm` crate.

use super::bcast::{broadcast2, BIdx};
use super::Ctx;
use crate::error::{bail, OpResult};
use crate::value::{checked_numel, round_to, wrap_int, Data, Val};

/// Below this many multiply-adds (`m·n·k`) a product runs on the calling thread: handing a
/// tiny product to rayon costs more than the work (the corpus transformers' products are
/// 16×64×64 .. 16×256×64, a few microseconds each).
const PAR_MIN_FLOPS: usize = 1 << 21;

fn par(threads: usize, work: usize) -> gemm::Parallelism {
    if threads > 1 && work >= PAR_MIN_FLOPS {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    }
}

/// `dst[m×n] = alpha·dst + beta·a·b` with explicit strides (row stride, col stride).
#[allow(clippy::too_many_arguments)]
fn mm<T: 'static + Copy>(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [T],
    a: &[T],
    (ars, acs): (usize, usize),
    b: &[T],
    (brs, bcs): (usize, usize),
    accumulate: Option<T>,
    beta: T,
    threads: usize,
) -> OpResult<()> {
    let need = |rows: usize, cols: usize, rs: usize, cs: usize| {
        if rows == 0 || cols == 0 {
            0
        } else {
            (rows - 1) * rs + (cols - 1) * cs + 1
        }
    };
    if dst.len() < m * n || a.len() < need(m, k, ars, acs) || b.len() < need(k, n, brs, bcs) {
        bail!("internal: matrix buffers too small");
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    if std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>() {
        // The f32 product through the shape-picked back end (ops::sgemm), when it is a plain
        // `dst (+)= a·b`.
        let one = |v: T| {
            // SAFETY: T is f32 (checked above).
            unsafe { std::mem::transmute_copy::<T, f32>(&v) == 1.0 }
        };
        if one(beta) && accumulate.is_none_or(one) {
            use super::sgemm::{sgemm_threads, MatMut, MatRef};
            // SAFETY: T is f32; the bounds of all three matrices were checked above.
            unsafe {
                sgemm_threads(
                    (m, n, k),
                    MatMut {
                        ptr: dst.as_mut_ptr() as *mut f32,
                        rs: n as isize,
                        cs: 1,
                    },
                    accumulate.is_some(),
                    MatRef {
                        ptr: a.as_ptr() as *const f32,
                        rs: ars as isize,
                        cs: acs as isize,
                    },
                    MatRef {
                        ptr: b.as_ptr() as *const f32,
                        rs: brs as isize,
                        cs: bcs as isize,
                    },
                    threads,
                )
            };
            return Ok(());
        }
    }
    let (read, alpha) = match accumulate {
        Some(al) => (true, al),
        None => (false, beta),
    };
    // SAFETY: the bounds of all three matrices were checked above against the strides; the
    // slices do not alias (dst is &mut).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            read,
            a.as_ptr(),
            acs as isize,
            ars as isize,
            b.as_ptr(),
            bcs as isize,
            brs as isize,
            alpha,
            beta,
            false,
            false,
            false,
            par(threads, m.saturating_mul(n).saturating_mul(k)),
        )
    };
    Ok(())
}

/// `out = beta·C` with C (of shape `cs`) broadcast to `os`, row by row.
fn fill_c(out: &mut [f32], c: &[f32], cs: &[usize], os: &[usize], beta: f32) -> OpResult<()> {
    let mut bad = false;
    super::bcast::runs2(cs, os, os, |o, pc, sc, _, _, len| {
        let Some(dst) = out.get_mut(o..o + len) else {
            bad = true;
            return;
        };
        match (sc, c.get(pc..pc + sc * (len - 1) + 1)) {
            (0, Some(&[v])) => dst.iter_mut().for_each(|d| *d = beta * v),
            (1, Some(src)) => {
                for (d, &v) in dst.iter_mut().zip(src) {
                    *d = beta * v;
                }
            }
            _ => bad = true,
        }
    });
    if bad {
        bail!("internal: C offsets out of range");
    }
    Ok(())
}

/// `MatMul` with numpy batch broadcasting.
pub(crate) fn matmul(c: &Ctx<'_>) -> OpResult<Val> {
    let (a, b) = (c.input(0)?, c.input(1)?);
    if a.rank() == 0 || b.rank() == 0 {
        bail!("MatMul of a scalar");
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
        bail!("inner dims differ: {:?} × {:?}", a.shape, b.shape);
    }
    let abatch = &ash[..ash.len() - 2];
    let bbatch = &bsh[..bsh.len() - 2];
    let batch = broadcast2(abatch, bbatch)?;
    let nb: usize = batch.iter().product();
    let ia = BIdx::new(abatch, &batch);
    let ib = BIdx::new(bbatch, &batch);
    let mut oshape = batch.clone();
    if !a1 {
        oshape.push(m);
    }
    if !b1 {
        oshape.push(n);
    }
    let total = checked_numel(&oshape)?;
    let dt = a.dtype;
    if b.dtype != dt {
        bail!("MatMul of {} and {}", a.dtype, b.dtype);
    }
    macro_rules! run {
        ($x:expr, $y:expr, $out:expr, $one:expr) => {{
            // Every element is written: each batch element's product without accumulation.
            let mut out = $out;
            for bi in 0..nb {
                let (oa, ob) = (ia.at(bi) * m * k, ib.at(bi) * k * n);
                mm(
                    m,
                    n,
                    k,
                    &mut out[bi * m * n..(bi + 1) * m * n],
                    &$x[oa..oa + m * k],
                    (k, 1),
                    &$y[ob..ob + k * n],
                    (n, 1),
                    None,
                    $one,
                    c.threads,
                )?;
            }
            out
        }};
    }
    let data = match (&*a.data, &*b.data) {
        (Data::F(x), Data::F(y)) => {
            let mut v = run!(x, y, crate::pool::take(total), 1f32);
            if dt != lnopt_ir::DType::F32 {
                v.iter_mut().for_each(|e| *e = round_to(dt, *e));
            }
            Data::F(v.into())
        }
        (Data::D(x), Data::D(y)) => Data::D(run!(x, y, vec![0f64; total], 1f64)),
        (Data::I(x), Data::I(y)) => {
            let mut out = vec![0i64; total];
            for bi in 0..nb {
                let (oa, ob) = (ia.at(bi) * m * k, ib.at(bi) * k * n);
                for i in 0..m {
                    for j in 0..n {
                        out[bi * m * n + i * n + j] = (0..k)
                            .map(|p| x[oa + i * k + p].wrapping_mul(y[ob + p * n + j]))
                            .fold(0i64, i64::wrapping_add);
                        let o = &mut out[bi * m * n + i * n + j];
                        *o = wrap_int(dt, *o);
                    }
                }
            }
            Data::I(out)
        }
        _ => bail!("MatMul of {} and {}", a.dtype, b.dtype),
    };
    Val::new(dt, oshape, data)
}

/// `Gemm`: `alpha·op(A)·op(B) + beta·C`.
pub(crate) fn gemm(c: &Ctx<'_>) -> OpResult<Val> {
    let (a, b) = (c.input(0)?, c.input(1)?);
    if a.rank() != 2 || b.rank() != 2 {
        bail!(
            "Gemm needs 2-D A and B, got {:?} and {:?}",
            a.shape,
            b.shape
        );
    }
    if a.dtype != b.dtype || c.opt(2).is_some_and(|cv| cv.dtype != a.dtype) {
        bail!("Gemm of mixed dtypes");
    }
    let ta = c.int("transA", 0)? != 0;
    let tb = c.int("transB", 0)? != 0;
    let alpha = c.float("alpha", 1.0)?;
    let beta = c.float("beta", 1.0)?;
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
        bail!("inner dims differ: {:?} × {:?}", a.shape, b.shape);
    }
    let total = checked_numel(&[m, n])?;
    let astr = if ta { (1, m) } else { (k, 1) };
    let bstr = if tb { (1, k) } else { (n, 1) };
    let dt = a.dtype;
    let out_shape = vec![m, n];
    let cidx = match c.opt(2) {
        Some(cv) => Some((cv, broadcast2(&cv.shape, &out_shape)?)),
        None => None,
    };
    if let Some((cv, bs)) = &cidx {
        if *bs != out_shape {
            bail!(
                "C of shape {:?} does not broadcast to {:?}",
                cv.shape,
                out_shape
            );
        }
    }
    let data = match (&*a.data, &*b.data) {
        (Data::F(x), Data::F(y)) => {
            let mut out = crate::pool::zeroed(total);
            let mut acc = None;
            if let Some((cv, _)) = &cidx {
                fill_c(&mut out, cv.f32s()?, &cv.shape, &out_shape, beta)?;
                acc = Some(1.0);
            }
            mm(m, n, k, &mut out, x, astr, y, bstr, acc, alpha, c.threads)?;
            if dt != lnopt_ir::DType::F32 {
                out.iter_mut().for_each(|e| *e = round_to(dt, *e));
            }
            Data::F(out.into())
        }
        (Data::D(x), Data::D(y)) => {
            let mut out = vec![0f64; total];
            let mut acc = None;
            if let Some((cv, _)) = &cidx {
                let ci = BIdx::new(&cv.shape, &out_shape);
                let cd = cv.as_f64()?;
                for (i, o) in out.iter_mut().enumerate() {
                    *o = beta as f64 * cd[ci.at(i)];
                }
                acc = Some(1.0);
            }
            mm(
                m,
                n,
                k,
                &mut out,
                x,
                astr,
                y,
                bstr,
                acc,
                alpha as f64,
                c.threads,
            )?;
            Data::D(out)
        }
        _ => bail!("Gemm of {} and {}", a.dtype, b.dtype),
    };
    Val::new(dt, out_shape, data)
}

/// `Conv` (1-D and 2-D, groups, pads, strides, dilations) as im2col + gemm per group.
pub(crate) fn conv(c: &Ctx<'_>) -> OpResult<Val> {
    let (x, w) = (c.input(0)?, c.input(1)?);
    let sp = x.rank().saturating_sub(2);
    if !(1..=2).contains(&sp) || w.rank() != x.rank() {
        bail!(
            "Conv supports 1-D and 2-D inputs, got {:?} with weights {:?}",
            x.shape,
            w.shape
        );
    }
    if w.dtype != x.dtype || c.opt(2).is_some_and(|b| b.dtype != x.dtype) {
        bail!("Conv of mixed dtypes");
    }
    let (xd, wd) = (x.f32s()?, w.f32s()?);
    // View 1-D as 2-D with height 1.
    let (n, ci, ih, iw) = if sp == 2 {
        (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    } else {
        (x.shape[0], x.shape[1], 1, x.shape[2])
    };
    let (co, cig, kh, kw) = if sp == 2 {
        (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
    } else {
        (w.shape[0], w.shape[1], 1, w.shape[2])
    };
    let g = c.int("group", 1)?.max(1) as usize;
    if ci != cig * g || co % g != 0 {
        bail!("channels {ci} / weights {:?} do not fit group {g}", w.shape);
    }
    let get = |name: &str, def: i64| -> OpResult<Vec<i64>> {
        Ok(c.ints(name)?
            .unwrap_or_else(|| vec![def; sp * if name == "pads" { 2 } else { 1 }]))
    };
    let (st, dl, pd) = (get("strides", 1)?, get("dilations", 1)?, get("pads", 0)?);
    if let Some(lnopt_ir::AttrValue::String(s)) = c.attr("auto_pad") {
        if s != b"NOTSET" {
            bail!("auto_pad {} is not supported", String::from_utf8_lossy(s));
        }
    }
    if st.len() != sp
        || dl.len() != sp
        || pd.len() != 2 * sp
        || st.iter().chain(&dl).any(|&v| v < 1)
        || pd.iter().any(|&v| v < 0)
    {
        bail!("bad strides/dilations/pads {st:?} {dl:?} {pd:?}");
    }
    let u = |v: i64| v as usize;
    let (sh, sw, dh, dw, ph0, pw0, ph1, pw1) = if sp == 2 {
        (
            u(st[0]),
            u(st[1]),
            u(dl[0]),
            u(dl[1]),
            u(pd[0]),
            u(pd[1]),
            u(pd[2]),
            u(pd[3]),
        )
    } else {
        (1, u(st[0]), 1, u(dl[0]), 0, u(pd[0]), 0, u(pd[1]))
    };
    if kh == 0 || kw == 0 {
        bail!("weights {:?} have an empty kernel", w.shape);
    }
    // Extents with overflow checks: strides, dilations and pads come from the file.
    let span = |k: usize, d: usize| (k - 1).checked_mul(d).and_then(|v| v.checked_add(1));
    let padded = |i: usize, p0: usize, p1: usize| i.checked_add(p0).and_then(|v| v.checked_add(p1));
    let (Some(eh), Some(ew), Some(pih), Some(piw)) = (
        span(kh, dh),
        span(kw, dw),
        padded(ih, ph0, ph1),
        padded(iw, pw0, pw1),
    ) else {
        bail!("kernel, dilations or pads {dl:?} {pd:?} overflow");
    };
    if pih < eh || piw < ew {
        bail!("kernel larger than padded input");
    }
    let oh = (pih - eh) / sh + 1;
    let ow = (piw - ew) / sw + 1;
    let cog = co / g;
    let kk = cig * kh * kw;
    let mut out = crate::pool::zeroed(checked_numel(&[n, co, oh, ow])?);
    // Every element of the column matrix is written below (zeros where the kernel meets
    // padding), so a recycled buffer serves (no fresh pages per run).
    let mut col = crate::pool::take(checked_numel(&[kk, oh, ow])?);
    let bias = c.opt(2).map(|b| b.f32s()).transpose()?;
    if let Some(b) = bias {
        if b.len() != co {
            bail!("bias has {} elements for {co} output channels", b.len());
        }
    }
    for b in 0..n {
        for gi in 0..g {
            for cc in 0..cig {
                let chan = b * ci + gi * cig + cc;
                for a in 0..kh {
                    for e in 0..kw {
                        let row = (cc * kh + a) * kw + e;
                        for y in 0..oh {
                            let iy = (y * sh + a * dh) as isize - ph0 as isize;
                            let dst = &mut col[(row * oh + y) * ow..(row * oh + y + 1) * ow];
                            if iy < 0 || iy as usize >= ih {
                                dst.iter_mut().for_each(|d| *d = 0.0);
                                continue;
                            }
                            let src = &xd[(chan * ih + iy as usize) * iw..][..iw];
                            for (xo, d) in dst.iter_mut().enumerate() {
                                let ix = (xo * sw + e * dw) as isize - pw0 as isize;
                                *d = if ix >= 0 && (ix as usize) < iw {
                                    src[ix as usize]
                                } else {
                                    0.0
                                };
                            }
                        }
                    }
                }
            }
            let o0 = (b * co + gi * cog) * oh * ow;
            let dst = &mut out[o0..o0 + cog * oh * ow];
            if let Some(bv) = bias {
                for (j, chunk) in dst.chunks_mut(oh * ow).enumerate() {
                    chunk.iter_mut().for_each(|v| *v = bv[gi * cog + j]);
                }
            }
            let wofs = gi * cog * kk;
            mm(
                cog,
                oh * ow,
                kk,
                dst,
                &wd[wofs..wofs + cog * kk],
                (kk, 1),
                &col,
                (oh * ow, 1),
                bias.map(|_| 1.0),
                1.0,
                c.threads,
            )?;
        }
    }
    crate::pool::give(col);
    let shape = if sp == 2 {
        vec![n, co, oh, ow]
    } else {
        vec![n, co, ow]
    };
    Val::floats(x.dtype, shape, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `beta·C` broadcast by runs equals the element-wise broadcast for every C shape Gemm
    /// allows.
    #[test]
    fn fill_c_matches_elementwise_broadcast() {
        let os = [3usize, 5];
        let shapes: &[&[usize]] = &[&[], &[1], &[5], &[3, 1], &[1, 5], &[3, 5], &[1, 1]];
        for &cs in shapes {
            let c: Vec<f32> = (0..cs.iter().product::<usize>())
                .map(|i| i as f32 + 0.5)
                .collect();
            let idx = BIdx::new(cs, &os);
            let want: Vec<f32> = (0..15).map(|i| 2.0 * c[idx.at(i)]).collect();
            let mut got = vec![f32::NAN; 15];
            fill_c(&mut got, &c, cs, &os, 2.0).unwrap();
            assert_eq!(got, want, "C shape {cs:?}");
        }
    }
}
