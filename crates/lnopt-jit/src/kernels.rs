//! Cranelift code generation: normalisation kernels and fused element-wise chains, compiled on
//! first use of a specialisation and cached for the life of the compiled model.

use crate::error::JitError;
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{
    types, AbiParam, BlockArg, FuncRef, InstBuilder, MemFlagsData, Signature, Type, Value,
};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{FuncId, Linkage, Module};
use std::collections::HashMap;
use std::sync::Mutex;

/// Generated normalisation kernel:
/// `(x, skip, scale, bias, y, sum_out, mean_out, inv_std_out, rows)`; unused pointers may be
/// null (the kernel is specialised on which ones exist).
pub(crate) type NormFn = unsafe extern "C" fn(
    *const f32,
    *const f32,
    *const f32,
    *const f32,
    *mut f32,
    *mut f32,
    *mut f32,
    *mut f32,
    usize,
);

/// Generated element-wise chain kernel: `(inputs, out, rows, row_len)`.
pub(crate) type ChainFn = unsafe extern "C" fn(*const *const f32, *mut f32, usize, usize);

/// What a norm kernel is specialised on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NormKey {
    /// RMSNorm (no mean subtraction) instead of LayerNorm.
    pub rms: bool,
    /// Row length.
    pub hidden: usize,
    /// Epsilon, as f32 bits.
    pub eps_bits: u32,
    /// A scale vector is applied.
    pub scale: bool,
    /// A bias vector is added.
    pub bias: bool,
    /// The input is `x + skip` (residual add folded in).
    pub skip: bool,
    /// The sum `x + skip` is written out.
    pub sum_out: bool,
    /// The per-row mean is written out.
    pub mean_out: bool,
    /// The per-row inverse standard deviation is written out.
    pub inv_out: bool,
}

impl NormKey {
    /// The common case: LayerNormalization with scale and bias (`rms` false) or
    /// RMSNormalization with scale (`rms` true) over rows of `hidden`, with epsilon `eps`; no
    /// residual and no statistics outputs.
    pub fn affine(rms: bool, hidden: usize, eps: f32) -> NormKey {
        NormKey {
            rms,
            hidden,
            eps_bits: eps.to_bits(),
            scale: true,
            bias: !rms,
            skip: false,
            sum_out: false,
            mean_out: false,
            inv_out: false,
        }
    }
}

/// Unary ops a chain kernel knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Un {
    Neg,
    Abs,
    Sqrt,
    Recip,
    Relu,
    Erf,
    Tanh,
    Sigmoid,
    Exp,
}

/// Binary ops a chain kernel knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Bin {
    Add,
    Sub,
    Mul,
    Div,
    Max,
    Min,
}

/// One SSA instruction of a chain; operands refer to earlier instructions.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum COp {
    /// External input `k`.
    In(usize),
    /// An f32 constant (bits).
    Const(u32),
    /// Unary op.
    Un(Un, usize),
    /// Binary op.
    Bin(Bin, usize, usize),
}

/// How a chain input is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Mode {
    /// One element per output element.
    Full,
    /// One row, repeated for every row.
    Row,
    /// One element.
    Scalar,
}

/// What a chain kernel is specialised on.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ChainKey {
    /// The program; the last instruction is the result.
    pub prog: Vec<COp>,
    /// Read mode of each external input.
    pub modes: Vec<Mode>,
}

extern "C" fn rt_exp(x: f32) -> f32 {
    libm::expf(x)
}

/// Software prefetch of `bytes` bytes from `p` (for writing when `write != 0`), one
/// instruction per 64-byte line. Prefetches never fault, whatever the address.
extern "C" fn rt_prefetch(p: *const u8, bytes: usize, write: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_ET0, _MM_HINT_T0};
        let mut off = 0;
        while off < bytes {
            let a = p.wrapping_add(off) as *const i8;
            // SAFETY: prefetch instructions do not access memory architecturally and do not
            // fault on any address.
            unsafe {
                if write != 0 {
                    _mm_prefetch::<_MM_HINT_ET0>(a);
                } else {
                    _mm_prefetch::<_MM_HINT_T0>(a);
                }
            }
            off += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (p, bytes, write);
}

