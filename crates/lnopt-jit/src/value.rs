//! Runtime values: a dtype, a shape and the elements in one of four working representations,
//! or an interpreter value held unchanged.
//!
//! f32, f16 and bf16 are held as `f32` (half values are rounded back after every op, so they
//! behave as if computed in their own precision); f64 as `f64`; every integer type as `i64`
//! (wrapped to its width when produced); bool as `bool`. The dtypes the JIT does not compute
//! on (the 8-, 4- and 2-bit floats and integers, strings) are held as the interpreter's own
//! value ([`Data::Opaque`]): only the fallback to the interpreter reads and writes them, and
//! every runtime function refuses them, so they are never converted.

use crate::error::{bail, OpResult};
pub(crate) use crate::fbuf::FBuf;
use lnopt_interp::Value;
use lnopt_ir::{Blob, DType, Tensor, TensorData};

/// Most elements a single runtime value may hold (2^31), checked before allocating.
pub(crate) const MAX_ELEMS: usize = 1 << 31;

/// Elements of a runtime value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Data {
    /// f32, f16, bf16 (f32 weights are viewed in place, see [`FBuf`]).
    F(FBuf),
    /// f64.
    D(Vec<f64>),
    /// All integer types.
    I(Vec<i64>),
    /// bool.
    B(Vec<bool>),
    /// A value of a dtype the JIT does not compute on ([`rep`] refuses it), exactly as the
    /// interpreter holds it; its dtype and shape are the [`Val`]'s.
    Opaque(Value),
}

impl Data {
    /// Number of elements.
    pub(crate) fn len(&self) -> usize {
        match self {
            Data::F(v) => v.len(),
            Data::D(v) => v.len(),
            Data::I(v) => v.len(),
            Data::B(v) => v.len(),
            Data::Opaque(v) => v.shape().iter().product(),
        }
    }
}

/// A runtime tensor.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Val {
    /// Element type it stands for.
    pub dtype: DType,
    /// Dims.
    pub shape: Vec<usize>,
    /// Elements, row-major; shared, so that views with a new shape (Reshape, Squeeze,
    /// Identity …) and same-type casts cost no copy.
    pub data: std::sync::Arc<Data>,
}

/// The value and rank of the single-element f32 constant in `slot` of a plan's constants.
pub(crate) fn const_f32_scalar(
    consts: &[Option<std::sync::Arc<Val>>],
    slot: usize,
) -> Option<(f32, usize)> {
    let v = consts.get(slot)?.as_deref()?;
    match (&*v.data, v.dtype) {
        (Data::F(d), DType::F32) if d.len() == 1 => Some((d[0], v.rank())),
        _ => None,
    }
}

/// Product of dims with overflow and size limit checks.
pub(crate) fn checked_numel(shape: &[usize]) -> OpResult<usize> {
    let mut n: usize = 1;
    for &d in shape {
        n = match n.checked_mul(d) {
            Some(v) => v,
            None => bail!("shape {shape:?} overflows"),
        };
    }
    if n > MAX_ELEMS {
        bail!("shape {shape:?} has {n} elements, more than the limit {MAX_ELEMS}");
    }
    Ok(n)
}

/// Rounds an f32 to f16/bf16 precision when `dt` is a half type.
#[inline(always)]
pub(crate) fn round_to(dt: DType, x: f32) -> f32 {
    match dt {
        DType::F16 => half::f16::from_f32(x).to_f32(),
        DType::BF16 => half::bf16::from_f32(x).to_f32(),
        _ => x,
    }
}

/// Wraps an i64 to the range of integer dtype `dt`.
#[inline]
pub(crate) fn wrap_int(dt: DType, x: i64) -> i64 {
    match dt {
        DType::I8 => x as i8 as i64,
        DType::U8 => x as u8 as i64,
        DType::I16 => x as i16 as i64,
        DType::U16 => x as u16 as i64,
        DType::I32 => x as i32 as i64,
        DType::U32 => x as u32 as i64,
        _ => x,
    }
}

/// Which working representation a dtype uses; `None` for dtypes the JIT does not compute on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rep {
    /// `Data::F`.
    F,
    /// `Data::D`.
    D,
    /// `Data::I`.
    I,
    /// `Data::B`.
    B,
}

/// Why a runtime function refuses a value of `dt` held opaque ([`Data::Opaque`]).
pub(crate) fn opaque_refusal(dt: DType) -> String {
    format!("dtype {dt} is not supported by the JIT's runtime functions (only the interpreter computes on it)")
}

/// The representation of `dt`.
pub(crate) fn rep(dt: DType) -> OpResult<Rep> {
    Ok(match dt {
        DType::F32 | DType::F16 | DType::BF16 => Rep::F,
        DType::F64 => Rep::D,
        DType::Bool => Rep::B,
        d if d.is_int() => Rep::I,
        d => bail!("dtype {d} is not supported"),
    })
}

