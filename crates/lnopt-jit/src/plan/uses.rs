//! The planning view of the flattened nodes ([`Uses`]): who produces and who reads each
//! slot, shared by the MatMul, attention and commute planners.

use crate::node::PNode;
use crate::steps::matmul::Operand;

/// The slot of `n`'s only output, when it has exactly one.
pub(crate) fn single_output(n: &PNode) -> Option<usize> {
    match n.outputs.as_slice() {
        [Some(o)] => Some(*o),
        _ => None,
    }
}

/// True for a node of the default (ai.onnx) domain.
pub(crate) fn default_domain(n: &PNode) -> bool {
    lnopt_ir::is_default_domain(&n.domain)
}

/// What planning needs to know of the flattened nodes: who produces and who reads each slot.
pub(crate) struct Uses<'a> {
    /// The nodes in plan order.
    pub nodes: &'a [PNode],
    /// The node producing each slot.
    pub producer: &'a [Option<usize>],
    /// How many nodes (and graph outputs) read each slot.
    pub readers: &'a [usize],
    /// The node reading each slot (the last one, when several do).
    reader_of: Vec<Option<usize>>,
}

impl<'a> Uses<'a> {
    /// The view of `nodes` with `producer` and `readers` as `build_steps` counts them.
    pub(crate) fn new(
        nodes: &'a [PNode],
        producer: &'a [Option<usize>],
        readers: &'a [usize],
    ) -> Uses<'a> {
        let mut reader_of: Vec<Option<usize>> = vec![None; readers.len()];
        for (i, n) in nodes.iter().enumerate() {
            for s in n.inputs.iter().flatten() {
                if let Some(r) = reader_of.get_mut(*s) {
                    *r = Some(i);
                }
            }
        }
        Uses {
            nodes,
            producer,
            readers,
            reader_of,
        }
    }

    /// The node reading slot `s`, when exactly one node does and it is no graph output.
    pub(crate) fn sole_reader(&self, s: usize) -> Option<usize> {
        if self.readers.get(s).copied() == Some(1) {
            self.last_reader(s)
        } else {
            None
        }
    }

    /// The last node in plan order that reads slot `s`.
    pub(crate) fn last_reader(&self, s: usize) -> Option<usize> {
        self.reader_of.get(s).copied().flatten()
    }

    /// The node producing slot `s`.
    pub(crate) fn producer_of(&self, s: usize) -> Option<usize> {
        self.producer.get(s).copied().flatten()
    }

    /// Operand `s` of node `i`, with the `Transpose` producing it folded in when node `i` is
    /// its only reader and it is neither taken nor already absorbed (it is then added to
    /// `absorbed`).
    pub(crate) fn operand(
        &self,
        i: usize,
        s: usize,
        taken: &[bool],
        absorbed: &mut Vec<usize>,
    ) -> Operand {
        if let Some(p) = self.producer_of(s) {
            let t = &self.nodes[p];
            if !taken[p]
                && t.op == "Transpose"
                && default_domain(t)
                && self.sole_reader(s) == Some(i)
                && !absorbed.contains(&p)
            {
                if let Some(Some(src)) = t.inputs.first() {
                    absorbed.push(p);
                    return Operand {
                        slot: *src,
                        transpose: Some(t.clone()),
                    };
                }
            }
        }
        Operand {
            slot: s,
            transpose: None,
        }
    }

    /// The `Transpose` reading slot `s` as its only reader, if it can be folded as a
    /// product's output layout: its index and output slot.
    pub(crate) fn out_transpose(&self, s: usize, taken: &[bool]) -> Option<(usize, usize)> {
        let r = self.sole_reader(s)?;
        let t = &self.nodes[r];
        if taken[r] || t.op != "Transpose" || !default_domain(t) {
            return None;
        }
        Some((r, single_output(t)?))
    }
}
