//! `BitCast`: reinterprets the bytes of each element as another dtype of the same width.

use crate::arr::Arr;
use crate::call::Call;
use crate::error::{bail, OpResult};
use lnopt_ir::{DType, Tensor};

/// `BitCast(to)`.
pub(crate) fn bit_cast(c: &Call<'_>) -> OpResult<Arr> {
    let x = c.input(0)?;
    let Some(code) = c.opt_int("to")? else {
        bail!("attribute 'to' is missing");
    };
    let to = DType::from_onnx(code as i32);
    match (x.dtype.size_of(), to.size_of()) {
        (Some(a), Some(b)) if a == b && to != DType::String => {}
        _ => bail!("cannot bit-cast {} to {to} (widths must match)", x.dtype),
    }
    let t = x.to_tensor("x");
    let Some(bytes) = t.bytes() else {
        bail!("input has no bytes");
    };
    if to == DType::Bool && bytes.iter().any(|&b| b > 1) {
        bail!("bytes other than 0 and 1 are not bool values");
    }
    let out = match Tensor::from_bytes("y", to, t.dims.clone(), bytes.to_vec()) {
        Ok(o) => o,
        Err(e) => bail!("{e}"),
    };
    Arr::from_tensor(&out)
}
