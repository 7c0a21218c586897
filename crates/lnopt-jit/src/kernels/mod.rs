//! Cranelift code generation: normalisation kernels and fused element-wise chains, compiled on
//! first use of a specialisation and cached for the life of the compiled model.

mod chain;
pub(crate) mod direct;
mod emit;
mod norm;
mod norm_fused;
mod norm_phased;
pub(crate) mod rows;
mod vmath;
pub(crate) mod wide_chain;
pub(crate) mod wide_norm;

pub(crate) use norm::big_rows;

use crate::error::JitError;
use cranelift_codegen::ir::{types, AbiParam, Signature};
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
            norm::emit_norm(b, key, ptr, fma, pf)
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
            chain::emit_chain(b, key, ptr, m, &imports, fma)
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
