//! A fused chain of element-wise float ops run as one generated loop (or by the AVX-512 Rust
//! evaluator); the original nodes run instead when the runtime values do not fit.

use super::slot_val;
use crate::error::{bail, OpError, OpResult};
use crate::kernels::{COp, ChainKey, KernelCache, Mode};
use crate::node::PNode;
use crate::ops;
use crate::par::{par_for, SendPtr};
use crate::value::{Data, Val};
use lnopt_ir::DType;
use std::sync::Arc;

/// A fused chain of element-wise ops with one output.
pub(crate) struct ChainStep {
    /// Name for messages (the root node's).
    pub name: String,
    /// The original nodes, in order (for the fallback).
    pub nodes: Vec<PNode>,
    /// External input slots.
    pub inputs: Vec<usize>,
    /// Output slot.
    pub out: usize,
    /// Program over the inputs.
    pub prog: Vec<COp>,
    /// The kernel of the first input modes used (see [`NormStep::memo`]).
    pub memo: std::sync::OnceLock<(Vec<Mode>, crate::kernels::ChainFn)>,
    /// Run by the AVX-512 Rust evaluator (`wide_chain`) instead of a generated kernel.
    pub wide: bool,
}

impl ChainStep {
    /// Slots read.
    pub(crate) fn reads(&self) -> Vec<usize> {
        self.inputs.clone()
    }

    fn fallback(&self, slots: &mut [Option<Arc<Val>>], threads: usize) -> OpResult<()> {
        for n in &self.nodes {
            crate::steps::run_op(n, slots, threads)
                .map_err(|e| OpError(format!("node '{}': {}", n.name, e.0)))?;
        }
        for n in &self.nodes {
            for o in n.outputs.iter().flatten() {
                if *o != self.out {
                    if let Some(s) = slots.get_mut(*o) {
                        *s = None;
                    }
                }
            }
        }
        Ok(())
    }

    /// Runs the kernel (or the fallback).
    pub(crate) fn run(
        &self,
        slots: &mut [Option<Arc<Val>>],
        cache: &KernelCache,
        threads: usize,
    ) -> OpResult<()> {
        let mut ins: Vec<&Val> = Vec::with_capacity(self.inputs.len());
        for &s in &self.inputs {
            match slot_val(slots, Some(s)) {
                Some(v) if v.dtype == DType::F32 => ins.push(v),
                _ => return self.fallback(slots, threads),
            }
        }
        let mut out_shape: Vec<usize> = Vec::new();
        for v in &ins {
            out_shape = ops::bcast::broadcast2(&out_shape, &v.shape)?;
        }
        let n = crate::value::checked_numel(&out_shape)?;
        // Row inputs are a trailing block of the output (a bias [h], a position table
        // [1, 1, s, d] onto [b, heads, s, d]) repeated over the leading axes; all Row inputs
        // of one run must share the block length.
        let mut row_len: Option<usize> = None;
        let mut modes = Vec::with_capacity(ins.len());
        for v in &ins {
            let block = trailing_block(&v.shape, &out_shape);
            modes.push(if v.shape == out_shape {
                Mode::Full
            } else if v.numel() == 1 {
                Mode::Scalar
            } else if block.is_some_and(|l| l < n && row_len.is_none_or(|r| r == l)) {
                row_len = block;
                Mode::Row
            } else if v.numel() == n {
                Mode::Full
            } else {
                return self.fallback(slots, threads);
            });
        }
        if n == 0 {
            return self.fallback(slots, threads);
        }
        let has_row = modes.contains(&Mode::Row);
        let f = if self.wide {
            None
        } else {
            Some(match self.memo.get() {
                Some((m, f)) if *m == modes => *f,
                _ => {
                    let key = ChainKey {
                        prog: self.prog.clone(),
                        modes: modes.clone(),
                    };
                    let f = cache.chain(&key).map_err(|e| OpError(e.to_string()))?;
                    let _ = self.memo.set((modes.clone(), f));
                    f
                }
            })
        };
        let mut out = crate::pool::zeroed(n);
        let ptrs: Vec<SendPtr> = ins
            .iter()
            .map(|v| match &*v.data {
                Data::F(d) => SendPtr(d.as_ptr() as usize),
                _ => SendPtr(0),
            })
            .collect();
        let po = SendPtr(out.as_mut_ptr() as usize);
        let (rows, h) = match row_len {
            Some(l) if has_row && l > 0 => (n / l, l),
            _ => (n, 1),
        };
        let modes_ref = &modes;
        par_for(rows, n, threads, |a, b| {
            // Row-broadcast inputs: split rows; otherwise split the flat range.
            let (start_elem, r, len) = if has_row {
                (a * h, b - a, h)
            } else {
                (a, 1, b - a)
            };
            let bases: Vec<*const f32> = ptrs
                .iter()
                .zip(modes_ref)
                .map(|(p, m)| match m {
                    Mode::Full => (p.0 + start_elem * 4) as *const f32,
                    _ => p.0 as *const f32,
                })
                .collect();
            // SAFETY: Full inputs and the output hold n elements and this worker covers the
            // disjoint range start_elem..start_elem + r*len ≤ n; Row inputs hold `h` elements
            // read per row; Scalar inputs hold one element. `bases` lives across the call.
            let dst = (po.0 + start_elem * 4) as *mut f32;
            match f {
                Some(f) => unsafe { f(bases.as_ptr(), dst, r, len) },
                None => unsafe {
                    crate::kernels::wide_chain::run(&crate::kernels::wide_chain::ChainCall {
                        prog: &self.prog,
                        modes: modes_ref,
                        bases: &bases,
                        out: dst,
                        rows: r,
                        h: len,
                    })
                },
            }
        });
        let v = Val::floats(DType::F32, out_shape, out)?;
        match slots.get_mut(self.out) {
            Some(s) => *s = Some(Arc::new(v)),
            None => bail!("internal: bad output slot"),
        }
        Ok(())
    }
}

/// If `shape` (leading 1s stripped) equals the trailing axes of `out`, the number of elements
/// of that trailing block.
fn trailing_block(shape: &[usize], out: &[usize]) -> Option<usize> {
    let lead = shape.iter().take_while(|&&d| d == 1).count();
    let core = shape.get(lead..)?;
    if core.is_empty() || core.len() > out.len() || !out.ends_with(core) {
        return None;
    }
    Some(core.iter().product())
}
