//! The phased row loop of the cranelift normalisation kernel ([`emit_norm_phased`]), used for
//! calls over more rows than fit in the caches: per row, a statistics pass, then an output pass.

use super::emit::*;
use super::norm::*;
use super::NormKey;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{FuncRef, InstBuilder, Type, Value};
use cranelift_frontend::FunctionBuilder;

/// The row loop of [`emit_norm`] for calls over more rows than fit in the caches: per row,
/// the statistics pass, then the output pass (no overlap between rows). Out of cache this
/// kept ~0.9 of copy for rows up to 1024 floats where the pipelined loop fell to ~0.8 (its
/// ~44 instructions per cache line leave fewer lines in flight). The row's first element is
/// loaded one row ahead (see [`emit_norm`]).
pub(super) fn emit_norm_phased(
    b: &mut FunctionBuilder<'_>,
    k: &NormKey,
    ptr: Type,
    fma: bool,
    p: &[Value],
    pf: FuncRef,
) {
    let (x, skip, scale, bias, y, sum, mean_o, inv_o, rows) =
        (p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8]);
    let hdr = b.create_block();
    let body = b.create_block();
    let done = b.create_block();
    let h = k.hidden;
    // LayerNorm shifts each row by its first input element (x[0], plus skip[0] with a
    // residual). That element is loaded one row ahead and carried into the next iteration:
    // loaded at the row's start, its cache miss held back the whole statistics pass out of
    // cache (measured: LN h768 at 128 MiB 22 GB/s, 33 without the dependency).
    let npre = if k.rms { 0 } else { 1 + k.skip as usize };
    b.append_block_param(hdr, ptr);
    for _ in 0..npre {
        b.append_block_param(hdr, S);
    }
    let r0 = b.ins().iconst(ptr, 0);
    let first = |b: &mut FunctionBuilder<'_>, xr: Value, sr: Value| -> Vec<Value> {
        let mut v = Vec::with_capacity(npre);
        if npre > 0 {
            v.push(b.ins().load(S, flags(), xr, 0));
        }
        if npre > 1 {
            v.push(b.ins().load(S, flags(), sr, 0));
        }
        v
    };
    if npre > 0 {
        let pre = b.create_block();
        b.ins().brif(rows, pre, &[], done, &[]);
        b.switch_to_block(pre);
        let mut a = vec![r0];
        a.extend(first(b, x, skip));
        b.ins().jump(body, &bargs(&a));
    } else {
        b.ins().jump(hdr, &bargs(&[r0]));
    }
    b.switch_to_block(hdr);
    let hp = b.block_params(hdr).to_vec();
    let c = b.ins().icmp(IntCC::UnsignedLessThan, hp[0], rows);
    b.ins().brif(c, body, &bargs(&hp), done, &[]);
    b.switch_to_block(body);
    for _ in 0..1 + npre {
        let t = if b.block_params(body).is_empty() {
            ptr
        } else {
            S
        };
        b.append_block_param(body, t);
    }
    let bp = b.block_params(body).to_vec();
    let r = bp[0];
    let rowoff = b.ins().imul_imm_s(r, (h * 4) as i64);
    let xr = b.ins().iadd(x, rowoff);
    let yr = b.ins().iadd(y, rowoff);
    let inv_h = b.ins().f32const(1.0 / h.max(1) as f32);
    let sr = k.skip.then(|| b.ins().iadd(skip, rowoff));
    let r1 = b.ins().iadd_imm_s(r, 1);
    // Next row's first elements (this row's again on the last row, to stay in bounds).
    let ahead = {
        let more = b.ins().icmp(IntCC::UnsignedLessThan, r1, rows);
        let step = b.ins().iconst(ptr, (h * 4) as i64);
        let zero = b.ins().iconst(ptr, 0);
        let d = b.ins().select(more, step, zero);
        let xn = b.ins().iadd(xr, d);
        let sn = match sr {
            Some(sr) => b.ins().iadd(sr, d),
            None => xn,
        };
        // Rows of 16 KiB and more: prefetch this row's output lines for writing before the
        // statistics pass, so that the output pass does not wait on write-allocate reads
        // (LN h4096 at 128 MiB: 19 -> 24 GB/s, RMS 26 -> 27; at h2048 it cost 7-25 %).
        if h * 4 >= PREFETCH_ROW_BYTES {
            let rb = b.ins().iconst(ptr, (h * 4) as i64);
            let w = b.ins().iconst(ptr, 1);
            b.ins().call(pf, &[yr, rb, w]);
        }
        first(b, xn, sn)
    };
    // Where the normalised input lives after pass 1.
    let src = match sr {
        Some(_) if k.sum_out => b.ins().iadd(sum, rowoff),
        Some(_) => yr,
        None => xr,
    };
    let shift = (!k.rms).then(|| {
        let k0 = if k.skip {
            b.ins().fadd(bp[1], bp[2])
        } else {
            bp[1]
        };
        Both::splat(b, k0)
    });
    // Pass 1: statistics (and the residual sum). Invariants: x row, [skip row, sum row],
    // [shift].
    let mut inv1 = vec![xr];
    if let Some(sr) = sr {
        inv1.extend([sr, src]);
    }
    if let Some(sh) = shift {
        inv1.push(sh.v);
    }
    let nacc = if k.rms { 1 } else { 2 };
    let stats = pass_n(b, h, nacc, &inv1, &mut |b, off, vec, acc, iv| {
        let mut v = load(b, iv[0], off, vec);
        if k.skip {
            let s = load(b, iv[1], off, vec);
            v = b.ins().fadd(v, s);
            store(b, v, iv[2], off);
        }
        match shift {
            Some(sh) => {
                let shv = if vec {
                    iv[1 + 2 * k.skip as usize]
                } else {
                    sh.s
                };
                let d = b.ins().fsub(v, shv);
                let s1 = b.ins().fadd(acc[0], d);
                let s2 = mul_add(b, fma, d, d, acc[1]);
                vec![s1, s2]
            }
            None => vec![mul_add(b, fma, v, v, acc[0])],
        }
    });
    let (mean, inv) = row_mean_inv(
        b,
        fma,
        h,
        k.eps_bits,
        &RowStats {
            stats: &stats,
            shift: shift.map(|sh| sh.s),
            src,
            inv_h,
        },
    );
    let inv_b = Both::splat(b, inv);
    let mean_b = mean.map(|m| Both::splat(b, m));
    // Pass 2: output. Invariants: source row, output row, 1/sd, [mean].
    let mut inv2 = vec![src, yr, inv_b.v];
    if let Some(m) = mean_b {
        inv2.push(m.v);
    }
    pass_n(b, h, 0, &inv2, &mut |b, off, vec, _acc, iv| {
        let mut v = load(b, iv[0], off, vec);
        if let Some(m) = mean_b {
            v = b.ins().fsub(v, if vec { iv[3] } else { m.s });
        }
        let o = b.ins().fmul(v, if vec { iv[2] } else { inv_b.s });
        let o = scale_shift(b, k, fma, o, (scale, bias), off, vec);
        store(b, o, iv[1], off);
        Vec::new()
    });
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
    let mut nx = vec![r1];
    nx.extend(ahead);
    b.ins().jump(hdr, &bargs(&nx));
    b.switch_to_block(done);
    b.ins().return_(&[]);
}
