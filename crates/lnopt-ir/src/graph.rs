//! The graph: op nodes stored in a petgraph `StableDiGraph`, values in an arena.
//!
//! Invariants kept by every method here (fields that could break them are private):
//! - each value has at most one producer (a node output, a graph input or an initializer);
//! - `Value::uses` lists exactly the `(node, input slot)` pairs that read the value;
//! - there is one petgraph edge producer → consumer per consumed input slot whose value is
//!   produced by a node, weighted with that `(value, slot)`;
//! - value names are unique within a graph.

use crate::{AttrValue, Attribute, IrError, Metadata, Tensor, UnknownFields, ValueType};
use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use petgraph::visit::EdgeRef;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

/// Identifies a node of one graph. Stable across removals of other nodes.
pub type NodeId = NodeIndex<u32>;

/// Identifies a value (a named tensor edge) of one graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueId(pub u32);

impl ValueId {
    /// Position in the value arena.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// An op node.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// ONNX op type (`Add`, `ReduceMean`, …).
    pub op_type: String,
    /// Op domain; empty for the default `ai.onnx` domain.
    pub domain: String,
    /// `overload` of a local function call.
    pub overload: String,
    /// Node name (may be empty).
    pub name: String,
    /// Attributes in file order.
    pub attributes: Vec<Attribute>,
    /// `doc_string`.
    pub doc_string: String,
    /// `metadata_props`.
    pub metadata: Metadata,
    /// Fields lnopt does not model.
    pub unknown: UnknownFields,
    inputs: Vec<Option<ValueId>>,
    outputs: Vec<Option<ValueId>>,
}

/// Whether `domain` names the default ONNX domain (`""` or its alias `"ai.onnx"`).
pub fn is_default_domain(domain: &str) -> bool {
    domain.is_empty() || domain == "ai.onnx"
}

impl Node {
    /// Whether the node's op is from the default ONNX domain ([`is_default_domain`]).
    pub fn in_default_domain(&self) -> bool {
        is_default_domain(&self.domain)
    }

    /// A node in the default domain with no attributes; wire it with [`Graph::add_node`].
    pub fn new(op_type: impl Into<String>, name: impl Into<String>) -> Node {
        Node {
            op_type: op_type.into(),
            domain: String::new(),
            overload: String::new(),
            name: name.into(),
            attributes: Vec::new(),
            doc_string: String::new(),
            metadata: Vec::new(),
            unknown: UnknownFields::default(),
            inputs: Vec::new(),
            outputs: Vec::new(),
        }
    }

    /// Input values by slot; `None` is an omitted optional input (`""` in ONNX).
    pub fn inputs(&self) -> &[Option<ValueId>] {
        &self.inputs
    }

    /// Output values by slot; `None` is an omitted optional output.
    pub fn outputs(&self) -> &[Option<ValueId>] {
        &self.outputs
    }

    /// The input in `slot`, if present.
    pub fn input(&self, slot: usize) -> Option<ValueId> {
        self.inputs.get(slot).copied().flatten()
    }

    /// The output in `slot`, if present.
    pub fn output(&self, slot: usize) -> Option<ValueId> {
        self.outputs.get(slot).copied().flatten()
    }

    /// The attribute called `name`.
    pub fn attr(&self, name: &str) -> Option<&AttrValue> {
        self.attributes
            .iter()
            .find(|a| a.name == name)
            .map(|a| &a.value)
    }

    /// An `INT` attribute; `Err` names the actual type if it has another one.
    pub fn attr_int(&self, name: &str) -> Result<Option<i64>, String> {
        match self.attr(name) {
            None => Ok(None),
            Some(AttrValue::Int(v)) => Ok(Some(*v)),
            Some(other) => Err(format!(
                "attribute '{name}' must be INT, found {}",
                other.type_name()
            )),
        }
    }

    /// A `FLOAT` attribute; `Err` names the actual type if it has another one.
    pub fn attr_float(&self, name: &str) -> Result<Option<f32>, String> {
        match self.attr(name) {
            None => Ok(None),
            Some(AttrValue::Float(v)) => Ok(Some(*v)),
            Some(other) => Err(format!(
                "attribute '{name}' must be FLOAT, found {}",
                other.type_name()
            )),
        }
    }