impl Val {
    /// A value from parts; checks that the element count matches the shape.
    pub(crate) fn new(dtype: DType, shape: Vec<usize>, data: Data) -> OpResult<Val> {
        let n = checked_numel(&shape)?;
        if n != data.len() {
            bail!("{} elements for shape {shape:?}", data.len());
        }
        Ok(Val {
            dtype,
            shape,
            data: std::sync::Arc::new(data),
        })
    }

    /// An f32-represented float value, rounding to half precision when `dtype` is a half type.
    pub(crate) fn floats(dtype: DType, shape: Vec<usize>, mut v: Vec<f32>) -> OpResult<Val> {
        if matches!(dtype, DType::F16 | DType::BF16) {
            for x in v.iter_mut() {
                *x = round_to(dtype, *x);
            }
        }
        Val::new(dtype, shape, Data::F(v.into()))
    }

    /// An i64 value.
    pub(crate) fn ints(shape: Vec<usize>, v: Vec<i64>) -> OpResult<Val> {
        Val::new(DType::I64, shape, Data::I(v))
    }

    /// Number of elements.
    pub(crate) fn numel(&self) -> usize {
        self.data.len()
    }

    /// Rank.
    pub(crate) fn rank(&self) -> usize {
        self.shape.len()
    }

    /// The elements as i64 (integers and bools); error otherwise.
    pub(crate) fn as_i64(&self) -> OpResult<Vec<i64>> {
        match &*self.data {
            Data::I(v) => Ok(v.clone()),
            Data::B(v) => Ok(v.iter().map(|&b| b as i64).collect()),
            _ => bail!("expected an integer tensor, got {}", self.dtype),
        }
    }

    /// The elements as f64 (any value the JIT computes on; an error for an opaque one).
    pub(crate) fn as_f64(&self) -> OpResult<Vec<f64>> {
        Ok(match &*self.data {
            Data::F(v) => v.iter().map(|&x| x as f64).collect(),
            Data::D(v) => v.clone(),
            Data::I(v) => v.iter().map(|&x| x as f64).collect(),
            Data::B(v) => v.iter().map(|&x| x as u8 as f64).collect(),
            Data::Opaque(_) => bail!("{}", opaque_refusal(self.dtype)),
        })
    }

    /// An interpreter value of a dtype the JIT does not compute on, held unchanged; an error
    /// for the dtypes that have a working representation (those are converted instead).
    pub(crate) fn opaque(v: Value) -> OpResult<Val> {
        if rep(v.dtype()).is_ok() {
            bail!("internal: {} values are not held opaque", v.dtype());
        }
        Ok(Val {
            dtype: v.dtype(),
            shape: v.shape().to_vec(),
            data: std::sync::Arc::new(Data::Opaque(v)),
        })
    }

    /// The interpreter value, if this value is held opaque.
    pub(crate) fn as_opaque(&self) -> Option<&Value> {
        match &*self.data {
            Data::Opaque(v) => Some(v),
            _ => None,
        }
    }

    /// The interpreter value held opaque, checked to still have this value's dtype and shape
    /// (a step that relabelled it without the interpreter would be a bug: an error, never a
    /// silently reshaped answer).
    pub(crate) fn opaque_checked(&self, v: &Value) -> OpResult<()> {
        if v.dtype() != self.dtype || v.shape() != self.shape.as_slice() {
            bail!(
                "internal: a {} value of shape {:?} is labelled {} {:?}",
                v.dtype(),
                v.shape(),
                self.dtype,
                self.shape
            );
        }
        Ok(())
    }

    /// The f32 elements, if this is an f32-represented value.
    pub(crate) fn f32s(&self) -> OpResult<&[f32]> {
        match &*self.data {
            Data::F(v) => Ok(v),
            _ => bail!("expected an f32/f16/bf16 tensor, got {}", self.dtype),
        }
    }

