//! Small-tensor constant folding kernels: building tensors from numbers, moving elements
//! (gather, slice, broadcast) on raw bytes, integer/float arithmetic and casts.
//!
//! Every kernel returns `None` instead of guessing: unsupported dtype, out-of-range value,
//! overflow, or a result larger than [`MAX_FOLD`] elements.

use lnopt_ir::{numel, DType, Tensor};

/// Largest number of elements a folded result may have.
pub const MAX_FOLD: usize = 1024;

/// Largest constant input (elements) the folding kernels will read.
pub const MAX_FOLD_INPUT: usize = 1 << 16;

/// True if `t` is small enough to be read by a folding kernel.
pub(crate) fn readable(t: &Tensor) -> bool {
    t.numel().is_some_and(|n| n <= MAX_FOLD_INPUT)
}

/// Integer elements of an integer or bool tensor (not floats).
pub(crate) fn ints(t: &Tensor) -> Option<Vec<i64>> {
    if !(t.dtype.is_int() || t.dtype == DType::Bool) || !readable(t) {
        return None;
    }
    let v = t.to_i64_vec()?;
    (Some(v.len()) == t.numel()).then_some(v)
}

/// Float elements of a float tensor.
pub(crate) fn floats(t: &Tensor) -> Option<Vec<f64>> {
    if !t.dtype.is_float() || !readable(t) {
        return None;
    }
    let v = t.to_f64_vec()?;
    (Some(v.len()) == t.numel()).then_some(v)
}

/// The single element of a one-element integer tensor (scalar or `[1]`).
pub(crate) fn scalar_int(t: &Tensor) -> Option<i64> {
    match ints(t)?.as_slice() {
        [v] => Some(*v),
        _ => None,
    }
}

/// The single element of a one-element numeric tensor, widened to f64.
pub(crate) fn scalar_f64(t: &Tensor) -> Option<f64> {
    if !readable(t) {
        return None;
    }
    match t.to_f64_vec()?.as_slice() {
        [v] => Some(*v),
        _ => None,
    }
}

fn check_len(dims: &[i64], len: usize) -> Option<()> {
    (numel(dims)? == len && len <= MAX_FOLD).then_some(())
}

/// A tensor of an integer or bool `dtype`; `None` if a value does not fit the dtype.
pub(crate) fn from_ints(dtype: DType, dims: Vec<i64>, vals: &[i64]) -> Option<Tensor> {
    check_len(&dims, vals.len())?;
    let mut b = Vec::with_capacity(vals.len() * dtype.size_of()?);
    for &v in vals {
        match dtype {
            DType::I64 => b.extend_from_slice(&v.to_le_bytes()),
            DType::I32 => b.extend_from_slice(&i32::try_from(v).ok()?.to_le_bytes()),
            DType::I16 => b.extend_from_slice(&i16::try_from(v).ok()?.to_le_bytes()),
            DType::I8 => b.extend_from_slice(&i8::try_from(v).ok()?.to_le_bytes()),
            DType::U64 => b.extend_from_slice(&u64::try_from(v).ok()?.to_le_bytes()),
            DType::U32 => b.extend_from_slice(&u32::try_from(v).ok()?.to_le_bytes()),
            DType::U16 => b.extend_from_slice(&u16::try_from(v).ok()?.to_le_bytes()),
            DType::U8 => b.push(u8::try_from(v).ok()?),
            DType::Bool => b.push(match v {
                0 => 0,
                1 => 1,
                _ => return None,
            }),
            _ => return None,
        }
    }
    Tensor::from_bytes("", dtype, dims, b).ok()
}

/// A tensor of a float `dtype` (each value rounded to nearest).
pub(crate) fn from_floats(dtype: DType, dims: Vec<i64>, vals: &[f64]) -> Option<Tensor> {
    check_len(&dims, vals.len())?;
    let mut b = Vec::with_capacity(vals.len() * dtype.size_of()?);
    for &v in vals {
        match dtype {
            DType::F64 => b.extend_from_slice(&v.to_le_bytes()),
            DType::F32 => b.extend_from_slice(&(v as f32).to_le_bytes()),
            DType::F16 => b.extend_from_slice(&half::f16::from_f64(v).to_le_bytes()),
            DType::BF16 => b.extend_from_slice(&half::bf16::from_f64(v).to_le_bytes()),
            _ => return None,
        }
    }
    Tensor::from_bytes("", dtype, dims, b).ok()
}

/// A tensor holding the elements of `t` at flat positions `idx`, shaped `dims`. Works on
/// raw bytes, so every fixed-size dtype is moved exactly.
pub(crate) fn pick(t: &Tensor, dims: Vec<i64>, idx: &[usize]) -> Option<Tensor> {
    check_len(&dims, idx.len())?;
    let size = t.dtype.size_of()?;
    let bytes = t.bytes()?;
    let mut out = Vec::with_capacity(idx.len() * size);
    for &i in idx {
        let start = i.checked_mul(size)?;
        out.extend_from_slice(bytes.get(start..start.checked_add(size)?)?);
    }
    Tensor::from_bytes("", t.dtype, dims, out).ok()
}

