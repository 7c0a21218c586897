//! MatMul (numpy semantics) and Gemm (Conv lives in `nn::conv`).
//! Products accumulate in f64 (floats) or wrapping i64 (integers).

use crate::arr::{checked_numel, Arr};
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
