//! A small graph builder for the fusion tests, plus differential checking through the
//! reference interpreter.
#![allow(dead_code)]

use lnopt_fuse::{fuse_graph, EmitTarget, FuseOptions, FuseReport, NormKind};
use lnopt_ir::{
    AttrValue, DType, Dim, Graph, Model, Node, Tensor, TensorType, ValueId, ValueInfo, ValueType,
};

/// Builds graphs node by node.
pub struct B {
    pub g: Graph,
    n: usize,
}

impl B {
    pub fn new() -> B {
        B {
            g: Graph::new("test"),
            n: 0,
        }
    }

    pub fn input(&mut self, name: &str, dtype: DType, dims: &[i64]) -> ValueId {
        self.input_dims(name, dtype, dims.iter().map(|&d| Dim::Fixed(d)).collect())
    }

    pub fn input_dims(&mut self, name: &str, dtype: DType, dims: Vec<Dim>) -> ValueId {
        let v = self.g.value_by_name_or_new(name);
        self.g.value_mut(v).info = Some(ValueInfo {
            ty: Some(ValueType::Tensor(TensorType {
                elem: dtype,
                shape: Some(dims),
            })),
            ..ValueInfo::default()
        });
        self.g.add_input(v);
        v
    }

    pub fn f32(&mut self, name: &str, dims: &[i64], vals: &[f32]) -> ValueId {
        self.g
            .add_initializer(name, Tensor::from_f32(name, dims.to_vec(), vals))
    }

    pub fn f16(&mut self, name: &str, dims: &[i64], vals: &[f32]) -> ValueId {
        let bytes: Vec<u8> = vals
            .iter()
            .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
            .collect();
        let t = Tensor::from_bytes(name, DType::F16, dims.to_vec(), bytes).expect("sizes match");
        self.g.add_initializer(name, t)
    }

    pub fn i64s(&mut self, name: &str, vals: &[i64]) -> ValueId {
        self.g
            .add_initializer(name, Tensor::from_i64(name, vec![vals.len() as i64], vals))
    }

    pub fn scalar(&mut self, name: &str, v: f32) -> ValueId {
        self.f32(name, &[], &[v])
    }

    /// Adds a node with one output and returns the output.
    pub fn op(&mut self, op: &str, ins: &[ValueId], attrs: Vec<(&str, AttrValue)>) -> ValueId {
        self.n += 1;
        let name = format!("/n{}/{}", self.n, op);
        let out = self.g.new_value(&format!("{name}_out"));
        let mut node = Node::new(op, name);
        for (k, v) in attrs {
            node.set_attr(k, v);
        }
        self.g
            .add_node(
                node,
                ins.iter().map(|&v| Some(v)).collect(),
                vec![Some(out)],
            )
            .expect("valid node");
        out
    }

    pub fn mean(&mut self, x: ValueId, axes: &[i64]) -> ValueId {
        self.op(
            "ReduceMean",
            &[x],
            vec![("axes", AttrValue::Ints(axes.to_vec()))],
        )
    }

    pub fn cast(&mut self, x: ValueId, to: DType) -> ValueId {
        self.op(
            "Cast",
            &[x],
            vec![("to", AttrValue::Int(i64::from(to.onnx_code())))],
        )
    }

    pub fn output(&mut self, v: ValueId) {
        self.g.add_output(v);
    }
}

/// The canonical PyTorch LayerNorm over the last axis of `x`; returns the output.
pub fn canonical_ln(b: &mut B, x: ValueId, h: i64, gamma: bool, beta: bool) -> ValueId {
    let m = b.mean(x, &[-1]);
    let d = b.op("Sub", &[x, m], vec![]);
    let two = b.scalar("two", 2.0);
    let p = b.op("Pow", &[d, two], vec![]);
    let v = b.mean(p, &[-1]);
    let eps = b.scalar("eps", 1e-5);
    let a = b.op("Add", &[v, eps], vec![]);
    let s = b.op("Sqrt", &[a], vec![]);
    let mut y = b.op("Div", &[d, s], vec![]);
    if gamma {
        let gv: Vec<f32> = (0..h).map(|i| 0.5 + 0.1 * i as f32).collect();
        let g = b.f32("gamma", &[h], &gv);
        y = b.op("Mul", &[y, g], vec![]);
    }
    if beta {
        let bv: Vec<f32> = (0..h).map(|i| 0.05 * i as f32 - 0.2).collect();
        let bb = b.f32("beta", &[h], &bv);
        y = b.op("Add", &[y, bb], vec![]);
    }
    y
}

/// Deterministic pseudo-random numbers in [-2, 2).
pub fn noise(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
        })
        .collect()
}

