//! CLIF building blocks shared by the norm and chain emitters: the vector and scalar types,
//! loads and stores, multiply-add, and [`pass_n`], one pass over a row with several
//! accumulators.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, BlockArg, InstBuilder, MemFlagsData, Type, Value};
use cranelift_frontend::FunctionBuilder;

/// `v` as block arguments of a jump or branch.
pub(super) fn bargs(v: &[Value]) -> Vec<BlockArg> {
    v.iter().map(|&x| BlockArg::Value(x)).collect()
}

/// The vector type of the kernels.
pub(super) const V: Type = types::F32X4;
/// The scalar type of the kernels.
pub(super) const S: Type = types::F32;

/// Flags of the kernels' loads and stores (`trusted`: aligned, never trapping).
pub(super) fn flags() -> MemFlagsData {
    MemFlagsData::trusted()
}

/// The body of a pass: `(builder, byte_offset, vector?, accumulators, invariants) ->
/// accumulators`.
pub(super) type PassBody<'a> =
    dyn FnMut(&mut FunctionBuilder<'_>, Value, bool, &[Value], &[Value]) -> Vec<Value> + 'a;

/// Emits one pass over a row of `h` floats carrying `n` accumulators: the main loop covers
/// blocks of 16 floats with 4 independent f32x4 accumulator sets (so consecutive adds do not
/// wait on each other), then the remaining whole vectors, then scalars.
/// `f(b, byte_offset, vector?, accs, invariants) -> accs`. Returns the horizontal sum of each
/// accumulator.
///
/// `inv` are the loop invariants the body uses (row pointers, splatted constants). They enter
/// the main loop as block parameters: cranelift otherwise places a pure value computed only
/// for the loop *inside* it (measured: the `sqrt` and divide of the inverse standard deviation
/// ran once per 16 floats of the output pass). The loop is bottom-tested (one branch per
/// iteration); it is emitted only when `h >= 16`.
pub(super) fn pass_n(
    b: &mut FunctionBuilder<'_>,
    h: usize,
    n: usize,
    inv: &[Value],
    f: &mut PassBody<'_>,
) -> Vec<Value> {
    let zs = b.ins().f32const(0.0);
    let zv = b.ins().splat(V, zs);
    let n16 = h / 16;
    let mut acc: Vec<Value> = vec![zv; 4 * n];
    if n16 > 0 {
        let body = b.create_block();
        let exit = b.create_block();
        b.append_block_param(body, types::I64);
        for _ in 0..4 * n {
            b.append_block_param(body, V);
            b.append_block_param(exit, V);
        }
        for &v in inv {
            let t = b.func.dfg.value_type(v);
            b.append_block_param(body, t);
        }
        let i0 = b.ins().iconst(types::I64, 0);
        let mut init = vec![i0];
        init.extend(std::iter::repeat_n(zv, 4 * n));
        init.extend_from_slice(inv);
        b.ins().jump(body, &bargs(&init));
        b.switch_to_block(body);
        let p = b.block_params(body).to_vec();
        let inv_in = &p[1 + 4 * n..];
        let mut nacc = Vec::with_capacity(1 + 4 * n + inv.len());
        let next = b.ins().iadd_imm_s(p[0], 64);
        nacc.push(next);
        for k in 0..4 {
            let off = if k == 0 {
                p[0]
            } else {
                b.ins().iadd_imm_s(p[0], 16 * k as i64)
            };
            let cur = p[1 + k * n..1 + (k + 1) * n].to_vec();
            nacc.extend(f(b, off, true, &cur, inv_in));
        }
        let lim = b.ins().iconst(types::I64, (n16 * 64) as i64);
        let c = b.ins().icmp(IntCC::UnsignedLessThan, next, lim);
        let out = nacc[1..].to_vec();
        nacc.extend_from_slice(inv_in);
        b.ins().brif(c, body, &bargs(&nacc), exit, &bargs(&out));
        b.switch_to_block(exit);
        acc = b.block_params(exit).to_vec();
    }
    let mut a: Vec<Value> = (0..n)
        .map(|j| {
            let s01 = b.ins().fadd(acc[j], acc[n + j]);
            let s23 = b.ins().fadd(acc[2 * n + j], acc[3 * n + j]);
            b.ins().fadd(s01, s23)
        })
        .collect();
    let mut pos = n16 * 16;
    while pos + 4 <= h {
        let off = b.ins().iconst(types::I64, (pos * 4) as i64);
        a = f(b, off, true, &a, inv);
        pos += 4;
    }
    let mut s: Vec<Value> = a
        .iter()
        .map(|&v| {
            let l: Vec<Value> = (0..4).map(|i| b.ins().extractlane(v, i as u8)).collect();
            let x01 = b.ins().fadd(l[0], l[1]);
            let x23 = b.ins().fadd(l[2], l[3]);
            b.ins().fadd(x01, x23)
        })
        .collect();
    while pos < h {
        let off = b.ins().iconst(types::I64, (pos * 4) as i64);
        s = f(b, off, false, &s, inv);
        pos += 1;
    }
    s
}

/// Loads a vector (or, unless `vec`, a scalar) at `base + off`.
pub(super) fn load(b: &mut FunctionBuilder<'_>, base: Value, off: Value, vec: bool) -> Value {
    let a = b.ins().iadd(base, off);
    b.ins().load(if vec { V } else { S }, flags(), a, 0)
}

/// Stores `v` at `base + off`.
pub(super) fn store(b: &mut FunctionBuilder<'_>, v: Value, base: Value, off: Value) {
    let a = b.ins().iadd(base, off);
    b.ins().store(flags(), v, a, 0);
}

/// `x · y + z`, as one fused multiply-add when `fma`.
pub(crate) fn mul_add(
    b: &mut FunctionBuilder<'_>,
    fma: bool,
    x: Value,
    y: Value,
    z: Value,
) -> Value {
    if fma {
        b.ins().fma(x, y, z)
    } else {
        let m = b.ins().fmul(x, y);
        b.ins().fadd(m, z)
    }
}

/// A value in the vector or the scalar part of a pass.
#[derive(Clone, Copy)]
pub(super) struct Both {
    pub(super) v: Value,
    pub(super) s: Value,
}

impl Both {
    pub(super) fn splat(b: &mut FunctionBuilder<'_>, s: Value) -> Both {
        Both {
            v: b.ins().splat(V, s),
            s,
        }
    }
}
