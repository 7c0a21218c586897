//! `NonMaxSuppression`: greedy per (batch, class) selection of boxes by descending score,
//! dropping boxes whose IoU with a selected one exceeds the threshold. Box arithmetic is
//! rounded to the boxes' dtype after every operation, as a kernel in that dtype computes.

use crate::arr::{round_float, Arr};
use crate::call::Call;
use crate::error::{bail, OpResult};
use lnopt_ir::DType;

/// A box as `(x_min, x_max, y_min, y_max)`.
fn corners(b: &[f64], center: bool, r: &dyn Fn(f64) -> f64) -> (f64, f64, f64, f64) {
    if center {
        let (hw, hh) = (r(b[2] / 2.0), r(b[3] / 2.0));
        (r(b[0] - hw), r(b[0] + hw), r(b[1] - hh), r(b[1] + hh))
    } else {
        let (x0, x1) = (b[1].min(b[3]), b[1].max(b[3]));
        let (y0, y1) = (b[0].min(b[2]), b[0].max(b[2]));
        (x0, x1, y0, y1)
    }
}

/// True if boxes `a` and `b` overlap with IoU above `thr`.
fn suppresses(a: &[f64], b: &[f64], center: bool, thr: f64, r: &dyn Fn(f64) -> f64) -> bool {
    let (ax0, ax1, ay0, ay1) = corners(a, center, r);
    let (bx0, bx1, by0, by1) = corners(b, center, r);
    let (ix0, ix1) = (ax0.max(bx0), ax1.min(bx1));
    let (iy0, iy1) = (ay0.max(by0), ay1.min(by1));
    if ix1 <= ix0 || iy1 <= iy0 {
        return false;
    }
    let inter = r(r(ix1 - ix0) * r(iy1 - iy0));
    let area_a = r(r(ax1 - ax0) * r(ay1 - ay0));
    let area_b = r(r(bx1 - bx0) * r(by1 - by0));
    let union = r(r(area_a + area_b) - inter);
    if inter <= 0.0 || area_a <= 0.0 || area_b <= 0.0 || union <= 0.0 {
        return false;
    }
    r(inter / union) > thr
}

/// Runs `NonMaxSuppression`; the output is `[selected, 3]` of (batch, class, box).
pub(crate) fn non_max_suppression(c: &Call<'_>) -> OpResult<Arr> {
    let (boxes, scores) = (c.input(0)?, c.input(1)?);
    let bv = boxes.float_values("boxes")?;
    let sv = scores.float_values("scores")?;
    if boxes.rank() != 3 || boxes.shape[2] != 4 || scores.rank() != 3 {
        bail!(
            "boxes {:?} must be [B, N, 4] and scores {:?} [B, C, N]",
            boxes.shape,
            scores.shape
        );
    }
    let (nb, nbox, ncls) = (boxes.shape[0], boxes.shape[1], scores.shape[1]);
    if scores.shape[0] != nb || scores.shape[2] != nbox {
        bail!(
            "scores {:?} do not fit boxes {:?}",
            scores.shape,
            boxes.shape
        );
    }
    let present = |slot: usize| c.opt_input(slot).filter(|a| a.len() > 0);
    let max_out = match present(2) {
        Some(m) => m.scalar_i64("max_output_boxes_per_class")?.max(0) as usize,
        None => 0,
    };
    let iou = match present(3) {
        Some(t) => t.scalar_f64("iou_threshold")?,
        None => 0.0,
    };
    let score_thr = match present(4) {
        Some(t) => Some(t.scalar_f64("score_threshold")?),
        None => None,
    };
    let center = match c.int("center_point_box", 0)? {
        0 => false,
        1 => true,
        v => bail!("center_point_box must be 0 or 1, got {v}"),
    };
    let dt = boxes.dtype;
    let r = move |x: f64| round_float(dt, x);
    let mut out = Vec::new();
    for b in 0..nb {
        for k in 0..ncls {
            let s = &sv[(b * ncls + k) * nbox..(b * ncls + k + 1) * nbox];
            let mut cand: Vec<usize> = (0..nbox)
                .filter(|&i| score_thr.is_none_or(|t| s[i] > t))
                .collect();
            // Descending score, lower index first on ties.
            cand.sort_by(|&i, &j| s[j].total_cmp(&s[i]).then(i.cmp(&j)));
            let mut chosen: Vec<usize> = Vec::new();
            for &i in &cand {
                if chosen.len() >= max_out {
                    break;
                }
                let bi = &bv[(b * nbox + i) * 4..(b * nbox + i + 1) * 4];
                let hit = chosen.iter().any(|&j| {
                    suppresses(
                        bi,
                        &bv[(b * nbox + j) * 4..(b * nbox + j + 1) * 4],
                        center,
                        iou,
                        &r,
                    )
                });
                if !hit {
                    chosen.push(i);
                    out.extend([b as i64, k as i64, i as i64]);
                }
            }
        }
    }
    let n = out.len() / 3;
    Ok(Arr::ints(DType::I64, vec![n, 3], out))
}