/// Row-major strides of `dims`.
pub(crate) fn strides(dims: &[i64]) -> Option<Vec<usize>> {
    let mut s = vec![1usize; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1].checked_mul(usize::try_from(dims[i + 1]).ok()?)?;
    }
    Some(s)
}

/// For each flat position of `out_dims`, the flat position in a tensor of `in_dims` that
/// numpy broadcasting reads. `None` if `in_dims` does not broadcast to `out_dims` or the
/// output is too large.
pub(crate) fn broadcast_map(in_dims: &[i64], out_dims: &[i64]) -> Option<Vec<usize>> {
    let n = numel(out_dims)?;
    if n > MAX_FOLD || in_dims.len() > out_dims.len() {
        return None;
    }
    let off = out_dims.len() - in_dims.len();
    for (i, &d) in in_dims.iter().enumerate() {
        if d != 1 && d != out_dims[off + i] {
            return None;
        }
    }
    let in_strides = strides(in_dims)?;
    let out_strides = strides(out_dims)?;
    let mut map = Vec::with_capacity(n);
    for flat in 0..n {
        let mut src = 0usize;
        for (i, &d) in in_dims.iter().enumerate() {
            let coord =
                (flat / out_strides[off + i]) % usize::try_from(out_dims[off + i]).ok()?.max(1);
            if d != 1 {
                src += coord * in_strides[i];
            }
        }
        map.push(src);
    }
    Some(map)
}

/// Output dims of a numpy broadcast of fixed shapes.
pub(crate) fn broadcast_fixed(shapes: &[&[i64]]) -> Option<Vec<i64>> {
    let n = shapes.iter().map(|s| s.len()).max()?;
    let mut out = vec![1i64; n];
    for s in shapes {
        let off = n - s.len();
        for (i, &d) in s.iter().enumerate() {
            let o = &mut out[off + i];
            if *o == 1 {
                *o = d;
            } else if d != 1 && d != *o {
                return None;
            }
        }
    }
    Some(out)
}

/// Binary arithmetic and comparison ops the folder knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod { fmod: bool },
    Min,
    Max,
    Equal,
    Less,
    Greater,
    LessOrEqual,
    GreaterOrEqual,
    And,
    Or,
}

impl BinOp {
    fn is_compare(self) -> bool {
        matches!(
            self,
            BinOp::Equal
                | BinOp::Less
                | BinOp::Greater
                | BinOp::LessOrEqual
                | BinOp::GreaterOrEqual
        )
    }

    /// Integer result; `None` on overflow or when the ONNX result is not certain
    /// (integer division of operands of different signs, division by zero).
    fn int(self, a: i64, b: i64) -> Option<i64> {
        Some(match self {
            BinOp::Add => a.checked_add(b)?,
            BinOp::Sub => a.checked_sub(b)?,
            BinOp::Mul => a.checked_mul(b)?,
            BinOp::Div => {
                if b == 0 || ((a < 0) != (b < 0) && a % b != 0) {
                    return None;
                }
                a.checked_div(b)?
            }
            BinOp::Mod { fmod } => {
                if b == 0 {
                    return None;
                }
                let r = a.checked_rem(b)?;
                if !fmod && r != 0 && ((r < 0) != (b < 0)) {
                    r + b
                } else {
                    r
                }
            }
            BinOp::Min => a.min(b),
            BinOp::Max => a.max(b),
            BinOp::Equal => (a == b) as i64,
            BinOp::Less => (a < b) as i64,
            BinOp::Greater => (a > b) as i64,
            BinOp::LessOrEqual => (a <= b) as i64,
            BinOp::GreaterOrEqual => (a >= b) as i64,
            BinOp::And => (a != 0 && b != 0) as i64,
            BinOp::Or => (a != 0 || b != 0) as i64,
        })
    }

    /// Float result computed in f64; for + - * / the single rounding to f32/f16 afterwards
    /// equals the correctly rounded narrow operation.
    fn float(self, a: f64, b: f64) -> Option<f64> {
        Some(match self {
            BinOp::Add => a + b,
            BinOp::Sub => a - b,
            BinOp::Mul => a * b,
            BinOp::Div => a / b,
            BinOp::Min if !a.is_nan() && !b.is_nan() => a.min(b),
            BinOp::Max if !a.is_nan() && !b.is_nan() => a.max(b),
            BinOp::Equal => (a == b) as i64 as f64,
            BinOp::Less => (a < b) as i64 as f64,
            BinOp::Greater => (a > b) as i64 as f64,
            BinOp::LessOrEqual => (a <= b) as i64 as f64,
            BinOp::GreaterOrEqual => (a >= b) as i64 as f64,
            _ => return None,
        })
    }
}

