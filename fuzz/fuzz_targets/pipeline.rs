//! cargo-fuzz target `pipeline`: see `lnopt_fuzz::pipeline`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    lnopt_fuzz::pipeline(data);
});
