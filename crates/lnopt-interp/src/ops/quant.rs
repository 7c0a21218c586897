//! Linear quantization: `QuantizeLinear`, `DequantizeLinear` (per tensor, per axis, blocked;
//! integer, float8 and float4 types), `DynamicQuantizeLinear`, and the integer products
//! `MatMulInteger` and `QLinearMatMul` (per-tensor scales).

use crate::arr::{checked_numel, is_float_dtype, round_float, Arr};
use crate::call::Call;
use crate::error::{bail, OpResult};
use crate::index::{broadcast_index, broadcast_shapes, norm_axis, strides};
use lnopt_ir::narrow::Narrow;
use lnopt_ir::DType;

/// Range of an integer quantized type.
fn int_range(dt: DType) -> Option<(i64, i64)> {
    Some(match dt {
        DType::U8 => (0, 255),
        DType::I8 => (-128, 127),
        DType::U16 => (0, 65535),
        DType::I16 => (-32768, 32767),
        DType::I32 => (i32::MIN as i64, i32::MAX as i64),
        _ => return Narrow::of(dt).and_then(|k| k.int_range()),
    })
}

/// For every element of an array of shape `x`, the flat index of its scale / zero point of
/// shape `p`: one value (per tensor), a 1-D vector along `axis` (per axis), or, with
/// `block > 0`, an array of x's rank whose `axis` dim counts blocks of `block` elements.
fn param_index(x: &[usize], p: &[usize], axis: i64, block: i64) -> OpResult<Vec<usize>> {
    let n = checked_numel(x)?;
    let pn: usize = p.iter().product();
    if pn == 1 && (p.len() <= 1 || block <= 0) {
        return Ok(vec![0; n]);
    }
    let a = norm_axis(axis, x.len())?;
    if block <= 0 {
        if p.len() != 1 || p[0] != x[a] {
            bail!("a per-axis parameter of shape {p:?} does not fit axis {a} of {x:?}");
        }
        let inner: usize = x[a + 1..].iter().product();
        return Ok((0..n).map(|i| (i / inner) % x[a]).collect());
    }
    let block = block as usize;
    let fits = p.len() == x.len()
        && (0..x.len()).all(|d| {
            if d == a {
                p[d] == x[d].div_ceil(block)
            } else {
                p[d] == x[d]
            }
        });
    if !fits {
        bail!("a blocked parameter of shape {p:?} does not fit {x:?} (axis {a}, block {block})");
    }
    let (xs, ps) = (strides(x), strides(p));
    Ok((0..n)
        .map(|i| {
            (0..x.len())
                .map(|d| {
                    let c = (i / xs[d]) % x[d];
                    let c = if d == a { c / block } else { c };
                    c * ps[d]
                })
                .sum()
        })
        .collect())
}

/// True if every element of the optional zero point is zero.
fn zero_or_none(zp: Option<&Arr>) -> bool {
    zp.is_none_or(|z| z.to_f64().iter().all(|&v| v == 0.0))
}

/// The dtype numpy computes `a op b` in for two float dtypes (the wider one; f16 with bf16 is
/// f32).
fn promote(a: DType, b: DType) -> DType {
    let rank = |d: DType| match d {
        DType::F64 => 3,
        DType::F32 => 2,
        _ => 1,
    };
    if a == b {
        a
    } else if rank(a) == 1 && rank(b) == 1 {
        DType::F32
    } else if rank(a) >= rank(b) {
        a
    } else {
        b
    }
}

