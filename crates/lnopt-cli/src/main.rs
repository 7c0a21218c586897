//! `lnopt`: fuse decomposed LayerNorm / RMSNorm in ONNX models, run and inspect models.
//!
//! The command itself lives in the library ([`lnopt_cli::run_cli`]); this binary adds the
//! allocator and its settings.

use std::process::ExitCode;

/// mimalloc: the JIT allocates and frees a buffer per step; glibc malloc spent ~9 % of a small
/// model's run in malloc/free/consolidate (perf, b_vit); with mimalloc the fused corpus models
/// run 7-11 % faster.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

extern "C" {
    /// mimalloc's runtime option setter (linked through the `mimalloc` crate).
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// `mi_option_purge_delay` in mimalloc v2's `mi_option_e` (libmimalloc-sys 0.1.49, pinned with
/// `mimalloc = "=0.1.52"`): how long freed memory stays committed, in ms.
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

fn main() -> ExitCode {
    // Return freed memory at once: with mimalloc's default 10 ms delay, importing and writing a
    // 256 MiB model peaked at 2.67x its size instead of 2.16x (scripts/io_memory.py).
    // SAFETY: setting an option is a plain store in mimalloc; any value is valid for it.
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    ExitCode::from(lnopt_cli::run_cli(std::env::args_os()))
}
