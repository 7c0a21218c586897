//! Dimension algebra shared by the op rules: broadcasting with symbolic dims, unification of
//! dims that must be equal, axis normalisation, and merging declared with inferred types.

use lnopt_ir::{DType, Dim, TensorType};

/// Broadcasts two dims (numpy rules). `None` when they can never broadcast (two different
/// fixed sizes, neither 1).
///
/// Equal symbols give that symbol; `1` against anything gives the other; a fixed `a != 1`
/// against a symbol or unknown gives `a` (the other must be `a` or `1`); an unknown against a
/// symbol, `1`-free unknowns, and different symbols give [`Dim::Unknown`].
pub fn broadcast_dim(a: &Dim, b: &Dim) -> Option<Dim> {
    Some(match (a, b) {
        (Dim::Fixed(1), x) | (x, Dim::Fixed(1)) => x.clone(),
        (Dim::Fixed(x), Dim::Fixed(y)) => {
            if x == y {
                Dim::Fixed(*x)
            } else {
                return None;
            }
        }
        (Dim::Fixed(x), _) | (_, Dim::Fixed(x)) => Dim::Fixed(*x),
        (Dim::Symbol(x), Dim::Symbol(y)) if x == y => Dim::Symbol(x.clone()),
        _ => Dim::Unknown,
    })
}

/// Broadcasts two shapes (right-aligned, numpy rules, see [`broadcast_dim`]). `None` when
/// two fixed dims are incompatible.
pub fn broadcast_shapes(a: &[Dim], b: &[Dim]) -> Option<Vec<Dim>> {
    let n = a.len().max(b.len());
    let one = Dim::Fixed(1);
    (0..n)
        .map(|i| {
            let da = if i + a.len() >= n {
                &a[i + a.len() - n]
            } else {
                &one
            };
            let db = if i + b.len() >= n {
                &b[i + b.len() - n]
            } else {
                &one
            };
            broadcast_dim(da, db)
        })
        .collect()
}

/// Combines two dims known to denote the same size (Concat's non-axis dims, MatMul's K).
/// Fixed beats symbol beats unknown; `None` when two fixed sizes differ.
pub fn unify_dim(a: &Dim, b: &Dim) -> Option<Dim> {
    Some(match (a, b) {
        (Dim::Fixed(x), Dim::Fixed(y)) => {
            if x == y {
                Dim::Fixed(*x)
            } else {
                return None;
            }
        }
        (Dim::Fixed(x), _) | (_, Dim::Fixed(x)) => Dim::Fixed(*x),
        (Dim::Symbol(x), _) => Dim::Symbol(x.clone()),
        (_, Dim::Symbol(y)) => Dim::Symbol(y.clone()),
        _ => Dim::Unknown,
    })
}

/// An ONNX axis in `[-rank, rank)` as an index in `[0, rank)`; `None` when out of range.
pub fn normalize_axis(axis: i64, rank: usize) -> Option<usize> {
    let r = i64::try_from(rank).ok()?;
    let a = if axis < 0 { axis.checked_add(r)? } else { axis };
    if (0..r).contains(&a) {
        usize::try_from(a).ok()
    } else {
        None
    }
}

/// Normalises a list of axes for a tensor of `rank`: every axis in range, no duplicates.
/// The result is sorted. `None` when an axis is out of range or repeated.
pub fn normalize_axes(axes: &[i64], rank: usize) -> Option<Vec<usize>> {
    let mut out = axes
        .iter()
        .map(|&a| normalize_axis(a, rank))
        .collect::<Option<Vec<usize>>>()?;
    out.sort_unstable();
    let before = out.len();
    out.dedup();
    (out.len() == before).then_some(out)
}

/// Product of dims when all are fixed (and it does not overflow).
pub fn fixed_product(dims: &[Dim]) -> Option<i64> {
    dims.iter().try_fold(1i64, |acc, d| {
        acc.checked_mul(d.fixed().filter(|&v| v >= 0)?)
    })
}

/// Merges a declared type (from the file) with an inferred one. The result keeps every fact
/// of both: a fixed dim beats a symbol, an inferred symbol beats a declared one (it ties the
/// value to the graph's inputs), anything beats unknown. `Err` describes a contradiction
/// (different dtypes, ranks or fixed sizes).
pub fn merge_types(declared: &TensorType, inferred: &TensorType) -> Result<TensorType, String> {
    let elem = match (declared.elem, inferred.elem) {
        (DType::Undefined, e) | (e, DType::Undefined) => e,
        (a, b) if a == b => a,
        (a, b) => return Err(format!("declared dtype {a} but inferred {b}")),
    };
    let shape = match (&declared.shape, &inferred.shape) {
        (None, s) | (s, None) => s.clone(),
        (Some(d), Some(i)) => {
            if d.len() != i.len() {
                return Err(format!(
                    "declared rank {} ({declared}) but inferred rank {} ({inferred})",
                    d.len(),
                    i.len()
                ));
            }
            let mut dims = Vec::with_capacity(d.len());
            for (k, (dd, id)) in d.iter().zip(i).enumerate() {
                dims.push(match (dd, id) {
                    (Dim::Fixed(a), Dim::Fixed(b)) if a != b => {
                        return Err(format!(
                            "dim {k}: declared {a} but inferred {b} ({declared} vs {inferred})"
                        ))
                    }
                    (Dim::Fixed(a), _) | (_, Dim::Fixed(a)) => Dim::Fixed(*a),
                    (_, Dim::Symbol(s)) | (Dim::Symbol(s), Dim::Unknown) => Dim::Symbol(s.clone()),
                    (Dim::Unknown, Dim::Unknown) => Dim::Unknown,
                });
            }
            Some(dims)
        }
    };
    Ok(TensorType { elem, shape })
}
