//! The rewrite rules, grouped by theme. [`all`] returns them in a fixed order.

pub mod algebra;
pub mod cast;
pub mod channel;
pub mod cond;
pub mod guard;
pub mod layernorm;
pub mod rmsnorm;
pub mod variance;

use crate::analysis::NormAnalysis;
use crate::lang::NormLang;

/// One rewrite of the normalisation language.
pub type Rule = egg::Rewrite<NormLang, NormAnalysis>;

/// Every rule: algebraic equalities, variance spellings, casts, per-channel views, then the
/// two targets.
pub fn all() -> Vec<Rule> {
    let mut r = algebra::rules();
    r.extend(variance::rules());
    r.extend(cast::rules());
    r.extend(channel::rules());
    r.extend(guard::rules());
    r.extend(layernorm::rules());
    r.extend(rmsnorm::rules());
    r
}