/// `QuantizeLinear(x, y_scale, y_zero_point)`: `saturate(round(x / y_scale) + y_zero_point)`
/// with ties to even; float8 / float4 targets take `x / y_scale` through a (saturating, by
/// `saturate`) conversion. The output type is the zero point's, else `output_dtype`, else u8.
pub(crate) fn quantize(c: &Call<'_>) -> OpResult<Arr> {
    let (x, scale) = (c.input(0)?, c.input(1)?);
    let zp = c.opt_input(2);
    let xv = x.float_values("x")?;
    let sv = scale.float_values("y_scale")?;
    let out_dt = match (zp, c.opt_int("output_dtype")?) {
        (Some(z), Some(o)) if o != 0 && DType::from_onnx(o as i32) != z.dtype => {
            bail!("output_dtype {o} differs from the zero point's {}", z.dtype)
        }
        (Some(z), _) => z.dtype,
        (None, Some(o)) if o != 0 => DType::from_onnx(o as i32),
        _ => DType::U8,
    };
    let axis = c.int("axis", 1)?;
    let block = c.int("block_size", 0)?;
    let saturate = c.int("saturate", 1)? != 0;
    let div_dt = match c.opt_int("precision")? {
        Some(p) if p != 0 => DType::from_onnx(p as i32),
        _ => promote(x.dtype, scale.dtype),
    };
    if !div_dt.is_float() {
        bail!("precision {div_dt} is not a float type");
    }
    let si = param_index(&x.shape, &scale.shape, axis, block)?;
    let zi = match zp {
        Some(z) => Some(param_index(&x.shape, &z.shape, axis, block)?),
        None => None,
    };
    let q: Vec<f64> = xv
        .iter()
        .zip(&si)
        .map(|(&v, &s)| round_float(div_dt, round_float(div_dt, v) / round_float(div_dt, sv[s])))
        .collect();
    let shape = x.shape.clone();
    if let Some((lo, hi)) = int_range(out_dt) {
        let z = match (zp, &zi) {
            (Some(z), Some(zi)) => Some((z.int_values("y_zero_point")?, zi)),
            _ => None,
        };
        let v = q
            .iter()
            .enumerate()
            .map(|(i, &r)| {
                let off = z.map_or(0.0, |(zv, zi)| zv[zi[i]] as f64);
                (r.round_ties_even() + off).clamp(lo as f64, hi as f64)
            })
            .collect::<Vec<f64>>();
        if q.iter().any(|r| r.is_nan()) {
            bail!("x / y_scale has NaN, whose quantization is undefined");
        }
        return Ok(Arr::ints(
            out_dt,
            shape,
            v.iter().map(|&r| r as i64).collect(),
        ));
    }
    match Narrow::of(out_dt) {
        Some(k) if k.is_float() && k != Narrow::F8E8M0 => {
            if !zero_or_none(zp) {
                bail!("a float8 / float4 zero point must be zero");
            }
            // Adding the (zero) zero point, as the formula does, turns -0 into +0.
            let add = if zp.is_some() { 0.0 } else { -0.0 };
            let v = q
                .iter()
                .map(|&r| k.decode(k.encode(r + add, saturate)))
                .collect();
            Ok(Arr::floats(out_dt, shape, v))
        }
        _ => bail!("cannot quantize to {out_dt}"),
    }
}

/// `DequantizeLinear(x, x_scale, x_zero_point)`: `(x - x_zero_point) * x_scale`, rounded once
/// to the output type (`output_dtype`, else the scale's).
pub(crate) fn dequantize(c: &Call<'_>) -> OpResult<Arr> {
    let (x, scale) = (c.input(0)?, c.input(1)?);
    let zp = c.opt_input(2);
    let sv = scale.float_values("x_scale")?;
    let out_dt = match c.opt_int("output_dtype")? {
        Some(o) if o != 0 => DType::from_onnx(o as i32),
        _ => scale.dtype,
    };
    if !out_dt.is_float() {
        bail!("output type {out_dt} is not a float type");
    }
    let axis = c.int("axis", 1)?;
    let block = c.int("block_size", 0)?;
    let si = param_index(&x.shape, &scale.shape, axis, block)?;
    let xv = x.to_f64();
    let dx: Vec<f64> = if is_float_dtype(x.dtype) {
        if !zero_or_none(zp) {
            bail!("a float8 / float4 zero point must be zero");
        }
        xv
    } else {
        match zp {
            Some(z) => {
                if z.dtype != x.dtype {
                    bail!("x is {} but its zero point {}", x.dtype, z.dtype);
                }
                let zi = param_index(&x.shape, &z.shape, axis, block)?;
                let zv = z.to_f64();
                xv.iter().zip(&zi).map(|(&v, &i)| v - zv[i]).collect()
            }
            None => xv,
        }
    };
    // (x - zp) and the scale are exact in f64, and so is their product while |x - zp| < 2^29
    // (a 24-bit mantissa at most), so this rounds once.
    if dx.iter().any(|d| d.abs() >= (1u64 << 29) as f64) {
        bail!("x - x_zero_point is too large to scale exactly");
    }
    let v = dx.iter().zip(&si).map(|(&d, &s)| d * sv[s]).collect();
    Ok(Arr::floats(out_dt, x.shape.clone(), v))
}

