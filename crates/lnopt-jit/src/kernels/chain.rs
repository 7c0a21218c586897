//! The cranelift element-wise chain kernel ([`emit_chain`]): a chain's program over rows, with
//! broadcasting over the trailing axis, on f32x4 vectors and a scalar tail.

use super::emit::*;
use super::{Bin, COp, ChainKey, Mode, Un};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{InstBuilder, Type, Value};
use cranelift_frontend::FunctionBuilder;
use cranelift_jit::JITModule;
use cranelift_module::{FuncId, Module};
use std::collections::HashMap;

/// Emits the kernel of chain `k`: its program over each row, on f32x4 vectors with a scalar
/// tail; `imports` are the runtime functions (declared in `m`) it may call.
pub(super) fn emit_chain(
    b: &mut FunctionBuilder<'_>,
    k: &ChainKey,
    ptr: Type,
    m: &mut JITModule,
    imports: &HashMap<Un, FuncId>,
    fma: bool,
) {
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    let p = b.block_params(entry).to_vec();
    let (ins, out, rows, h) = (p[0], p[1], p[2], p[3]);
    let mut refs = HashMap::new();
    for (u, id) in imports {
        refs.insert(*u, m.declare_func_in_func(*id, b.func));
    }
    let bases: Vec<Value> = (0..k.modes.len())
        .map(|i| b.ins().load(ptr, flags(), ins, (i * 8) as i32))
        .collect();
    let scalars: Vec<Option<Value>> = k
        .modes
        .iter()
        .zip(&bases)
        .map(|(md, &base)| {
            if *md == Mode::Scalar {
                Some(b.ins().load(S, flags(), base, 0))
            } else {
                None
            }
        })
        .collect();
    let row_bytes = b.ins().imul_imm_s(h, 4);
    let vend = b.ins().band_imm_s(h, !3i64);
    let vend_b = b.ins().imul_imm_s(vend, 4);
    let hb = row_bytes;
    // Row loop.
    let rh = b.create_block();
    let rb = b.create_block();
    let done = b.create_block();
    b.append_block_param(rh, ptr);
    let z = b.ins().iconst(ptr, 0);
    b.ins().jump(rh, &bargs(&[z]));
    b.switch_to_block(rh);
    let r = b.block_params(rh)[0];
    let c = b.ins().icmp(IntCC::UnsignedLessThan, r, rows);
    b.ins().brif(c, rb, &[], done, &[]);
    b.switch_to_block(rb);
    let roff = b.ins().imul(r, row_bytes);
    let row_bases: Vec<Value> = k
        .modes
        .iter()
        .zip(&bases)
        .map(|(md, &base)| {
            if *md == Mode::Full {
                b.ins().iadd(base, roff)
            } else {
                base
            }
        })
        .collect();
    let orow = b.ins().iadd(out, roff);
    // Vector loop then scalar loop over the row; j in bytes.
    let vh = b.create_block();
    let vb = b.create_block();
    let sh = b.create_block();
    let sb = b.create_block();
    let next = b.create_block();
    // Both loops carry (j, limit, row pointers..., output pointer); the pointers of Full
    // inputs and of the output advance with j (loads and the store at offset 0), so no row
    // address arithmetic is left in the loop bodies (an unchanging block parameter would be
    // folded away and the arithmetic placed back inside).
    let carried: Vec<Value> = row_bases.iter().copied().chain([orow]).collect();
    for head in [vh, sh] {
        for _ in 0..2 + carried.len() {
            b.append_block_param(head, ptr);
        }
    }
    let mut vargs = vec![z, vend_b];
    vargs.extend_from_slice(&carried);
    b.ins().jump(vh, &bargs(&vargs));
    for (head, bodyb, vec, exit) in [(vh, vb, true, sh), (sh, sb, false, next)] {
        b.switch_to_block(head);
        let hp = b.block_params(head).to_vec();
        let (j, lim) = (hp[0], hp[1]);
        let cb = hp[2..].to_vec();
        let c = b.ins().icmp(IntCC::UnsignedLessThan, j, lim);
        let exit_args = if exit == sh {
            let mut a = vec![j, hb];
            a.extend_from_slice(&cb);
            a
        } else {
            Vec::new()
        };
        b.ins().brif(c, bodyb, &[], exit, &bargs(&exit_args));
        b.switch_to_block(bodyb);
        let (row_bases, orow) = (&cb[..cb.len() - 1], cb[cb.len() - 1]);
        let mut vals: Vec<Value> = Vec::with_capacity(k.prog.len());
        for op in &k.prog {
            let v = match op {
                COp::In(i) => match (k.modes.get(*i), scalars.get(*i).copied().flatten()) {
                    (_, Some(s)) => {
                        if vec {
                            b.ins().splat(V, s)
                        } else {
                            s
                        }
                    }
                    (Some(Mode::Full), None) => {
                        let z0 = b.ins().iconst(ptr, 0);
                        load(b, row_bases[*i], z0, vec)
                    }
                    (Some(_), None) => load(b, row_bases[*i], j, vec),
                    (None, None) => b.ins().f32const(0.0),
                },
                COp::Const(bits) => {
                    let s = b.ins().f32const(f32::from_bits(*bits));
                    if vec {
                        b.ins().splat(V, s)
                    } else {
                        s
                    }
                }
                COp::Un(u, a) => {
                    let x = vals[*a];
                    match u {
                        Un::Neg => b.ins().fneg(x),
                        Un::Abs => b.ins().fabs(x),
                        Un::Sqrt => b.ins().sqrt(x),
                        Un::Recip => {
                            let o = b.ins().f32const(1.0);
                            let o = if vec { b.ins().splat(V, o) } else { o };
                            b.ins().fdiv(o, x)
                        }
                        Un::Relu => {
                            let zero = b.ins().f32const(0.0);
                            let zero = if vec { b.ins().splat(V, zero) } else { zero };
                            b.ins().fmax(x, zero)
                        }
                        Un::Tanh => crate::kernels::vmath::tanh(b, x, vec, fma),
                        Un::Erf => crate::kernels::vmath::erf(b, x, vec, fma),
                        Un::Sigmoid => crate::kernels::vmath::sigmoid(b, x, vec, fma),
                        _ => {
                            let Some(fr) = refs.get(u).copied() else {
                                vals.push(x);
                                continue;
                            };
                            if vec {
                                let mut acc = x;
                                for lane in 0..4u8 {
                                    let e = b.ins().extractlane(x, lane);
                                    let call = b.ins().call(fr, &[e]);
                                    let rv = b.inst_results(call)[0];
                                    acc = b.ins().insertlane(acc, rv, lane);
                                }
                                acc
                            } else {
                                let call = b.ins().call(fr, &[x]);
                                b.inst_results(call)[0]
                            }
                        }
                    }
                }
                COp::Bin(op, a, c2) => {
                    let (x, y) = (vals[*a], vals[*c2]);
                    match op {
                        Bin::Add => b.ins().fadd(x, y),
                        Bin::Sub => b.ins().fsub(x, y),
                        Bin::Mul => b.ins().fmul(x, y),
                        Bin::Div => b.ins().fdiv(x, y),
                        Bin::Max => b.ins().fmax(x, y),
                        Bin::Min => b.ins().fmin(x, y),
                    }
                }
            };
            vals.push(v);
        }
        if let Some(&res) = vals.last() {
            b.ins().store(flags(), res, orow, 0);
        }
        let step = if vec { 16 } else { 4 };
        let j1 = b.ins().iadd_imm_s(j, step);
        let mut nargs = vec![j1, lim];
        for (i, &p) in cb.iter().enumerate() {
            let adv = i == cb.len() - 1 || k.modes.get(i) == Some(&Mode::Full);
            nargs.push(if adv { b.ins().iadd_imm_s(p, step) } else { p });
        }
        b.ins().jump(head, &bargs(&nargs));
    }
    b.switch_to_block(next);
    let r1 = b.ins().iadd_imm_s(r, 1);
    b.ins().jump(rh, &bargs(&[r1]));
    b.switch_to_block(done);
    b.ins().return_(&[]);
}
