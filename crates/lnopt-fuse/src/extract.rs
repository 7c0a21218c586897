//! DAG-aware greedy extraction: the cost of a choice is the summed cost of the *distinct*
//! e-classes it needs, so shared subterms count once (egg's tree-cost `Extractor` counts them
//! once per use and overflows on residual DAGs). A node whose sub-DAG contains its own class
//! is never chosen, so the result is acyclic.

use crate::lang::NormLang;
use crate::rules::cond::NormEGraph;
use egg::{Id, Language};
use lnopt_ir::DType;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

/// Own cost of one e-node (children excluded).
pub fn node_cost(n: &NormLang) -> f64 {
    match n {
        NormLang::Val(_) | NormLang::Int(_) | NormLang::Num(_) => 0.0,
        NormLang::Ln(_) | NormLang::Rms(_) => 1.0,
        NormLang::Var(_) => 40.0,
        _ => 10.0,
    }
}

#[derive(Clone)]
struct Choice {
    node: NormLang,
    dag: Rc<BTreeMap<Id, f64>>,
    total: f64,
}

/// A fused node over `x` can be emitted: its input is f32, f16 or bf16. The e-graph also
/// holds norms over f64 values (statistics an f16 model widened to f64, which the stash rules
/// fold back onto the f16 input); emitting one of those directly would compute f64
/// statistics in f32 (ONNX's `stash_type` has no f64), so they are never chosen.
pub fn emittable_input(eg: &NormEGraph, x: Id) -> bool {
    crate::rules::cond::fusable_dtype(eg[x].data.dtype)
}

/// RMSNormalization (opset 23) is the exception: its `stash_type` may be f64, so an RMS over
/// an f64 input is emitted with `stash_type = 11` and computes its statistics in f64, as the
/// original did.
///
/// The chosen e-node per e-class.
pub struct Extraction {
    choice: BTreeMap<Id, Choice>,
}

impl Extraction {
    /// Runs the extraction. Fused nodes in `banned` classes are not eligible.
    pub fn new(eg: &NormEGraph, banned: &BTreeSet<Id>, allow_ln: bool, allow_rms: bool) -> Self {
        let mut choice: BTreeMap<Id, Choice> = BTreeMap::new();
        let mut ids: Vec<Id> = eg.classes().map(|c| c.id).collect();
        ids.sort();
        for _round in 0..64 {
            let mut changed = false;
            for &id in &ids {
                for node in &eg[id].nodes {
                    let eligible = match node {
                        NormLang::Ln([x, ..]) => {
                            allow_ln && !banned.contains(&id) && emittable_input(eg, *x)
                        }
                        NormLang::Rms([x, ..]) => {
                            allow_rms
                                && !banned.contains(&id)
                                && (emittable_input(eg, *x)
                                    || eg[*x].data.dtype == Some(DType::F64))
                        }
                        _ => true,
                    };
                    if !eligible {
                        continue;
                    }
                    let mut dag: BTreeMap<Id, f64> = BTreeMap::new();
                    let mut ok = true;
                    for ch in node.children() {
                        let ch = eg.find(*ch);
                        match choice.get(&ch) {
                            Some(c) => dag.extend(c.dag.iter().map(|(k, v)| (*k, *v))),
                            None => {
                                ok = false;
                                break;
                            }
                        }
                    }
                    if !ok || dag.contains_key(&id) {
                        continue;
                    }
                    let own = node_cost(node);
                    dag.insert(id, own);
                    let total: f64 = dag.values().sum();
                    let better = choice.get(&id).is_none_or(|c| total < c.total - 1e-9);
                    if better {
                        choice.insert(
                            id,
                            Choice {
                                node: node.clone(),
                                dag: Rc::new(dag),
                                total,
                            },
                        );
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        Extraction { choice }
    }

    /// The chosen node of class `id`.
    pub fn node(&self, eg: &NormEGraph, id: Id) -> Option<&NormLang> {
        self.choice.get(&eg.find(id)).map(|c| &c.node)
    }

    /// Classes of the chosen sub-DAG under `id`, stopping below fused nodes (their operands
    /// are listed, their internals are not part of the DAG).
    pub fn dag(&self, eg: &NormEGraph, id: Id) -> BTreeSet<Id> {
        let mut out = BTreeSet::new();
        let mut stack = vec![eg.find(id)];
        while let Some(c) = stack.pop() {
            if !out.insert(c) {
                continue;
            }
            if let Some(n) = self.node(eg, c) {
                for ch in n.children() {
                    stack.push(eg.find(*ch));
                }
            }
        }
        out
    }

    /// True when the chosen sub-DAG under `id` contains a fused node.
    pub fn has_fused(&self, eg: &NormEGraph, id: Id) -> bool {
        self.dag(eg, id)
            .iter()
            .any(|c| self.node(eg, *c).is_some_and(|n| n.is_fused()))
    }
}
