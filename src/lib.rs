//! Workspace-level test and bench support of lnopt; the product code lives in `crates/`.
//!
//! [`synth`] builds synthetic transformer-shaped graphs directly in the IR, so benchmarks
//! measure the passes and not weight I/O.

pub mod synth;
