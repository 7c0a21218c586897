//! Element types of tensors, numbered as ONNX's `TensorProto.DataType`.

use crate::narrow::Narrow;
use std::fmt;

/// Element type of a tensor. Codes follow ONNX's `TensorProto.DataType`; codes lnopt does not
/// know are kept as [`DType::Other`] so they round-trip untouched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    /// Code 0: no type given.
    Undefined,
    /// 32-bit IEEE float.
    F32,
    /// Unsigned 8-bit integer.
    U8,
    /// Signed 8-bit integer.
    I8,
    /// Unsigned 16-bit integer.
    U16,
    /// Signed 16-bit integer.
    I16,
    /// Signed 32-bit integer.
    I32,
    /// Signed 64-bit integer.
    I64,
    /// Byte strings.
    String,
    /// Boolean, one byte per element.
    Bool,
    /// 16-bit IEEE float.
    F16,
    /// 64-bit IEEE float.
    F64,
    /// Unsigned 32-bit integer.
    U32,
    /// Unsigned 64-bit integer.
    U64,
    /// Complex of two f32.
    Complex64,
    /// Complex of two f64.
    Complex128,
    /// bfloat16.
    BF16,
    /// Any other code (float8, int4, …): carried, never computed on.
    Other(i32),
}

impl DType {
    /// The dtype for an ONNX `TensorProto.DataType` code.
    pub fn from_onnx(code: i32) -> DType {
        match code {
            0 => DType::Undefined,
            1 => DType::F32,
            2 => DType::U8,
            3 => DType::I8,
            4 => DType::U16,
            5 => DType::I16,
            6 => DType::I32,
            7 => DType::I64,
            8 => DType::String,
            9 => DType::Bool,
            10 => DType::F16,
            11 => DType::F64,
            12 => DType::U32,
            13 => DType::U64,
            14 => DType::Complex64,
            15 => DType::Complex128,
            16 => DType::BF16,
            other => DType::Other(other),
        }
    }

    /// The ONNX `TensorProto.DataType` code.
    pub fn onnx_code(self) -> i32 {
        match self {
            DType::Undefined => 0,
            DType::F32 => 1,
            DType::U8 => 2,
            DType::I8 => 3,
            DType::U16 => 4,
            DType::I16 => 5,
            DType::I32 => 6,
            DType::I64 => 7,
            DType::String => 8,
            DType::Bool => 9,
            DType::F16 => 10,
            DType::F64 => 11,
            DType::U32 => 12,
            DType::U64 => 13,
            DType::Complex64 => 14,
            DType::Complex128 => 15,
            DType::BF16 => 16,
            DType::Other(c) => c,
        }
    }

    /// Bytes per element in little-endian packed form, or `None` for strings and unknown codes.
    pub fn size_of(self) -> Option<usize> {
        Some(match self {
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::U8 | DType::I8 | DType::Bool => 1,
            DType::U16 | DType::I16 | DType::F16 | DType::BF16 => 2,
            DType::I64 | DType::U64 | DType::F64 | DType::Complex64 => 8,
            DType::Complex128 => 16,
            DType::Undefined | DType::String | DType::Other(_) => return None,
        })
    }

    /// Bytes that `n` elements take in little-endian packed form: `n * size_of()`, or the
    /// packed size of a [`Narrow`] type (float8, int4, …). `None` for strings, unknown codes
    /// and overflow.
    pub fn byte_len(self, n: usize) -> Option<usize> {
        match Narrow::of(self) {
            Some(k) => Some(k.byte_len(n)),
            None => n.checked_mul(self.size_of()?),
        }
    }

    /// True for f16, bf16, f32 and f64.
    pub fn is_float(self) -> bool {
        matches!(self, DType::F16 | DType::BF16 | DType::F32 | DType::F64)
    }

    /// True for the signed and unsigned integer types (not bool).
    pub fn is_int(self) -> bool {
        matches!(
            self,
            DType::U8
                | DType::I8
                | DType::U16
                | DType::I16
                | DType::I32
                | DType::I64
                | DType::U32
                | DType::U64
        )
    }

    /// Short lower-case name used in dumps and messages (`f32`, `i64`, …).
    pub fn name(self) -> String {
        match self {
            DType::Undefined => "undefined".into(),
            DType::F32 => "f32".into(),
            DType::U8 => "u8".into(),
            DType::I8 => "i8".into(),
            DType::U16 => "u16".into(),
            DType::I16 => "i16".into(),
            DType::I32 => "i32".into(),
            DType::I64 => "i64".into(),
            DType::String => "string".into(),
            DType::Bool => "bool".into(),
            DType::F16 => "f16".into(),
            DType::F64 => "f64".into(),
            DType::U32 => "u32".into(),
            DType::U64 => "u64".into(),
            DType::Complex64 => "c64".into(),
            DType::Complex128 => "c128".into(),
            DType::BF16 => "bf16".into(),
            DType::Other(c) => format!("dtype{c}"),
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}
