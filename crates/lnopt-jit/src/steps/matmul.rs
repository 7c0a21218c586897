//! MatMul with its neighbours folded in: a `Transpose` feeding either operand is read as a
//! strided view, a constant bias `Add` after it is written into the output before the product
//! accumulates onto it, and a `Transpose` of the result is written in place through output
//! strides. Attention blocks (Q·Kᵀ on permuted heads, the head merge after ·V) and every
//! `MatMul + bias` then run without intermediate tensors. The original nodes are kept and run
//! one by one whenever the runtime values do not fit (non-f32, 1-D operands, odd bias shapes).

use crate::error::{bail, OpResult};
use crate::node::PNode;
use crate::ops::bcast::{broadcast2, strides};
use crate::ops::sgemm::{pack, product, recycle, MatMut, MatRef, PackedB, Start};
use crate::ops::Ctx;
use crate::par::{par_for, SendPtr};
use crate::value::{checked_numel, Data, Val};
use lnopt_ir::DType;
use std::sync::Arc;

/// Below this many multiply-adds in total, the batch of products runs on the calling thread.
const PAR_MIN_MACS: usize = 1 << 18;

/// One operand: the slot read and the `Transpose` node folded in front of it, if any.
pub(crate) struct Operand {
    /// Slot holding the (untransposed) tensor.
    pub slot: usize,
    /// The folded `Transpose` node.
    pub transpose: Option<PNode>,
}

/// A MatMul with folded Transposes and bias.
pub(crate) struct MatMulStep {
    /// The MatMul node (for messages).
    pub node: PNode,
    /// Left operand.
    pub a: Operand,
    /// Right operand.
    pub b: Operand,
    /// The folded bias `Add` and the slot of its constant bias operand.
    pub bias: Option<(PNode, usize)>,
    /// The folded `Transpose` of the result.
    pub out_transpose: Option<PNode>,
    /// Slot the step's result goes to.
    pub out: usize,
    /// The right operand packed at compile time, when it is a 2-D f32 constant.
    pub packed_b: Option<PackedB>,
    /// For a `Gemm` node: whether B is read transposed (`transB`), and the slot of its C
    /// input (added like a folded bias).
    pub gemm: Option<GemmForm>,
}

/// What a `Gemm` node (alpha = beta = 1, transA = 0) adds to a plain product.
#[derive(Clone, Copy)]
pub(crate) struct GemmForm {
    /// B is given as n×k (`transB` = 1).
    pub trans_b: bool,
    /// The slot of C.
    pub c: Option<usize>,
}

/// Where a product's logical output `oshape` is stored: its shape after the folded
/// `transpose` (if any) and, per logical dim, the stored element stride.
pub(crate) fn stored_layout(
    oshape: &[usize],
    transpose: Option<&PNode>,
) -> OpResult<(Vec<usize>, Vec<usize>)> {
    match transpose {
        None => Ok((oshape.to_vec(), strides(oshape))),
        Some(t) => {
            let perm = crate::ops::shape::transpose_perm(&ctx(t), oshape.len())?;
            let sshape: Vec<usize> = perm.iter().map(|&p| oshape[p]).collect();
            let sst = strides(&sshape);
            let mut lst = vec![0; oshape.len()];
            for (i, &p) in perm.iter().enumerate() {
                lst[p] = sst[i];
            }
            Ok((sshape, lst))
        }
    }
}

/// A strided view of a tensor: logical shape and element strides.
pub(crate) struct View {
    /// Logical dims.
    pub shape: Vec<usize>,
    /// Element strides of the logical dims.
    pub strides: Vec<usize>,
}

impl View {
    /// The view with its last two axes swapped (a matrix read transposed).
    pub(crate) fn swap_last(&mut self) {
        let r = self.shape.len();
        if r >= 2 {
            self.shape.swap(r - 2, r - 1);
            self.strides.swap(r - 2, r - 1);
        }
    }

    /// `v` seen through the folded `transpose`, if any.
    pub(crate) fn of(v: &Val, transpose: Option<&PNode>) -> OpResult<View> {
        let st = strides(&v.shape);
        match transpose {
            None => Ok(View {
                shape: v.shape.clone(),
                strides: st,
            }),
            Some(t) => {
                let perm = crate::ops::shape::transpose_perm(&ctx(t), v.rank())?;
                Ok(View {
                    shape: perm.iter().map(|&p| v.shape[p]).collect(),
                    strides: perm.iter().map(|&p| st[p]).collect(),
                })
            }
        }
    }
}

