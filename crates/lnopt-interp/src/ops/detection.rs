//! `NonMaxSuppression`: per batch and class, greedy selection of boxes by descending score
//! (equal scores: lower box index first), dropping boxes whose IoU with a selected box
//! exceeds `iou_threshold`. Box geometry is computed in f32, as ONNX Runtime does.

use crate::arr::Arr;
use crate::call::Call;
use crate::error::{bail, OpResult};
use lnopt_ir::DType;

/// Corners `(y_min, x_min, y_max, x_max)` of a box in either encoding.
fn corners(b: &[f64], center: bool) -> [f32; 4] {
    let v: Vec<f32> = b.iter().map(|&x| x as f32).collect();
    if center {
        let (hw, hh) = (v[2] / 2.0, v[3] / 2.0);
        [v[1] - hh, v[0] - hw, v[1] + hh, v[0] + hw]
    } else {
        [
            v[0].min(v[2]),
            v[1].min(v[3]),
            v[0].max(v[2]),
            v[1].max(v[3]),
        ]
    }
}

/// True if the IoU of `a` and `b` is above `thr` (empty overlaps never suppress).
fn suppresses(a: [f32; 4], b: [f32; 4], thr: f32) -> bool {
    let (ix0, ix1) = (a[1].max(b[1]), a[3].min(b[3]));
    let (iy0, iy1) = (a[0].max(b[0]), a[2].min(b[2]));
    if ix1 <= ix0 || iy1 <= iy0 {
        return false;
    }
    let inter = (ix1 - ix0) * (iy1 - iy0);
    let area_a = (a[3] - a[1]) * (a[2] - a[0]);
    let area_b = (b[3] - b[1]) * (b[2] - b[0]);
    let union = area_a + area_b - inter;
    if inter <= 0.0 || area_a <= 0.0 || area_b <= 0.0 || union <= 0.0 {
        return false;
    }
    inter / union > thr
}

/// `NonMaxSuppression(boxes [B, N, 4], scores [B, C, N], max_output_boxes_per_class,
/// iou_threshold, score_threshold)` with `center_point_box`: rows `[batch, class, box]`.
pub(crate) fn non_max_suppression(c: &Call<'_>) -> OpResult<Arr> {
    let (boxes, scores) = (c.input(0)?, c.input(1)?);
    let bv = boxes.float_values("boxes")?;
    let sv = scores.float_values("scores")?;
    let (&[nb, n, 4], &[nb2, nc, n2]) = (&boxes.shape[..], &scores.shape[..]) else {
        bail!(
            "boxes {:?} must be [B, N, 4] and scores {:?} [B, C, N]",
            boxes.shape,
            scores.shape
        );
    };
    if nb != nb2 || n != n2 {
        bail!(
            "boxes {:?} and scores {:?} differ in B or N",
            boxes.shape,
            scores.shape
        );
    }
    let max_out = match c.opt_input(2).filter(|a| a.len() > 0) {
        Some(a) => a.scalar_i64("max_output_boxes_per_class")?.max(0) as usize,
        None => 0,
    };
    let iou = match c.opt_input(3).filter(|a| a.len() > 0) {
        Some(a) => a.scalar_f64("iou_threshold")? as f32,
        None => 0.0,
    };
    let score_thr = match c.opt_input(4).filter(|a| a.len() > 0) {
        Some(a) => Some(a.scalar_f64("score_threshold")? as f32),
        None => None,
    };
    let center = match c.int("center_point_box", 0)? {
        0 => false,
        1 => true,
        other => bail!("center_point_box must be 0 or 1, got {other}"),
    };
    if sv.iter().any(|s| s.is_nan()) {
        bail!("scores with NaN have no order");
    }
    let mut rows: Vec<i64> = Vec::new();
    for b in 0..nb {
        let geo: Vec<[f32; 4]> = (0..n)
            .map(|i| corners(&bv[(b * n + i) * 4..(b * n + i + 1) * 4], center))
            .collect();
        for cl in 0..nc {
            let s = &sv[(b * nc + cl) * n..(b * nc + cl + 1) * n];
            let mut cand: Vec<usize> = (0..n)
                .filter(|&i| score_thr.is_none_or(|t| s[i] as f32 > t))
                .collect();
            // Stable: equal scores keep the lower index first.
            cand.sort_by(|&i, &j| s[j].partial_cmp(&s[i]).unwrap_or(std::cmp::Ordering::Equal));
            let mut kept: Vec<usize> = Vec::new();
            for i in cand {
                if kept.len() >= max_out {
                    break;
                }
                if kept.iter().all(|&k| !suppresses(geo[i], geo[k], iou)) {
                    kept.push(i);
                    rows.extend([b as i64, cl as i64, i as i64]);
                }
            }
        }
    }
    let k = rows.len() / 3;
    Ok(Arr::ints(DType::I64, vec![k, 3], rows))
}