/// `DynamicQuantizeLinear(x)`: u8 quantization of f32 `x` with a scale and zero point from
/// its range (widened to include 0), all in f32 arithmetic as the spec writes it.
pub(crate) fn dynamic_quantize(c: &Call<'_>) -> OpResult<Vec<Arr>> {
    let x = c.input(0)?;
    if x.dtype != DType::F32 {
        bail!("x must be f32, got {}", x.dtype);
    }
    let xv = x.float_values("x")?;
    if xv.iter().any(|v| v.is_nan()) {
        bail!("x has NaN, whose quantization is undefined");
    }
    let maxx = xv.iter().fold(0f32, |m, &v| m.max(v as f32));
    let minx = xv.iter().fold(0f32, |m, &v| m.min(v as f32));
    let scale = if maxx == minx { 1.0 } else { maxx - minx } / 255f32;
    let zp = (0f32 - minx / scale).clamp(0.0, 255.0).round_ties_even();
    let y = xv
        .iter()
        .map(|&v| ((v as f32 / scale).round_ties_even() + zp).clamp(0.0, 255.0) as i64)
        .collect();
    Ok(vec![
        Arr::ints(DType::U8, x.shape.clone(), y),
        Arr::floats(DType::F32, vec![], vec![scale as f64]),
        Arr::ints(DType::U8, vec![], vec![zp as i64]),
    ])
}

/// An integer operand minus its zero point: per tensor, or per row of A (`[M]` / `[..., M,
/// 1]`) / per column of B (`[N]` / `[..., 1, N]`) for 2-D-or-more operands.
fn centered(v: &Arr, zp: Option<&Arr>, is_a: bool, what: &str) -> OpResult<Vec<i64>> {
    let x = v.int_values(what)?;
    let Some(z) = zp else {
        return Ok(x.to_vec());
    };
    if z.dtype != v.dtype {
        bail!("{what} is {} but its zero point {}", v.dtype, z.dtype);
    }
    let zv = z.int_values("zero point")?;
    if zv.len() == 1 {
        return Ok(x.iter().map(|&a| a - zv[0]).collect());
    }
    let r = v.rank();
    if r < 2 || z.rank() != 1 {
        bail!(
            "zero point of shape {:?} is not supported for {what}",
            z.shape
        );
    }
    let (rows, cols) = (v.shape[r - 2], v.shape[r - 1]);
    let per = if is_a { rows } else { cols };
    if zv.len() != per {
        bail!(
            "zero point of shape {:?} does not fit {what} {:?}",
            z.shape,
            v.shape
        );
    }
    Ok(x.iter()
        .enumerate()
        .map(|(i, &a)| {
            let k = if is_a { (i / cols) % rows } else { i % cols };
            a - zv[k]
        })
        .collect())
}

