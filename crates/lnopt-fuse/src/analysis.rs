//! E-class analysis: dtype, shape (with symbolic dims) and small constant facts.

use crate::lang::{NormLang, ValRef};
use egg::{Analysis, DidMerge, EGraph, Id};
use lnopt_ir::{DType, Dim};
use std::collections::HashMap;

/// What is known about every value of an e-class.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Facts {
    /// Element type, if known.
    pub dtype: Option<DType>,
    /// Shape, if the rank is known (dims may be symbolic or unknown).
    pub shape: Option<Vec<Dim>>,
    /// Set when the value is a compile-time constant whose elements are all equal.
    pub uniform: Option<f64>,
    /// Set for integer literals of the language (axis counts, dtype codes).
    pub int: Option<i64>,
    /// True when the value is (an opaque) output of a ReduceMean outside the language.
    pub reduced: bool,
}

impl Facts {
    /// Rank, if known.
    pub fn rank(&self) -> Option<usize> {
        self.shape.as_ref().map(|s| s.len())
    }

    /// True when the dtype is a floating-point type.
    pub fn is_float(&self) -> bool {
        self.dtype.is_some_and(|d| d.is_float())
    }
}

/// The analysis: facts of opaque leaves come from the IR side table given at creation.
#[derive(Clone, Debug, Default)]
pub struct NormAnalysis {
    /// Facts of the opaque IR values (`%n` leaves).
    pub leaves: HashMap<ValRef, Facts>,
}

/// Numpy-style broadcast of two shapes. `None` when they provably do not broadcast.
pub fn broadcast(a: &[Dim], b: &[Dim]) -> Option<Vec<Dim>> {
    let n = a.len().max(b.len());
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let da = if i + a.len() >= n {
            a.get(i + a.len() - n)
        } else {
            None
        };
        let db = if i + b.len() >= n {
            b.get(i + b.len() - n)
        } else {
            None
        };
        let d = match (da, db) {
            (Some(x), None) | (None, Some(x)) => x.clone(),
            (Some(x), Some(y)) => {
                if x.same_as(y) || *y == Dim::Fixed(1) {
                    x.clone()
                } else if *x == Dim::Fixed(1) {
                    y.clone()
                } else if matches!((x, y), (Dim::Fixed(_), Dim::Fixed(_))) {
                    return None;
                } else {
                    Dim::Unknown
                }
            }
            (None, None) => Dim::Unknown,
        };
        out.push(d);
    }
    Some(out)
}

/// True when broadcasting `small` against `big` provably yields exactly `big`: `small` has
/// no more axes and each of its dims is 1 or provably equal to `big`'s aligned dim.
pub fn broadcasts_within(small: &[Dim], big: &[Dim]) -> bool {
    if small.len() > big.len() {
        return false;
    }
    let off = big.len() - small.len();
    small
        .iter()
        .enumerate()
        .all(|(i, d)| *d == Dim::Fixed(1) || big.get(off + i).is_some_and(|b| d.same_as(b)))
}

fn binary(a: &Facts, b: &Facts, f: fn(f64, f64) -> f64) -> Facts {
    let shape = match (&a.shape, &b.shape) {
        (Some(x), Some(y)) => broadcast(x, y),
        _ => None,
    };
    Facts {
        dtype: a.dtype.or(b.dtype),
        shape,
        uniform: match (a.uniform, b.uniform) {
            (Some(x), Some(y)) => Some(f(x, y)),
            _ => None,
        },
        int: None,
        reduced: false,
    }
}

fn unary(a: &Facts, f: fn(f64) -> f64) -> Facts {
    Facts {
        dtype: a.dtype,
        shape: a.shape.clone(),
        uniform: a.uniform.map(f),
        int: None,
        reduced: false,
    }
}