struct Inner {
    module: JITModule,
    fctx: FunctionBuilderContext,
    norms: HashMap<NormKey, NormFn>,
    chains: HashMap<ChainKey, ChainFn>,
    count: usize,
}

/// Compiled kernels of one model, by specialisation.
pub struct KernelCache {
    inner: Mutex<Inner>,
    /// The kernels use FMA (the target has it).
    fma: bool,
}

/// Counters of the cache, for tests and reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelStats {
    /// Norm kernels compiled.
    pub norm_kernels: usize,
    /// Chain kernels compiled.
    pub chain_kernels: usize,
    /// The target has FMA and kernels use it.
    pub fma: bool,
}

fn cg(kernel: &str, e: impl std::fmt::Display) -> JitError {
    JitError::Codegen {
        kernel: kernel.to_string(),
        what: e.to_string(),
    }
}

fn bargs(v: &[Value]) -> Vec<BlockArg> {
    v.iter().map(|&x| BlockArg::Value(x)).collect()
}

impl KernelCache {
    /// A new cache for the host CPU.
    pub fn new() -> Result<KernelCache, JitError> {
        let mut fb = settings::builder();
        fb.set("opt_level", "speed").map_err(|e| cg("isa", e))?;
        let isa_b = cranelift_native::builder().map_err(|e| cg("isa", e))?;
        let isa = isa_b
            .finish(settings::Flags::new(fb))
            .map_err(|e| cg("isa", e))?;
        let fma = isa.has_native_fma();
        let mut jb = JITBuilder::with_isa(isa, cranelift_module::default_libcall_names());
        jb.symbol("lnopt_exp", rt_exp as *const u8);
        jb.symbol("lnopt_prefetch", rt_prefetch as *const u8);
        let module = JITModule::new(jb);
        Ok(KernelCache {
            inner: Mutex::new(Inner {
                module,
                fctx: FunctionBuilderContext::new(),
                norms: HashMap::new(),
                chains: HashMap::new(),
                count: 0,
            }),
            fma,
        })
    }

    /// Whether the generated kernels use FMA (the AVX-512 norm rows match them only then).
    pub(crate) fn uses_fma(&self) -> bool {
        self.fma
    }