/// An attribute reader for `n` (no inputs).
pub(crate) fn ctx(n: &PNode) -> Ctx<'_> {
    Ctx {
        node: n,
        ins: &[],
        threads: 1,
    }
}

/// The value in slot `s`, if computed.
pub(crate) fn slot_val(slots: &[Option<Arc<Val>>], s: usize) -> Option<&Val> {
    slots.get(s)?.as_deref()
}

/// Offset of batch element `bi` (row-major over `batch`) in a view whose leading dims
/// (`dims`, `st`, right-aligned to `batch`) broadcast to it.
pub(crate) fn batch_offset(bi: usize, batch: &[usize], dims: &[usize], st: &[usize]) -> usize {
    let mut rem = bi;
    let mut off = 0;
    let lead = batch.len() - dims.len();
    for d in (0..batch.len()).rev() {
        let idx = rem % batch[d];
        rem /= batch[d];
        if d >= lead && dims[d - lead] != 1 {
            off += idx * st[d - lead];
        }
    }
    off
}

impl MatMulStep {
    /// Slots read.
    pub(crate) fn reads(&self) -> Vec<usize> {
        let mut r = vec![self.a.slot, self.b.slot];
        if let Some(s) = self.bias_slot() {
            r.push(s);
        }
        r
    }

    /// The slot of the bias added to the product: a folded `Add`'s constant or a Gemm's C.
    fn bias_slot(&self) -> Option<usize> {
        match (&self.bias, self.gemm) {
            (Some((_, s)), _) => Some(*s),
            (None, Some(g)) => g.c,
            (None, None) => None,
        }
    }

    /// The original nodes in plan order (for the fallback).
    fn originals(&self) -> Vec<&PNode> {
        let mut v: Vec<&PNode> = [&self.a.transpose, &self.b.transpose]
            .into_iter()
            .flatten()
            .collect();
        v.push(&self.node);
        if let Some((add, _)) = &self.bias {
            v.push(add);
        }
        v.extend(self.out_transpose.as_ref());
        v
    }

    /// Runs the step (or the original nodes when the values do not fit).
    pub(crate) fn run(&self, slots: &mut [Option<Arc<Val>>], threads: usize) -> OpResult<()> {
        let result = self.try_run(slots, threads)?;
        crate::steps::store_or_run(result, self.out, || self.originals(), slots, threads)
    }

