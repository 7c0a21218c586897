//! Removal of what a fusion left without readers: initializers (the eps and exponent
//! constants of a fused pattern), `Constant` nodes, and nodes whose results only fed the
//! pattern (e.g. the shape computations around the ONNX standard's expanded bodies).
//!
//! Only values that had readers before the pass are removed: whatever was already dead in
//! the input model is the author's business and is kept, so a model with nothing fused is
//! untouched.

use lnopt_ir::{Graph, ValueId};
use std::collections::HashSet;

/// Names of the values of `g` (initializers and node outputs) that nothing reads now and
/// that are not graph outputs; call before a pass.
pub fn unused_values(g: &Graph) -> HashSet<String> {
    let node_outputs = g.node_ids().flat_map(|n| {
        g.node(n)
            .outputs()
            .iter()
            .flatten()
            .copied()
            .collect::<Vec<_>>()
    });
    g.initializers
        .iter()
        .copied()
        .chain(node_outputs)
        .filter(|&v| is_unread(g, v))
        .map(|v| g.value(v).name.clone())
        .collect()
}

fn is_unread(g: &Graph, v: ValueId) -> bool {
    g.value(v).uses().is_empty() && !g.is_output(v)
}

/// Removes the initializers and nodes that the pass left without readers (see the module
/// documentation). `were_unused` is [`unused_values`] of the graph before the pass.
pub fn drop_orphans(g: &mut Graph, were_unused: &HashSet<String>) {
    let mut read_by_subgraphs = HashSet::new();
    collect_subgraph_names(g, &mut read_by_subgraphs);
    let orphan = |g: &Graph, v: ValueId| {
        let name = g.value(v).name.as_str();
        is_unread(g, v)
            && !g.inputs().contains(&v)
            && !were_unused.contains(name)
            && !read_by_subgraphs.contains(name)
    };
    // Nodes first (removing one can orphan its inputs' producers), until nothing changes.
    loop {
        let dead: Vec<_> = g
            .node_ids()
            .filter(|&n| {
                let outs = g.node(n).outputs();
                !outs.is_empty() && outs.iter().flatten().all(|&o| orphan(g, o))
            })
            .collect();
        if dead.is_empty() {
            break;
        }
        for n in dead {
            g.remove_node(n);
        }
    }
    let orphans: Vec<ValueId> = g
        .initializers
        .iter()
        .copied()
        .filter(|&v| orphan(g, v))
        .collect();
    for v in &orphans {
        g.value_mut(*v).initializer = None;
    }
    g.initializers.retain(|v| !orphans.contains(v));
}

fn collect_subgraph_names(g: &Graph, out: &mut HashSet<String>) {
    for n in g.node_ids() {
        for sg in g.node(n).subgraphs() {
            for v in sg.value_ids() {
                out.insert(sg.value(v).name.clone());
            }
            collect_subgraph_names(sg, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lnopt_ir::{Node, Tensor};

    /// x → Neg → a → Relu → y (output); plus a dead-on-arrival Abs reading x.
    fn graph() -> (Graph, lnopt_ir::NodeId) {
        let mut g = Graph::new("g");
        let x = g.value_by_name_or_new("x");
        g.add_input(x);
        let a = g.new_value("a");
        let y = g.new_value("y");
        let dead = g.new_value("dead");
        let c = g.add_initializer("c", Tensor::from_f32("c", vec![], &[1.0]));
        let neg = g
            .add_node(Node::new("Neg", "neg"), vec![Some(x)], vec![Some(a)])
            .unwrap();
        g.add_node(
            Node::new("Add", "relu"),
            vec![Some(a), Some(c)],
            vec![Some(y)],
        )
        .unwrap();
        g.add_node(Node::new("Abs", "abs"), vec![Some(x)], vec![Some(dead)])
            .unwrap();
        g.add_output(y);
        (g, neg)
    }

    #[test]
    fn removes_what_the_pass_orphaned_and_keeps_what_was_dead_before() {
        let (mut g, neg) = graph();
        let before = unused_values(&g);
        assert!(before.contains("dead"));
        // The "pass" rewires y's producer to read x directly: Neg and c become orphans.
        let relu = g.producer_node(g.find_value("y").unwrap()).unwrap().0;
        let x = g.find_value("x").unwrap();
        g.set_input(relu, 0, Some(x));
        g.set_input(relu, 1, Some(x));
        drop_orphans(&mut g, &before);
        assert!(!g.contains_node(neg), "Neg fed only the rewritten node");
        assert!(g.initializers.is_empty(), "c fed only the rewritten node");
        assert!(
            g.node_ids().any(|n| g.node(n).op_type == "Abs"),
            "a node dead before the pass is kept"
        );
    }
}
