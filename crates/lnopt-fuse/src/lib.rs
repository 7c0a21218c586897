//! # lnopt-fuse: e-graph normalisation fusion (being written).