/// Batched integer matrix product with numpy broadcasting of the batch dims (both operands
/// of rank >= 2), exact in i64.
fn int_matmul(
    a: &[i64],
    ash: &[usize],
    b: &[i64],
    bsh: &[usize],
) -> OpResult<(Vec<i64>, Vec<usize>)> {
    if ash.len() < 2 || bsh.len() < 2 {
        bail!("operands of rank < 2 ({ash:?}, {bsh:?}) are not supported");
    }
    let (m, k) = (ash[ash.len() - 2], ash[ash.len() - 1]);
    let (k2, n) = (bsh[bsh.len() - 2], bsh[bsh.len() - 1]);
    if k != k2 {
        bail!("inner dims differ: {ash:?} x {bsh:?}");
    }
    let (abatch, bbatch) = (&ash[..ash.len() - 2], &bsh[..bsh.len() - 2]);
    let batch = broadcast_shapes(&[abatch, bbatch])?;
    let ia = broadcast_index(abatch, &batch)?;
    let ib = broadcast_index(bbatch, &batch)?;
    let mut shape = batch;
    shape.extend([m, n]);
    let mut out = vec![0i64; checked_numel(&shape)?];
    for (bi, (&pa, &pb)) in ia.iter().zip(&ib).enumerate() {
        let (ao, bo, oo) = (pa * m * k, pb * k * n, bi * m * n);
        for i in 0..m {
            for j in 0..n {
                out[oo + i * n + j] = (0..k)
                    .map(|p| a[ao + i * k + p].wrapping_mul(b[bo + p * n + j]))
                    .fold(0i64, i64::wrapping_add);
            }
        }
    }
    Ok((out, shape))
}

/// `MatMulInteger(A, B, a_zero_point, b_zero_point)`: i32 product of the centred operands.
pub(crate) fn matmul_integer(c: &Call<'_>) -> OpResult<Arr> {
    let (a, b) = (c.input(0)?, c.input(1)?);
    let av = centered(a, c.opt_input(2), true, "A")?;
    let bv = centered(b, c.opt_input(3), false, "B")?;
    let (out, shape) = int_matmul(&av, &a.shape, &bv, &b.shape)?;
    if out.iter().any(|&v| i32::try_from(v).is_err()) {
        bail!("a product overflows i32");
    }
    Ok(Arr::ints(DType::I32, shape, out))
}

/// `QLinearMatMul`: the integer product of the centred operands times
/// `a_scale * b_scale / y_scale` (computed in the scales' dtype), rounded to even, plus the
/// output zero point, saturated. Per-tensor scales only.
pub(crate) fn qlinear_matmul(c: &Call<'_>) -> OpResult<Arr> {
    let (a, a_s, a_zp) = (c.input(0)?, c.input(1)?, c.input(2)?);
    let (b, b_s, b_zp) = (c.input(3)?, c.input(4)?, c.input(5)?);
    let (y_s, y_zp) = (c.input(6)?, c.input(7)?);
    for s in [a_s, b_s, y_s, a_zp, b_zp, y_zp] {
        if s.len() != 1 {
            bail!(
                "only per-tensor scales and zero points are supported, got shape {:?}",
                s.shape
            );
        }
    }
    let sdt = a_s.dtype;
    if !sdt.is_float() || b_s.dtype != sdt || y_s.dtype != sdt {
        bail!("scales must share one float dtype");
    }
    let av = centered(a, Some(a_zp), true, "a")?;
    let bv = centered(b, Some(b_zp), false, "b")?;
    let (prod, shape) = int_matmul(&av, &a.shape, &bv, &b.shape)?;
    let (sa, sb, sy) = (
        a_s.scalar_f64("a_scale")?,
        b_s.scalar_f64("b_scale")?,
        y_s.scalar_f64("y_scale")?,
    );
    let mult = round_float(sdt, round_float(sdt, sa * sb) / sy);
    let Some((lo, hi)) = int_range(y_zp.dtype) else {
        bail!("unsupported output type {}", y_zp.dtype);
    };
    let zy = y_zp.scalar_f64("y_zero_point")?;
    if prod.iter().any(|&p| p.unsigned_abs() > 1 << 53) {
        bail!("an integer product is too large to scale exactly");
    }
    let v = prod
        .iter()
        .map(|&p| {
            ((p as f64 * mult + zy)
                .round_ties_even()
                .clamp(lo as f64, hi as f64)) as i64
        })
        .collect();
    Ok(Arr::ints(y_zp.dtype, shape, v))
}
