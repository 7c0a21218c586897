//! # lnopt-interp: reference interpreter (being written).
