//! Workspace-level test and bench package of lnopt; the code lives in `crates/`.