    /// An `INTS` attribute; `Err` names the actual type if it has another one.
    pub fn attr_ints(&self, name: &str) -> Result<Option<&[i64]>, String> {
        match self.attr(name) {
            None => Ok(None),
            Some(AttrValue::Ints(v)) => Ok(Some(v)),
            Some(other) => Err(format!(
                "attribute '{name}' must be INTS, found {}",
                other.type_name()
            )),
        }
    }

    /// Sets (replacing) an attribute.
    pub fn set_attr(&mut self, name: &str, value: AttrValue) {
        match self.attributes.iter_mut().find(|a| a.name == name) {
            Some(a) => a.value = value,
            None => self.attributes.push(Attribute::new(name, value)),
        }
    }

    /// The subgraphs of this node's `GRAPH` and `GRAPHS` attributes (If branches, Loop and
    /// Scan bodies), in attribute order.
    pub fn subgraphs(&self) -> impl Iterator<Item = &Graph> {
        self.attributes.iter().flat_map(|a| match &a.value {
            AttrValue::Graph(g) => std::slice::from_ref(g.as_ref()).iter(),
            AttrValue::Graphs(gs) => gs.iter(),
            _ => [].iter(),
        })
    }

    /// `name` if set, else `#<index>`; used in messages.
    pub fn display_name(&self, id: NodeId) -> String {
        if self.name.is_empty() {
            format!("#{}", id.index())
        } else {
            self.name.clone()
        }
    }
}

/// Declared type information of a value (`ValueInfoProto` minus the name).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ValueInfo {
    /// Declared type, if any.
    pub ty: Option<ValueType>,
    /// `doc_string`.
    pub doc_string: String,
    /// `metadata_props`.
    pub metadata: Metadata,
    /// Fields lnopt does not model.
    pub unknown: UnknownFields,
}

/// Who defines a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Producer {
    /// Output `slot` of a node.
    Node(NodeId, usize),
    /// A graph input (without initializer).
    Input,
    /// An initializer (possibly also listed as a graph input).
    Initializer,
    /// Nothing in this graph: an outer-scope value in a subgraph, or a dangling reference.
    None,
}

/// A named tensor flowing between nodes.
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    /// The unique name.
    pub name: String,
    /// Declared type (graph input/output or value_info entry).
    pub info: Option<ValueInfo>,
    /// Constant data when the value is an initializer.
    pub initializer: Option<Arc<Tensor>>,
    producer: Option<(NodeId, usize)>,
    is_input: bool,
    uses: Vec<(NodeId, usize)>,
}

impl Value {
    /// `(node, input slot)` pairs that read this value, in insertion order.
    pub fn uses(&self) -> &[(NodeId, usize)] {
        &self.uses
    }

    /// Who defines this value.
    pub fn producer(&self) -> Producer {
        if let Some((n, s)) = self.producer {
            Producer::Node(n, s)
        } else if self.initializer.is_some() {
            Producer::Initializer
        } else if self.is_input {
            Producer::Input
        } else {
            Producer::None
        }
    }

    /// Declared dense tensor type, if any.
    pub fn declared_tensor_type(&self) -> Option<&crate::TensorType> {
        self.info.as_ref()?.ty.as_ref()?.as_tensor()
    }
}

/// A (sub)graph: nodes, values, inputs, outputs, initializers.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    /// Graph name.
    pub name: String,
    /// `doc_string`.
    pub doc_string: String,
    /// `metadata_props`.
    pub metadata: Metadata,
    /// Fields lnopt does not model.
    pub unknown: UnknownFields,
    /// Serialized `SparseTensorProto` initializers, kept as they were.
    pub sparse_initializers: Vec<Vec<u8>>,
    /// Values that had a `value_info` entry, in file order.
    pub value_info: Vec<ValueId>,
    /// Initializer values in file order.
    pub initializers: Vec<ValueId>,
    inputs: Vec<ValueId>,
    outputs: Vec<ValueId>,
    nodes: StableDiGraph<Node, (ValueId, usize), u32>,
    values: Vec<Value>,
    by_name: HashMap<String, ValueId>,
    /// Next suffix to try per name hint of [`Graph::new_value`] (keeps it O(1) amortised
    /// when one hint is used many times).
    next_suffix: HashMap<String, usize>,
}

