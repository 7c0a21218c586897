//! Removal of initializers that a fusion left without readers.

use lnopt_ir::{AttrValue, Graph, ValueId};
use std::collections::HashSet;

/// Names of the initializers of `g` read by at least one node now; call before a pass.
pub fn used_initializers(g: &Graph) -> HashSet<String> {
    g.initializers
        .iter()
        .filter(|&&v| !g.value(v).uses().is_empty())
        .map(|&v| g.value(v).name.clone())
        .collect()
}

/// Drops the initializers in `was_used` that no node, graph output or subgraph reads any
/// more (the eps and exponent constants of a fused pattern). Initializers that were already
/// unused before the pass are kept: they are the model author's business.
pub fn drop_orphaned_initializers(g: &mut Graph, was_used: &HashSet<String>) {
    let mut read_by_subgraphs = HashSet::new();
    collect_subgraph_names(g, &mut read_by_subgraphs);
    let orphans: Vec<ValueId> = g
        .initializers
        .iter()
        .copied()
        .filter(|&v| was_used.contains(&g.value(v).name))
        .filter(|&v| {
            let val = g.value(v);
            val.uses().is_empty()
                && !g.is_output(v)
                && !g.inputs().contains(&v)
                && !read_by_subgraphs.contains(val.name.as_str())
        })
        .collect();
    for v in &orphans {
        g.value_mut(*v).initializer = None;
    }
    g.initializers.retain(|v| !orphans.contains(v));
}

fn collect_subgraph_names(g: &Graph, out: &mut HashSet<String>) {
    for n in g.node_ids() {
        for a in &g.node(n).attributes {
            let subs: Vec<&Graph> = match &a.value {
                AttrValue::Graph(sg) => vec![sg.as_ref()],
                AttrValue::Graphs(sgs) => sgs.iter().collect(),
                _ => continue,
            };
            for sg in subs {
                for v in sg.value_ids() {
                    out.insert(sg.value(v).name.clone());
                }
                collect_subgraph_names(sg, out);
            }
        }
    }
}
