//! `RotaryEmbedding` (opset 23): rotates the first `rotary_embedding_dim` features of each
//! head by the cached cos / sin, split in halves or interleaved.

use crate::arr::Arr;
use crate::call::Call;
use crate::error::{bail, OpResult};

/// Runs `RotaryEmbedding` on `B x H x S x D` or `B x S x (H*D)` input.
pub(crate) fn rotary_embedding(c: &Call<'_>) -> OpResult<Arr> {
    let x = c.input(0)?;
    let xv = x.float_values("X")?;
    let (cos, sin) = (c.input(1)?, c.input(2)?);
    let (b, s, h, d, four) = match x.rank() {
        4 => (x.shape[0], x.shape[2], x.shape[1], x.shape[3], true),
        3 => {
            let h = c.int("num_heads", 0)?;
            if h < 1 || !x.shape[2].is_multiple_of(h as usize) {
                bail!(
                    "3-D input needs num_heads dividing its hidden size {}",
                    x.shape[2]
                );
            }
            (
                x.shape[0],
                x.shape[1],
                h as usize,
                x.shape[2] / h as usize,
                false,
            )
        }
        r => bail!("X must be 3-D or 4-D, has rank {r}"),
    };
    let rd = match c.int("rotary_embedding_dim", 0)? {
        0 => d,
        r if r > 0 && r as usize <= d && r % 2 == 0 => r as usize,
        r => bail!("rotary_embedding_dim {r} must be even and at most the head size {d}"),
    };
    if !d.is_multiple_of(2) && rd == d {
        bail!("head size {d} must be even");
    }
    let half = rd / 2;
    let interleaved = c.int("interleaved", 0)? != 0;
    let (cv, sv) = (cos.to_f64(), sin.to_f64());
    if cos.shape != sin.shape || cos.shape.last() != Some(&half) {
        bail!(
            "cos {:?} / sin {:?} must end in rotary_dim/2 = {half}",
            cos.shape,
            sin.shape
        );
    }
    // Row of the caches for (batch, position).
    let rows: Vec<usize> = match c.opt_input(3) {
        Some(p) => {
            let pv = p.int_values("position_ids")?;
            if p.shape != [b, s] || cos.rank() != 2 {
                bail!(
                    "position_ids {:?} must be [{b}, {s}] with 2-D caches",
                    p.shape
                );
            }
            let mut rows = Vec::with_capacity(b * s);
            for &q in pv {
                match usize::try_from(q) {
                    Ok(q) if q < cos.shape[0] => rows.push(q),
                    _ => bail!(
                        "position id {q} is outside the cache of {} rows",
                        cos.shape[0]
                    ),
                }
            }
            rows
        }
        None => {
            if cos.shape != [b, s, half] {
                bail!("without position_ids the caches must be [{b}, {s}, {half}]");
            }
            (0..b * s).collect()
        }
    };
    let at = |bi: usize, si: usize, hi: usize, di: usize| {
        if four {
            ((bi * h + hi) * s + si) * d + di
        } else {
            ((bi * s + si) * h + hi) * d + di
        }
    };
    let mut y = xv.to_vec();
    for bi in 0..b {
        for si in 0..s {
            let row = rows[bi * s + si] * half;
            for hi in 0..h {
                for k in 0..half {
                    let (i1, i2) = if interleaved {
                        (at(bi, si, hi, 2 * k), at(bi, si, hi, 2 * k + 1))
                    } else {
                        (at(bi, si, hi, k), at(bi, si, hi, k + half))
                    };
                    let (x1, x2) = (xv[i1], xv[i2]);
                    let (co, si_) = (cv[row + k], sv[row + k]);
                    y[i1] = co * x1 - si_ * x2;
                    y[i2] = si_ * x1 + co * x2;
                }
            }
        }
    }
    Ok(Arr::floats(x.dtype, x.shape.clone(), y))
}