    /// Counters.
    pub fn stats(&self) -> KernelStats {
        match self.inner.lock() {
            Ok(i) => KernelStats {
                norm_kernels: i.norms.len(),
                chain_kernels: i.chains.len(),
                fma: self.fma,
            },
            Err(_) => KernelStats::default(),
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Inner>, JitError> {
        self.inner.lock().map_err(|_| cg("cache", "lock poisoned"))
    }

    /// The norm kernel for `key`, compiling it on first use.
    pub(crate) fn norm(&self, key: &NormKey) -> Result<NormFn, JitError> {
        let mut g = self.lock()?;
        if let Some(f) = g.norms.get(key) {
            return Ok(*f);
        }
        let inner = &mut *g;
        let ptr = inner.module.target_config().pointer_type();
        let mut sig = inner.module.make_signature();
        for _ in 0..8 {
            sig.params.push(AbiParam::new(ptr));
        }
        sig.params.push(AbiParam::new(ptr));
        let name = format!("norm{}", inner.count);
        inner.count += 1;
        let mut pf_sig = inner.module.make_signature();
        for _ in 0..3 {
            pf_sig.params.push(AbiParam::new(ptr));
        }
        let pf = inner
            .module
            .declare_function("lnopt_prefetch", Linkage::Import, &pf_sig)
            .map_err(|e| cg(&name, e))?;
        let ptr_fn = define(inner, self.fma, &name, sig, |b, fma, m| {
            let pf = m.declare_func_in_func(pf, b.func);
            emit_norm(b, key, ptr, fma, pf)
        })?;
        // SAFETY: the function was generated with exactly the NormFn signature (8 pointers and
        // a usize, platform calling convention), and the module outlives every use (it lives
        // in this cache, owned by the CompiledModel).
        let f: NormFn = unsafe { std::mem::transmute::<*const u8, NormFn>(ptr_fn) };
        inner.norms.insert(*key, f);
        Ok(f)
    }

    /// The chain kernel for `key`, compiling it on first use.
    pub(crate) fn chain(&self, key: &ChainKey) -> Result<ChainFn, JitError> {
        let mut g = self.lock()?;
        if let Some(f) = g.chains.get(key) {
            return Ok(*f);
        }
        let inner = &mut *g;
        let ptr = inner.module.target_config().pointer_type();
        let mut sig = inner.module.make_signature();
        for _ in 0..4 {
            sig.params.push(AbiParam::new(ptr));
        }
        let name = format!("chain{}", inner.count);
        inner.count += 1;
        let mut un_sig = inner.module.make_signature();
        un_sig.params.push(AbiParam::new(types::F32));
        un_sig.returns.push(AbiParam::new(types::F32));
        let mut imports = HashMap::new();
        for (u, sym) in [(Un::Exp, "lnopt_exp")] {
            if key
                .prog
                .iter()
                .any(|o| matches!(o, COp::Un(x, _) if *x == u))
            {
                let id = inner
                    .module
                    .declare_function(sym, Linkage::Import, &un_sig)
                    .map_err(|e| cg(&name, e))?;
                imports.insert(u, id);
            }
        }
        let ptr_fn = define(inner, self.fma, &name, sig, |b, fma, m| {
            emit_chain(b, key, ptr, m, &imports, fma)
        })?;
        // SAFETY: generated with exactly the ChainFn signature; the module lives in this cache.
        let f: ChainFn = unsafe { std::mem::transmute::<*const u8, ChainFn>(ptr_fn) };
        inner.chains.insert(key.clone(), f);
        Ok(f)
    }
}

fn define(
    inner: &mut Inner,
    fma: bool,
    name: &str,
    sig: Signature,
    body: impl FnOnce(&mut FunctionBuilder<'_>, bool, &mut JITModule),
) -> Result<*const u8, JitError> {
    let id: FuncId = inner
        .module
        .declare_function(name, Linkage::Local, &sig)
        .map_err(|e| cg(name, e))?;
    let mut ctx = inner.module.make_context();
    ctx.func.signature = sig;
    // Debugging aid: `LNOPT_JIT_DUMP=1` prints each kernel's machine code (VCode) to stderr.
    let dump = std::env::var_os("LNOPT_JIT_DUMP").is_some();
    ctx.want_disasm = dump;
    let fcfg = inner.module.target_config();
    {
        let mut b = FunctionBuilder::new(&mut ctx.func, &mut inner.fctx);
        body(&mut b, fma, &mut inner.module);
        b.seal_all_blocks();
        b.finalize(fcfg);
    }
    inner
        .module
        .define_function(id, &mut ctx)
        .map_err(|e| cg(name, format!("{e:?}")))?;
    if dump {
        if let Some(v) = ctx.compiled_code().and_then(|c| c.vcode.as_ref()) {
            eprintln!("== {name}\n{v}");
        }
    }
    inner.module.clear_context(&mut ctx);
    inner
        .module
        .finalize_definitions()
        .map_err(|e| cg(name, e))?;
    Ok(inner.module.get_finalized_function(id))
}

const V: Type = types::F32X4;
const S: Type = types::F32;

fn flags() -> MemFlagsData {
    MemFlagsData::trusted()
}

/// The body of a pass: `(builder, byte_offset, vector?, accumulators, invariants) ->
/// accumulators`.
type PassBody<'a> =
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
fn pass_n(
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

fn load(b: &mut FunctionBuilder<'_>, base: Value, off: Value, vec: bool) -> Value {
    let a = b.ins().iadd(base, off);
    b.ins().load(if vec { V } else { S }, flags(), a, 0)
}

fn store(b: &mut FunctionBuilder<'_>, v: Value, base: Value, off: Value) {
    let a = b.ins().iadd(base, off);
    b.ins().store(flags(), v, a, 0);
}

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
struct Both {
    v: Value,
    s: Value,
}

impl Both {
    fn splat(b: &mut FunctionBuilder<'_>, s: Value) -> Both {
        Both {
            v: b.ins().splat(V, s),
            s,
        }
    }
}

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
fn emit_norm(b: &mut FunctionBuilder<'_>, k: &NormKey, ptr: Type, fma: bool, pf: FuncRef) {
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
const PREFETCH_ROW_BYTES: usize = 16 << 10;

/// Input + output bytes of one call from which norm kernels use the phased row loop
/// ([`emit_norm_phased`]) instead of the pipelined one. Measured, LN/RMS GB/s, 1 thread,
/// pipelined vs phased: x = 8 MiB 60/79 vs 50/64 (h1024); x = 16 MiB 41/48 vs 45/56;
/// x = 128 MiB 30/30 vs 40/39 (copy 39).
const BIG_BYTES: usize = 24 << 20;

/// Rows of `hidden` floats from which a call counts as large ([`BIG_BYTES`] of x + y).
pub(crate) fn big_rows(hidden: usize) -> usize {
    (BIG_BYTES / (8 * hidden.max(1))).max(1)
}

/// A row's pass-1 statistics, for [`row_mean_inv`].
struct RowStats<'a> {
    /// (Σd, Σd²) of d = x - shift (LayerNorm) or (Σx²) (RMS-style).
    stats: &'a [Value],
    /// The row's shift (its first element), LayerNorm only.
    shift: Option<Value>,
    /// The row's first element address (for the exact second pass).
    src: Value,
    /// 1 / hidden.
    inv_h: Value,
}

/// Mean (LayerNorm) and 1/sd of a row from its statistics; when the shifted variance lost more
/// than ~10 bits to cancellation it is recomputed exactly by a second pass over the row.
/// Shared by the pipelined and the phased row loops.
fn row_mean_inv(
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

/// The software-pipelined row loop of [`emit_norm`].
fn emit_norm_fused(b: &mut FunctionBuilder<'_>, k: &NormKey, ptr: Type, fma: bool, p: &[Value]) {
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

/// Pointers of one row of a norm kernel.
struct RowPtrs {
    /// Input row.
    xr: Value,
    /// Residual row.
    sr: Option<Value>,
    /// Output row.
    yr: Value,
    /// Where the normalised input lives after the statistics pass (x, or the stored sum).
    src: Value,
}

/// Positions of a statistics pass's invariants in a pass's invariant list.
struct P1Ix {
    x: usize,
    skip: Option<(usize, usize)>,
    shift: Option<usize>,
}

/// The invariants of a statistics pass over row `rp`, placed from index `base`.
fn p1_inv(rp: &RowPtrs, shift: Option<Both>, base: usize) -> (Vec<Value>, P1Ix) {
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
fn p1_body(
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
struct P2Ix {
    src: usize,
    y: usize,
    inv: usize,
    mean: Option<usize>,
}

/// The invariants of the output pass over row `rp` (from index 0).
fn p2_inv(rp: &RowPtrs, inv: Both, mean: Option<Both>) -> (Vec<Value>, P2Ix) {
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

/// One step of the output pass: `y = (src - mean) * inv * scale + bias` at `off`.
#[allow(clippy::too_many_arguments)]
fn p2_body(
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
    let mut o = b.ins().fmul(v, if vec { iv[ix.inv] } else { inv.s });
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
    store(b, o, iv[ix.y], off);
}

/// The row loop of [`emit_norm`] for calls over more rows than fit in the caches: per row,
/// the statistics pass, then the output pass (no overlap between rows). Out of cache this
/// kept ~0.9 of copy for rows up to 1024 floats where the pipelined loop fell to ~0.8 (its
/// ~44 instructions per cache line leave fewer lines in flight). The row's first element is
/// loaded one row ahead (see [`emit_norm`]).
fn emit_norm_phased(
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
        let mut o = b.ins().fmul(v, if vec { iv[2] } else { inv_b.s });
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

fn emit_chain(
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
                        Un::Tanh => crate::vmath::tanh(b, x, vec, fma),
                        Un::Erf => crate::vmath::erf(b, x, vec, fma),
                        Un::Sigmoid => crate::vmath::sigmoid(b, x, vec, fma),
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