/// Folds a broadcasting binary op on two constants of the same dtype. Comparisons give
/// bool tensors, arithmetic keeps the dtype. Supports i32/i64/bool and float dtypes.
pub(crate) fn binary(op: BinOp, a: &Tensor, b: &Tensor) -> Option<Tensor> {
    if a.dtype != b.dtype {
        return None;
    }
    let dims = broadcast_fixed(&[&a.dims, &b.dims])?;
    let ma = broadcast_map(&a.dims, &dims)?;
    let mb = broadcast_map(&b.dims, &dims)?;
    let out_dtype = if op.is_compare() {
        DType::Bool
    } else {
        a.dtype
    };
    match a.dtype {
        DType::I64 | DType::I32 | DType::Bool => {
            if a.dtype == DType::Bool && !matches!(op, BinOp::And | BinOp::Or | BinOp::Equal) {
                return None;
            }
            let (va, vb) = (ints(a)?, ints(b)?);
            let vals = ma
                .iter()
                .zip(&mb)
                .map(|(&i, &j)| op.int(*va.get(i)?, *vb.get(j)?))
                .collect::<Option<Vec<i64>>>()?;
            from_ints(out_dtype, dims, &vals)
        }
        d if d.is_float() => {
            let (va, vb) = (floats(a)?, floats(b)?);
            let vals = ma
                .iter()
                .zip(&mb)
                .map(|(&i, &j)| op.float(*va.get(i)?, *vb.get(j)?))
                .collect::<Option<Vec<f64>>>()?;
            if op.is_compare() {
                let iv: Vec<i64> = vals.iter().map(|&v| v as i64).collect();
                from_ints(DType::Bool, dims, &iv)
            } else {
                from_floats(out_dtype, dims, &vals)
            }
        }
        _ => None,
    }
}

/// Folds `Neg` on i32/i64/float constants.
pub(crate) fn neg(t: &Tensor) -> Option<Tensor> {
    if t.dtype.is_float() {
        let v: Vec<f64> = floats(t)?.iter().map(|x| -x).collect();
        from_floats(t.dtype, t.dims.clone(), &v)
    } else if matches!(t.dtype, DType::I32 | DType::I64) {
        let v = ints(t)?
            .iter()
            .map(|x| x.checked_neg())
            .collect::<Option<Vec<i64>>>()?;
        from_ints(t.dtype, t.dims.clone(), &v)
    } else {
        None
    }
}

/// Folds `Cast` between numeric dtypes. Float to integer truncates toward zero and is only
/// folded when the value is finite and in range (ONNX leaves the rest undefined).
pub(crate) fn cast(t: &Tensor, to: DType) -> Option<Tensor> {
    if t.dtype == to {
        return Some(t.clone());
    }
    let int_like = |d: DType| d.is_int() || d == DType::Bool;
    match (int_like(t.dtype), to.is_float(), int_like(to)) {
        (true, false, true) => {
            let v = ints(t)?;
            let v: Vec<i64> = if to == DType::Bool {
                v.iter().map(|&x| (x != 0) as i64).collect()
            } else {
                v
            };
            from_ints(to, t.dims.clone(), &v)
        }
        (true, true, _) => {
            let v: Vec<f64> = ints(t)?.iter().map(|&x| x as f64).collect();
            from_floats(to, t.dims.clone(), &v)
        }
        (false, true, _) if t.dtype.is_float() => from_floats(to, t.dims.clone(), &floats(t)?),
        (false, false, true) if t.dtype.is_float() => {
            let v = floats(t)?
                .iter()
                .map(|&x| {
                    if to == DType::Bool {
                        Some((x != 0.0) as i64)
                    } else if x.is_finite() && x.abs() < 9.0e18 {
                        Some(x.trunc() as i64)
                    } else {
                        None
                    }
                })
                .collect::<Option<Vec<i64>>>()?;
            from_ints(to, t.dims.clone(), &v)
        }
        _ => None,
    }
}

/// A 1-D tensor holding the elements of `a` followed by those of `b` (same dtype).
pub(crate) fn concat_bytes(a: &Tensor, b: &Tensor) -> Option<Tensor> {
    if a.dtype != b.dtype || !readable(a) || !readable(b) {
        return None;
    }
    let mut bytes = a.bytes()?.to_vec();
    bytes.extend_from_slice(b.bytes()?);
    let n = a.numel()?.checked_add(b.numel()?)?;
    Tensor::from_bytes("", a.dtype, vec![i64::try_from(n).ok()?], bytes).ok()
}