/// Random inputs for every graph input (f32 or f16; dims must be fixed).
pub fn random_inputs(g: &Graph) -> Vec<Tensor> {
    g.inputs()
        .iter()
        .enumerate()
        .filter(|(_, &v)| g.initializer(v).is_none())
        .map(|(i, &v)| {
            let t = g.value(v).declared_tensor_type().expect("typed input");
            let dims = t.fixed_dims().expect("fixed dims");
            let n = lnopt_ir::numel(&dims).expect("size");
            let vals = noise(n, 17 + i as u64);
            match t.elem {
                DType::F16 => {
                    let bytes: Vec<u8> = vals
                        .iter()
                        .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
                        .collect();
                    Tensor::from_bytes(g.value(v).name.clone(), DType::F16, dims, bytes)
                        .expect("sizes")
                }
                _ => Tensor::from_f32(g.value(v).name.clone(), dims, &vals),
            }
        })
        .collect()
}

/// Fuses a copy of `g` with `opts` and returns it with the report.
pub fn fuse(g: &Graph, opset: i64, opts: &FuseOptions) -> (Graph, FuseReport) {
    let mut f = g.clone();
    let r = fuse_graph(&mut f, opset, opts).expect("fusion runs");
    f.verify().expect("fused graph is valid");
    (f, r)
}

/// Counts nodes of `op`.
pub fn count(g: &Graph, op: &str) -> usize {
    g.node_ids().filter(|&n| g.node(n).op_type == op).count()
}

/// Runs original and fused (ORT forms, so the interpreter accepts any opset) on the same
/// random inputs and compares every output within `tol`.
pub fn differential(g: &Graph, opset: i64, tol: f64) -> FuseReport {
    let opts = FuseOptions {
        target: EmitTarget::Ort,
        ..FuseOptions::default()
    };
    let (f, report) = fuse(g, opset, &opts);
    let inputs = random_inputs(g);
    let a = lnopt_interp::run_model(&Model::new(g.clone(), opset), &inputs).expect("original runs");
    let b = lnopt_interp::run_model(&Model::new(f, opset), &inputs).expect("fused runs");
    assert_eq!(a.len(), b.len(), "output count changed");
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.dims, y.dims, "output {} changed shape", x.name);
        assert_eq!(x.dtype, y.dtype, "output {} changed type", x.name);
        let (xv, yv) = (
            x.to_f64_vec().expect("numeric"),
            y.to_f64_vec().expect("numeric"),
        );
        for (i, (p, q)) in xv.iter().zip(&yv).enumerate() {
            // NaN meets NaN, an infinity only the same infinity.
            let ok = p == q
                || (p.is_nan() && q.is_nan())
                || (p.is_finite() && q.is_finite() && (p - q).abs() <= tol * (1.0 + p.abs()));
            assert!(
                ok,
                "output {} element {i}: original {p} vs fused {q}",
                x.name
            );
        }
    }
    report
}

/// Fuses (standard forms), checks the fused count per kind, and checks numbers.
pub fn expect_fused(g: &Graph, opset: i64, ln: usize, rms: usize) -> (Graph, FuseReport) {
    let (f, r) = fuse(g, opset, &FuseOptions::default());
    assert_eq!(
        r.fused_count(NormKind::LayerNorm),
        ln,
        "LayerNorm count; report {r:#?}"
    );
    assert_eq!(
        r.fused_count(NormKind::RmsNorm),
        rms,
        "RMSNorm count; report {r:#?}"
    );
    assert_eq!(count(&f, "LayerNormalization"), ln);
    assert_eq!(count(&f, "RMSNormalization"), rms);
    let tol = if g.inputs().iter().any(|&v| {
        g.value(v)
            .declared_tensor_type()
            .is_some_and(|t| t.elem == DType::F16)
    }) {
        2e-2
    } else {
        1e-4
    };
    differential(g, opset, tol);
    (f, r)
}

/// Fuses and expects nothing fused, with a reason containing `needle`.
pub fn expect_not_fused(g: &Graph, opset: i64, needle: &str) -> FuseReport {
    let (f, r) = fuse(g, opset, &FuseOptions::default());
    assert_eq!(r.total_fused(), 0, "report {r:#?}");
    assert_eq!(
        count(&f, "LayerNormalization") + count(&f, "RMSNormalization"),
        0
    );
    assert!(!r.sites.is_empty(), "a site must be reported");
    let reasons: Vec<String> = r.sites.iter().filter_map(|s| s.reason.clone()).collect();
    assert!(
        reasons.iter().any(|s| s.contains(needle)),
        "expected a reason containing '{needle}', got {reasons:?}"
    );
    assert_eq!(
        lnopt_ir::dump::dump_graph(&f),
        lnopt_ir::dump::dump_graph(g),
        "graph must be unchanged"
    );
    r
}
