//! cargo-fuzz target `interp`: see `lnopt_fuzz::interp`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    lnopt_fuzz::interp(data);
});
