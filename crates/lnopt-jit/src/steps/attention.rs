//! Scaled dot-product attention as one step: `Softmax(Q·Kᵀ [· or / c] [+ mask])·V`, with the
//! `Where(IsNaN(P), c, P)` guard PyTorch's exporter writes after the Softmax, computed block
//! of query rows by block: each block's scores live in a buffer that fits the caches, so the
//! `[…, S, T]` score and probability tensors are never materialised (Whisper-base's encoder:
//! 72 MB each per layer).
//!
//! Every element gets exactly the arithmetic of the original nodes run one by one: the same
//! products (the per-element accumulation of `lnopt-gemm` does not depend on how many rows a
//! call has), the scale and mask in f32, the same Softmax row function. Whenever the runtime
//! values do not fit (a dtype other than f32, a mask or constant that broadcasts the scores
//! up, a Softmax over another axis), the original nodes run instead.

use super::matmul::{batch_offset, ctx, slot_val, stored_layout, Operand, View};
use crate::error::{bail, OpResult};
use crate::node::PNode;
use crate::ops::bcast::{broadcast2, strides};
use crate::ops::sgemm::{pack, product, recycle, MatMut, MatRef, PackedB, Start};
use crate::par::{par_for, SendPtr};
use crate::value::{checked_numel, Data, Val};
use lnopt_ir::DType;
use std::sync::Arc;

/// Below this many multiply-adds in all, the blocks run on the calling thread.
const PAR_MIN_MACS: usize = 1 << 21;

/// Bytes of scores one block of query rows may hold (the block's rows stay in L2).
const BLOCK_BYTES: usize = 128 << 10;

/// The scalar applied to the scores before the mask.
#[derive(Clone, Copy, PartialEq, Debug)]
pub(crate) enum Scale {
    /// `scores · c`.
    Mul(f32),
    /// `scores / c`.
    Div(f32),
}

/// One attention block.
pub(crate) struct AttentionStep {
    /// The final `·V` MatMul (for messages).
    pub node: PNode,
    /// Q (`[…, S, d]` after its folded Transpose).
    pub q: Operand,
    /// Kᵀ (`[…, d, T]` after its folded Transpose).
    pub k: Operand,
    /// The scalar constant scaling the scores, and its node's rank (it must not raise the
    /// scores' rank).
    pub scale: Option<(Scale, usize)>,
    /// The slot of the additive mask.
    pub mask: Option<usize>,
    /// The Softmax node (its axis is checked against the runtime rank).
    pub softmax: PNode,
    /// The value NaN probabilities are replaced by, and its rank.
    pub nan_to: Option<(f32, usize)>,
    /// V (`[…, T, dv]` after its folded Transpose).
    pub v: Operand,
    /// The folded Transpose of the result.
    pub out_transpose: Option<PNode>,
    /// Slot the step's result goes to.
    pub out: usize,
    /// The original nodes in plan order (run instead when the values do not fit).
    pub originals: Vec<PNode>,
}

/// The runtime layout of one block's operands.
struct Shapes {
    /// Batch dims of the scores and of the result.
    batch: Vec<usize>,
    /// Query rows, key length, head size, value head size.
    s: usize,
    t: usize,
    d: usize,
    dv: usize,
}

impl AttentionStep {
    /// Slots read.
    pub(crate) fn reads(&self) -> Vec<usize> {
        let mut r = vec![self.q.slot, self.k.slot, self.v.slot];
        r.extend(self.mask);
        r
    }

    /// Runs the step (or the original nodes when the values do not fit).
    pub(crate) fn run(&self, slots: &mut [Option<Arc<Val>>], threads: usize) -> OpResult<()> {
        let result = self.try_run(slots, threads)?;
        crate::steps::store_or_run(result, self.out, || self.originals.iter(), slots, threads)
    }

    /// The operands' layout, or `None` when the fallback must run.
    fn shapes(&self, q: &View, k: &View, v: &View) -> OpResult<Option<Shapes>> {
        let (rq, rk, rv) = (q.shape.len(), k.shape.len(), v.shape.len());
        if rq < 2 || rk < 2 || rv < 2 {
            return Ok(None);
        }
        let (s, d) = (q.shape[rq - 2], q.shape[rq - 1]);
        let (d2, t) = (k.shape[rk - 2], k.shape[rk - 1]);
        let (t2, dv) = (v.shape[rv - 2], v.shape[rv - 1]);
        if d != d2 || t != t2 || s == 0 || t == 0 || d == 0 || dv == 0 {
            return Ok(None); // the MatMuls report mismatches; empty cases run as nodes
        }
        let batch = broadcast2(&q.shape[..rq - 2], &k.shape[..rk - 2])?;
        let with_v = broadcast2(&batch, &v.shape[..rv - 2])?;
        if with_v != batch {
            return Ok(None);
        }
        // The Softmax must normalise the last axis of the scores.
        let rank = batch.len() + 2;
        let c = ctx(&self.softmax);
        let axis = c.int("axis", if c.opset() < 13 { 1 } else { -1 })?;
        let axis = if axis < 0 { axis + rank as i64 } else { axis };
        if axis != rank as i64 - 1 {
            return Ok(None);
        }
        let low_rank = |r: Option<usize>| r.is_none_or(|r| r <= rank);
        if !low_rank(self.scale.map(|s| s.1)) || !low_rank(self.nan_to.map(|n| n.1)) {
            return Ok(None);
        }
        Ok(Some(Shapes { batch, s, t, d, dv }))
    }

