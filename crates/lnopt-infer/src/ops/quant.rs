//! Quantization ops: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear,
//! MatMulInteger, QLinearMatMul (QLinearConv and ConvInteger are in `pool`).

use super::{Ctx, Out};
use lnopt_ir::{DType, Dim, TensorType};

/// Rules for quantization ops; `Ok(None)` if `op` is not one of them.
pub(crate) fn infer(ctx: &Ctx, op: &str) -> Result<Option<Out>, String> {
    let like_x = |elem: DType| Out::of(elem, ctx.shape(0).map(|s| s.to_vec()));
    Ok(Some(match op {
        "QuantizeLinear" => {
            // output_dtype (opset 21+) wins, then the zero point's type, else uint8.
            let elem = match ctx.dtype_attr("output_dtype")? {
                Some(d) if d != DType::Undefined => d,
                _ if ctx.has(2) => ctx.dtype(2),
                _ => DType::U8,
            };
            like_x(elem)
        }
        "DequantizeLinear" => {
            let elem = match ctx.dtype_attr("output_dtype")? {
                Some(d) if d != DType::Undefined => d,
                _ if ctx.opset < 19 => DType::F32,
                _ => ctx.dtype(1),
            };
            like_x(elem)
        }
        "DynamicQuantizeLinear" => {
            let scalar = |elem| {
                Some(TensorType {
                    elem,
                    shape: Some(Vec::new()),
                })
            };
            let mut out = like_x(DType::U8);
            out.types.push(scalar(DType::F32));
            out.types.push(scalar(DType::U8));
            out
        }
        "MatMulInteger" => retyped(super::nn::matmul_of(ctx, 0, 1)?, DType::I32),
        "QLinearMatMul" => retyped(super::nn::matmul_of(ctx, 0, 3)?, ctx.dtype(7)),
        _ => return Ok(None),
    }))
}

/// `out` with its first output's dtype replaced by `elem`.
fn retyped(mut out: Out, elem: DType) -> Out {
    if let Some(Some(t)) = out.types.first_mut() {
        t.elem = elem;
    } else {
        out.types = vec![Some(TensorType {
            elem,
            shape: None::<Vec<Dim>>,
        })];
    }
    out
}
