//! Bit operations on integers: `BitShift`, `BitwiseAnd`, `BitwiseOr`, `BitwiseXor`,
//! `BitwiseNot`. Elements are held wrapped to their dtype (u64 as its bit pattern), so the
//! operations work on the two's complement bits of the dtype's width.

use crate::arr::Arr;
use crate::call::Call;
use crate::error::{bail, OpResult};
use crate::index::{broadcast_index, broadcast_shapes};
use lnopt_ir::DType;

/// Bit width of an integer dtype and whether it is signed.
fn width(dt: DType) -> OpResult<(u32, bool)> {
    Ok(match dt {
        DType::U8 => (8, false),
        DType::U16 => (16, false),
        DType::U32 => (32, false),
        DType::U64 => (64, false),
        DType::I8 => (8, true),
        DType::I16 => (16, true),
        DType::I32 => (32, true),
        DType::I64 => (64, true),
        other => bail!("input must be an integer tensor, got {other}"),
    })
}

/// Applies `f` to the broadcast pairs of two integer inputs of the same dtype.
fn binary_bits(c: &Call<'_>, f: impl Fn(i64, i64, u32, bool) -> i64) -> OpResult<Arr> {
    let (a, b) = (c.input(0)?, c.input(1)?);
    if a.dtype != b.dtype {
        bail!("operand dtypes differ: {} and {}", a.dtype, b.dtype);
    }
    let (bits, signed) = width(a.dtype)?;
    let out = broadcast_shapes(&[&a.shape, &b.shape])?;
    let ia = broadcast_index(&a.shape, &out)?;
    let ib = broadcast_index(&b.shape, &out)?;
    let (x, y) = (a.int_values("A")?, b.int_values("B")?);
    let v = ia
        .iter()
        .zip(&ib)
        .map(|(&i, &j)| f(x[i], y[j], bits, signed))
        .collect();
    Ok(Arr::ints(a.dtype, out, v))
}

/// `BitShift` with `direction` LEFT or RIGHT. Shifts by the bit width or more (or by a
/// negative amount) give 0, or -1 for a right shift of a negative signed value.
pub(crate) fn bit_shift(c: &Call<'_>) -> OpResult<Arr> {
    let left = match c.string("direction", "")?.as_str() {
        "LEFT" => true,
        "RIGHT" => false,
        other => bail!("direction must be LEFT or RIGHT, got '{other}'"),
    };
    binary_bits(c, |x, s, bits, signed| {
        let in_range = s >= 0 && s < bits as i64;
        if left {
            if in_range {
                ((x as u64) << s) as i64
            } else {
                0
            }
        } else if signed {
            if in_range {
                x >> s
            } else if x < 0 {
                -1
            } else {
                0
            }
        } else if in_range {
            // Unsigned values are held zero-extended (u64: its bits), so a logical shift.
            ((x as u64) >> s) as i64
        } else {
            0
        }
    })
}

/// `BitwiseAnd`, `BitwiseOr`, `BitwiseXor`.
pub(crate) fn bitwise(c: &Call<'_>, op: &str) -> OpResult<Arr> {
    binary_bits(c, |x, y, _, _| match op {
        "BitwiseAnd" => x & y,
        "BitwiseOr" => x | y,
        _ => x ^ y,
    })
}

/// `BitwiseNot`.
pub(crate) fn bitwise_not(c: &Call<'_>) -> OpResult<Arr> {
    let x = c.input(0)?;
    width(x.dtype)?;
    let v = x.int_values("X")?.iter().map(|&a| !a).collect();
    Ok(Arr::ints(x.dtype, x.shape.clone(), v))
}
