//! Comparing computed tensors with reference tensors, with tolerances by dtype.

use lnopt::ir::{DType, Tensor};

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

/// Result of comparing one output.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// Largest absolute difference over non-NaN pairs.
    pub max_abs: f64,
    /// Whether every element is within tolerance (NaN only where the reference has NaN).
    pub ok: bool,
    /// Why it is not ok, when it is not.
    pub problem: Option<String>,
}

/// Compares `got` with `want`.
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
    for (a, b) in g.iter().zip(&w) {
        if a.is_nan() || b.is_nan() {
            if a.is_nan() != b.is_nan() {
                bad += 1;
            }
            continue;
        }
        if a == b {
            continue;
        }
        let d = (a - b).abs();
        max_abs = max_abs.max(d);
        if d > tol.atol + tol.rtol * b.abs() {
            bad += 1;
        }
    }
    Comparison {
        max_abs,
        ok: bad == 0,
        problem: (bad > 0).then(|| format!("{bad} of {} elements out of tolerance", g.len())),
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
    fn shape_mismatch_fails() {
        let a = Tensor::from_f32("a", vec![2, 1], &[1.0, 2.0]);
        let c = compare(&a, &t(&[1.0, 2.0]), tolerance_for(DType::F32));
        assert!(!c.ok);
        assert!(c.problem.unwrap().contains("shape"));
    }
}
