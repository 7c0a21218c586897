//! [`ValueType`] -> TypeProto.

use crate::OnnxError;
use lnopt_ir::{Dim, TensorType, ValueType};
use onnx_protobuf::tensor_shape_proto::{dimension::Value as DimValue, Dimension};
use onnx_protobuf::type_proto::{Tensor as TensorTypeProto, Value};
use onnx_protobuf::{TensorShapeProto, TypeProto};
use protobuf::{Message, MessageField};

/// The TypeProto of a dense tensor type.
pub(crate) fn type_proto_of_tensor(tt: &TensorType) -> TypeProto {
    let mut t = TensorTypeProto::new();
    t.elem_type = tt.elem.onnx_code();
    if let Some(dims) = &tt.shape {
        let mut s = TensorShapeProto::new();
        s.dim = dims
            .iter()
            .map(|d| {
                let mut dp = Dimension::new();
                dp.value = match d {
                    Dim::Fixed(v) => Some(DimValue::DimValue(*v)),
                    Dim::Symbol(p) => Some(DimValue::DimParam(p.clone())),
                    Dim::Unknown => None,
                };
                dp
            })
            .collect();
        t.shape = MessageField::some(s);
    }
    let mut tp = TypeProto::new();
    tp.value = Some(Value::TensorType(t));
    tp
}

/// The TypeProto of any IR type; opaque types are parsed back from their bytes.
pub(crate) fn type_proto(vt: &ValueType, place: &str) -> Result<TypeProto, OnnxError> {
    match vt {
        ValueType::Tensor(tt) => Ok(type_proto_of_tensor(tt)),
        ValueType::Opaque(b) => TypeProto::parse_from_bytes(b).map_err(|e| {
            OnnxError::invalid(place, format!("opaque type bytes are not a TypeProto: {e}"))
        }),
    }
}