    /// Converts an IR tensor (checks sizes; refuses dtypes neither the JIT nor the
    /// interpreter knows). Tensors of the dtypes the JIT does not compute on become opaque
    /// interpreter values.
    pub(crate) fn from_tensor(t: &Tensor) -> OpResult<Val> {
        if rep(t.dtype).is_err() {
            let v = Value::from_tensor(t).map_err(|e| crate::error::OpError(e.to_string()))?;
            return Val::opaque(v);
        }
        let mut shape = Vec::with_capacity(t.dims.len());
        for &d in &t.dims {
            match usize::try_from(d) {
                Ok(d) => shape.push(d),
                Err(_) => bail!("tensor '{}' has a negative dim {d}", t.name),
            }
        }
        let n = checked_numel(&shape)?;
        let bytes = match &t.data {
            TensorData::Bytes(b) => b,
            TensorData::Strings(_) => {
                bail!("tensor '{}': string tensors are not supported", t.name)
            }
        };
        let size = match t.dtype.size_of() {
            Some(s) => s,
            None => bail!("tensor '{}': dtype {} is not supported", t.name, t.dtype),
        };
        if n.checked_mul(size) != Some(bytes.len()) {
            bail!(
                "tensor '{}': {} bytes for shape {:?} of {}",
                t.name,
                bytes.len(),
                shape,
                t.dtype
            );
        }
        let data = match (rep(t.dtype)?, t.dtype) {
            (Rep::F, DType::F32) => Data::F(match FBuf::view_le_bytes(bytes) {
                Some(view) => view,
                None => bytes
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect::<Vec<f32>>()
                    .into(),
            }),
            (Rep::F, DType::F16) => Data::F(
                bytes
                    .chunks_exact(2)
                    .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                    .collect(),
            ),
            (Rep::F, _) => Data::F(
                bytes
                    .chunks_exact(2)
                    .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                    .collect(),
            ),
            (Rep::D, _) => Data::D(
                bytes
                    .chunks_exact(8)
                    .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                    .collect(),
            ),
            (Rep::B, _) => Data::B(bytes.iter().map(|&b| b != 0).collect()),
            (Rep::I, _) => match t.to_i64_vec() {
                Some(v) => Data::I(v),
                None => bail!("tensor '{}': cannot read {} elements", t.name, t.dtype),
            },
        };
        Val::new(t.dtype, shape, data)
    }

    /// Converts to an IR tensor named `name`. When this is the only owner of an f32 result,
    /// its buffer becomes the tensor's bytes without a copy (and returns to the buffer pool
    /// when the tensor is dropped); f32 bytes viewed from an input or a weight are shared;
    /// anything else is encoded once into a buffer of the exact size.
    pub(crate) fn into_tensor(self: std::sync::Arc<Self>, name: &str) -> OpResult<Tensor> {
        let v = std::sync::Arc::try_unwrap(self).unwrap_or_else(|shared| (*shared).clone());
        if let Data::Opaque(o) = &*v.data {
            v.opaque_checked(o)?;
            return Ok(o.to_tensor(name));
        }
        let dims: Vec<i64> = v.shape.iter().map(|&d| d as i64).collect();
        let dt = v.dtype;
        let little = cfg!(target_endian = "little");
        let f32_le = dt == DType::F32 && little;
        let bytes: Blob = match &*v.data {
            Data::F(FBuf::Shared { bytes, len }) if f32_le && bytes.len() == len * 4 => {
                bytes.clone()
            }
            _ => match std::sync::Arc::try_unwrap(v.data) {
                Ok(Data::F(FBuf::Owned(p))) if f32_le => {
                    Blob::from_shared(std::sync::Arc::new(F32Bytes(p)))
                }
                Ok(data) => encode(dt, &data)?.into(),
                Err(shared) => encode(dt, &shared)?.into(),
            },
        };
        Tensor::from_bytes(name, dt, dims, bytes).map_err(|e| crate::error::OpError(e.to_string()))
    }
}

/// An f32 result buffer seen as its little-endian bytes (only built on little-endian
/// machines), so an output crosses the API without a copy.
struct F32Bytes(crate::pool::Pooled);

impl AsRef<[u8]> for F32Bytes {
    fn as_ref(&self) -> &[u8] {
        bytemuck::cast_slice(&self.0 .0)
    }
}

/// The packed little-endian bytes of `data` as `dt`, written into a buffer of the exact size.
fn encode(dt: DType, data: &Data) -> OpResult<Vec<u8>> {
    fn pack<const N: usize, T: Copy>(v: &[T], f: impl Fn(T) -> [u8; N]) -> Vec<u8> {
        let mut out = Vec::with_capacity(v.len() * N);
        for &x in v {
            out.extend_from_slice(&f(x));
        }
        out
    }
    let little = cfg!(target_endian = "little");
    Ok(match data {
        Data::Opaque(_) => bail!("internal: an opaque value has no working elements"),
        Data::F(v) => match dt {
            DType::F16 => pack(v, |x| half::f16::from_f32(x).to_le_bytes()),
            DType::BF16 => pack(v, |x| half::bf16::from_f32(x).to_le_bytes()),
            _ if little => bytemuck::cast_slice::<f32, u8>(v).to_vec(),
            _ => pack(v, f32::to_le_bytes),
        },
        Data::D(v) if little => bytemuck::cast_slice::<f64, u8>(v).to_vec(),
        Data::D(v) => pack(v, f64::to_le_bytes),
        Data::B(v) => v.iter().map(|&b| b as u8).collect(),
        Data::I(v) => match dt {
            DType::I8 | DType::U8 => v.iter().map(|&x| x as u8).collect(),
            DType::I16 | DType::U16 => pack(v, |x| (x as u16).to_le_bytes()),
            DType::I32 | DType::U32 => pack(v, |x| (x as u32).to_le_bytes()),
            _ if little => bytemuck::cast_slice::<i64, u8>(v).to_vec(),
            _ => pack(v, i64::to_le_bytes),
        },
    })
}
