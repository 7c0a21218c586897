//! TensorProto -> [`Tensor`]: dims and size checks before any allocation, then raw, typed or
//! external data packed little-endian.

use super::{metadata, to_bytes, Importer};
use crate::{unknown, OnnxError};
use lnopt_ir::narrow::Narrow;
use lnopt_ir::{numel, Blob, DType, Storage, Tensor, TensorData, UnknownField};
use onnx_protobuf::TensorProto;

/// `data_location` code of external data.
const EXTERNAL: i32 = 1;

impl Importer<'_> {
    /// Imports a tensor found in `place`.
    pub(crate) fn tensor(&mut self, tp: &TensorProto, place: &str) -> Result<Tensor, OnnxError> {
        let err = |what: String| OnnxError::Tensor {
            place: place.to_string(),
            tensor: tp.name.clone(),
            what,
        };
        if !super::types::is_onnx_dtype(tp.data_type) {
            return Err(err(format!(
                "data_type {} is not an ONNX element type (known: 1 to {})",
                tp.data_type,
                super::types::LAST_ONNX_DTYPE
            )));
        }
        let dtype = DType::from_onnx(tp.data_type);
        if let Some(d) = tp.dims.iter().find(|d| **d < 0) {
            return Err(err(format!("negative dim {d} in dims {:?}", tp.dims)));
        }
        let n = numel(&tp.dims)
            .ok_or_else(|| err(format!("dims {:?} have too many elements", tp.dims)))?;
        let max = self.limits.max_tensor_bytes;
        let expect_bytes = match dtype.size_of().or(Narrow::of(dtype).map(|_| 1)) {
            Some(_) => Some(
                dtype
                    .byte_len(n)
                    .ok_or_else(|| err(format!("dims {:?} of {dtype} overflow", tp.dims)))?
                    as u64,
            ),
            None => None,
        };
        let too_big = match expect_bytes {
            Some(b) => b > max,
            None => n as u64 > max,
        };
        if too_big {
            return Err(err(format!(
                "dims {:?} of {dtype} need more than the limit of {max} bytes",
                tp.dims
            )));
        }
        let (data, storage) = match tp.data_location.value() {
            0 => {
                if !tp.external_data.is_empty() {
                    return Err(err(
                        "has external_data entries but data_location is not EXTERNAL".into(),
                    ));
                }
                inline(tp, dtype, n, expect_bytes).map_err(err)?
            }
            EXTERNAL => {
                if has_inline_data(tp) {
                    return Err(err("is EXTERNAL but also has inline data".into()));
                }
                if dtype == DType::String {
                    return Err(err("string tensors cannot be stored externally".into()));
                }
                let (bytes, r) = self.external(tp, expect_bytes, place)?;
                (TensorData::Bytes(bytes), Storage::External(r))
            }
            other => return Err(err(format!("unknown data_location {other}"))),
        };
        let mut unk = unknown::import(&tp.special_fields);
        // `segment` (field 3) has no IR field: keep it as unknown bytes.
        if let Some(seg) = tp.segment.as_ref() {
            unk.0.push(UnknownField::Bytes(3, to_bytes(seg, place)?));
            unknown::sort(&mut unk.0);
        }
        Ok(Tensor {
            name: tp.name.clone(),
            dtype,
            dims: tp.dims.clone(),
            data,
            storage,
            doc_string: tp.doc_string.clone(),
            metadata: metadata(&tp.metadata_props),
            unknown: unk,
        })
    }
}

fn has_inline_data(tp: &TensorProto) -> bool {
    !typed_fields(tp).is_empty() || !tp.raw_data.is_empty()
}

