//! cargo-fuzz target `import`: see `lnopt_fuzz::import`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    lnopt_fuzz::import(data);
});
