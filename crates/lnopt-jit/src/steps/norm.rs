//! A normalisation step: LayerNormalization / RMSNormalization / SimplifiedLayerNormalization,
//! possibly with the residual Add in front folded in, run by a generated kernel (or the AVX-512
//! row loop); the original nodes run instead when the runtime values do not fit.

use super::slot_val;
use crate::error::{bail, OpError, OpResult};
use crate::kernels::rows::{run_rows, NormArgs};
use crate::kernels::{KernelCache, NormKey};
use crate::node::PNode;
use crate::ops::norm::{expand_param, geometry};
use crate::ops::Ctx;
use crate::par::par_for;
use crate::value::Val;
use lnopt_ir::DType;
use std::sync::Arc;

/// A normalisation step.
pub(crate) struct NormStep {
    /// The norm node (input 0 is the Add output when `add` is set).
    pub node: PNode,
    /// RMS-style (no mean).
    pub rms: bool,
    /// Folded residual Add node, and whether its output must also be stored.
    pub add: Option<(PNode, bool)>,
    /// Large calls may take the AVX-512 row loop ([`crate::kernels::wide_norm`]).
    pub wide: bool,
    /// The kernel of the first specialisation used, so that later runs with the same key
    /// skip the shared cache (its lock and hash lookup).
    pub memo: std::sync::OnceLock<(NormKey, crate::kernels::NormFn)>,
}

impl NormStep {
    /// Slots read.
    pub(crate) fn reads(&self) -> Vec<usize> {
        let mut r: Vec<usize> = self.node.inputs.iter().skip(1).flatten().copied().collect();
        match &self.add {
            Some((a, _)) => r.extend(a.inputs.iter().flatten().copied()),
            None => r.extend(self.node.inputs.first().copied().flatten()),
        }
        r
    }

    fn fallback(&self, slots: &mut [Option<Arc<Val>>], threads: usize) -> OpResult<()> {
        if let Some((a, _)) = &self.add {
            crate::steps::run_op(a, slots, threads)?;
        }
        crate::steps::run_op(&self.node, slots, threads)
    }

    /// Runs the kernel (or the fallback).
    pub(crate) fn run(
        &self,
        slots: &mut [Option<Arc<Val>>],
        cache: &KernelCache,
        threads: usize,
    ) -> OpResult<()> {
        self.run_with(slots, cache, threads, self.add.is_some())
    }

