//! Walks a model (main graph, subgraphs, local functions) and applies the table to every
//! default-domain node of a copy; the copy is returned only when nothing blocks.

use crate::convert::{self, GraphCx};
use crate::table::{self, Change};
use crate::typeview::TypeView;
use crate::{min_ir_version, Blocker, OpsetError, UpgradeReport, MAX_TARGET};
use lnopt_ir::{AttrValue, Graph, Model};
use std::collections::HashSet;

struct Walk {
    to: i64,
    functions: HashSet<(String, String)>,
    blockers: Vec<Blocker>,
    converted: Vec<(String, String)>,
}

fn has_default_nodes(g: &Graph) -> Option<String> {
    g.node_ids()
        .find(|&n| g.node(n).in_default_domain())
        .map(|n| g.node(n).display_name(n))
}

/// Upgrades a copy of `model`; the copy and the report, or why not.
pub fn plan(model: &Model, to: i64) -> Result<(Model, UpgradeReport), OpsetError> {
    if to > MAX_TARGET {
        return Err(OpsetError::UnsupportedTarget {
            to,
            max: MAX_TARGET,
        });
    }
    let mut m = model.clone();
    let from = match model.opset_version("") {
        Some(v) => v,
        None => {
            if let Some(node) = has_default_nodes(&model.graph) {
                return Err(OpsetError::MissingDefaultOpset { node });
            }
            0
        }
    };
    if to < from {
        return Err(OpsetError::Downgrade { from, to });
    }
    let report = |converted| UpgradeReport {
        from,
        to,
        converted,
    };
    if to == from {
        return Ok((m, report(Vec::new())));
    }
    let mut w = Walk {
        to,
        functions: model
            .functions
            .iter()
            .map(|f| (f.domain.clone(), f.name.clone()))
            .collect(),
        blockers: Vec::new(),
        converted: Vec::new(),
    };
    let ir = m.ir_version.max(min_ir_version(to));
    if from > 0 {
        w.graph(&mut m.graph, from, ir < 4, "");
    }
    for f in &mut m.functions {
        let path = format!("{}::{}/", f.domain, f.name);
        let Some(imp) = f
            .opset_imports
            .iter_mut()
            .find(|o| lnopt_ir::is_default_domain(&o.domain))
        else {
            if let Some(node) = has_default_nodes(&f.body) {
                w.blockers.push(Blocker {
                    node: format!("{path}{node}"),
                    op_type: String::new(),
                    reason: "function body uses ai.onnx without importing it".into(),
                });
            }
            continue;
        };
        if imp.version > to {
            w.blockers.push(Blocker {
                node: path,
                op_type: f.name.clone(),
                reason: format!("function imports ai.onnx {} (newer than {to})", imp.version),
            });
            continue;
        }
        let fv = imp.version;
        imp.version = to;
        w.graph(&mut f.body, fv, true, &path);
    }
    if !w.blockers.is_empty() {
        return Err(OpsetError::Blocked {
            to,
            blockers: w.blockers,
        });
    }
    m.set_opset_version("", to);
    m.ir_version = ir;
    Ok((m, report(w.converted)))
}

impl Walk {
    fn block(&mut self, node: String, op: &str, reason: String) {
        self.blockers.push(Blocker {
            node,
            op_type: op.to_string(),
            reason,
        });
    }

    /// Upgrades the default-domain nodes of `g` (declared at opset `from`) and its subgraphs.
    fn graph(&mut self, g: &mut Graph, from: i64, const_nodes: bool, path: &str) {
        let types = TypeView::new(g, from);
        let order = g.topo_order().unwrap_or_else(|_| g.node_ids().collect());
        for id in order {
            let name = format!("{path}{}", g.node(id).display_name(id));
            for attr in &mut g.node_mut(id).attributes {
                let sub = format!("{name}/{}/", attr.name);
                match &mut attr.value {
                    AttrValue::Graph(sg) => self.graph(sg, from, const_nodes, &sub),
                    AttrValue::Graphs(sgs) => {
                        for (i, sg) in sgs.iter_mut().enumerate() {
                            self.graph(sg, from, const_nodes, &format!("{sub}{i}/"));
                        }
                    }
                    _ => {}
                }
            }
            let node = g.node(id);
            let op = node.op_type.clone();
            if !node.in_default_domain()
                || self.functions.contains(&(node.domain.clone(), op.clone()))
            {
                continue;
            }
            let steps = match table::steps(&op, from, self.to) {
                Ok(s) => s,
                Err(reason) => {
                    self.block(name, &op, reason);
                    continue;
                }
            };
            let cx = GraphCx {
                types: &types,
                const_nodes,
                to: self.to,
            };
            let mut cur = id;
            for (v, change) in steps {
                let result = match change {
                    Change::Same => Ok(None),
                    Change::Block(r) => Err(r.to_string()),
                    Change::Check(c) => convert::check(c, g, cur, &types).map(|_| None),
                    Change::Convert(c) => convert::apply(c, g, cur, &cx).map(|(n, what)| {
                        cur = n;
                        what
                    }),
                };
                match result {
                    Ok(Some(what)) => self
                        .converted
                        .push((name.clone(), format!("{op}-{v}: {what}"))),
                    Ok(None) => {}
                    Err(reason) => {
                        self.block(name.clone(), &op, format!("at opset {v}: {reason}"));
                        break;
                    }
                }
            }
        }
    }
}