/// Shape of a keepdims reduction over the last `k` axes.
pub fn reduced_shape(shape: &Option<Vec<Dim>>, k: Option<i64>) -> Option<Vec<Dim>> {
    let s = shape.as_ref()?;
    let k = usize::try_from(k?).ok()?;
    if k > s.len() {
        return None;
    }
    let keep = s.len() - k;
    Some(
        s.iter()
            .enumerate()
            .map(|(i, d)| if i < keep { d.clone() } else { Dim::Fixed(1) })
            .collect(),
    )
}

/// Shape of `(chan p x)`: `[1, C, 1, …, 1]` of `x`'s rank (at least 2), with `C` the length
/// of the rank-1 `p` when known, else `x`'s dim 1 (the op that broadcasts `p` this way
/// requires the two to be equal).
pub fn channel_shape(p: &Option<Vec<Dim>>, x: &Option<Vec<Dim>>) -> Option<Vec<Dim>> {
    let (p, x) = (p.as_ref()?, x.as_ref()?);
    if p.len() != 1 || x.len() < 2 {
        return None;
    }
    let c = match &p[0] {
        Dim::Fixed(_) => p[0].clone(),
        _ => x[1].clone(),
    };
    let mut out = vec![Dim::Fixed(1); x.len()];
    out[1] = c;
    Some(out)
}

impl Analysis<NormLang> for NormAnalysis {
    type Data = Facts;

    fn make(egraph: &mut EGraph<NormLang, Self>, enode: &NormLang) -> Facts {
        let f = |i: &Id| egraph[*i].data.clone();
        match enode {
            NormLang::Int(v) => Facts {
                int: Some(*v),
                ..Facts::default()
            },
            NormLang::Val(r) => egraph.analysis.leaves.get(r).cloned().unwrap_or_default(),
            NormLang::Add([a, b]) => binary(&f(a), &f(b), |x, y| x + y),
            NormLang::Sub([a, b]) => binary(&f(a), &f(b), |x, y| x - y),
            NormLang::Mul([a, b]) => binary(&f(a), &f(b), |x, y| x * y),
            NormLang::Div([a, b]) => binary(&f(a), &f(b), |x, y| x / y),
            NormLang::Pow([a, b]) => binary(&f(a), &f(b), f64::powf),
            NormLang::Sqrt(a) => unary(&f(a), f64::sqrt),
            NormLang::Recip(a) => unary(&f(a), |x| 1.0 / x),
            NormLang::Neg(a) => unary(&f(a), |x| -x),
            NormLang::Max([a, b]) => binary(&f(a), &f(b), |x, y| {
                if x.is_nan() || y.is_nan() {
                    f64::NAN
                } else {
                    x.max(y)
                }
            }),
            NormLang::Cast([a, t]) => {
                let x = f(a);
                let to = f(t).int.map(|c| DType::from_onnx(c as i32));
                Facts {
                    dtype: to,
                    shape: x.shape,
                    uniform: x.uniform,
                    int: None,
                    reduced: false,
                }
            }
            NormLang::Mean([a, k]) | NormLang::Var([a, k]) => {
                let x = f(a);
                let k = f(k).int;
                Facts {
                    dtype: x.dtype,
                    shape: reduced_shape(&x.shape, k),
                    uniform: match enode {
                        NormLang::Mean(_) => x.uniform,
                        _ => x.uniform.map(|_| 0.0),
                    },
                    int: None,
                    reduced: false,
                }
            }
            NormLang::Sum([a, k]) => {
                let x = f(a);
                Facts {
                    dtype: x.dtype,
                    shape: reduced_shape(&x.shape, f(k).int),
                    uniform: None,
                    int: None,
                    reduced: false,
                }
            }
            NormLang::Flat(m) => {
                let x = f(m);
                Facts {
                    dtype: x.dtype,
                    shape: x
                        .shape
                        .as_ref()
                        .filter(|s| s.len() >= 2)
                        .map(|s| vec![s[1].clone()]),
                    uniform: x.uniform,
                    int: None,
                    reduced: false,
                }
            }
            NormLang::Chan([p, x]) => {
                let (p, x) = (f(p), f(x));
                Facts {
                    dtype: p.dtype,
                    shape: channel_shape(&p.shape, &x.shape),
                    uniform: p.uniform,
                    int: None,
                    reduced: false,
                }
            }
            NormLang::RMin([a, k]) | NormLang::RMax([a, k]) => {
                let x = f(a);
                Facts {
                    dtype: x.dtype,
                    shape: reduced_shape(&x.shape, f(k).int),
                    uniform: x.uniform,
                    int: None,
                    reduced: false,
                }
            }
            NormLang::Eq([a, b]) | NormLang::And([a, b]) => Facts {
                dtype: Some(DType::Bool),
                uniform: None,
                ..binary(&f(a), &f(b), |x, _| x)
            },
            NormLang::Where([c, a, b]) => {
                let (fc, fa, fb) = (f(c), f(a), f(b));
                let ab = binary(&fa, &fb, |x, _| x);
                Facts {
                    shape: match (&fc.shape, &ab.shape) {
                        (Some(x), Some(y)) => broadcast(x, y),
                        _ => None,
                    },
                    uniform: None,
                    ..ab
                }
            }
            NormLang::Num(v) => Facts {
                shape: Some(Vec::new()),
                uniform: Some(v.value()),
                ..Facts::default()
            },
            NormLang::Ln([a, _, _]) | NormLang::Rms([a, _, _]) => {
                let x = f(a);
                Facts {
                    dtype: x.dtype,
                    shape: x.shape,
                    uniform: None,
                    int: None,
                    reduced: false,
                }
            }
        }
    }