    /// Runs the kernel with the residual Add folded in (`fold`) or on the Add's stored result.
    fn run_with(
        &self,
        slots: &mut [Option<Arc<Val>>],
        cache: &KernelCache,
        threads: usize,
        fold: bool,
    ) -> OpResult<()> {
        let c = Ctx {
            node: &self.node,
            ins: &[],
            threads,
        };
        let add = if fold { self.add.as_ref() } else { None };
        let (x, skip) = match add {
            Some((a, _)) => (
                slot_val(slots, a.inputs.first().copied().flatten()),
                slot_val(slots, a.inputs.get(1).copied().flatten()),
            ),
            None => (
                slot_val(slots, self.node.inputs.first().copied().flatten()),
                None,
            ),
        };
        let Some(x) = x else {
            bail!("input was not computed")
        };
        let ok_dtype =
            x.dtype == DType::F32 || (add.is_none() && matches!(x.dtype, DType::F16 | DType::BF16));
        let skip_ok = match (add, skip) {
            (None, _) => true,
            (Some(_), Some(s)) => s.shape == x.shape && s.dtype == DType::F32,
            (Some(_), None) => false,
        };
        let stash = c.int("stash_type", 1)?;
        let kernel_dtype = matches!(x.dtype, DType::F32 | DType::F16 | DType::BF16);
        if kernel_dtype && !(ok_dtype && skip_ok) && stash == 1 && x.numel() > 0 {
            // The residual broadcasts (e.g. position embeddings [1, s, h] + [b, s, h]) or is
            // not f32: run the Add on its own, then the kernel on its result.
            if let Some((a, keep)) = add {
                crate::steps::run_op(a, slots, threads)?;
                self.run_with(slots, cache, threads, false)?;
                if !keep {
                    // Nobody else reads the sum: release it now.
                    if let Some(slot) = a.outputs.first().copied().flatten() {
                        if let Some(v) = slots.get_mut(slot) {
                            *v = None;
                        }
                    }
                }
                return Ok(());
            }
        }
        if !ok_dtype || !skip_ok || stash != 1 || x.numel() == 0 {
            if fold {
                return self.fallback(slots, threads);
            }
            // The Add already ran: only the norm falls back.
            return crate::steps::run_op(&self.node, slots, threads);
        }
        let axis = c.int("axis", -1)?;
        let eps = c.float("epsilon", 1e-5)?;
        let g = geometry(x, axis)?;
        let scale = slot_val(slots, self.node.inputs.get(1).copied().flatten());
        let bias = if self.rms {
            None
        } else {
            slot_val(slots, self.node.inputs.get(2).copied().flatten())
        };
        let scale = scale
            .map(|s| expand_param(s, x, axis, "scale"))
            .transpose()?;
        let bias = bias.map(|s| expand_param(s, x, axis, "bias")).transpose()?;
        let outs = &self.node.outputs;
        let (mean_slot, inv_slot) = if self.rms {
            (None, outs.get(1).copied().flatten())
        } else {
            (
                outs.get(1).copied().flatten(),
                outs.get(2).copied().flatten(),
            )
        };
        let sum_slot = match add {
            Some((a, true)) => a.outputs.first().copied().flatten(),
            _ => None,
        };
        let key = NormKey {
            rms: self.rms,
            hidden: g.hidden,
            eps_bits: eps.to_bits(),
            scale: scale.is_some(),
            bias: bias.is_some(),
            skip: add.is_some(),
            sum_out: sum_slot.is_some(),
            mean_out: mean_slot.is_some(),
            inv_out: inv_slot.is_some(),
        };
        let f = match self.memo.get() {
            Some((k, f)) if *k == key => *f,
            _ => {
                let f = cache.norm(&key).map_err(|e| OpError(e.to_string()))?;
                let _ = self.memo.set((key, f));
                f
            }
        };
        let n = x.numel();
        // The kernel writes every element of y (and of the residual sum): no zeroing.
        let mut y = crate::pool::take(n);
        let mut sum = crate::pool::take(if key.sum_out { n } else { 0 });
        let mut mean = vec![0f32; if key.mean_out { g.rows } else { 0 }];
        let mut inv = vec![0f32; if key.inv_out { g.rows } else { 0 }];
        let xd = x.f32s()?;
        let sd = match skip {
            Some(s) => s.f32s()?,
            None => &[],
        };
        let addr = |v: &[f32]| v.as_ptr() as usize;
        let args = NormArgs {
            key,
            x: addr(xd),
            skip: addr(sd),
            scale: addr(scale.as_deref().unwrap_or(&[])),
            bias: addr(bias.as_deref().unwrap_or(&[])),
            y: y.as_mut_ptr() as usize,
            sum: sum.as_mut_ptr() as usize,
            mean: mean.as_mut_ptr() as usize,
            inv: inv.as_mut_ptr() as usize,
            wide: self.wide && cache.uses_fma(),
        };
        par_for(g.rows, n, threads, |a, b| {
            // SAFETY: every buffer holds `rows * h` (or `rows`) f32s, checked by construction
            // above (x/skip/y/sum have n = rows*h elements, scale/bias h, mean/inv rows); each
            // worker gets the disjoint row range a..b, and the kernel touches exactly the
            // buffers its key enables.
            unsafe { run_rows(f, &args, a, b) }
        });
        let dt = x.dtype;
        let shape = x.shape.clone();
        let mut put = |s: Option<usize>, dt: DType, shape: &[usize], v: Vec<f32>| -> OpResult<()> {
            if let Some(slot) = s.and_then(|s| slots.get_mut(s)) {
                *slot = Some(Arc::new(Val::floats(dt, shape.to_vec(), v)?));
            }
            Ok(())
        };
        put(sum_slot, DType::F32, &shape, sum)?;
        put(mean_slot, DType::F32, &g.stat_shape, mean)?;
        put(inv_slot, DType::F32, &g.stat_shape, inv)?;
        put(outs.first().copied().flatten(), dt, &shape, y)?;
        Ok(())
    }
}