impl PartialEq for Graph {
    /// Structural equality: same nodes in the same topological order, same values.
    fn eq(&self, other: &Graph) -> bool {
        crate::dump::dump_graph(self) == crate::dump::dump_graph(other)
            && self.doc_string == other.doc_string
            && self.metadata == other.metadata
    }
}

impl Graph {
    /// An empty graph.
    pub fn new(name: impl Into<String>) -> Graph {
        Graph {
            name: name.into(),
            ..Graph::default()
        }
    }

    // ----- values -----

    /// The value with this name, creating an undefined one if there is none yet. Importers
    /// use this to refer to names before their producer is known.
    pub fn value_by_name_or_new(&mut self, name: &str) -> ValueId {
        if let Some(&v) = self.by_name.get(name) {
            return v;
        }
        let id = ValueId(self.values.len() as u32);
        self.values.push(Value {
            name: name.to_string(),
            info: None,
            initializer: None,
            producer: None,
            is_input: false,
            uses: Vec::new(),
        });
        self.by_name.insert(name.to_string(), id);
        id
    }

    /// A new value with a name derived from `hint` that no other value of this graph has.
    pub fn new_value(&mut self, hint: &str) -> ValueId {
        let base = if hint.is_empty() { "v" } else { hint };
        let mut name = base.to_string();
        let mut k = self.next_suffix.get(base).copied().unwrap_or(1);
        while self.by_name.contains_key(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        self.next_suffix.insert(base.to_string(), k);
        self.value_by_name_or_new(&name)
    }

    /// The value called `name`.
    pub fn find_value(&self, name: &str) -> Option<ValueId> {
        self.by_name.get(name).copied()
    }

    /// The value `id`. Panics on an id of another graph.
    pub fn value(&self, id: ValueId) -> &Value {
        &self.values[id.index()]
    }

    /// Mutable access to a value's declared info and initializer.
    pub fn value_mut(&mut self, id: ValueId) -> &mut Value {
        &mut self.values[id.index()]
    }

    /// Number of values in the arena (including dead ones).
    pub fn value_count(&self) -> usize {
        self.values.len()
    }

    /// All value ids of the arena.
    pub fn value_ids(&self) -> impl Iterator<Item = ValueId> {
        (0..self.values.len() as u32).map(ValueId)
    }

    /// The initializer data of `id`, if it is one.
    pub fn initializer(&self, id: ValueId) -> Option<&Arc<Tensor>> {
        self.values[id.index()].initializer.as_ref()
    }

    /// Makes `id` an initializer holding `tensor` (appended to the initializer list if new).
    pub fn set_initializer(&mut self, id: ValueId, tensor: Arc<Tensor>) {
        if self.values[id.index()].initializer.is_none() {
            self.initializers.push(id);
        }
        self.values[id.index()].initializer = Some(tensor);
    }

    /// Adds a new initializer value named after `hint` and returns it.
    pub fn add_initializer(&mut self, hint: &str, mut tensor: Tensor) -> ValueId {
        let id = self.new_value(hint);
        tensor.name = self.values[id.index()].name.clone();
        self.set_initializer(id, Arc::new(tensor));
        id
    }

    // ----- graph inputs / outputs -----

    /// Graph inputs in order (may include initializers, as older IR versions do).
    pub fn inputs(&self) -> &[ValueId] {
        &self.inputs
    }

    /// Graph outputs in order.
    pub fn outputs(&self) -> &[ValueId] {
        &self.outputs
    }

    /// Appends a graph input.
    pub fn add_input(&mut self, id: ValueId) {
        self.values[id.index()].is_input = true;
        self.inputs.push(id);
    }

    /// Appends a graph output.
    pub fn add_output(&mut self, id: ValueId) {
        self.outputs.push(id);
    }

    /// Replaces the graph output in position `pos`.
    pub fn set_output(&mut self, pos: usize, id: ValueId) {
        self.outputs[pos] = id;
    }

    /// True if `id` is one of the graph outputs.
    pub fn is_output(&self, id: ValueId) -> bool {
        self.outputs.contains(&id)
    }

    // ----- nodes -----

    /// Adds a node reading `inputs` and defining `outputs`. Each output must not already be
    /// defined by another node, graph input or initializer.
    pub fn add_node(
        &mut self,
        mut node: Node,
        inputs: Vec<Option<ValueId>>,
        outputs: Vec<Option<ValueId>>,
    ) -> Result<NodeId, IrError> {
        for o in outputs.iter().flatten() {
            let v = self
                .values
                .get(o.index())
                .ok_or_else(|| IrError::BadEdit(format!("unknown value id {}", o.0)))?;
            if v.producer.is_some() || v.initializer.is_some() || v.is_input {
                let what = match v.producer {
                    Some((n, _)) => self.nodes[n].display_name(n),
                    None => "a graph input or initializer".into(),
                };
                return Err(IrError::DuplicateName {
                    name: v.name.clone(),
                    first: what,
                    second: if node.name.is_empty() {
                        node.op_type.clone()
                    } else {
                        node.name.clone()
                    },
                });
            }
        }
        for i in inputs.iter().flatten() {
            if i.index() >= self.values.len() {
                return Err(IrError::BadEdit(format!("unknown value id {}", i.0)));
            }
        }
        node.inputs = Vec::new();
        node.outputs = outputs.clone();
        let id = self.nodes.add_node(node);
        for (slot, o) in outputs.iter().enumerate() {
            if let Some(o) = o {
                self.values[o.index()].producer = Some((id, slot));
                let uses = self.values[o.index()].uses.clone();
                for (consumer, cslot) in uses {
                    self.nodes.add_edge(id, consumer, (*o, cslot));
                }
            }
        }
        for (slot, i) in inputs.into_iter().enumerate() {
            self.nodes[id].inputs.push(None);
            if let Some(i) = i {
                self.connect(id, slot, i);
            }
        }
        Ok(id)
    }

    fn connect(&mut self, node: NodeId, slot: usize, value: ValueId) {
        self.nodes[node].inputs[slot] = Some(value);
        self.values[value.index()].uses.push((node, slot));
        if let Some((p, _)) = self.values[value.index()].producer {
            self.nodes.add_edge(p, node, (value, slot));
        }
    }

    fn disconnect(&mut self, node: NodeId, slot: usize) {
        let Some(value) = self.nodes[node].inputs[slot].take() else {
            return;
        };
        self.values[value.index()]
            .uses
            .retain(|&(n, s)| !(n == node && s == slot));
        let edge = self
            .nodes
            .edges_directed(node, petgraph::Direction::Incoming)
            .find(|e| *e.weight() == (value, slot))
            .map(|e| e.id());
        if let Some(e) = edge {
            self.nodes.remove_edge(e);
        }
    }

    /// Makes input `slot` of `node` read `value` (or nothing). Grows the input list if needed.
    pub fn set_input(&mut self, node: NodeId, slot: usize, value: Option<ValueId>) {
        while self.nodes[node].inputs.len() <= slot {
            self.nodes[node].inputs.push(None);
        }
        self.disconnect(node, slot);
        if let Some(v) = value {
            self.connect(node, slot, v);
        }
    }

    /// Removes a node; its outputs lose their producer, its inputs lose a use.
    pub fn remove_node(&mut self, id: NodeId) -> Option<Node> {
        if !self.nodes.contains_node(id) {
            return None;
        }
        for slot in 0..self.nodes[id].inputs.len() {
            self.disconnect(id, slot);
        }
        let outputs = self.nodes[id].outputs.clone();
        for o in outputs.into_iter().flatten() {
            self.values[o.index()].producer = None;
        }
        self.nodes.remove_node(id)
    }

    /// Makes every reader of `old` (nodes and graph outputs) read `new` instead.
    pub fn replace_all_uses(&mut self, old: ValueId, new: ValueId) {
        let uses = self.values[old.index()].uses.clone();
        for (n, s) in uses {
            self.set_input(n, s, Some(new));
        }
        for o in self.outputs.iter_mut() {
            if *o == old {
                *o = new;
            }
        }
    }

    /// The node `id`. Panics if it was removed.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id]
    }