/// The non-empty typed data fields, with their lengths.
fn typed_fields(tp: &TensorProto) -> Vec<(&'static str, usize)> {
    [
        ("float_data", tp.float_data.len()),
        ("int32_data", tp.int32_data.len()),
        ("string_data", tp.string_data.len()),
        ("int64_data", tp.int64_data.len()),
        ("double_data", tp.double_data.len()),
        ("uint64_data", tp.uint64_data.len()),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .collect()
}

/// The typed field that holds `dtype`, and how many values per element it uses.
fn typed_field_of(dtype: DType) -> Option<(&'static str, usize)> {
    Some(match dtype {
        DType::F32 => ("float_data", 1),
        DType::Complex64 => ("float_data", 2),
        DType::I32
        | DType::I16
        | DType::I8
        | DType::U16
        | DType::U8
        | DType::Bool
        | DType::F16
        | DType::BF16 => ("int32_data", 1),
        DType::I64 => ("int64_data", 1),
        DType::F64 => ("double_data", 1),
        DType::Complex128 => ("double_data", 2),
        DType::U32 | DType::U64 => ("uint64_data", 1),
        DType::String => ("string_data", 1),
        DType::Other(_) if Narrow::of(dtype).is_some() => ("int32_data", 1),
        DType::Undefined | DType::Other(_) => return None,
    })
}

/// Data stored in the message itself.
fn inline(
    tp: &TensorProto,
    dtype: DType,
    n: usize,
    expect_bytes: Option<u64>,
) -> Result<(TensorData, Storage), String> {
    let typed = typed_fields(tp);
    if !tp.raw_data.is_empty() {
        if let Some((f, _)) = typed.first() {
            return Err(format!("has both raw_data and {f}"));
        }
        if dtype == DType::String {
            return Err("string tensor with raw_data (strings must be in string_data)".into());
        }
        if let Some(b) = expect_bytes {
            if tp.raw_data.len() as u64 != b {
                return Err(format!(
                    "raw_data has {} bytes but dims {:?} of {dtype} need {b}",
                    tp.raw_data.len(),
                    tp.dims
                ));
            }
        }
        return Ok((
            TensorData::Bytes(Blob::from(&tp.raw_data[..])),
            Storage::Raw,
        ));
    }
    let Some((field, per)) = typed_field_of(dtype) else {
        if let Some((f, _)) = typed.first() {
            return Err(format!("dtype {dtype} can only hold raw_data, found {f}"));
        }
        if n > 0 {
            return Err(format!("dims {:?} of {dtype} but no data", tp.dims));
        }
        return Ok((TensorData::Bytes(Blob::from(Vec::new())), Storage::Raw));
    };
    if let Some((f, _)) = typed.iter().find(|(f, _)| *f != field) {
        return Err(format!(
            "has {f}, which is not used for {dtype} (expected {field})"
        ));
    }
    let have = typed.first().map_or(0, |(_, k)| *k);
    // Narrow types hold one packed byte per `int32_data` value.
    let want = match Narrow::of(dtype) {
        Some(k) => k.byte_len(n),
        None => n.saturating_mul(per),
    };
    if have != want {
        return Err(format!(
            "{field} has {have} values but dims {:?} of {dtype} need {want}",
            tp.dims
        ));
    }
    if n == 0 {
        let data = if dtype == DType::String {
            TensorData::Strings(Vec::new())
        } else {
            TensorData::Bytes(Blob::from(Vec::new()))
        };
        return Ok((data, Storage::Raw));
    }
    let bytes: Vec<u8> = match dtype {
        DType::String => return Ok((TensorData::Strings(tp.string_data.clone()), Storage::Typed)),
        DType::F32 | DType::Complex64 => le(&tp.float_data, |v| v.to_le_bytes()),
        DType::F64 | DType::Complex128 => le(&tp.double_data, |v| v.to_le_bytes()),
        DType::I64 => le(&tp.int64_data, |v| v.to_le_bytes()),
        DType::I32 => le(&tp.int32_data, |v| v.to_le_bytes()),
        DType::I16 | DType::U16 | DType::F16 | DType::BF16 => {
            le(&tp.int32_data, |v| (*v as u16).to_le_bytes())
        }
        DType::I8 | DType::U8 | DType::Bool => tp.int32_data.iter().map(|v| *v as u8).collect(),
        DType::U32 => le(&tp.uint64_data, |v| (*v as u32).to_le_bytes()),
        DType::U64 => le(&tp.uint64_data, |v| v.to_le_bytes()),
        DType::Other(_) if Narrow::of(dtype).is_some() => {
            tp.int32_data.iter().map(|v| *v as u8).collect()
        }
        DType::Undefined | DType::Other(_) => Vec::new(),
    };
    Ok((TensorData::Bytes(Blob::from(bytes)), Storage::Typed))
}

/// Packs values little-endian.
fn le<T, const N: usize>(vals: &[T], f: impl Fn(&T) -> [u8; N]) -> Vec<u8> {
    let mut out = Vec::with_capacity(vals.len().saturating_mul(N));
    for v in vals {
        out.extend_from_slice(&f(v));
    }
    out
}
