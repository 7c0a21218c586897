//! Canonical text dump of a graph for golden tests: one node per line in topological order,
//! attributes sorted by name, constant data summarised by dtype, shape and a checksum.

use crate::{AttrValue, Graph, Model, Tensor, TensorData, ValueType};
use std::fmt::Write;

/// Dumps a whole model: opsets, then the main graph, then each function body.
pub fn dump_model(model: &Model) -> String {
    let mut out = String::new();
    let mut opsets: Vec<_> = model
        .opset_imports
        .iter()
        .map(|o| {
            format!(
                "{}={}",
                if o.domain.is_empty() {
                    "ai.onnx"
                } else {
                    &o.domain
                },
                o.version
            )
        })
        .collect();
    opsets.sort();
    let _ = writeln!(
        out,
        "model ir_version={} opsets [{}]",
        model.ir_version,
        opsets.join(", ")
    );
    out.push_str(&dump_graph(&model.graph));
    for f in &model.functions {
        let _ = writeln!(
            out,
            "function {}::{}({}) -> ({})",
            f.domain,
            f.name,
            f.inputs.join(", "),
            f.outputs.join(", ")
        );
        out.push_str(&indent(&dump_graph(&f.body)));
    }
    out
}

/// Dumps one graph. Unreachable from verification: a cyclic graph dumps in insertion order.
pub fn dump_graph(g: &Graph) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "graph {}", g.name);
    for &i in g.inputs() {
        let v = g.value(i);
        if v.initializer.is_none() {
            let _ = writeln!(
                out,
                "  input %{}: {}",
                v.name,
                type_str(v.info.as_ref().and_then(|i| i.ty.as_ref()))
            );
        }
    }
    for &i in &g.initializers {
        let v = g.value(i);
        if let Some(t) = &v.initializer {
            let _ = writeln!(out, "  init %{} = {}", v.name, tensor_str(t));
        }
    }
    let order = g.topo_order().unwrap_or_else(|_| g.node_ids().collect());
    for n in order {
        let node = g.node(n);
        let outs: Vec<String> = node
            .outputs()
            .iter()
            .map(|o| {
                o.map(|v| format!("%{}", g.value(v).name))
                    .unwrap_or_default()
            })
            .collect();
        let ins: Vec<String> = node
            .inputs()
            .iter()
            .map(|o| {
                o.map(|v| format!("%{}", g.value(v).name))
                    .unwrap_or_default()
            })
            .collect();
        let op = if node.domain.is_empty() {
            node.op_type.clone()
        } else {
            format!("{}::{}", node.domain, node.op_type)
        };
        let mut attrs: Vec<_> = node.attributes.iter().collect();
        attrs.sort_by(|a, b| a.name.cmp(&b.name));
        let mut a_str = String::new();
        let mut subgraphs = Vec::new();
        for a in attrs {
            let _ = write!(a_str, " {}={}", a.name, attr_str(&a.value));
            match &a.value {
                AttrValue::Graph(sg) => subgraphs.push((a.name.clone(), sg.as_ref())),
                AttrValue::Graphs(sgs) => subgraphs.extend(sgs.iter().map(|s| (a.name.clone(), s))),
                _ => {}
            }
        }
        let _ = writeln!(
            out,
            "  {} = {}({}){}",
            outs.join(", "),
            op,
            ins.join(", "),
            a_str
        );
        for (name, sg) in subgraphs {
            let _ = writeln!(out, "    [{name}]");
            out.push_str(&indent(&indent(&dump_graph(sg))));
        }
    }
    for &o in g.outputs() {
        let v = g.value(o);
        let _ = writeln!(
            out,
            "  output %{}: {}",
            v.name,
            type_str(v.info.as_ref().and_then(|i| i.ty.as_ref()))
        );
    }
    out
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("  {l}\n")).collect()
}

fn type_str(t: Option<&ValueType>) -> String {
    match t {
        None => "?".into(),
        Some(ValueType::Tensor(t)) => t.to_string(),
        Some(ValueType::Opaque(b)) => format!("opaque({} bytes)", b.len()),
    }
}

/// One-line summary of a tensor: dtype, dims and either the values (small) or a checksum.
pub fn tensor_str(t: &Tensor) -> String {
    let mut s = format!("{}{:?}", t.dtype, t.dims);
    match &t.data {
        TensorData::Bytes(b) => {
            if let (Some(vals), true) = (t.to_f64_vec(), t.numel().unwrap_or(usize::MAX) <= 8) {
                let _ = write!(s, " {:?}", vals);
            } else {
                let _ = write!(s, " fnv={:016x}", fnv1a(b));
            }
        }
        TensorData::Strings(v) => {
            let _ = write!(s, " {} strings", v.len());
        }
    }
    s
}

fn attr_str(a: &AttrValue) -> String {
    match a {
        AttrValue::Float(f) => format!("{f:?}"),
        AttrValue::Int(i) => i.to_string(),
        AttrValue::String(s) => format!("{:?}", String::from_utf8_lossy(s)),
        AttrValue::Tensor(t) => tensor_str(t),
        AttrValue::Graph(g) => format!("graph({})", g.name),
        AttrValue::SparseTensor(b) => format!("sparse({} bytes)", b.len()),
        AttrValue::Type(t) => type_str(Some(t)),
        AttrValue::Floats(v) => format!("{v:?}"),
        AttrValue::Ints(v) => format!("{v:?}"),
        AttrValue::Strings(v) => format!(
            "{:?}",
            v.iter()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect::<Vec<_>>()
        ),
        AttrValue::Tensors(v) => format!(
            "[{}]",
            v.iter().map(tensor_str).collect::<Vec<_>>().join(", ")
        ),
        AttrValue::Graphs(v) => format!("graphs({})", v.len()),
        AttrValue::SparseTensors(v) => format!("sparse_tensors({})", v.len()),
        AttrValue::Types(v) => format!(
            "[{}]",
            v.iter()
                .map(|t| type_str(Some(t)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        AttrValue::Ref { ref_name, .. } => format!("@{ref_name}"),
    }
}

/// FNV-1a 64-bit hash, used for data checksums in dumps.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}
