//! The software-pipelined row loop of the cranelift normalisation kernel
//! ([`emit_norm_fused`]), used for calls that fit the caches: one loop writes row r's output
//! and reads row r+1's statistics.

use super::emit::*;
use super::norm::*;
use super::NormKey;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{InstBuilder, Type, Value};
use cranelift_frontend::FunctionBuilder;

/// The software-pipelined row loop of [`emit_norm`].
pub(super) fn emit_norm_fused(
    b: &mut FunctionBuilder<'_>,
    k: &NormKey,
    ptr: Type,
    fma: bool,
    p: &[Value],
) {
    let (x, skip, scale, bias, y, sum, mean_o, inv_o, rows) =
        (p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8]);
    let h = k.hidden;
    let done = b.create_block();
    let start = b.create_block();
    b.ins().brif(rows, start, &[], done, &[]);
    b.switch_to_block(start);
    let nacc = if k.rms { 1 } else { 2 };
    // LayerNorm's shift: the row's first input element (x[0], plus skip[0] with a residual).
    // It is loaded two rows ahead and carried, so that its cache miss does not hold back the
    // statistics that depend on it (measured: LN h768 at 128 MiB 22 GB/s when loaded at the
    // row's start, 33 without the dependency).
    let npre = if k.rms { 0 } else { 1 + k.skip as usize };
    let row = |b: &mut FunctionBuilder<'_>, r: Value| -> RowPtrs {
        let off = b.ins().imul_imm_s(r, (h * 4) as i64);
        let xr = b.ins().iadd(x, off);
        let yr = b.ins().iadd(y, off);
        let sr = k.skip.then(|| b.ins().iadd(skip, off));
        let src = match sr {
            Some(_) if k.sum_out => b.ins().iadd(sum, off),
            Some(_) => yr,
            None => xr,
        };
        RowPtrs { xr, sr, yr, src }
    };
    let first = |b: &mut FunctionBuilder<'_>, rp: &RowPtrs| -> Vec<Value> {
        let mut v = Vec::with_capacity(npre);
        if npre > 0 {
            v.push(b.ins().load(S, flags(), rp.xr, 0));
        }
        if let (true, Some(sr)) = (npre > 1, rp.sr) {
            v.push(b.ins().load(S, flags(), sr, 0));
        }
        v
    };
    let shift_of = |b: &mut FunctionBuilder<'_>, pre: &[Value]| -> Option<Both> {
        let k0 = match pre {
            [x0] => *x0,
            [x0, s0] => b.ins().fadd(*x0, *s0),
            _ => return None,
        };
        Some(Both::splat(b, k0))
    };
    // Row index min(i, rows - 1).
    let clamp = |b: &mut FunctionBuilder<'_>, i: Value| -> Value {
        let last = b.ins().iadd_imm_s(rows, -1);
        let ok = b.ins().icmp(IntCC::UnsignedLessThan, i, rows);
        b.ins().select(ok, i, last)
    };
    // Prologue: statistics of row 0.
    let r0 = b.ins().iconst(ptr, 0);
    let p0 = row(b, r0);
    let pre0 = first(b, &p0);
    let one_i = b.ins().iconst(ptr, 1);
    let r1c = clamp(b, one_i);
    let p1c = row(b, r1c);
    let pre1 = first(b, &p1c);
    let sh0 = shift_of(b, &pre0);
    let (inv1, ix1) = p1_inv(&p0, sh0, 0);
    let st0 = pass_n(b, h, nacc, &inv1, &mut |b, off, vec, acc, iv| {
        p1_body(b, fma, off, vec, acc, iv, &ix1, sh0)
    });
    // Row loop: (r, statistics of row r, row r's shift, row r+1's first elements).
    let rl = b.create_block();
    b.append_block_param(rl, ptr);
    for _ in 0..nacc + usize::from(!k.rms) + npre {
        b.append_block_param(rl, S);
    }
    let mut a = vec![r0];
    a.extend(&st0);
    if let Some(sh) = sh0 {
        a.push(sh.s);
    }
    a.extend(&pre1);
    b.ins().jump(rl, &bargs(&a));
    b.switch_to_block(rl);
    let rp = b.block_params(rl).to_vec();
    let r = rp[0];
    let stats = rp[1..1 + nacc].to_vec();
    let shift_s = sh0.map(|_| rp[1 + nacc]);
    let pre_next = rp[1 + nacc + usize::from(sh0.is_some())..].to_vec();
    let cur = row(b, r);
    let inv_h = b.ins().f32const(1.0 / h.max(1) as f32);
    let (mean, inv) = row_mean_inv(
        b,
        fma,
        h,
        k.eps_bits,
        &RowStats {
            stats: &stats,
            shift: shift_s,
            src: cur.src,
            inv_h,
        },
    );
    let soff = b.ins().imul_imm_s(r, 4);
    if k.mean_out {
        let m = match mean {
            Some(m) => m,
            None => b.ins().f32const(0.0),
        };
        let a = b.ins().iadd(mean_o, soff);
        b.ins().store(flags(), m, a, 0);
    }
    if k.inv_out {
        let a = b.ins().iadd(inv_o, soff);
        b.ins().store(flags(), inv, a, 0);
    }
    let inv_b = Both::splat(b, inv);
    let mean_b = mean.map(|m| Both::splat(b, m));
    let (inv2, ix2) = p2_inv(&cur, inv_b, mean_b);
    let r1 = b.ins().iadd_imm_s(r, 1);
    let more = b.ins().icmp(IntCC::UnsignedLessThan, r1, rows);
    let fused = b.create_block();
    let last = b.create_block();
    b.ins().brif(more, fused, &[], last, &[]);
    // Row r's output together with row r+1's statistics.
    b.switch_to_block(fused);
    let nxt = row(b, r1);
    let r2 = b.ins().iadd_imm_s(r, 2);
    let r2c = clamp(b, r2);
    let p2c = row(b, r2c);
    let pre2 = first(b, &p2c);
    let sh1 = shift_of(b, &pre_next);
    let (mut invf, ix2f) = (inv2.clone(), ix2);
    let (inv1n, ix1n) = p1_inv(&nxt, sh1, invf.len());
    invf.extend(&inv1n);
    let st1 = pass_n(b, h, nacc, &invf, &mut |b, off, vec, acc, iv| {
        p2_body(b, k, fma, off, vec, iv, &ix2f, inv_b, mean_b, scale, bias);
        p1_body(b, fma, off, vec, acc, iv, &ix1n, sh1)
    });
    let mut a = vec![r1];
    a.extend(&st1);
    if let Some(sh) = sh1 {
        a.push(sh.s);
    }
    a.extend(&pre2);
    b.ins().jump(rl, &bargs(&a));
    // Last row: output only.
    b.switch_to_block(last);
    pass_n(b, h, 0, &inv2, &mut |b, off, vec, _acc, iv| {
        p2_body(b, k, fma, off, vec, iv, &ix2, inv_b, mean_b, scale, bias);
        Vec::new()
    });
    b.ins().jump(done, &[]);
    b.switch_to_block(done);
    b.ins().return_(&[]);
}
