//! Constant tensors (initializers, Constant values, tensor attributes).

use crate::{Blob, DType, Metadata, UnknownFields};

/// Element data of a constant tensor.
#[derive(Clone, Debug, PartialEq)]
pub enum TensorData {
    /// Elements packed little-endian, `dtype.size_of()` bytes each (bool: one byte 0/1).
    /// Shared: cloning a tensor never copies its bytes; external data stays in its mapped
    /// file until read.
    Bytes(Blob),
    /// Elements of a `string` tensor.
    Strings(Vec<Vec<u8>>),
}

/// Where the tensor's bytes lived in the file, so export can store them the same way.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Storage {
    /// `raw_data` bytes.
    #[default]
    Raw,
    /// The typed repeated fields (`float_data`, `int64_data`, …).
    Typed,
    /// A file beside the model (`data_location = EXTERNAL`).
    External(ExternalRef),
}

/// The `external_data` entries of a tensor stored outside the model file.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ExternalRef {
    /// Path relative to the model's folder.
    pub location: String,
    /// Byte offset in that file.
    pub offset: u64,
    /// Byte length, when given.
    pub length: Option<u64>,
    /// Any other keys (`checksum`, …), kept in order.
    pub extra: Vec<(String, String)>,
}

/// A constant tensor (its bytes in memory, or mapped from an external-data file).
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// The tensor's name (may be empty for attribute tensors).
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Dims; empty for a scalar.
    pub dims: Vec<i64>,
    /// The elements.
    pub data: TensorData,
    /// How the file stored the data.
    pub storage: Storage,
    /// `doc_string`.
    pub doc_string: String,
    /// `metadata_props`.
    pub metadata: Metadata,
    /// Fields of `TensorProto` lnopt does not model (`segment`, future fields).
    pub unknown: UnknownFields,
}

/// Error building a tensor from data that does not fit its shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tensor '{name}': {what}")]
pub struct TensorError {
    /// Tensor name.
    pub name: String,
    /// What is wrong.
    pub what: String,
}

impl Tensor {
    /// Number of elements implied by the dims (1 for a scalar), or `None` on overflow or a
    /// negative dim.
    pub fn numel(&self) -> Option<usize> {
        numel(&self.dims)
    }

    /// A new in-memory tensor from packed little-endian bytes (a `Vec<u8>`, or a [`Blob`]
    /// shared without a copy); checks the length.
    pub fn from_bytes(
        name: impl Into<String>,
        dtype: DType,
        dims: Vec<i64>,
        bytes: impl Into<Blob>,
    ) -> Result<Tensor, TensorError> {
        let name = name.into();
        let bytes: Blob = bytes.into();
        let n = numel(&dims).ok_or_else(|| TensorError {
            name: name.clone(),
            what: format!("invalid dims {dims:?}"),
        })?;
        let want = dtype.byte_len(n).ok_or_else(|| TensorError {
            name: name.clone(),
            what: format!("dtype {dtype} has no fixed element size"),
        })?;
        if want != bytes.len() {
            return Err(TensorError {
                name,
                what: format!(
                    "{} bytes of data for shape {:?} of {} ({} expected)",
                    bytes.len(),
                    dims,
                    dtype,
                    want
                ),
            });
        }
        Ok(Tensor {
            name,
            dtype,
            dims,
            data: TensorData::Bytes(bytes),
            storage: Storage::Raw,
            doc_string: String::new(),
            metadata: Vec::new(),
            unknown: UnknownFields::default(),
        })
    }

    /// An f32 tensor.
    pub fn from_f32(name: impl Into<String>, dims: Vec<i64>, values: &[f32]) -> Tensor {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Tensor::from_bytes(name, DType::F32, dims, bytes).expect("length checked by caller")
    }

    /// An i64 tensor.
    pub fn from_i64(name: impl Into<String>, dims: Vec<i64>, values: &[i64]) -> Tensor {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Tensor::from_bytes(name, DType::I64, dims, bytes).expect("length checked by caller")
    }

    /// The packed bytes, if this is not a string tensor.
    pub fn bytes(&self) -> Option<&[u8]> {
        match &self.data {
            TensorData::Bytes(b) => Some(b),
            TensorData::Strings(_) => None,
        }
    }

    /// All elements widened to f64, for numeric dtypes (bool as 0/1). `None` for strings,
    /// complex and unknown dtypes.
    pub fn to_f64_vec(&self) -> Option<Vec<f64>> {
        let b = self.bytes()?;
        let v = match self.dtype {
            DType::F32 => chunks::<4>(b)
                .map(|c| f32::from_le_bytes(c) as f64)
                .collect(),
            DType::F64 => chunks::<8>(b).map(f64::from_le_bytes).collect(),
            DType::F16 => chunks::<2>(b)
                .map(|c| half::f16::from_le_bytes(c).to_f64())
                .collect(),
            DType::BF16 => chunks::<2>(b)
                .map(|c| half::bf16::from_le_bytes(c).to_f64())
                .collect(),
            DType::I64 => chunks::<8>(b)
                .map(|c| i64::from_le_bytes(c) as f64)
                .collect(),
            DType::I32 => chunks::<4>(b)
                .map(|c| i32::from_le_bytes(c) as f64)
                .collect(),
            DType::I16 => chunks::<2>(b)
                .map(|c| i16::from_le_bytes(c) as f64)
                .collect(),
            DType::U16 => chunks::<2>(b)
                .map(|c| u16::from_le_bytes(c) as f64)
                .collect(),
            DType::U32 => chunks::<4>(b)
                .map(|c| u32::from_le_bytes(c) as f64)
                .collect(),
            DType::U64 => chunks::<8>(b)
                .map(|c| u64::from_le_bytes(c) as f64)
                .collect(),
            DType::I8 => b.iter().map(|&x| x as i8 as f64).collect(),
            DType::U8 | DType::Bool => b.iter().map(|&x| x as f64).collect(),
            _ => return None,
        };
        Some(v)
    }

    /// All elements as i64, for integer and bool dtypes. `None` otherwise.
    pub fn to_i64_vec(&self) -> Option<Vec<i64>> {
        let b = self.bytes()?;
        let v = match self.dtype {
            DType::I64 => chunks::<8>(b).map(i64::from_le_bytes).collect(),
            DType::I32 => chunks::<4>(b)
                .map(|c| i32::from_le_bytes(c) as i64)
                .collect(),
            DType::I16 => chunks::<2>(b)
                .map(|c| i16::from_le_bytes(c) as i64)
                .collect(),
            DType::U16 => chunks::<2>(b)
                .map(|c| u16::from_le_bytes(c) as i64)
                .collect(),
            DType::U32 => chunks::<4>(b)
                .map(|c| u32::from_le_bytes(c) as i64)
                .collect(),
            DType::U64 => chunks::<8>(b)
                .map(|c| u64::from_le_bytes(c) as i64)
                .collect(),
            DType::I8 => b.iter().map(|&x| x as i8 as i64).collect(),
            DType::U8 | DType::Bool => b.iter().map(|&x| x as i64).collect(),
            _ => return None,
        };
        Some(v)
    }
}

/// Number of elements of a shape, `None` on overflow or a negative dim.
pub fn numel(dims: &[i64]) -> Option<usize> {
    dims.iter().try_fold(1usize, |acc, &d| {
        if d < 0 {
            None
        } else {
            acc.checked_mul(usize::try_from(d).ok()?)
        }
    })
}

fn chunks<const N: usize>(b: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
    b.chunks_exact(N).map(|c| {
        let mut a = [0u8; N];
        a.copy_from_slice(c);
        a
    })
}
