//! The interpreter's working array: a shape plus elements widened to `f64` (float dtypes) or
//! `i64` (integer and bool dtypes). Every kernel rounds its results back to the element type
//! with [`Arr::floats`] / [`Arr::ints`], so each op behaves as if computed in its own dtype.

use crate::error::{bail, OpResult};
use lnopt_ir::narrow::Narrow;
use lnopt_ir::{DType, Tensor, TensorData};

/// Largest number of elements any value may have (8 bytes each: 256 MiB).
pub(crate) const MAX_ELEMENTS: usize = 1 << 25;

/// Largest number of elements of a tensor read from the model or an input file (8 bytes each
/// once widened: 2 GiB). Such tensors already passed the file's size limits; the interpreter
/// only refuses what it cannot widen in reasonable memory (GPT-2's token embedding has
/// 38.6 M elements).
pub(crate) const MAX_TENSOR_ELEMENTS: usize = 1 << 28;

/// Largest number of elements the values computed by one graph run may hold at once (8 bytes
/// each: 512 MiB; each value is freed after its last reader), so a tiny hostile model cannot
/// make the interpreter take gigabytes. Inputs and initializers are bounded by their files.
pub(crate) const MAX_LIVE_ELEMENTS: usize = 1 << 26;

/// Elements of an [`Arr`].
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Buf {
    /// f16, bf16, f32, f64 elements, each already rounded to its dtype.
    F(Vec<f64>),
    /// Integer and bool elements, each already wrapped to its dtype (bool: 0 or 1).
    I(Vec<i64>),
    /// Elements of a `string` tensor (bytes, UTF-8 by convention).
    S(Vec<Vec<u8>>),
}

/// A dense row-major array.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Arr {
    /// Element type.
    pub dtype: DType,
    /// Dims (empty for a scalar).
    pub shape: Vec<usize>,
    /// The elements, `numel(shape)` of them.
    pub buf: Buf,
}

/// Number of elements of `shape`, refusing shapes (or single dims) above [`MAX_ELEMENTS`].
pub(crate) fn checked_numel(shape: &[usize]) -> OpResult<usize> {
    let mut n: usize = 1;
    for &d in shape {
        if d > MAX_ELEMENTS {
            bail!("shape {shape:?} has a dim above {MAX_ELEMENTS}");
        }
        n = match n.checked_mul(d) {
            Some(v) if v <= MAX_ELEMENTS => v,
            _ => bail!("shape {shape:?} has more than {MAX_ELEMENTS} elements"),
        };
    }
    Ok(n)
}

/// Rounds `x` to the precision of the float dtype `dt` (narrow floats: round to nearest even
/// without saturation, as a plain conversion does).
pub(crate) fn round_float(dt: DType, x: f64) -> f64 {
    match dt {
        DType::F32 => x as f32 as f64,
        DType::F16 => half::f16::from_f64(x).to_f64(),
        DType::BF16 => half::bf16::from_f64(x).to_f64(),
        _ => match Narrow::of(dt) {
            Some(k) if k.is_float() => k.decode(k.encode(x, false)),
            _ => x,
        },
    }
}

/// True for the dtypes held as floats: f16, bf16, f32, f64 and the narrow floats.
pub(crate) fn is_float_dtype(dt: DType) -> bool {
    dt.is_float() || Narrow::of(dt).is_some_and(|k| k.is_float())
}

/// Wraps `x` to the range of the integer dtype `dt` (two's complement), bool to 0/1.
pub(crate) fn wrap_int(dt: DType, x: i64) -> i64 {
    match dt {
        DType::I8 => x as i8 as i64,
        DType::U8 => x as u8 as i64,
        DType::I16 => x as i16 as i64,
        DType::U16 => x as u16 as i64,
        DType::I32 => x as i32 as i64,
        DType::U32 => x as u32 as i64,
        DType::Bool => (x != 0) as i64,
        _ => match Narrow::of(dt) {
            Some(k) if !k.is_float() => k.decode_int(k.encode_int(x)),
            _ => x,
        },
    }
}