    fn merge(&mut self, to: &mut Facts, from: Facts) -> DidMerge {
        let mut changed_to = false;
        if to.dtype.is_none() && from.dtype.is_some() {
            to.dtype = from.dtype;
            changed_to = true;
        }
        match (&mut to.shape, from.shape) {
            (None, Some(s)) => {
                to.shape = Some(s);
                changed_to = true;
            }
            (Some(t), Some(s)) if t.len() == s.len() => {
                for (td, sd) in t.iter_mut().zip(s) {
                    if *td == Dim::Unknown && sd != Dim::Unknown {
                        *td = sd;
                        changed_to = true;
                    }
                }
            }
            _ => {}
        }
        if to.uniform.is_none() && from.uniform.is_some() {
            to.uniform = from.uniform;
            changed_to = true;
        }
        if to.int.is_none() && from.int.is_some() {
            to.int = from.int;
            changed_to = true;
        }
        if !to.reduced && from.reduced {
            to.reduced = true;
            changed_to = true;
        }
        DidMerge(changed_to, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(v: &[i64]) -> Vec<Dim> {
        v.iter().map(|&x| Dim::Fixed(x)).collect()
    }

    #[test]
    fn broadcast_rules() {
        assert_eq!(broadcast(&d(&[2, 1, 4]), &d(&[3, 1])), Some(d(&[2, 3, 4])));
        assert_eq!(broadcast(&d(&[2, 3]), &d(&[4])), None);
        let s = vec![Dim::Symbol("b".into()), Dim::Fixed(4)];
        assert_eq!(broadcast(&s, &d(&[1])), Some(s.clone()));
    }

    #[test]
    fn within_rules() {
        assert!(broadcasts_within(&d(&[1, 4]), &d(&[2, 3, 4])));
        assert!(!broadcasts_within(&d(&[3, 4]), &d(&[2, 1, 4])));
        assert!(!broadcasts_within(&d(&[1, 1, 1, 1]), &d(&[2, 3, 4])));
        assert!(!broadcasts_within(&[Dim::Unknown], &d(&[4])));
    }

    #[test]
    fn reduced() {
        assert_eq!(
            reduced_shape(&Some(d(&[2, 3, 4])), Some(2)),
            Some(d(&[2, 1, 1]))
        );
        assert_eq!(reduced_shape(&Some(d(&[2])), Some(3)), None);
    }
}
