//! `Det`: determinants of the trailing square matrices, by LU decomposition with partial
//! pivoting in f64.

use crate::arr::Arr;
use crate::call::Call;
use crate::error::{bail, OpResult};

/// Runs `Det` on `[*, M, M]`.
pub(crate) fn det(c: &Call<'_>) -> OpResult<Arr> {
    let x = c.input(0)?;
    let xv = x.float_values("X")?;
    let r = x.rank();
    if r < 2 || x.shape[r - 1] != x.shape[r - 2] {
        bail!("X must end in a square matrix, got {:?}", x.shape);
    }
    let m = x.shape[r - 1];
    let count: usize = x.shape[..r - 2].iter().product();
    let mut out = Vec::with_capacity(count);
    for k in 0..count {
        let mut a = xv[k * m * m..(k + 1) * m * m].to_vec();
        let mut det = 1.0;
        for col in 0..m {
            let piv = (col..m)
                .max_by(|&i, &j| a[i * m + col].abs().total_cmp(&a[j * m + col].abs()))
                .unwrap_or(col);
            if a[piv * m + col] == 0.0 {
                det = 0.0;
                break;
            }
            if piv != col {
                for j in 0..m {
                    a.swap(piv * m + j, col * m + j);
                }
                det = -det;
            }
            let p = a[col * m + col];
            det *= p;
            for i in col + 1..m {
                let f = a[i * m + col] / p;
                for j in col..m {
                    a[i * m + j] -= f * a[col * m + j];
                }
            }
        }
        out.push(det);
    }
    Ok(Arr::floats(x.dtype, x.shape[..r - 2].to_vec(), out))
}

/// `EyeLike`: ones on the diagonal `j - i == k` of a 2-D tensor shaped like the input, in
/// `dtype` (default the input's).
pub(crate) fn eye_like(c: &Call<'_>) -> OpResult<Arr> {
    let x = c.input(0)?;
    if x.rank() != 2 {
        bail!("input must be 2-D, got {:?}", x.shape);
    }
    let dt = match c.opt_int("dtype")? {
        Some(code) => lnopt_ir::DType::from_onnx(code as i32),
        None => x.dtype,
    };
    if !crate::arr::supported_dtype(dt) {
        bail!("dtype {dt} is not supported");
    }
    let k = c.int("k", 0)?;
    let (r, cols) = (x.shape[0], x.shape[1]);
    let v = (0..r * cols)
        .map(|f| ((f % cols) as i64 - (f / cols) as i64 == k) as i64)
        .collect();
    Ok(Arr::from_i64(dt, vec![r, cols], v))
}