/// True if the interpreter can compute on `dt`.
pub(crate) fn supported_dtype(dt: DType) -> bool {
    dt.is_float()
        || dt.is_int()
        || dt == DType::Bool
        || dt == DType::String
        || Narrow::of(dt).is_some()
}

/// A string tensor (built from a placeholder of the same element count, the one public way to
/// make a tensor).
fn string_tensor(name: &str, dims: Vec<i64>, v: Vec<Vec<u8>>) -> Tensor {
    match Tensor::from_bytes(name, DType::U8, dims, vec![0; v.len()]) {
        Ok(mut t) => {
            t.dtype = DType::String;
            t.data = TensorData::Strings(v);
            t
        }
        // Unreachable: the dims come from an array of v.len() elements.
        Err(_) => Tensor::from_f32(name, vec![0], &[]),
    }
}

impl Arr {
    /// A float array; rounds every element to `dtype`.
    pub fn floats(dtype: DType, shape: Vec<usize>, mut v: Vec<f64>) -> Arr {
        if dtype != DType::F64 {
            for x in v.iter_mut() {
                *x = round_float(dtype, *x);
            }
        }
        Arr {
            dtype,
            shape,
            buf: Buf::F(v),
        }
    }

    /// An integer or bool array; wraps every element to `dtype`.
    pub fn ints(dtype: DType, shape: Vec<usize>, mut v: Vec<i64>) -> Arr {
        if dtype != DType::I64 && dtype != DType::U64 {
            for x in v.iter_mut() {
                *x = wrap_int(dtype, *x);
            }
        }
        Arr {
            dtype,
            shape,
            buf: Buf::I(v),
        }
    }

    /// An array of `dtype` from f64 values (truncated toward zero for integer dtypes; u64
    /// values above i64::MAX keep their bits; 4- and 2-bit integers as
    /// [`Narrow::encode_int_from_float`]).
    pub fn from_f64(dtype: DType, shape: Vec<usize>, v: Vec<f64>) -> Arr {
        if is_float_dtype(dtype) {
            Arr::floats(dtype, shape, v)
        } else if dtype == DType::Bool {
            Arr::ints(dtype, shape, v.iter().map(|&x| (x != 0.0) as i64).collect())
        } else if let Some(k) = Narrow::of(dtype) {
            let v = v
                .iter()
                .map(|&x| k.decode_int(k.encode_int_from_float(x)))
                .collect();
            Arr::ints(dtype, shape, v)
        } else if dtype == DType::U64 {
            let v = v
                .iter()
                .map(|&x| if x > 0.0 { x as u64 as i64 } else { 0 })
                .collect();
            Arr::ints(dtype, shape, v)
        } else {
            Arr::ints(dtype, shape, v.iter().map(|&x| x as i64).collect())
        }
    }

    /// An array of `dtype` from i64 values.
    pub fn from_i64(dtype: DType, shape: Vec<usize>, v: Vec<i64>) -> Arr {
        if is_float_dtype(dtype) {
            Arr::floats(dtype, shape, v.iter().map(|&x| x as f64).collect())
        } else {
            Arr::ints(dtype, shape, v)
        }
    }

    /// A string array.
    pub fn strings(shape: Vec<usize>, v: Vec<Vec<u8>>) -> Arr {
        Arr {
            dtype: DType::String,
            shape,
            buf: Buf::S(v),
        }
    }

    /// Elements of a string array; an error for other dtypes.
    pub fn string_values(&self, what: &str) -> OpResult<&[Vec<u8>]> {
        match &self.buf {
            Buf::S(v) => Ok(v),
            _ => bail!("{what} must be a string tensor, got {}", self.dtype),
        }
    }

