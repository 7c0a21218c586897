//! The cranelift normalisation kernel: [`emit_norm`], the entry that picks the row loop by
//! call size (`norm_fused` for calls that fit the caches, `norm_phased` for larger ones), and
//! the row statistics and pass bodies both loops share.

use super::emit::*;
use super::norm_fused::emit_norm_fused;
use super::norm_phased::emit_norm_phased;
use super::NormKey;
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{FuncRef, InstBuilder, Type, Value};
use cranelift_frontend::FunctionBuilder;

/// Emits the normalisation kernel. Per row, two passes over memory:
///
/// 1. statistics: one read of the row (of `x + skip`, stored on the way when a residual is
///    folded in) accumulating, for LayerNorm, the sum and the sum of squares of `x - x[0]`
///    together (shifting by the row's first element keeps `E[d²] - E[d]²` precise under large
///    offsets), for RMSNorm the sum of squares;
/// 2. output: one read of the row (now in L1) and one write.
///
/// The passes are software-pipelined across rows: one loop writes row r's output and reads
/// row r+1's statistics, so the read stream of the input and the write stream of the output
/// are in flight together as in a copy loop. (Alternating a read-only and a write-only phase
/// per row ran at 18-25 GB/s for rows of 4096 floats against ~38 GB/s for copy: a single
/// core's write-only bandwidth here is 16 GB/s.)
///
/// If the one-pass variance of a LayerNorm row has lost more than ~10 bits to cancellation
/// (`var < E[d²] / 1024`, e.g. an outlier in the first element), the row's variance is
/// recomputed exactly as `Σ(x - mean)² / h` in an extra (rarely taken) pass.
pub(super) fn emit_norm(
    b: &mut FunctionBuilder<'_>,
    k: &NormKey,
    ptr: Type,
    fma: bool,
    pf: FuncRef,
) {
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    let p = b.block_params(entry).to_vec();
    let big = b.ins().icmp_imm_u(
        IntCC::UnsignedGreaterThanOrEqual,
        p[8],
        big_rows(k.hidden) as i64,
    );
    let fused = b.create_block();
    let phased = b.create_block();
    b.ins().brif(big, phased, &[], fused, &[]);
    b.switch_to_block(phased);
    emit_norm_phased(b, k, ptr, fma, &p, pf);
    b.switch_to_block(fused);
    emit_norm_fused(b, k, ptr, fma, &p);
}

/// Row size from which the phased row loop prefetches each output row for writing.
pub(super) const PREFETCH_ROW_BYTES: usize = 16 << 10;

/// Input + output bytes of one call from which norm kernels use the phased row loop
/// ([`emit_norm_phased`]) instead of the pipelined one. Measured, LN/RMS GB/s, 1 thread,
/// pipelined vs phased: x = 8 MiB 60/79 vs 50/64 (h1024); x = 16 MiB 41/48 vs 45/56;
/// x = 128 MiB 30/30 vs 40/39 (copy 39).
pub(super) const BIG_BYTES: usize = 24 << 20;

/// Rows of `hidden` floats from which a call counts as large ([`BIG_BYTES`] of x + y).
pub(crate) fn big_rows(hidden: usize) -> usize {
    (BIG_BYTES / (8 * hidden.max(1))).max(1)
}

/// A row's pass-1 statistics, for [`row_mean_inv`].
pub(super) struct RowStats<'a> {
    /// (Σd, Σd²) of d = x - shift (LayerNorm) or (Σx²) (RMS-style).
    pub(super) stats: &'a [Value],
    /// The row's shift (its first element), LayerNorm only.
    pub(super) shift: Option<Value>,
    /// The row's first element address (for the exact second pass).
    pub(super) src: Value,
    /// 1 / hidden.
    pub(super) inv_h: Value,
}

/// Mean (LayerNorm) and 1/sd of a row from its statistics; when the shifted variance lost more
/// than ~10 bits to cancellation it is recomputed exactly by a second pass over the row.
/// Shared by the pipelined and the phased row loops.
pub(super) fn row_mean_inv(
    b: &mut FunctionBuilder<'_>,
    fma: bool,
    h: usize,
    eps_bits: u32,
    row: &RowStats<'_>,
) -> (Option<Value>, Value) {
    let (mean, var) = match row.shift {
        Some(shs) => {
            let md = b.ins().fmul(row.stats[0], row.inv_h);
            let mean = b.ins().fadd(shs, md);
            let e2 = b.ins().fmul(row.stats[1], row.inv_h);
            let md2 = b.ins().fmul(md, md);
            let var1 = b.ins().fsub(e2, md2);
            // Cancellation guard.
            let lim = b.ins().f32const(1.0 / 1024.0);
            let thr = b.ins().fmul(e2, lim);
            let bad = b.ins().fcmp(FloatCC::LessThan, var1, thr);
            let exact = b.create_block();
            let join = b.create_block();
            b.append_block_param(join, S);
            b.ins().brif(bad, exact, &[], join, &bargs(&[var1]));
            b.switch_to_block(exact);
            let mb = Both::splat(b, mean);
            let ss = pass_n(b, h, 1, &[row.src, mb.v], &mut |b, off, vec, acc, iv| {
                let v = load(b, iv[0], off, vec);
                let d = b.ins().fsub(v, if vec { iv[1] } else { mb.s });
                vec![mul_add(b, fma, d, d, acc[0])]
            });
            let var2 = b.ins().fmul(ss[0], row.inv_h);
            b.ins().jump(join, &bargs(&[var2]));
            b.switch_to_block(join);
            (Some(mean), b.block_params(join)[0])
        }
        None => (None, b.ins().fmul(row.stats[0], row.inv_h)),
    };
    let eps = b.ins().f32const(f32::from_bits(eps_bits));
    let ve = b.ins().fadd(var, eps);
    let sd = b.ins().sqrt(ve);
    let one = b.ins().f32const(1.0);
    let inv = b.ins().fdiv(one, sd);
    (mean, inv)
}

