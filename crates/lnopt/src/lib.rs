//! # lnopt: the library pass (facade).
