//! `Col2Im`: sums sliding blocks `[N, C * prod(block), L]` back into an image
//! `[N, C, image...]`, with dilations, pads and strides.

use super::attrs::ints_len;
use crate::arr::{checked_numel, Arr};
use crate::call::Call;
use crate::error::{bail, OpResult};
use crate::index::to_dims;

/// Runs `Col2Im`.
pub(crate) fn col2im(c: &Call<'_>) -> OpResult<Arr> {
    let x = c.input(0)?;
    let xv = x.float_values("input")?;
    let image = to_dims(c.input(1)?.int_values("image_shape")?, "image_shape")?;
    let block = to_dims(c.input(2)?.int_values("block_shape")?, "block_shape")?;
    let sp = image.len();
    if block.len() != sp || x.rank() != 3 || block.contains(&0) {
        bail!("input must be [N, C*prod(block), L] with block and image of equal rank");
    }
    let dil = ints_len(c, "dilations", sp, 1, 1)?;
    let pads = ints_len(c, "pads", 2 * sp, 0, 0)?;
    let strides = ints_len(c, "strides", sp, 1, 1)?;
    let taps: usize = block.iter().product();
    if !x.shape[1].is_multiple_of(taps) {
        bail!(
            "dim 1 ({}) is not a multiple of prod(block_shape) = {taps}",
            x.shape[1]
        );
    }
    let (n, ch, l) = (x.shape[0], x.shape[1] / taps, x.shape[2]);
    // Number of block positions per dim.
    let mut grid = Vec::with_capacity(sp);
    for i in 0..sp {
        let ek = (block[i] - 1) * dil[i] + 1;
        let full = image[i] + pads[i] + pads[sp + i];
        if full < ek {
            bail!("the dilated block exceeds the padded image on dim {i}");
        }
        grid.push((full - ek) / strides[i] + 1);
    }
    if grid.iter().product::<usize>() != l {
        bail!("L = {l} differs from the {grid:?} block positions");
    }
    let mut shape = vec![n, ch];
    shape.extend(&image);
    let plane: usize = image.iter().product();
    let mut y = vec![0.0; checked_numel(&shape)?];
    for b in 0..n {
        for k in 0..ch {
            for t in 0..taps {
                for p in 0..l {
                    let (mut tt, mut pp, mut idx, mut ok) = (t, p, 0usize, true);
                    let mut coord = vec![0usize; sp];
                    for d in (0..sp).rev() {
                        let (td, pd) = (tt % block[d], pp % grid[d]);
                        tt /= block[d];
                        pp /= grid[d];
                        let pos = (pd * strides[d] + td * dil[d]) as i64 - pads[d] as i64;
                        if pos < 0 || pos >= image[d] as i64 {
                            ok = false;
                            break;
                        }
                        coord[d] = pos as usize;
                    }
                    if !ok {
                        continue;
                    }
                    for d in 0..sp {
                        idx = idx * image[d] + coord[d];
                    }
                    y[(b * ch + k) * plane + idx] += xv[((b * ch + k) * taps + t) * l + p];
                }
            }
        }
    }
    Ok(Arr::floats(x.dtype, shape, y))
}
