//! Geometry and parameter expansion of LayerNormalization / RMSNormalization for the
//! generated kernels (the nodes they do not take run through the interpreter).

use super::bcast::{norm_axis, BIdx};
use crate::error::{bail, OpResult};
use crate::value::{Data, Val};

/// Geometry of a normalisation: `rows` rows of `hidden` elements, plus the stats shape.
pub(crate) struct NormGeom {
    /// Rows (product of the dims before `axis`).
    pub rows: usize,
    /// Row length (product of the dims from `axis`).
    pub hidden: usize,
    /// Shape of Mean / InvStdDev outputs.
    pub stat_shape: Vec<usize>,
}

/// The geometry of normalising `x` from `axis`.
pub(crate) fn geometry(x: &Val, axis: i64) -> OpResult<NormGeom> {
    let a = norm_axis(axis, x.rank())?;
    let mut stat_shape = x.shape[..a].to_vec();
    stat_shape.extend(std::iter::repeat_n(1, x.rank() - a));
    Ok(NormGeom {
        rows: x.shape[..a].iter().product(),
        hidden: x.shape[a..].iter().product(),
        stat_shape,
    })
}

/// Expands a scale/bias to one value per element of the normalised row (broadcasting);
/// borrowed when the f32 parameter already holds exactly one value per element.
pub(crate) fn expand_param<'a>(
    p: &'a Val,
    x: &Val,
    axis: i64,
    what: &str,
) -> OpResult<std::borrow::Cow<'a, [f32]>> {
    let a = norm_axis(axis, x.rank())?;
    let row = &x.shape[a..];
    let b = super::bcast::broadcast2(&p.shape, row)?;
    if b != row {
        bail!(
            "{what} of shape {:?} does not broadcast to the normalised shape {row:?}",
            p.shape
        );
    }
    let n: usize = row.iter().product();
    if let (Data::F(v), lnopt_ir::DType::F32) = (&*p.data, p.dtype) {
        if v.len() == n {
            // Broadcasting to the row without changing the count: only leading 1s differ.
            return Ok(std::borrow::Cow::Borrowed(v.as_slice()));
        }
    }
    let idx = BIdx::new(&p.shape, row);
    let v = p.as_f64()?;
    Ok(std::borrow::Cow::Owned(
        (0..n).map(|i| v[idx.at(i)] as f32).collect(),
    ))
}