    /// The fused block, or `None` when the fallback must run.
    fn try_run(&self, slots: &[Option<Arc<Val>>], threads: usize) -> OpResult<Option<Val>> {
        let get = |s: usize| slot_val(slots, s);
        let (Some(qv), Some(kv), Some(vv)) = (get(self.q.slot), get(self.k.slot), get(self.v.slot))
        else {
            bail!("an input was not computed");
        };
        fn f32s(v: &Val) -> Option<&[f32]> {
            match (&*v.data, v.dtype) {
                (Data::F(d), DType::F32) => Some(d.as_slice()),
                _ => None,
            }
        }
        let (Some(qd), Some(kd), Some(vd)) = (f32s(qv), f32s(kv), f32s(vv)) else {
            return Ok(None);
        };
        let vq = View::of(qv, self.q.transpose.as_ref())?;
        let vk = View::of(kv, self.k.transpose.as_ref())?;
        let vvw = View::of(vv, self.v.transpose.as_ref())?;
        let Some(sh) = self.shapes(&vq, &vk, &vvw)? else {
            return Ok(None);
        };
        let Shapes { batch, s, t, d, dv } = sh;
        let rank = batch.len() + 2;
        // The mask, right-aligned to the scores' shape, each dim 1 or the scores' own.
        let mask = match self.mask {
            None => None,
            Some(ms) => {
                let Some(mv) = get(ms) else {
                    bail!("the mask was not computed");
                };
                let Some(md) = f32s(mv) else {
                    return Ok(None);
                };
                if mv.rank() > rank {
                    return Ok(None);
                }
                let mut dims = vec![1; rank - mv.rank()];
                dims.extend(&mv.shape);
                let full: Vec<usize> = batch.iter().copied().chain([s, t]).collect();
                if dims.iter().zip(&full).any(|(&m, &f)| m != 1 && m != f) {
                    return Ok(None);
                }
                let st = strides(&dims);
                Some((md, dims, st))
            }
        };
        let nb: usize = batch.iter().product();
        let mut oshape = batch.clone();
        oshape.extend([s, dv]);
        let total = checked_numel(&oshape)?;
        checked_numel(&[nb, s, t])?;
        let (stored_shape, ost) = stored_layout(&oshape, self.out_transpose.as_ref())?;
        let reach = |v: &View| -> usize {
            v.shape
                .iter()
                .zip(&v.strides)
                .map(|(&n, &st)| n.saturating_sub(1) * st)
                .sum::<usize>()
        };
        if reach(&vq) >= qd.len() || reach(&vk) >= kd.len() || reach(&vvw) >= vd.len() {
            bail!("internal: operand views out of range");
        }
        let lead = |v: &View| {
            let r = v.shape.len();
            (v.shape[..r - 2].to_vec(), v.strides[..r - 2].to_vec())
        };
        let (ql, kl, vl) = (lead(&vq), lead(&vk), lead(&vvw));
        let (rq, rk, rv) = (vq.shape.len(), vk.shape.len(), vvw.shape.len());
        // Kᵀ and V of batch element `bi`, packed (by the worker that needs them: a worker's
        // tasks are consecutive, so it packs each of its batch elements once).
        let pack_kv = |bi: usize| {
            let ok = batch_offset(bi, &batch, &kl.0, &kl.1);
            let ov = batch_offset(bi, &batch, &vl.0, &vl.1);
            let kt = MatRef {
                ptr: kd.as_ptr().wrapping_add(ok),
                rs: vk.strides[rk - 2] as isize,
                cs: vk.strides[rk - 1] as isize,
            };
            let vm = MatRef {
                ptr: vd.as_ptr().wrapping_add(ov),
                rs: vvw.strides[rv - 2] as isize,
                cs: vvw.strides[rv - 1] as isize,
            };
            // SAFETY: the d×t and t×dv views at these batch offsets stay inside their buffers
            // (their reach was checked above).
            unsafe { (pack(d, t, kt), pack(t, dv, vm)) }
        };
        // Measured on Whisper-base (T = 1500): 12 to 192 rows per block within 10 %.
        let rows = (BLOCK_BYTES / (4 * t)).clamp(12, 192).min(s);
        let blocks = s.div_ceil(rows);
        let tasks = nb * blocks;
        let mut out = crate::pool::take(total);
        let po = SendPtr(out.as_mut_ptr() as usize);
        let r = rank;
        let (ors, ocs) = (ost[r - 2], ost[r - 1]);
        let (qrs, qcs) = (vq.strides[rq - 2], vq.strides[rq - 1]);
        let macs = nb
            .saturating_mul(s)
            .saturating_mul(t)
            .saturating_mul(d + dv);
        let scale = self.scale.map(|s| s.0);
        let nan_to = self.nan_to.map(|n| n.0);
        let run = |lo: usize, hi: usize| {
            let mut scores = crate::pool::take(rows * t);
            let mut held: Option<(usize, PackedB, PackedB)> = None;
            for task in lo..hi {
                let (bi, blk) = (task / blocks, task % blocks);
                let i0 = blk * rows;
                let m = rows.min(s - i0);
                let sc = &mut scores[..m * t];
                if held.as_ref().is_none_or(|h| h.0 != bi) {
                    if let Some((_, kt, vp)) = held.take() {
                        recycle(kt);
                        recycle(vp);
                    }
                    let (kt, vp) = pack_kv(bi);
                    held = Some((bi, kt, vp));
                }
                let Some((_, kt, vp)) = &held else {
                    continue;
                };
                let oq = batch_offset(bi, &batch, &ql.0, &ql.1) + i0 * qrs;
                let lhs = MatRef {
                    ptr: qd.as_ptr().wrapping_add(oq),
                    rs: qrs as isize,
                    cs: qcs as isize,
                };
                let dst = MatMut {
                    ptr: sc.as_mut_ptr(),
                    rs: t as isize,
                    cs: 1,
                };
                // SAFETY: Q's m×d rows at this offset lie inside its buffer (reach checked),
                // `sc` holds m×t.
                unsafe { product(m, dst, Start::Zero, lhs, kt, 1) };
                match scale {
                    Some(Scale::Mul(c)) => sc.iter_mut().for_each(|x| *x *= c),
                    Some(Scale::Div(c)) => sc.iter_mut().for_each(|x| *x /= c),
                    None => {}
                }
                if let Some((md, dims, st)) = &mask {
                    let ml = (&dims[..r - 2], &st[..r - 2]);
                    let base = batch_offset(bi, &batch, ml.0, ml.1);
                    let (row_st, col_st) = (
                        if dims[r - 2] == 1 { 0 } else { st[r - 2] },
                        if dims[r - 1] == 1 { 0 } else { 1 },
                    );
                    for (i, row) in sc.chunks_exact_mut(t).enumerate() {
                        let at = base + (i0 + i) * row_st;
                        if col_st == 1 {
                            for (x, &mv) in row.iter_mut().zip(&md[at..at + t]) {
                                *x += mv;
                            }
                        } else {
                            let mv = md[at];
                            row.iter_mut().for_each(|x| *x += mv);
                        }
                    }
                }
                crate::ops::reduce::softmax_rows(None, sc, t);
                if let Some(c) = nan_to {
                    sc.iter_mut().filter(|x| x.is_nan()).for_each(|x| *x = c);
                }
                let oo = batch_offset(bi, &batch, &batch, &ost[..r - 2]) + i0 * ors;
                let dst = MatMut {
                    ptr: (po.0 as *mut f32).wrapping_add(oo),
                    rs: ors as isize,
                    cs: ocs as isize,
                };
                let lhs = MatRef {
                    ptr: sc.as_ptr(),
                    rs: t as isize,
                    cs: 1,
                };
                // SAFETY: the m×dv block at this offset lies inside the output (its strides
                // come from the output's own shape); tasks write disjoint row blocks.
                unsafe { product(m, dst, Start::Zero, lhs, vp, 1) };
            }
            if let Some((_, kt, vp)) = held {
                recycle(kt);
                recycle(vp);
            }
            crate::pool::give(scores);
        };
        if threads > 1 && tasks > 1 && macs >= PAR_MIN_MACS {
            par_for(tasks, usize::MAX, threads, run);
        } else {
            run(0, tasks);
        }
        Ok(Some(Val::new(
            DType::F32,
            stored_shape,
            Data::F(out.into()),
        )?))
    }
}
