//! Ops that make new tensors: Constant, ConstantOfShape, Range, and the pass-through
//! Identity / Dropout (inference).

use crate::arr::{checked_numel, round_float, Arr, Buf, MAX_ELEMENTS};
use crate::call::Call;
use crate::error::{bail, OpResult};
use crate::index::to_dims;
use lnopt_ir::{AttrValue, DType};

/// `Constant` from `value`, `value_float(s)` or `value_int(s)`.
pub(crate) fn constant(c: &Call<'_>) -> OpResult<Arr> {
    let Some(a) = c.node.attributes.first() else {
        bail!("Constant has no value attribute");
    };
    match (&*a.name, &a.value) {
        ("value", AttrValue::Tensor(t)) => Arr::from_tensor(t),
        ("value_float", AttrValue::Float(f)) => {
            Ok(Arr::floats(DType::F32, vec![], vec![*f as f64]))
        }
        ("value_floats", AttrValue::Floats(v)) => Ok(Arr::floats(
            DType::F32,
            vec![v.len()],
            v.iter().map(|&f| f as f64).collect(),
        )),
        ("value_int", AttrValue::Int(i)) => Ok(Arr::ints(DType::I64, vec![], vec![*i])),
        ("value_ints", AttrValue::Ints(v)) => Ok(Arr::i64_vec(v.clone())),
        (name, v) => bail!(
            "unsupported Constant attribute '{name}' of type {}",
            v.type_name()
        ),
    }
}

/// `ConstantOfShape`: fills the shape given by input 0 with the one-element `value`
/// (default f32 zero).
pub(crate) fn constant_of_shape(c: &Call<'_>) -> OpResult<Arr> {
    let shape = to_dims(c.input(0)?.int_values("shape")?, "shape")?;
    let n = checked_numel(&shape)?;
    let fill = match c.tensor("value")? {
        Some(t) => Arr::from_tensor(t)?,
        None => Arr::floats(DType::F32, vec![1], vec![0.0]),
    };
    if fill.len() != 1 {
        bail!("'value' must have one element, has {}", fill.len());
    }
    Ok(match &fill.buf {
        Buf::F(v) => Arr::floats(fill.dtype, shape, vec![v[0]; n]),
        Buf::I(v) => Arr::ints(fill.dtype, shape, vec![v[0]; n]),
        Buf::S(_) => bail!("'value' must be numeric, got a string"),
    })
}

/// `Range(start, limit, delta)`: `max(ceil((limit - start) / delta), 0)` elements, each the
/// previous plus delta (accumulated in the dtype, as the spec's function body does).
pub(crate) fn range(c: &Call<'_>) -> OpResult<Arr> {
    let (s, l, d) = (c.input(0)?, c.input(1)?, c.input(2)?);
    if s.dtype != l.dtype || s.dtype != d.dtype {
        bail!("start, limit, delta dtypes differ");
    }
    let dt = s.dtype;
    if s.is_float() {
        let (s, l, d) = (
            s.scalar_f64("start")?,
            l.scalar_f64("limit")?,
            d.scalar_f64("delta")?,
        );
        if d == 0.0 || !d.is_finite() || !s.is_finite() || !l.is_finite() {
            bail!("invalid range start {s} limit {l} delta {d}");
        }
        let n = ((l - s) / d).ceil().max(0.0);
        if n > MAX_ELEMENTS as f64 {
            bail!("range of {n} elements is too large");
        }
        let n = n as usize;
        let mut v = Vec::with_capacity(n);
        let mut cur = s;
        for _ in 0..n {
            v.push(cur);
            cur = round_float(dt, cur + d);
        }
        Ok(Arr::floats(dt, vec![n], v))
    } else {
        let (s, l, d) = (
            s.scalar_i64("start")?,
            l.scalar_i64("limit")?,
            d.scalar_i64("delta")?,
        );
        if d == 0 {
            bail!("delta is zero");
        }
        let span = l as i128 - s as i128;
        let d128 = d as i128;
        let n = if (span > 0) == (d > 0) && span != 0 {
            (span + d128 - d128.signum()) / d128
        } else {
            0
        };
        if n > MAX_ELEMENTS as i128 {
            bail!("range of {n} elements is too large");
        }
        let v = (0..n as i64)
            .map(|i| s.wrapping_add(i.wrapping_mul(d)))
            .collect::<Vec<_>>();
        Ok(Arr::ints(dt, vec![v.len()], v))
    }
}

/// `Dropout` at inference: Y = X, mask all true. Refuses `training_mode = true` with a
/// non-zero ratio (random).
pub(crate) fn dropout(c: &Call<'_>) -> OpResult<Vec<Arr>> {
    let x = c.input(0)?;
    let training = match c.opt_input(2) {
        Some(t) => t.scalar_f64("training_mode")? != 0.0,
        None => false,
    };
    let ratio = match c.opt_input(1) {
        Some(r) => r.scalar_f64("ratio")?,
        None => c.float("ratio", 0.5)? as f64,
    };
    if training && ratio != 0.0 {
        bail!("Dropout in training mode is random; the interpreter runs inference only");
    }
    let mask = Arr::ints(DType::Bool, x.shape.clone(), vec![1; x.len()]);
    Ok(vec![x.clone(), mask])
}
