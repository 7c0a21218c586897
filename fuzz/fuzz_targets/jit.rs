//! cargo-fuzz target `jit`: see `lnopt_fuzz::jit`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    lnopt_fuzz::jit(data);
});