/// Pointers of one row of a norm kernel.
pub(super) struct RowPtrs {
    /// Input row.
    pub(super) xr: Value,
    /// Residual row.
    pub(super) sr: Option<Value>,
    /// Output row.
    pub(super) yr: Value,
    /// Where the normalised input lives after the statistics pass (x, or the stored sum).
    pub(super) src: Value,
}

/// Positions of a statistics pass's invariants in a pass's invariant list.
pub(super) struct P1Ix {
    pub(super) x: usize,
    pub(super) skip: Option<(usize, usize)>,
    pub(super) shift: Option<usize>,
}

/// The invariants of a statistics pass over row `rp`, placed from index `base`.
pub(super) fn p1_inv(rp: &RowPtrs, shift: Option<Both>, base: usize) -> (Vec<Value>, P1Ix) {
    let mut v = vec![rp.xr];
    let skip = rp.sr.map(|sr| {
        v.extend([sr, rp.src]);
        (base + 1, base + 2)
    });
    let shift = shift.map(|s| {
        v.push(s.v);
        base + v.len() - 1
    });
    (
        v,
        P1Ix {
            x: base,
            skip,
            shift,
        },
    )
}

/// One step of the statistics pass: reads `x (+ skip)` at `off` (storing the sum), returns the
/// updated accumulators (sum and sum of squares of `x - shift`, or the sum of squares).
#[allow(clippy::too_many_arguments)]
pub(super) fn p1_body(
    b: &mut FunctionBuilder<'_>,
    fma: bool,
    off: Value,
    vec: bool,
    acc: &[Value],
    iv: &[Value],
    ix: &P1Ix,
    shift: Option<Both>,
) -> Vec<Value> {
    let mut v = load(b, iv[ix.x], off, vec);
    if let Some((s, dst)) = ix.skip {
        let sv = load(b, iv[s], off, vec);
        v = b.ins().fadd(v, sv);
        store(b, v, iv[dst], off);
    }
    match (shift, ix.shift) {
        (Some(sh), Some(i)) => {
            let d = b.ins().fsub(v, if vec { iv[i] } else { sh.s });
            let s1 = b.ins().fadd(acc[0], d);
            let s2 = mul_add(b, fma, d, d, acc[1]);
            vec![s1, s2]
        }
        _ => vec![mul_add(b, fma, v, v, acc[0])],
    }
}

/// Positions of an output pass's invariants.
#[derive(Clone, Copy)]
pub(super) struct P2Ix {
    pub(super) src: usize,
    pub(super) y: usize,
    pub(super) inv: usize,
    pub(super) mean: Option<usize>,
}

/// The invariants of the output pass over row `rp` (from index 0).
pub(super) fn p2_inv(rp: &RowPtrs, inv: Both, mean: Option<Both>) -> (Vec<Value>, P2Ix) {
    let mut v = vec![rp.src, rp.yr, inv.v];
    let mean = mean.map(|m| {
        v.push(m.v);
        3
    });
    (
        v,
        P2Ix {
            src: 0,
            y: 1,
            inv: 2,
            mean,
        },
    )
}

/// `o · scale + bias` at `off`, with whichever of scale and bias the key has (one fused
/// multiply-add when both exist and the CPU has FMA): the last step of every norm output.
#[allow(clippy::too_many_arguments)]
pub(super) fn scale_shift(
    b: &mut FunctionBuilder<'_>,
    k: &NormKey,
    fma: bool,
    mut o: Value,
    (scale, bias): (Value, Value),
    off: Value,
    vec: bool,
) -> Value {
    match (k.scale, k.bias) {
        (true, true) => {
            let g = load(b, scale, off, vec);
            let be = load(b, bias, off, vec);
            o = mul_add(b, fma, o, g, be);
        }
        (true, false) => {
            let g = load(b, scale, off, vec);
            o = b.ins().fmul(o, g);
        }
        (false, true) => {
            let be = load(b, bias, off, vec);
            o = b.ins().fadd(o, be);
        }
        (false, false) => {}
    }
    o
}

/// One step of the output pass: `y = (src - mean) * inv * scale + bias` at `off`.
#[allow(clippy::too_many_arguments)]
pub(super) fn p2_body(
    b: &mut FunctionBuilder<'_>,
    k: &NormKey,
    fma: bool,
    off: Value,
    vec: bool,
    iv: &[Value],
    ix: &P2Ix,
    inv: Both,
    mean: Option<Both>,
    scale: Value,
    bias: Value,
) {
    let mut v = load(b, iv[ix.src], off, vec);
    if let (Some(m), Some(i)) = (mean, ix.mean) {
        v = b.ins().fsub(v, if vec { iv[i] } else { m.s });
    }
    let o = b.ins().fmul(v, if vec { iv[ix.inv] } else { inv.s });
    let o = scale_shift(b, k, fma, o, (scale, bias), off, vec);
    store(b, o, iv[ix.y], off);
}
