//! Reference data: reading ONNX backend-layout test tensors (`input_N.pb`, `output_N.pb`) and
//! comparing computed tensors with reference ones, with tolerances by dtype. Used by
//! `lnopt run` and by the fixture suite, so both judge outputs the same way.

use crate::Error;
use lnopt_ir::{DType, Tensor};
use std::path::Path;

/// Reads `DIR/<prefix>_0.pb`, `<prefix>_1.pb`, … until one is missing.
pub fn read_numbered(
    dir: &Path,
    prefix: &str,
    limits: &lnopt_onnx::Limits,
) -> Result<Vec<Tensor>, Error> {
    let mut out = Vec::new();
    loop {
        let p = dir.join(format!("{prefix}_{}.pb", out.len()));
        if !p.exists() {
            return Ok(out);
        }
        out.push(lnopt_onnx::load_tensor(&p, limits)?);
    }
}

/// Absolute and relative tolerance: `|got - want| <= atol + rtol * |want|`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    /// Absolute part.
    pub atol: f64,
    /// Relative part.
    pub rtol: f64,
}

/// The default tolerance for a dtype: exact for integers and bool; f16/bf16 2e-2; f32
/// 2e-4 + 2e-3·|x|; f64 1e-7 + 1e-7·|x| (the acceptance corpus uses the same numbers).
pub fn tolerance_for(dtype: DType) -> Tolerance {
    match dtype {
        DType::F16 | DType::BF16 => Tolerance {
            atol: 2e-2,
            rtol: 2e-2,
        },
        DType::F32 => Tolerance {
            atol: 2e-4,
            rtol: 2e-3,
        },
        DType::F64 => Tolerance {
            atol: 1e-7,
            rtol: 1e-7,
        },
        _ => Tolerance {
            atol: 0.0,
            rtol: 0.0,
        },
    }
}

impl Tolerance {
    /// The element-wise larger of two tolerances.
    pub fn max(self, other: Tolerance) -> Tolerance {
        Tolerance {
            atol: self.atol.max(other.atol),
            rtol: self.rtol.max(other.rtol),
        }
    }
}

/// Result of comparing one output.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// Largest absolute difference over non-NaN pairs.
    pub max_abs: f64,
    /// Whether every element is within tolerance (NaN only where the reference has NaN, an
    /// infinity only where the reference has the same one).
    pub ok: bool,
    /// Why it is not ok, when it is not.
    pub problem: Option<String>,
}

/// Compares `got` with `want`: same dims and dtype, and every element within `tol`.
pub fn compare(got: &Tensor, want: &Tensor, tol: Tolerance) -> Comparison {
    let fail = |p: String| Comparison {
        max_abs: f64::INFINITY,
        ok: false,
        problem: Some(p),
    };
    if got.dims != want.dims {
        return fail(format!("shape {:?}, expected {:?}", got.dims, want.dims));
    }
    if got.dtype != want.dtype {
        return fail(format!("dtype {}, expected {}", got.dtype, want.dtype));
    }
    let (Some(g), Some(w)) = (got.to_f64_vec(), want.to_f64_vec()) else {
        return if got.data == want.data {
            Comparison {
                max_abs: 0.0,
                ok: true,
                problem: None,
            }
        } else {
            fail(format!("{} data differs", got.dtype))
        };
    };
    let mut max_abs = 0.0f64;
    let mut bad = 0usize;
    let mut first_bad: Option<(usize, f64, f64)> = None;
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        let out_of_tolerance = if a.is_nan() || b.is_nan() {
            a.is_nan() != b.is_nan()
        } else if a == b {
            false
        } else if a.is_infinite() || b.is_infinite() {
            // An infinity only matches the same infinity: `inf - x` is never within
            // `atol + rtol * inf`, which would otherwise accept any finite value.
            max_abs = f64::INFINITY;
            true
        } else {
            let d = (a - b).abs();
            max_abs = max_abs.max(d);
            d > tol.atol + tol.rtol * b.abs()
        };
        if out_of_tolerance {
            bad += 1;
            first_bad.get_or_insert((i, *a, *b));
        }
    }
    Comparison {
        max_abs,
        ok: bad == 0,
        problem: first_bad.map(|(i, a, b)| {
            format!(
                "{bad} of {} elements out of tolerance; first at [{i}]: got {a}, want {b}",
                g.len()
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[f32]) -> Tensor {
        Tensor::from_f32("t", vec![v.len() as i64], v)
    }

    #[test]
    fn equal_tensors_match() {
        let c = compare(&t(&[1.0, 2.0]), &t(&[1.0, 2.0]), tolerance_for(DType::F32));
        assert!(c.ok);
        assert_eq!(c.max_abs, 0.0);
    }

    #[test]
    fn difference_beyond_tolerance_fails() {
        let c = compare(&t(&[1.0, 2.1]), &t(&[1.0, 2.0]), tolerance_for(DType::F32));
        assert!(!c.ok);
        assert!((c.max_abs - 0.1).abs() < 1e-6);
    }

    #[test]
    fn nan_must_match_nan() {
        let c = compare(&t(&[f32::NAN]), &t(&[1.0]), tolerance_for(DType::F32));
        assert!(!c.ok);
        let c = compare(&t(&[f32::NAN]), &t(&[f32::NAN]), tolerance_for(DType::F32));
        assert!(c.ok);
    }

    #[test]
    fn infinity_must_match_the_same_infinity() {
        let tol = tolerance_for(DType::F32);
        for (got, want) in [
            (1.0, f32::INFINITY),
            (f32::INFINITY, 1.0),
            (f32::NEG_INFINITY, f32::INFINITY),
            (f32::MAX, f32::INFINITY),
            (f32::NAN, f32::INFINITY),
        ] {
            let c = compare(&t(&[0.0, got]), &t(&[0.0, want]), tol);
            assert!(!c.ok, "{got} accepted for {want}");
            assert!(c.problem.is_some(), "{got} vs {want}: no problem reported");
        }
        assert!(compare(&t(&[f32::INFINITY]), &t(&[f32::INFINITY]), tol).ok);
        assert!(compare(&t(&[f32::NEG_INFINITY]), &t(&[f32::NEG_INFINITY]), tol).ok);
    }

    #[test]
    fn shape_mismatch_fails() {
        let a = Tensor::from_f32("a", vec![2, 1], &[1.0, 2.0]);
        let c = compare(&a, &t(&[1.0, 2.0]), tolerance_for(DType::F32));
        assert!(!c.ok);
        assert!(c.problem.unwrap().contains("shape"));
    }
}
