//! TypeProto -> [`ValueType`]: plain dense tensor types become [`ValueType::Tensor`], anything
//! the IR cannot hold exactly stays serialized.

use super::to_bytes;
use crate::export::types::type_proto_of_tensor;
use crate::OnnxError;
use lnopt_ir::{DType, Dim, TensorType, ValueType};
use onnx_protobuf::tensor_shape_proto::dimension::Value as DimValue;
use onnx_protobuf::type_proto::Value;
use onnx_protobuf::TypeProto;

/// The last `TensorProto.DataType` code ONNX defines (onnx 1.23: FLOAT6E3M2).
pub(crate) const LAST_ONNX_DTYPE: i32 = 28;

/// Whether `code` names an element type of the ONNX standard (0, UNDEFINED, does not).
pub(crate) fn is_onnx_dtype(code: i32) -> bool {
    (1..=LAST_ONNX_DTYPE).contains(&code)
}

/// The IR type of `tp`. A tensor type is only mapped to [`ValueType::Tensor`] when mapping it
/// back gives the very same message (no denotations, no unknown fields); otherwise the
/// serialized bytes are kept.
pub(crate) fn value_type(tp: &TypeProto, place: &str) -> Result<ValueType, OnnxError> {
    if let Some(Value::TensorType(t)) = &tp.value {
        // 0 (UNDEFINED) is how a file says "type not given"; any other code must be known.
        if t.elem_type != 0 && !is_onnx_dtype(t.elem_type) {
            return Err(OnnxError::invalid(
                place,
                format!(
                    "elem_type {} is not an ONNX element type (known: 1 to {LAST_ONNX_DTYPE})",
                    t.elem_type
                ),
            ));
        }
        let shape = t.shape.as_ref().map(|s| {
            s.dim
                .iter()
                .map(|d| match &d.value {
                    Some(DimValue::DimValue(v)) => Dim::Fixed(*v),
                    Some(DimValue::DimParam(p)) => Dim::Symbol(p.clone()),
                    _ => Dim::Unknown,
                })
                .collect()
        });
        let tt = TensorType {
            elem: DType::from_onnx(t.elem_type),
            shape,
        };
        if type_proto_of_tensor(&tt) == *tp {
            return Ok(ValueType::Tensor(tt));
        }
    }
    Ok(ValueType::Opaque(to_bytes(tp, place)?))
}
