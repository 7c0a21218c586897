//! [`Tensor`] -> TensorProto, storing data the way it came ([`Storage`]).

use super::{metadata_props, Exporter};
use crate::{unknown, OnnxError};
use lnopt_ir::{DType, ExternalRef, Storage, Tensor, TensorData};
use onnx_protobuf::tensor_proto::DataLocation;
use onnx_protobuf::{StringStringEntryProto, TensorProto};
use protobuf::EnumOrUnknown;

impl Exporter<'_> {
    /// Exports a tensor found in `place`.
    pub(crate) fn tensor(&mut self, t: &Tensor, place: &str) -> Result<TensorProto, OnnxError> {
        let err = |what: String| OnnxError::Tensor {
            place: place.to_string(),
            tensor: t.name.clone(),
            what,
        };
        let mut tp = TensorProto::new();
        tp.name = t.name.clone();
        tp.dims = t.dims.clone();
        tp.data_type = t.dtype.onnx_code();
        tp.doc_string = t.doc_string.clone();
        tp.metadata_props = metadata_props(&t.metadata);
        unknown::export(&t.unknown, &mut tp.special_fields, place)?;
        match &t.data {
            TensorData::Strings(s) => {
                if t.dtype != DType::String {
                    return Err(err(format!("holds strings but its dtype is {}", t.dtype)));
                }
                if matches!(t.storage, Storage::External(_)) {
                    return Err(err("string tensors cannot be stored externally".into()));
                }
                tp.string_data = s.clone();
            }
            TensorData::Bytes(b) => {
                if let Some(want) = t.numel().and_then(|n| t.dtype.byte_len(n)) {
                    if want != b.len() {
                        return Err(err(format!(
                            "{} bytes of data for dims {:?} of {}",
                            b.len(),
                            t.dims,
                            t.dtype
                        )));
                    }
                }
                match &t.storage {
                    Storage::Raw => tp.raw_data = b.to_vec(),
                    Storage::Typed => {
                        if !typed(t.dtype, b, &mut tp) {
                            tp.raw_data = b.to_vec();
                        }
                    }
                    Storage::External(r) => {
                        let r = match self.external.as_mut() {
                            Some(w) => w.add(r, b).map_err(|what| OnnxError::External {
                                place: place.to_string(),
                                tensor: t.name.clone(),
                                location: r.location.clone(),
                                what,
                            })?,
                            None => r.clone(),
                        };
                        tp.external_data = external_entries(&r);
                        tp.data_location = EnumOrUnknown::new(DataLocation::EXTERNAL);
                    }
                }
            }
        }
        Ok(tp)
    }
}

fn external_entries(r: &ExternalRef) -> Vec<StringStringEntryProto> {
    let mut v = vec![("location".to_string(), r.location.clone())];
    v.push(("offset".into(), r.offset.to_string()));
    if let Some(l) = r.length {
        v.push(("length".into(), l.to_string()));
    }
    v.extend(r.extra.iter().cloned());
    metadata_props(&v)
}

/// Fills the typed field for `dtype` from packed bytes; false if the dtype has none.
fn typed(dtype: DType, b: &[u8], tp: &mut TensorProto) -> bool {
    match dtype {
        DType::F32 | DType::Complex64 => {
            tp.float_data = b
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(arr(c)))
                .collect()
        }
        DType::F64 | DType::Complex128 => {
            tp.double_data = b
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(arr(c)))
                .collect()
        }
        DType::I64 => {
            tp.int64_data = b
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(arr(c)))
                .collect()
        }
        DType::I32 => {
            tp.int32_data = b
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes(arr(c)))
                .collect()
        }
        DType::I16 => {
            tp.int32_data = b
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes(arr(c)) as i32)
                .collect()
        }
        DType::U16 | DType::F16 | DType::BF16 => {
            tp.int32_data = b
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes(arr(c)) as i32)
                .collect()
        }
        DType::I8 => tp.int32_data = b.iter().map(|&x| x as i8 as i32).collect(),
        DType::U8 | DType::Bool => tp.int32_data = b.iter().map(|&x| x as i32).collect(),
        DType::U32 => {
            tp.uint64_data = b
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes(arr(c)) as u64)
                .collect()
        }
        DType::U64 => {
            tp.uint64_data = b
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(arr(c)))
                .collect()
        }
        DType::String | DType::Undefined | DType::Other(_) => return false,
    }
    true
}

/// A fixed-size array from a chunk of exactly that size (chunks_exact guarantees it).
fn arr<const N: usize>(c: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&c[..N]);
    a
}