    /// A 1-D i64 array.
    pub fn i64_vec(v: Vec<i64>) -> Arr {
        Arr::ints(DType::I64, vec![v.len()], v)
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.buf {
            Buf::F(v) => v.len(),
            Buf::I(v) => v.len(),
            Buf::S(v) => v.len(),
        }
    }

    /// Rank.
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// True for float dtypes.
    pub fn is_float(&self) -> bool {
        matches!(self.buf, Buf::F(_))
    }

    /// Elements as f64 (integers converted; u64 by their unsigned value).
    pub fn to_f64(&self) -> Vec<f64> {
        match &self.buf {
            Buf::F(v) => v.clone(),
            Buf::I(v) if self.dtype == DType::U64 => v.iter().map(|&x| x as u64 as f64).collect(),
            Buf::I(v) => v.iter().map(|&x| x as f64).collect(),
            // Only ops that accept strings see them (ops::misc gates the rest), and none of
            // them reads strings as numbers.
            Buf::S(v) => vec![f64::NAN; v.len()],
        }
    }

    /// Elements of an integer (or bool) array; an error for floats.
    pub fn int_values(&self, what: &str) -> OpResult<&[i64]> {
        match &self.buf {
            Buf::I(v) => Ok(v),
            _ => bail!("{what} must be an integer tensor, got {}", self.dtype),
        }
    }

    /// Elements of a float array; an error for other dtypes.
    pub fn float_values(&self, what: &str) -> OpResult<&[f64]> {
        match &self.buf {
            Buf::F(v) => Ok(v),
            _ => bail!("{what} must be a float tensor, got {}", self.dtype),
        }
    }

    /// The single element of a one-element array, as f64.
    pub fn scalar_f64(&self, what: &str) -> OpResult<f64> {
        if self.len() != 1 {
            bail!("{what} must have one element, has shape {:?}", self.shape);
        }
        Ok(match &self.buf {
            Buf::F(v) => v[0],
            Buf::I(v) => v[0] as f64,
            Buf::S(_) => bail!("{what} must be numeric, got strings"),
        })
    }

    /// The single element of a one-element integer array.
    pub fn scalar_i64(&self, what: &str) -> OpResult<i64> {
        let v = self.int_values(what)?;
        if v.len() != 1 {
            bail!("{what} must have one element, has shape {:?}", self.shape);
        }
        Ok(v[0])
    }

    /// The same elements under another shape of equal element count.
    pub fn reshaped(&self, shape: Vec<usize>) -> OpResult<Arr> {
        if checked_numel(&shape)? != self.len() {
            bail!(
                "cannot reshape {:?} ({} elements) to {:?}",
                self.shape,
                self.len(),
                shape
            );
        }
        Ok(Arr {
            dtype: self.dtype,
            shape,
            buf: self.buf.clone(),
        })
    }

    /// Picks elements by flat source index, giving an array of `shape`.
    pub fn gather_flat(&self, shape: Vec<usize>, idx: &[usize]) -> Arr {
        let buf = match &self.buf {
            Buf::F(v) => Buf::F(idx.iter().map(|&i| v[i]).collect()),
            Buf::I(v) => Buf::I(idx.iter().map(|&i| v[i]).collect()),
            Buf::S(v) => Buf::S(idx.iter().map(|&i| v[i].clone()).collect()),
        };
        Arr {
            dtype: self.dtype,
            shape,
            buf,
        }
    }