    /// The fused product, or `None` when the fallback must run.
    fn try_run(&self, slots: &[Option<Arc<Val>>], threads: usize) -> OpResult<Option<Val>> {
        let (Some(av), Some(bv)) = (slot_val(slots, self.a.slot), slot_val(slots, self.b.slot))
        else {
            bail!("an input was not computed");
        };
        if av.dtype != DType::F32 || bv.dtype != DType::F32 || av.rank() < 2 || bv.rank() < 2 {
            return Ok(None);
        }
        let (Data::F(ad), Data::F(bd)) = (&*av.data, &*bv.data) else {
            return Ok(None);
        };
        if self.gemm.is_some() && (av.rank() != 2 || bv.rank() != 2) {
            return Ok(None); // the Gemm op reports the bad ranks
        }
        let va = View::of(av, self.a.transpose.as_ref())?;
        let mut vb = View::of(bv, self.b.transpose.as_ref())?;
        if self.gemm.is_some_and(|g| g.trans_b) {
            vb.swap_last();
        }
        let (ra, rb) = (va.shape.len(), vb.shape.len());
        let (m, k) = (va.shape[ra - 2], va.shape[ra - 1]);
        let (k2, n) = (vb.shape[rb - 2], vb.shape[rb - 1]);
        if k != k2 {
            bail!("inner dims differ: {:?} × {:?}", va.shape, vb.shape);
        }
        let batch = broadcast2(&va.shape[..ra - 2], &vb.shape[..rb - 2])?;
        let nb: usize = batch.iter().product();
        let mut oshape = batch.clone();
        oshape.extend([m, n]);
        let total = checked_numel(&oshape)?;
        let bias = match self.bias_slot() {
            None => None,
            Some(s) => {
                let Some(bv) = slot_val(slots, s) else {
                    bail!("the bias was not computed");
                };
                // Only a bias along the last axis ([n] or [1, …, 1, n]) is written row by row.
                let row = bv.shape.last() == Some(&n)
                    && bv.shape.len() <= oshape.len()
                    && bv.shape[..bv.shape.len() - 1].iter().all(|&d| d == 1);
                match (&*bv.data, bv.dtype, row) {
                    (Data::F(d), DType::F32, true) => Some(d.as_slice()),
                    _ => return Ok(None),
                }
            }
        };
        // Where each logical output element is stored: identity, or through the folded
        // Transpose (stored dim i is logical dim perm[i]).
        let (stored_shape, ost) = stored_layout(&oshape, self.out_transpose.as_ref())?;
        let reach = |v: &View| -> usize {
            v.shape
                .iter()
                .zip(&v.strides)
                .map(|(&d, &s)| d.saturating_sub(1) * s)
                .sum::<usize>()
        };
        if total == 0 || m == 0 || n == 0 {
            return Ok(Some(Val::new(
                DType::F32,
                stored_shape,
                Data::F(vec![0.0; total].into()),
            )?));
        }
        if reach(&va) >= ad.len().max(1) || reach(&vb) >= bd.len().max(1) {
            bail!("internal: operand views out of range");
        }
        // Every element is written below: the product starts from the bias (added in the
        // kernel's first pass) or from zero.
        let mut out = crate::pool::take(total);
        let start = match bias {
            Some(b) => Start::Bias(b),
            None => Start::Zero,
        };
        let r = oshape.len();
        let (ors, ocs) = (ost[r - 2], ost[r - 1]);
        let (ars, acs) = (va.strides[ra - 2], va.strides[ra - 1]);
        let (brs, bcs) = (vb.strides[rb - 2], vb.strides[rb - 1]);
        let a_lead = (&va.shape[..ra - 2], &va.strides[..ra - 2]);
        let b_lead = (&vb.shape[..rb - 2], &vb.strides[..rb - 2]);
        let (pa, pb, po) = (
            SendPtr(ad.as_ptr() as usize),
            SendPtr(bd.as_ptr() as usize),
            SendPtr(out.as_mut_ptr() as usize),
        );
        let macs = total.saturating_mul(k);
        // A right operand without batch dims is packed once for the whole batch: at compile
        // time for a constant, here otherwise.
        let compiled = self
            .packed_b
            .as_ref()
            .filter(|p| rb == 2 && p.k() == k && p.n() == n);
        let packed_here = match (compiled, rb) {
            (None, 2) => {
                let rhs = MatRef {
                    ptr: bd.as_ptr(),
                    rs: brs as isize,
                    cs: bcs as isize,
                };
                // SAFETY: the k×n view's reach was checked against b's buffer above.
                Some(unsafe { pack(k, n, rhs) })
            }
            _ => None,
        };
        let shared_b: Option<&PackedB> = compiled.or(packed_here.as_ref());
        // A single product splits its own column panels across threads (`product` decides
        // when that pays); a batch of products is split by batch element below.
        let product_threads = if nb == 1 { threads } else { 1 };
        let run = |lo: usize, hi: usize| {
            for bi in lo..hi {
                let oa = batch_offset(bi, &batch, a_lead.0, a_lead.1);
                let oo = batch_offset(bi, &batch, &batch, &ost[..r - 2]);
                let dst = MatMut {
                    ptr: (po.0 as *mut f32).wrapping_add(oo),
                    rs: ors as isize,
                    cs: ocs as isize,
                };
                let lhs = MatRef {
                    ptr: (pa.0 as *const f32).wrapping_add(oa),
                    rs: ars as isize,
                    cs: acs as isize,
                };
                // SAFETY: every offset reached by the m×k, k×n and m×n matrices at these bases
                // and strides lies inside its buffer (the views' reach was checked above and the
                // output strides come from the output's own shape); batch elements write
                // disjoint output positions, so workers never write the same element.
                unsafe {
                    match shared_b {
                        Some(pb) => product(m, dst, start, lhs, pb, product_threads),
                        None => {
                            let ob = batch_offset(bi, &batch, b_lead.0, b_lead.1);
                            let rhs = MatRef {
                                ptr: (pb.0 as *const f32).wrapping_add(ob),
                                rs: brs as isize,
                                cs: bcs as isize,
                            };
                            let packed = pack(k, n, rhs);
                            product(m, dst, start, lhs, &packed, product_threads);
                            recycle(packed);
                        }
                    }
                }
            }
        };
        if nb > 1 && threads > 1 && macs >= PAR_MIN_MACS {
            // Batch elements are split across threads (work given as "always worth it").
            par_for(nb, usize::MAX, threads, run);
        } else {
            run(0, nb);
        }
        if let Some(p) = packed_here {
            recycle(p);
        }
        Ok(Some(Val::new(
            DType::F32,
            stored_shape,
            Data::F(out.into()),
        )?))
    }
}
