//! `Cast` and `CastLike` between every numeric dtype, the narrow ones (float8, float4, int4,
//! int2) included, with the `saturate` and `round_mode` attributes.

use crate::arr::{is_float_dtype, supported_dtype, Arr, Buf};
use crate::call::Call;
use crate::error::{bail, OpResult};
use lnopt_ir::narrow::{encode_e8m0, Narrow, RoundMode};
use lnopt_ir::DType;

/// How a conversion to a narrow float handles out-of-range values and rounds to E8M0.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CastMode {
    /// Clamp to the largest finite value instead of infinity / NaN (float8 targets).
    pub saturate: bool,
    /// Rounding of FLOAT8E8M0 targets.
    pub round: RoundMode,
}

/// `Cast` (target from the `to` attribute) and `CastLike` (target from input 1).
pub(crate) fn cast(c: &Call<'_>, like: bool) -> OpResult<Arr> {
    let x = c.input(0)?;
    let to = if like {
        c.input(1)?.dtype
    } else {
        match c.opt_int("to")? {
            Some(code) => DType::from_onnx(code as i32),
            None => bail!("attribute 'to' is missing"),
        }
    };
    let round = match c.string("round_mode", "up")?.as_str() {
        "up" => RoundMode::Up,
        "down" => RoundMode::Down,
        "nearest" => RoundMode::Nearest,
        other => bail!("unknown round_mode '{other}'"),
    };
    let mode = CastMode {
        saturate: c.int("saturate", 1)? != 0,
        round,
    };
    cast_to(x, to, mode)
}

/// Converts `x` to `to`.
pub(crate) fn cast_to(x: &Arr, to: DType, mode: CastMode) -> OpResult<Arr> {
    if !supported_dtype(to) {
        bail!("cannot cast to {to}");
    }
    let shape = x.shape.clone();
    if let Buf::S(v) = &x.buf {
        return from_strings(v, to, shape);
    }
    if to == DType::String {
        return to_strings(x);
    }
    if let Some(k) = Narrow::of(to).filter(|k| k.is_float()) {
        if x.dtype == DType::F64 && k == Narrow::F8E8M0 {
            // The E8M0 rule reads the bits of an f32.
            if x.to_f64()
                .iter()
                .any(|&v| v as f32 as f64 != v && !v.is_nan())
            {
                bail!("casting f64 values that are not f32 values to {to} is not implemented");
            }
        }
        let v = x
            .to_f64()
            .iter()
            .map(|&v| {
                let code = if k == Narrow::F8E8M0 {
                    encode_e8m0(v, mode.saturate, mode.round)
                } else {
                    k.encode(v, mode.saturate)
                };
                k.decode(code)
            })
            .collect();
        return Ok(Arr::floats(to, shape, v));
    }
    Ok(match &x.buf {
        Buf::F(v) => Arr::from_f64(to, shape, v.clone()),
        Buf::I(v) if is_float_dtype(to) => {
            let unsigned = x.dtype == DType::U64;
            // Straight to f32 rounds once (through f64 it could round twice).
            let f: Vec<f64> = v
                .iter()
                .map(|&i| match (to, unsigned) {
                    (DType::F32, false) => i as f32 as f64,
                    (DType::F32, true) => i as u64 as f32 as f64,
                    (_, true) => i as u64 as f64,
                    _ => i as f64,
                })
                .collect();
            if to != DType::F32 && to != DType::F64 && v.iter().any(|&i| i.unsigned_abs() > 1 << 53)
            {
                bail!("casting integers above 2^53 to {to} is not implemented (two roundings)");
            }
            Arr::floats(to, shape, f)
        }
        Buf::I(v) => Arr::ints(to, shape, v.clone()),
        Buf::S(_) => bail!("unreachable: strings are handled above"),
    })
}

/// Parses strings as numbers: decimal or scientific floats (and "INF", "+INF", "-INF", "NaN"
/// in any case) to f32 / f64, integers to the integer types. Other targets, and strings that
/// are not such literals (whose conversion the standard leaves undefined), are refused.
fn from_strings(v: &[Vec<u8>], to: DType, shape: Vec<usize>) -> OpResult<Arr> {
    let text = |b: &Vec<u8>| -> OpResult<String> {
        match std::str::from_utf8(b) {
            Ok(s) => Ok(s.trim().to_string()),
            Err(_) => bail!("string {b:?} is not UTF-8"),
        }
    };
    match to {
        DType::String => Ok(Arr::strings(shape, v.to_vec())),
        DType::F32 | DType::F64 => {
            let mut out = Vec::with_capacity(v.len());
            for b in v {
                let s = text(b)?;
                let lower = s.to_ascii_lowercase();
                let x = match lower.as_str() {
                    "inf" | "+inf" => f64::INFINITY,
                    "-inf" => f64::NEG_INFINITY,
                    "nan" => f64::NAN,
                    // Parsing straight into the target type rounds once.
                    _ if to == DType::F32 => match s.parse::<f32>() {
                        Ok(x) if x.is_finite() || lower.contains("inf") => x as f64,
                        _ => bail!("'{s}' is not a float literal of f32 range"),
                    },
                    _ => match s.parse::<f64>() {
                        Ok(x) if x.is_finite() || lower.contains("inf") => x,
                        _ => bail!("'{s}' is not a float literal"),
                    },
                };
                out.push(x);
            }
            Ok(Arr::floats(to, shape, out))
        }
        _ if to.is_int() => {
            let mut out = Vec::with_capacity(v.len());
            for b in v {
                let s = text(b)?;
                let x = match (to, s.parse::<i64>(), s.parse::<u64>()) {
                    (DType::U64, _, Ok(u)) => u as i64,
                    (_, Ok(i), _) => i,
                    _ => bail!("'{s}' is not an integer literal"),
                };
                if crate::arr::wrap_int(to, x) != x && to != DType::U64 {
                    bail!("'{s}' is out of range for {to}");
                }
                out.push(x);
            }
            Ok(Arr::ints(to, shape, out))
        }
        _ => bail!("casting strings to {to} is not implemented"),
    }
}

/// Integers to their decimal strings; other dtypes are refused (the standard does not fix
/// how floats and bools print).
fn to_strings(x: &Arr) -> OpResult<Arr> {
    if !x.dtype.is_int() {
        bail!("casting {} to string is not implemented", x.dtype);
    }
    let v = x.int_values("input")?;
    let s = v
        .iter()
        .map(|&i| {
            if x.dtype == DType::U64 {
                (i as u64).to_string().into_bytes()
            } else {
                i.to_string().into_bytes()
            }
        })
        .collect();
    Ok(Arr::strings(x.shape.clone(), s))
}