    /// Converts a lnopt tensor (checked: size, dtype).
    pub fn from_tensor(t: &Tensor) -> OpResult<Arr> {
        if !supported_dtype(t.dtype) {
            bail!("tensor '{}' has unsupported dtype {}", t.name, t.dtype);
        }
        let mut shape = Vec::with_capacity(t.dims.len());
        for &d in &t.dims {
            match usize::try_from(d) {
                Ok(d) => shape.push(d),
                Err(_) => bail!("tensor '{}' has negative dim in {:?}", t.name, t.dims),
            }
        }
        let n = match t.numel() {
            Some(n) if n <= MAX_TENSOR_ELEMENTS => n,
            _ => bail!(
                "tensor '{}' of shape {:?} has more than {MAX_TENSOR_ELEMENTS} elements",
                t.name,
                t.dims
            ),
        };
        if let TensorData::Strings(v) = &t.data {
            if t.dtype != DType::String || v.len() != n {
                bail!("tensor '{}' does not hold {n} strings", t.name);
            }
            return Ok(Arr::strings(shape, v.clone()));
        }
        match t.bytes() {
            Some(b) if Some(b.len()) == t.dtype.byte_len(n) => {}
            _ => bail!(
                "tensor '{}' data does not hold {n} elements of {}",
                t.name,
                t.dtype
            ),
        }
        if let Some(k) = Narrow::of(t.dtype) {
            let codes = match t.bytes().and_then(|b| k.unpack(b, n)) {
                Some(c) => c,
                None => bail!("tensor '{}': cannot unpack {} data", t.name, t.dtype),
            };
            return Ok(if k.is_float() {
                Arr::floats(t.dtype, shape, codes.iter().map(|&c| k.decode(c)).collect())
            } else {
                Arr::ints(
                    t.dtype,
                    shape,
                    codes.iter().map(|&c| k.decode_int(c)).collect(),
                )
            });
        }
        if t.dtype.is_float() {
            match t.to_f64_vec() {
                Some(v) => Ok(Arr::floats(t.dtype, shape, v)),
                None => bail!("tensor '{}': cannot read {} data", t.name, t.dtype),
            }
        } else {
            match t.to_i64_vec() {
                Some(v) => Ok(Arr::ints(t.dtype, shape, v)),
                None => bail!("tensor '{}': cannot read {} data", t.name, t.dtype),
            }
        }
    }

    /// Packs into a lnopt tensor called `name`.
    pub fn to_tensor(&self, name: &str) -> Tensor {
        let n = self.len();
        let dims: Vec<i64> = self.shape.iter().map(|&d| d as i64).collect();
        if let Buf::S(v) = &self.buf {
            return string_tensor(name, dims, v.clone());
        }
        if let Some(k) = Narrow::of(self.dtype) {
            // Every element is already a value of the type, so encoding is exact.
            let codes: Vec<u8> = match &self.buf {
                Buf::F(v) => v.iter().map(|&x| k.encode(x, false)).collect(),
                Buf::I(v) => v.iter().map(|&x| k.encode_int(x)).collect(),
                Buf::S(_) => Vec::new(),
            };
            return Tensor::from_bytes(name, self.dtype, dims, k.pack(&codes))
                .unwrap_or_else(|_| Tensor::from_f32(name, vec![0], &[]));
        }
        let mut bytes = Vec::with_capacity(n * self.dtype.size_of().unwrap_or(8));
        match &self.buf {
            Buf::F(v) => {
                for &x in v {
                    match self.dtype {
                        DType::F16 => bytes.extend(half::f16::from_f64(x).to_le_bytes()),
                        DType::BF16 => bytes.extend(half::bf16::from_f64(x).to_le_bytes()),
                        DType::F64 => bytes.extend(x.to_le_bytes()),
                        _ => bytes.extend((x as f32).to_le_bytes()),
                    }
                }
            }
            Buf::I(v) => {
                for &x in v {
                    match self.dtype {
                        DType::I8 | DType::U8 | DType::Bool => bytes.push(x as u8),
                        DType::I16 | DType::U16 => bytes.extend((x as u16).to_le_bytes()),
                        DType::I32 | DType::U32 => bytes.extend((x as u32).to_le_bytes()),
                        _ => bytes.extend(x.to_le_bytes()),
                    }
                }
            }
            // Returned above.
            Buf::S(_) => {}
        }
        Tensor::from_bytes(name, self.dtype, dims, bytes).unwrap_or_else(|_| {
            // Unreachable: the byte count follows from the shape and dtype above.
            Tensor::from_f32(name, vec![0], &[])
        })
    }
}