    /// Mutable access to a node's op type, name and attributes (not its wiring).
    pub fn node_mut(&mut self, id: NodeId) -> &mut Node {
        &mut self.nodes[id]
    }

    /// True if the node exists.
    pub fn contains_node(&self, id: NodeId) -> bool {
        self.nodes.contains_node(id)
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.node_count()
    }

    /// Node ids in insertion order.
    pub fn node_ids(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.nodes.node_indices()
    }

    /// The producing node of a value and the output slot, if a node produces it.
    pub fn producer_node(&self, v: ValueId) -> Option<(NodeId, usize)> {
        self.values[v.index()].producer
    }

    /// The underlying petgraph graph (edges producer → consumer weighted by `(value, slot)`).
    pub fn petgraph(&self) -> &StableDiGraph<Node, (ValueId, usize), u32> {
        &self.nodes
    }

    /// Nodes in a deterministic topological order: among ready nodes the earliest inserted
    /// goes first, so a graph imported in topological order keeps its file order.
    pub fn topo_order(&self) -> Result<Vec<NodeId>, IrError> {
        let mut indeg: HashMap<NodeId, usize> = HashMap::with_capacity(self.nodes.node_count());
        let mut heap = BinaryHeap::new();
        for n in self.nodes.node_indices() {
            let d = self
                .nodes
                .edges_directed(n, petgraph::Direction::Incoming)
                .count();
            indeg.insert(n, d);
            if d == 0 {
                heap.push(Reverse(n));
            }
        }
        let mut order = Vec::with_capacity(self.nodes.node_count());
        while let Some(Reverse(n)) = heap.pop() {
            order.push(n);
            for e in self.nodes.edges_directed(n, petgraph::Direction::Outgoing) {
                let t = e.target();
                let d = indeg.get_mut(&t).expect("every node has a degree");
                *d -= 1;
                if *d == 0 {
                    heap.push(Reverse(t));
                }
            }
        }
        if order.len() != self.nodes.node_count() {
            let stuck = self
                .nodes
                .node_indices()
                .find(|n| indeg[n] > 0)
                .expect("some node is on a cycle");
            return Err(IrError::Cycle {
                node: self.nodes[stuck].display_name(stuck),
                op: self.nodes[stuck].op_type.clone(),
            });
        }
        Ok(order)
    }

    /// Checks structure: every input has a producer (or is in `outer`, the names visible from
    /// enclosing graphs), outputs are defined, no cycles. Recurses into subgraphs.
    pub fn verify(&self) -> Result<(), IrError> {
        self.verify_in_scope(&[])
    }

    /// [`Graph::verify`] for a subgraph that may read the names in `outer`.
    pub fn verify_in_scope(&self, outer: &[&str]) -> Result<(), IrError> {
        self.topo_order()?;
        for n in self.nodes.node_indices() {
            let node = &self.nodes[n];
            for v in node.inputs.iter().flatten() {
                let val = &self.values[v.index()];
                if val.producer() == Producer::None && !outer.contains(&val.name.as_str()) {
                    return Err(IrError::MissingProducer {
                        node: node.display_name(n),
                        op: node.op_type.clone(),
                        value: val.name.clone(),
                    });
                }
            }
        }
        for &o in &self.outputs {
            let val = &self.values[o.index()];
            if val.producer() == Producer::None && !outer.contains(&val.name.as_str()) {
                return Err(IrError::DanglingOutput {
                    value: val.name.clone(),
                });
            }
        }
        let mut scope: Vec<&str> = outer.to_vec();
        scope.extend(self.values.iter().map(|v| v.name.as_str()));
        for n in self.nodes.node_indices() {
            for g in self.nodes[n].subgraphs() {
                g.verify_in_scope(&scope)?;
            }
        }
        Ok(())
    }

    /// Names of values defined in this graph that a subgraph may read.
    pub fn defined_names(&self) -> Vec<&str> {
        self.values
            .iter()
            .filter(|v| v.producer() != Producer::None)
            .map(|v| v.name.as_str())
            .collect()
    }
}
